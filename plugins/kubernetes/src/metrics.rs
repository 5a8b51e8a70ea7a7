//! `coredns_kubernetes_*` metric families.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{HistogramVec, register_histogram_vec};

/// From an EndpointSlice change (its `endpoints.kubernetes.io/last-change-trigger-time`) until
/// queries see it, by the kind of its service.
pub static DNS_PROGRAMMING_DURATION: LazyLock<Option<HistogramVec>> = LazyLock::new(|| {
    let buckets = prometheus::exponential_buckets(0.001, 2.0, 20).ok()?;
    register_histogram_vec!(
        "coredns_kubernetes_dns_programming_duration_seconds",
        "Histogram of the time (in seconds) it took to program a dns instance.",
        &["service_kind"],
        buckets
    )
    .ok()
});

/// Records one EndpointSlice change made visible.
pub fn observe_programming(service_kind: &str, took: Duration) {
    if let Some(h) = DNS_PROGRAMMING_DURATION.as_ref() {
        h.with_label_values(&[service_kind]).observe(took.as_secs_f64());
    }
}

/// The slice's last-change trigger time, as the API server's controller set it.
pub fn trigger_time(
    slice: &k8s_openapi::api::discovery::v1::EndpointSlice,
) -> Option<k8s_openapi::jiff::Timestamp> {
    slice
        .metadata
        .annotations
        .as_ref()?
        .get("endpoints.kubernetes.io/last-change-trigger-time")?
        .parse()
        .ok()
}
