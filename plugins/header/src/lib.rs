//! The `header` directive: sets or clears the AA, RA and RD flags of queries and replies.

mod header;
mod setup;

pub use header::{Flag, Header, Rule};
pub use setup::{parse, setup};
