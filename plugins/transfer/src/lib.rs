//! The `transfer` directive: outgoing zone transfers (AXFR, IXFR as AXFR) and NOTIFY, as
//! CoreDNS's.

mod notify;
mod setup;
mod transfer;

pub use setup::{Config, Xfr, parse, setup};
pub use transfer::Transfer;
