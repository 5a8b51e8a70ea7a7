//! The `file` directive: authoritative answers from zone files, as CoreDNS's.

mod file;
mod setup;
mod zone;

pub use file::{File, ZoneSource};
pub use setup::{Config, ZoneFile, parse, setup};
pub use zone::{Answer, Found, Zone, ZoneError};
