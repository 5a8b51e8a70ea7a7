//! node-cache's own metric (`coredns_nodecache_setup_errors_total`) and its `/metrics`
//! listener (`-metrics-listen-address`), which serves the whole registry as node-cache's
//! promhttp handler does.

use std::sync::LazyLock;

use clusterdns_plugin::Phase;
use prometheus::{IntCounterVec, register_int_counter_vec};
use tokio::sync::watch;

/// The error types node-cache counts, each exported from the start at 0.
pub const ERROR_TYPES: [&str; 5] = [
    "iptables",
    "iptables_lock",
    "interface_add",
    "interface_check",
    "configmap",
];

/// `coredns_nodecache_setup_errors_total{errortype}`.
static SETUP_ERRORS: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    register_int_counter_vec!(
        "coredns_nodecache_setup_errors_total",
        "The number of errors during periodic network setup for node-cache",
        &["errortype"]
    )
    .ok()
});

/// Counts one setup error of `errortype` (one of [`ERROR_TYPES`]).
pub fn count_error(errortype: &str) {
    if let Some(c) = SETUP_ERRORS.as_ref() {
        c.with_label_values(&[errortype]).inc();
    }
}

/// Registers the counter with every error type at 0, and serves `/metrics` on `addr` until
/// `phase` is `Stopped`. A listener that cannot bind is logged, as node-cache does, and the
/// error types are then not exported at 0.
pub async fn start(addr: &str, phase: watch::Receiver<Phase>) {
    if let Err(e) = clusterdns_plugin::http::serve(addr, plugin_prometheus::exposition(), phase).await {
        clusterdns_plugin::clog::error(None, format_args!("Failed to start metrics handler: {e}"));
        return;
    }
    if let Some(c) = SETUP_ERRORS.as_ref() {
        for t in ERROR_TYPES {
            c.with_label_values(&[t]);
        }
    }
}
