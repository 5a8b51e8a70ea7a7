//! `coredns_autopath_*` metric families.

use std::sync::LazyLock;

use prometheus::{CounterVec, register_counter_vec};

/// Queries answered from a search path element other than the client's own.
pub static SUCCESS: LazyLock<Option<CounterVec>> = LazyLock::new(|| {
    register_counter_vec!(
        "coredns_autopath_success_total",
        "Counter of requests that did autopath.",
        &["server"]
    )
    .ok()
});
