//! The plugin API of clusterdns: what every Corefile directive's crate builds on.
//!
//! A plugin's `setup` reads its directive through a [`Setup`], and usually adds a [`Handler`] to
//! the server block's chain. Handlers run in the fixed directive order; each answers or calls
//! [`Next`], and may change what comes back up.

mod atoi;
pub mod clog;
pub mod connections;
mod duration;
pub mod ede;
mod error;
mod fallthrough;
mod handler;
mod hostname;
mod hostport;
pub mod http;
mod interfaces;
mod link;
pub mod listen;
pub mod metrics;
mod request;
pub mod resolv;
pub mod response;
mod setup;
pub mod size;
mod transfer;
mod zones;

pub use atoi::atoi;
pub use corefile::{Dispenser, Error as ParseError};
pub use duration::{format_duration, parse_duration};
pub use error::{PluginError, SetupError};
pub use fallthrough::{Fallthrough, address_from_reverse};
pub use handler::{Chain, DetachedNext, Handler, Next, Reply};
pub use hickory_proto as proto;
pub use hostname::hostname;
pub use hostport::host_port;
pub use interfaces::{AutoPather, ExternalHost, ExternalService, Externaler, MetadataProvider};
pub use link::{Link, Linked, Provided};
pub use request::{Lookup, LookupCount, MetadataValues, Request, Transport, is_ipv4_family};
pub use setup::{
    BlockInfo, Phase, Readiness, Service, ServiceContext, Setup, SetupOutput, Timeouts, parse_no_args,
    spawn_every,
};
pub use transfer::{Notifier, Transfer, Transferer};
pub use zones::{Zones, lowercase_ascii, name_ascii, normalize_zone, origins, text_in_zone};
