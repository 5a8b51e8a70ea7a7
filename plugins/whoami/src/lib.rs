//! The `whoami` directive: answers every query with the client's address and port.

mod setup;
mod whoami;

pub use setup::{parse, setup};
pub use whoami::Whoami;
