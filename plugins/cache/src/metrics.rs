//! `coredns_cache_*` metric families, with CoreDNS 1.11's names and labels.

use std::sync::LazyLock;

use prometheus::{CounterVec, GaugeVec, register_counter_vec, register_gauge_vec};

macro_rules! family {
    ($name:ident, $kind:ident, $register:ident, $metric:literal, $help:literal, $labels:expr) => {
        pub static $name: LazyLock<Option<$kind>> =
            LazyLock::new(|| $register!($metric, $help, $labels).ok());
    };
}

family!(
    ENTRIES,
    GaugeVec,
    register_gauge_vec,
    "coredns_cache_entries",
    "The number of elements in the cache.",
    &["server", "type", "zones", "view"]
);
family!(
    HITS,
    CounterVec,
    register_counter_vec,
    "coredns_cache_hits_total",
    "The count of cache hits.",
    &["server", "type", "zones", "view"]
);
family!(
    MISSES,
    CounterVec,
    register_counter_vec,
    "coredns_cache_misses_total",
    "The count of cache misses. Deprecated, derive misses from cache hits/requests counters.",
    &["server", "zones", "view"]
);
family!(
    REQUESTS,
    CounterVec,
    register_counter_vec,
    "coredns_cache_requests_total",
    "The count of cache requests.",
    &["server", "zones", "view"]
);
family!(
    PREFETCH,
    CounterVec,
    register_counter_vec,
    "coredns_cache_prefetch_total",
    "The number of times the cache has prefetched a cached item.",
    &["server", "zones", "view"]
);
family!(
    DROPS,
    CounterVec,
    register_counter_vec,
    "coredns_cache_drops_total",
    "The number responses that are not cached, because the reply is malformed.",
    &["server", "zones", "view"]
);
family!(
    SERVED_STALE,
    CounterVec,
    register_counter_vec,
    "coredns_cache_served_stale_total",
    "The number of requests served from stale cache entries.",
    &["server", "zones", "view"]
);
family!(
    EVICTIONS,
    CounterVec,
    register_counter_vec,
    "coredns_cache_evictions_total",
    "The count of cache evictions.",
    &["server", "type", "zones", "view"]
);
