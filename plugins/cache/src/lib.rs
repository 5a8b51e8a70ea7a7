//! The `cache` directive: caches replies of the rest of the chain, as CoreDNS's.

mod cache;
mod item;
mod metrics;
mod setup;

pub use cache::Cache;
pub use item::Item;
pub use setup::{Config, Kind, parse, setup};
