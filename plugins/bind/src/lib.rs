//! The `bind` directive: the addresses (or interfaces) a server block listens on.

mod setup;

pub use setup::{Bind, parse, setup};
