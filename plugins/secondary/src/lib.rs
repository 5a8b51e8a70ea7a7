//! The `secondary` directive: zones transferred in (AXFR) from primaries and kept up to date
//! by their SOA timers and NOTIFY, as CoreDNS's.

mod axfr;
mod secondary;
mod setup;

pub use setup::{Config, parse, setup};
