//! `coredns_proxy_*` and `coredns_forward_*` metric families, under CoreDNS's names and labels.

use std::sync::LazyLock;

use prometheus::{
    CounterVec, HistogramVec, IntCounter, exponential_buckets, register_counter_vec, register_histogram_vec,
    register_int_counter,
};

/// Time each upstream took, by rcode (CoreDNS's buckets: 0.25 ms doubling, 16 of them).
pub static REQUEST_DURATION: LazyLock<Option<HistogramVec>> = LazyLock::new(|| {
    let buckets = exponential_buckets(0.00025, 2.0, 16).ok()?;
    register_histogram_vec!(
        "coredns_proxy_request_duration_seconds",
        "Histogram of the time each request took.",
        &["proxy_name", "to", "rcode"],
        buckets
    )
    .ok()
});

/// Health checks that failed, per upstream.
pub static HEALTHCHECK_FAILURES: LazyLock<Option<CounterVec>> = LazyLock::new(|| {
    register_counter_vec!(
        "coredns_proxy_healthcheck_failures_total",
        "Counter of the number of failed healthchecks.",
        &["proxy_name", "to"]
    )
    .ok()
});

/// Queries that reused a cached upstream connection.
pub static CONN_CACHE_HITS: LazyLock<Option<CounterVec>> = LazyLock::new(|| {
    register_counter_vec!(
        "coredns_proxy_conn_cache_hits_total",
        "Counter of connection cache hits per upstream and protocol.",
        &["proxy_name", "to", "proto"]
    )
    .ok()
});

/// Queries that needed a new upstream connection.
pub static CONN_CACHE_MISSES: LazyLock<Option<CounterVec>> = LazyLock::new(|| {
    register_counter_vec!(
        "coredns_proxy_conn_cache_misses_total",
        "Counter of connection cache misses per upstream and protocol.",
        &["proxy_name", "to", "proto"]
    )
    .ok()
});

/// Queries refused because `max_concurrent` was reached.
pub static MAX_CONCURRENT_REJECTS: LazyLock<Option<IntCounter>> = LazyLock::new(|| {
    register_int_counter!(
        "coredns_forward_max_concurrent_rejects_total",
        "Counter of the number of queries rejected because the concurrent queries were at maximum."
    )
    .ok()
});

/// Times every upstream was down and a random one was used anyway.
pub static HEALTHCHECK_BROKEN: LazyLock<Option<IntCounter>> = LazyLock::new(|| {
    register_int_counter!(
        "coredns_forward_healthcheck_broken_total",
        "Counter of the number of complete failures of the healthchecks."
    )
    .ok()
});

/// Makes the label-less families exist from the start, as CoreDNS's promauto does.
pub fn init() {
    for counter in [&*MAX_CONCURRENT_REJECTS, &*HEALTHCHECK_BROKEN]
        .into_iter()
        .flatten()
    {
        counter.inc_by(0);
    }
}
