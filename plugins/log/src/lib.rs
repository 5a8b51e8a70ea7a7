//! The `log` directive: one Common Log Format line per query, as CoreDNS's.

mod format;
mod log;
mod setup;

pub use format::{COMBINED_FORMAT, COMMON_FORMAT, Format};
pub use log::{Log, Rule};
pub use setup::{parse, setup};
