//! The `ready` directive: `/ready` answers 200 once every plugin that reports readiness is ready.

mod ready;
mod setup;

pub use ready::Ready;
pub use setup::{Config, Monitor, parse, setup};
