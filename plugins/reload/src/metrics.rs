//! `coredns_reload_*`, recorded by the server when it reloads.

use std::sync::LazyLock;

use prometheus::{GaugeVec, IntCounter, register_gauge_vec, register_int_counter};

/// Reloads that failed (the old configuration kept serving).
pub static FAILED: LazyLock<Option<IntCounter>> = LazyLock::new(|| {
    register_int_counter!(
        "coredns_reload_failed_total",
        "Counter of the number of failed reload attempts."
    )
    .ok()
});

/// The running configuration's hash: `{hash="sha512", value="<hex>"} 1`.
pub static VERSION_INFO: LazyLock<Option<GaugeVec>> = LazyLock::new(|| {
    register_gauge_vec!(
        "coredns_reload_version_info",
        "A metric with a constant '1' value labeled by hash, and value which type of hash generated.",
        &["hash", "value"]
    )
    .ok()
});
