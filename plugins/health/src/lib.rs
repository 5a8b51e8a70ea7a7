//! The `health` directive: `/health` answers 200 OK while the process runs; `lameduck`.

mod health;
mod metrics;
mod setup;

pub use health::Health;
pub use setup::{Config, parse, setup};
