//! CoreDNS's core metric families (`coredns_dns_*`, `coredns_panics_total`, ...): recorded by the
//! `prometheus` plugin's handler for answered queries and by the server for dropped ones.

use std::sync::LazyLock;
use std::time::Instant;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use prometheus::{
    CounterVec, GaugeVec, HistogramVec, IntCounter, exponential_buckets, register_counter_vec,
    register_gauge_vec, register_histogram_vec, register_int_counter,
};

use crate::request::Request;
use crate::response::rcode_name;

/// CoreDNS's `plugin.TimeBuckets`: 0.25 ms doubling, 16 buckets.
fn time_buckets() -> Vec<f64> {
    exponential_buckets(0.00025, 2.0, 16).unwrap_or_default()
}

/// CoreDNS's `plugin.SizeBuckets`.
const SIZE_BUCKETS: [f64; 14] = [
    0.0, 100.0, 200.0, 300.0, 400.0, 511.0, 1023.0, 2047.0, 4095.0, 8291.0, 16e3, 32e3, 48e3, 64e3,
];

pub static REQUESTS: LazyLock<Option<CounterVec>> = LazyLock::new(|| {
    register_counter_vec!(
        "coredns_dns_requests_total",
        "Counter of DNS requests made per zone, protocol and family.",
        &["server", "zone", "view", "proto", "family", "type"]
    )
    .ok()
});
pub static DO_REQUESTS: LazyLock<Option<CounterVec>> = LazyLock::new(|| {
    register_counter_vec!(
        "coredns_dns_do_requests_total",
        "Counter of DNS requests with DO bit set per zone.",
        &["server", "zone", "view"]
    )
    .ok()
});
pub static REQUEST_DURATION: LazyLock<Option<HistogramVec>> = LazyLock::new(|| {
    register_histogram_vec!(
        "coredns_dns_request_duration_seconds",
        "Histogram of the time (in seconds) each request took per zone.",
        &["server", "zone", "view", "type"],
        time_buckets()
    )
    .ok()
});
pub static REQUEST_SIZE: LazyLock<Option<HistogramVec>> = LazyLock::new(|| {
    register_histogram_vec!(
        "coredns_dns_request_size_bytes",
        "Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol.",
        &["server", "zone", "view", "proto"],
        SIZE_BUCKETS.to_vec()
    )
    .ok()
});
pub static RESPONSE_SIZE: LazyLock<Option<HistogramVec>> = LazyLock::new(|| {
    register_histogram_vec!(
        "coredns_dns_response_size_bytes",
        "Size of the returned response in bytes.",
        &["server", "zone", "view", "proto"],
        SIZE_BUCKETS.to_vec()
    )
    .ok()
});
pub static RESPONSES: LazyLock<Option<CounterVec>> = LazyLock::new(|| {
    register_counter_vec!(
        "coredns_dns_responses_total",
        "Counter of response status codes.",
        &["server", "zone", "view", "rcode", "plugin"]
    )
    .ok()
});
pub static PANICS: LazyLock<Option<IntCounter>> = LazyLock::new(|| {
    register_int_counter!(
        "coredns_panics_total",
        "A metrics that counts the number of panics."
    )
    .ok()
});
pub static PLUGIN_ENABLED: LazyLock<Option<GaugeVec>> = LazyLock::new(|| {
    register_gauge_vec!(
        "coredns_plugin_enabled",
        "A metric that indicates whether a plugin is enabled on per server and zone basis.",
        &["server", "zone", "view", "name"]
    )
    .ok()
});
pub static BUILD_INFO: LazyLock<Option<GaugeVec>> = LazyLock::new(|| {
    register_gauge_vec!("coredns_build_info", "A metric with a constant '1' value labeled by version, revision, and goversion from which CoreDNS was built.", &["version", "revision", "goversion"]).ok()
});

/// Query types with a label of their own; others count as `other` (CoreDNS's `monitorType`).
fn type_label(t: RecordType) -> &'static str {
    use RecordType::*;
    match t {
        A => "A",
        AAAA => "AAAA",
        CNAME => "CNAME",
        DNSKEY => "DNSKEY",
        DS => "DS",
        MX => "MX",
        NSEC3 => "NSEC3",
        NSEC => "NSEC",
        NS => "NS",
        PTR => "PTR",
        RRSIG => "RRSIG",
        SOA => "SOA",
        SRV => "SRV",
        TXT => "TXT",
        HTTPS => "HTTPS",
        IXFR => "IXFR",
        AXFR => "AXFR",
        ANY => "ANY",
        _ => "other",
    }
}

/// One answered (or dropped) query, as CoreDNS's `vars.Report`: `zone` is the matched zone, or
/// `dropped` for queries no server block took; `plugin` the one that wrote the reply.
pub fn report(
    req: &Request,
    zone: &str,
    rcode: ResponseCode,
    plugin: &str,
    reply_size: usize,
    start: Instant,
) {
    let server = &*req.server;
    let proto = req.transport.as_str();
    let family = if req.is_ipv4() { "1" } else { "2" };
    let qtype = type_label(req.qtype());
    if req.do_bit()
        && let Some(c) = DO_REQUESTS.as_ref()
    {
        c.with_label_values(&[server, zone, ""]).inc();
    }
    if let Some(c) = REQUESTS.as_ref() {
        c.with_label_values(&[server, zone, "", proto, family, qtype])
            .inc();
    }
    if let Some(h) = REQUEST_DURATION.as_ref() {
        h.with_label_values(&[server, zone, "", qtype])
            .observe(start.elapsed().as_secs_f64());
    }
    if let Some(h) = RESPONSE_SIZE.as_ref() {
        h.with_label_values(&[server, zone, "", proto])
            .observe(reply_size as f64);
    }
    if let Some(h) = REQUEST_SIZE.as_ref() {
        h.with_label_values(&[server, zone, "", proto])
            .observe(req.size as f64);
    }
    if let Some(c) = RESPONSES.as_ref() {
        c.with_label_values(&[server, zone, "", &rcode_name(rcode), plugin])
            .inc();
    }
}

/// Sets the process-wide families that exist from the start (build info, panics).
pub fn init(version: &str) {
    if let Some(g) = BUILD_INFO.as_ref() {
        g.with_label_values(&[version, "", "rust"]).set(1.0);
    }
    if let Some(c) = PANICS.as_ref() {
        c.inc_by(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_labels() {
        assert_eq!(type_label(RecordType::A), "A");
        assert_eq!(type_label(RecordType::HINFO), "other");
        assert_eq!(type_label(RecordType::HTTPS), "HTTPS");
    }
}
