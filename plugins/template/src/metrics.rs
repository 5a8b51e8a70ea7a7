//! `coredns_template_*` metric families.

use std::sync::LazyLock;

use prometheus::{CounterVec, register_counter_vec};

/// Queries a template matched.
pub static MATCHES: LazyLock<Option<CounterVec>> = LazyLock::new(|| {
    register_counter_vec!(
        "coredns_template_matches_total",
        "Counter of template regex matches.",
        &["server", "zone", "view", "class", "type"]
    )
    .ok()
});

/// Templates that failed to execute.
pub static TEMPLATE_FAILURES: LazyLock<Option<CounterVec>> = LazyLock::new(|| {
    register_counter_vec!(
        "coredns_template_template_failures_total",
        "Counter of go template failures.",
        &["server", "zone", "view", "class", "type", "section", "template"]
    )
    .ok()
});

/// Templates whose text is not a record.
pub static RR_FAILURES: LazyLock<Option<CounterVec>> = LazyLock::new(|| {
    register_counter_vec!(
        "coredns_template_rr_failures_total",
        "Counter of mis-templated RRs.",
        &["server", "zone", "view", "class", "type", "section", "template"]
    )
    .ok()
});
