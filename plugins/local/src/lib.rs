//! The `local` directive: answers for localhost and the loopback reverse zones, and for
//! `localhost.<anything>` (a search path's leftovers), without asking anyone.

mod local;
mod metrics;
mod setup;

pub use local::Local;
pub use setup::{parse, setup};
