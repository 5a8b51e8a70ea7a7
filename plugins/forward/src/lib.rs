//! The `forward` directive: sends queries to upstream resolvers, as CoreDNS's.

mod forward;
mod metrics;
mod multiplex;
mod proxy;
mod setup;
mod tls;
mod upstream;

pub use forward::Forward;
pub use proxy::Proxy;
pub use setup::{Config, Options, Policy, parse, setup};
pub use upstream::{Upstream, UpstreamTransport, parse_upstreams};
