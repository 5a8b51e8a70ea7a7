//! The `forward` directive: sends queries to upstream resolvers, as CoreDNS's.

mod doh;
mod forward;
mod metrics;
mod multiplex;
mod proxy;
mod resolve;
mod setup;
mod tls;
mod upstream;

pub use forward::Forward;
pub use proxy::Proxy;
pub use setup::{Config, DohMethod, Options, Policy, parse, setup};
pub use upstream::{Destination, HostTarget, Upstream, UpstreamTransport, parse_destinations};
