//! The `prometheus` directive: CoreDNS's metrics on `/metrics`, for existing dashboards.

mod prometheus;
mod setup;
mod web_config;

pub use prometheus::{Endpoint, Metrics, exposition};
pub use setup::{parse, setup};
