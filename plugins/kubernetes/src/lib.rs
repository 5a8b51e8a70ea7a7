//! The `kubernetes` directive: the Kubernetes DNS spec, answered from watched objects exactly as
//! CoreDNS's kubernetes plugin does.

mod api;
mod autopath;
mod client;
mod external;
mod index;
mod informer;
mod kubernetes;
mod list;
mod metadata;
mod metrics;
mod names;
mod objects;
mod rest_client;
mod setup;
mod shards;
#[cfg(test)]
mod tests;
mod watch;
mod watcher;
mod xfr;

pub use index::{Indexes, Published, Snapshot, Store};
pub use kubernetes::Kubernetes;
pub use objects::{Address, Pod, Port, Service, ServiceKind, Slice};
pub use setup::{ApiSource, Config, PodMode, parse, setup};
pub use watch::publish_objects;
