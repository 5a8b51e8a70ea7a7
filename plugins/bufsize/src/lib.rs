//! The `bufsize` directive: caps the UDP size clients advertise, against IP fragmentation.

mod bufsize;
mod setup;

pub use bufsize::Bufsize;
pub use setup::{parse, setup};
