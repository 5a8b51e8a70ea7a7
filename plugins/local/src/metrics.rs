//! `coredns_local_*` metric families.

use std::sync::LazyLock;

use prometheus::{Counter, register_counter};

/// Queries for `localhost.<domain>` answered.
pub static LOCALHOST: LazyLock<Option<Counter>> = LazyLock::new(|| {
    register_counter!(
        "coredns_local_localhost_requests_total",
        "Counter of localhost.<domain> requests."
    )
    .ok()
});
