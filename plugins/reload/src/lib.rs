//! The `reload` directive: re-reads the Corefile on a timer; the server reloads it if it changed.

pub mod metrics;
mod setup;

pub use setup::{Config, Ticker, parse, setup};
