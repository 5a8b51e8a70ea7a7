//! `coredns_health_*`: the endpoint checks itself every second, as CoreDNS's health does.

use std::sync::LazyLock;

use prometheus::{Histogram, IntCounter, exponential_buckets, register_histogram, register_int_counter};

/// Time the self-check of `/health` took.
pub static REQUEST_DURATION: LazyLock<Option<Histogram>> = LazyLock::new(|| {
    let buckets = exponential_buckets(0.00025, 10.0, 5).ok()?;
    register_histogram!(
        "coredns_health_request_duration_seconds",
        "Histogram of the time (in seconds) each request took.",
        buckets
    )
    .ok()
});

/// Self-checks that failed.
pub static REQUEST_FAILURES: LazyLock<Option<IntCounter>> = LazyLock::new(|| {
    register_int_counter!(
        "coredns_health_request_failures_total",
        "The number of times the health check failed."
    )
    .ok()
});
