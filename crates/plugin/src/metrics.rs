//! CoreDNS's core metric families (`coredns_dns_*`, `coredns_panics_total`, ...): recorded by the
//! `prometheus` plugin's handler for answered queries and by the server for dropped ones.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use arc_swap::ArcSwap;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use prometheus::{
    Counter, CounterVec, GaugeVec, Histogram, HistogramVec, IntCounter, IntCounterVec, exponential_buckets,
    register_counter_vec, register_gauge_vec, register_histogram_vec, register_int_counter,
    register_int_counter_vec,
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
/// DoH responses by listener and HTTP status (CoreDNS's `vars.HTTPSResponsesCount`).
pub static HTTPS_RESPONSES: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    register_int_counter_vec!(
        "coredns_https_responses_total",
        "Counter of DoH responses per server and http status code.",
        &["server", "status"]
    )
    .ok()
});
/// Queries refused because their listener already had as many waiting as it takes (not a
/// CoreDNS metric: CoreDNS has no such bound).
pub static OVERLOAD_REFUSED: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    register_int_counter_vec!(
        "clusterdns_overload_refused_total",
        "Queries refused because their listener already had its maximum of queries waiting.",
        &["server", "proto"]
    )
    .ok()
});
/// Log lines dropped because standard output did not keep up (not a CoreDNS metric).
pub static LOG_DROPPED: LazyLock<Option<IntCounter>> = LazyLock::new(|| {
    register_int_counter!(
        "clusterdns_log_dropped_total",
        "Log lines dropped because standard output did not keep up."
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

/// The labels of one query's series in the per-query families, as borrowed from the query.
#[derive(Hash)]
struct Labels<'a> {
    server: &'a str,
    zone: &'a str,
    proto: &'static str,
    family: &'static str,
    qtype: &'static str,
    rcode: ResponseCode,
    plugin: &'a str,
    do_bit: bool,
}

/// [`Labels`] owned, to keep with the series they name.
#[derive(Clone)]
struct OwnedLabels {
    server: Box<str>,
    zone: Box<str>,
    plugin: Box<str>,
    /// The rest, which are `'static` or `Copy`.
    proto: &'static str,
    family: &'static str,
    qtype: &'static str,
    rcode: ResponseCode,
    do_bit: bool,
}

impl OwnedLabels {
    fn of(l: &Labels<'_>) -> Self {
        OwnedLabels {
            server: l.server.into(),
            zone: l.zone.into(),
            plugin: l.plugin.into(),
            proto: l.proto,
            family: l.family,
            qtype: l.qtype,
            rcode: l.rcode,
            do_bit: l.do_bit,
        }
    }

    fn is(&self, l: &Labels<'_>) -> bool {
        *self.server == *l.server
            && *self.zone == *l.zone
            && *self.plugin == *l.plugin
            && (self.proto, self.family, self.qtype, self.rcode, self.do_bit)
                == (l.proto, l.family, l.qtype, l.rcode, l.do_bit)
    }
}

/// The series one label set counts into, made on its first query as CoreDNS's `With` makes
/// them.
struct Series {
    requests: Option<Counter>,
    do_requests: Option<Counter>,
    duration: Option<Histogram>,
    response_size: Option<Histogram>,
    request_size: Option<Histogram>,
    responses: Option<Counter>,
}

impl Series {
    fn new(l: &Labels<'_>) -> Self {
        let (server, zone) = (l.server, l.zone);
        Series {
            requests: REQUESTS
                .as_ref()
                .map(|c| c.with_label_values(&[server, zone, "", l.proto, l.family, l.qtype])),
            do_requests: DO_REQUESTS
                .as_ref()
                .filter(|_| l.do_bit)
                .map(|c| c.with_label_values(&[server, zone, ""])),
            duration: REQUEST_DURATION
                .as_ref()
                .map(|h| h.with_label_values(&[server, zone, "", l.qtype])),
            response_size: RESPONSE_SIZE
                .as_ref()
                .map(|h| h.with_label_values(&[server, zone, "", l.proto])),
            request_size: REQUEST_SIZE
                .as_ref()
                .map(|h| h.with_label_values(&[server, zone, "", l.proto])),
            responses: RESPONSES
                .as_ref()
                .map(|c| c.with_label_values(&[server, zone, "", &rcode_name(l.rcode), l.plugin])),
        }
    }
}

/// Every label set seen so far, by a hash of its labels: `with_label_values` hashes every label
/// and takes its family's lock, six times a query; this is one hash and one lock-free load.
/// Label values are bounded (configured servers and zones, named types and rcodes, plugins),
/// so the table is too; a new set copies it once.
type SeriesTable = HashMap<u64, Vec<(OwnedLabels, Arc<Series>)>>;
static SERIES: LazyLock<ArcSwap<SeriesTable>> = LazyLock::new(ArcSwap::default);
/// A fixed seed: the table only ever holds the label sets this server's configuration produces.
const SEED: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(0x0063_6f72_6564_6e73);

fn series(labels: &Labels<'_>) -> Arc<Series> {
    let hash = SEED.hash_one(labels);
    if let Some((_, s)) = SERIES
        .load()
        .get(&hash)
        .and_then(|sets| sets.iter().find(|(l, _)| l.is(labels)))
    {
        return s.clone();
    }
    let made = Arc::new(Series::new(labels));
    SERIES.rcu(|table| {
        let mut table = SeriesTable::clone(table);
        let sets = table.entry(hash).or_default();
        if !sets.iter().any(|(l, _)| l.is(labels)) {
            sets.push((OwnedLabels::of(labels), made.clone()));
        }
        table
    });
    made
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
    let s = series(&Labels {
        server: &req.server,
        zone,
        proto: req.transport.as_str(),
        family: if req.is_ipv4() { "1" } else { "2" },
        qtype: type_label(req.qtype()),
        rcode,
        plugin,
        do_bit: req.do_bit(),
    });
    if let Some(c) = &s.do_requests {
        c.inc();
    }
    if let Some(c) = &s.requests {
        c.inc();
    }
    if let Some(h) = &s.duration {
        h.observe(start.elapsed().as_secs_f64());
    }
    if let Some(h) = &s.response_size {
        h.observe(reply_size as f64);
    }
    if let Some(h) = &s.request_size {
        h.observe(req.size as f64);
    }
    if let Some(c) = &s.responses {
        c.inc();
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

    fn request(server: &str) -> Request {
        use hickory_proto::op::{Message, MessageType, OpCode, Query};
        let m = Message::new(1, MessageType::Query, OpCode::Query);
        Request {
            metadata: m.metadata,
            query: Query::query(hickory_proto::rr::Name::root(), RecordType::A),
            edns: None,
            client: ([10, 0, 0, 9], 4000).into(),
            local: ([10, 0, 0, 10], 53).into(),
            transport: crate::Transport::Udp,
            size: 40,
            server: Arc::from(server),
            zone: Arc::from("."),
            received: Instant::now(),
            responder: None,
            server_lookup: None,
            lookups: None,
            meta: None,
            ixfr_serial: None,
        }
    }

    /// Series are looked up once per label set and counted on every query; a new label value
    /// (the rcode) is a series of its own.
    #[test]
    fn reports_count_into_the_series_of_their_labels() {
        let server = "dns://series-test:53";
        let req = request(server);
        let now = Instant::now();
        report(&req, ".", ResponseCode::NoError, "hosts", 60, now);
        report(&req, ".", ResponseCode::NoError, "hosts", 60, now);
        report(&req, ".", ResponseCode::NXDomain, "hosts", 60, now);
        let (Some(requests), Some(responses)) = (REQUESTS.as_ref(), RESPONSES.as_ref()) else {
            panic!("families registered");
        };
        assert_eq!(
            requests
                .with_label_values(&[server, ".", "", "udp", "1", "A"])
                .get(),
            3.0
        );
        let rcode = |r: &str| responses.with_label_values(&[server, ".", "", r, "hosts"]).get();
        assert_eq!((rcode("NOERROR"), rcode("NXDOMAIN")), (2.0, 1.0));
        // No DO bit: no DO series made.
        let labels = Labels {
            server,
            zone: ".",
            proto: "udp",
            family: "1",
            qtype: "A",
            rcode: ResponseCode::NoError,
            plugin: "hosts",
            do_bit: false,
        };
        assert!(series(&labels).do_requests.is_none());
    }

    #[test]
    fn type_labels() {
        assert_eq!(type_label(RecordType::A), "A");
        assert_eq!(type_label(RecordType::HINFO), "other");
        assert_eq!(type_label(RecordType::HTTPS), "HTTPS");
    }
}
