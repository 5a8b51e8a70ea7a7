//! The `chaos` directive: the server's version, authors and host name in the CH class.

mod chaos;
mod setup;

pub use chaos::Chaos;
pub use setup::{Config, parse, setup};
