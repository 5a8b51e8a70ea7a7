//! `coredns_hosts_*` metric families, registered in the process-wide registry.

use std::sync::LazyLock;

use prometheus::{Gauge, register_gauge};

/// The combined number of entries in hosts and Corefile.
pub static ENTRIES: LazyLock<Option<Gauge>> = LazyLock::new(|| {
    register_gauge!(
        "coredns_hosts_entries",
        "The combined number of entries in hosts and Corefile."
    )
    .ok()
});

/// The timestamp of the last reload of hosts file.
pub static RELOAD_TIMESTAMP: LazyLock<Option<Gauge>> = LazyLock::new(|| {
    register_gauge!(
        "coredns_hosts_reload_timestamp_seconds",
        "The timestamp of the last reload of hosts file."
    )
    .ok()
});
