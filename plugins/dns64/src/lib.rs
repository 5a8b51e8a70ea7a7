//! The `dns64` directive: AAAA answers synthesized from A records for IPv6-only clients
//! behind NAT64 (RFC 6147).

mod dns64;
mod metrics;
mod setup;

pub use dns64::{Dns64, to_ipv6};
pub use setup::{Config, parse, setup};
