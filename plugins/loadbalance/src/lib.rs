//! The `loadbalance` directive: reorders address records in every reply, as CoreDNS's.

mod loadbalance;
mod setup;
mod weighted;

pub use loadbalance::{LoadBalance, reorder};
pub use setup::{Config, Policy, parse, setup};
pub use weighted::{Weights, parse_weights};
