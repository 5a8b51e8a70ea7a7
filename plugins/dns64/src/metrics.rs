//! `coredns_dns64_*` metric families.

use std::sync::LazyLock;

use prometheus::{CounterVec, register_counter_vec};

/// AAAA queries answered with synthesized records.
pub static TRANSLATED: LazyLock<Option<CounterVec>> = LazyLock::new(|| {
    register_counter_vec!(
        "coredns_dns64_requests_translated_total",
        "Counter of DNS requests translated by dns64.",
        &["server"]
    )
    .ok()
});
