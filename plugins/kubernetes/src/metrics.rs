//! `coredns_kubernetes_*` metric families.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{HistogramVec, IntCounterVec, register_histogram_vec, register_int_counter_vec};

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
pub fn trigger_time(slice: &crate::api::EndpointSlice) -> Option<k8s_openapi::jiff::Timestamp> {
    slice.trigger_time.as_deref()?.parse().ok()
}

/// client-go's rest client latency buckets (1 ms doubling to 512 ms), as CoreDNS registers them.
fn rest_client_buckets() -> Vec<f64> {
    prometheus::exponential_buckets(0.001, 2.0, 10).unwrap_or_default()
}

/// Each API request's time until its response head, by HTTP verb and API server host.
pub static REST_CLIENT_REQUEST_DURATION: LazyLock<Option<HistogramVec>> = LazyLock::new(|| {
    register_histogram_vec!(
        "coredns_kubernetes_rest_client_request_duration_seconds",
        "Request latency in seconds. Broken down by verb and host.",
        &["verb", "host"],
        rest_client_buckets()
    )
    .ok()
});

/// Each API request's wait in the client-side rate limiter.
pub static REST_CLIENT_RATE_LIMITER_DURATION: LazyLock<Option<HistogramVec>> = LazyLock::new(|| {
    register_histogram_vec!(
        "coredns_kubernetes_rest_client_rate_limiter_duration_seconds",
        "Client side rate limiter latency in seconds. Broken down by verb and host.",
        &["verb", "host"],
        rest_client_buckets()
    )
    .ok()
});

/// API requests by HTTP status code (`<error>` when none came back), method and host.
pub static REST_CLIENT_REQUESTS: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    register_int_counter_vec!(
        "coredns_kubernetes_rest_client_requests_total",
        "Number of HTTP requests, partitioned by status code, method, and host.",
        &["code", "method", "host"]
    )
    .ok()
});

/// Records one request's wait in the rate limiter.
pub fn observe_rate_limiter(verb: &str, host: &str, waited: Duration) {
    if let Some(h) = REST_CLIENT_RATE_LIMITER_DURATION.as_ref() {
        h.with_label_values(&[verb, host]).observe(waited.as_secs_f64());
    }
}

/// Records one request's latency.
pub fn observe_request(verb: &str, host: &str, took: Duration) {
    if let Some(h) = REST_CLIENT_REQUEST_DURATION.as_ref() {
        h.with_label_values(&[verb, host]).observe(took.as_secs_f64());
    }
}

/// Counts one request by its outcome.
pub fn count_request(code: &str, method: &str, host: &str) {
    if let Some(c) = REST_CLIENT_REQUESTS.as_ref() {
        c.with_label_values(&[code, method, host]).inc();
    }
}
