//! The `loop` directive: detects, at start, a forwarding loop back to this server.

mod detector;
mod setup;

pub use detector::Loop;
pub use setup::{parse, setup};
