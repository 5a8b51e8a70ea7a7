//! The `hosts` directive: answers from a hosts file and inline entries, as CoreDNS's.

mod hosts;
mod hostsfile;
mod metrics;
mod setup;

pub use hosts::Hosts;
pub use hostsfile::{HostsMap, parse_hosts};
pub use setup::{Config, parse, setup};
