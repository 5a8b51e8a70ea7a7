//! The `erratic` directive: a test backend that drops, delays and truncates replies on purpose
//! (CoreDNS's READMEs use it in examples).

mod erratic;
mod setup;

pub use erratic::Erratic;
pub use setup::{Config, parse, setup};
