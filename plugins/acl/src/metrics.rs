//! `coredns_acl_*` metric families.

use std::sync::LazyLock;

use prometheus::{CounterVec, register_counter_vec};

macro_rules! family {
    ($name:ident, $metric:literal, $help:literal, $labels:expr) => {
        pub static $name: LazyLock<Option<CounterVec>> =
            LazyLock::new(|| register_counter_vec!($metric, $help, $labels).ok());
    };
}

family!(
    BLOCKED,
    "coredns_acl_blocked_requests_total",
    "Counter of DNS requests being blocked.",
    &["server", "zone", "view"]
);
family!(
    FILTERED,
    "coredns_acl_filtered_requests_total",
    "Counter of DNS requests being filtered.",
    &["server", "zone", "view"]
);
family!(
    ALLOWED,
    "coredns_acl_allowed_requests_total",
    "Counter of DNS requests being allowed.",
    &["server", "view"]
);
family!(
    DROPPED,
    "coredns_acl_dropped_requests_total",
    "Counter of DNS requests being dropped.",
    &["server", "zone", "view"]
);
