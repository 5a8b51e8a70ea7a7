//! End to end: the kubernetes plugin in the real binary, kube-rs against the test API server.

use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use testkit::apiserver::{
    endpoint_slice, external_name, imported_slice, namespace, pod, service, service_import,
};
use testkit::{
    FakeApiServer, FakeUpstream, Server, TempDir, free_port, http_get, local, query, rr, tcp, udp,
};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

fn cluster(api: &FakeApiServer) {
    for ns in ["default", "kube-system"] {
        api.apply(namespace(ns));
    }
    api.apply(service("default", "web", "10.96.0.20", &[("http", "TCP", 80)]));
    api.apply(service("default", "db", "None", &[("pg", "TCP", 5432)]));
    api.apply(endpoint_slice(
        "default",
        "db-abc",
        "db",
        &[
            ("10.244.0.11", Some("db-0"), true),
            ("10.244.0.12", Some("db-1"), true),
            ("10.244.0.13", None, false),
        ],
        &[("pg", "TCP", 5432)],
    ));
    api.apply(external_name("default", "ext", "outside.example"));
}

fn answers(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .map(|a| format!("{} {} {}", a.name, a.record_type(), a.data))
        .collect()
}

/// Polls until `check` holds for the answer to `name`; returns how long that took.
fn until(port: u16, name: &str, t: RecordType, check: impl Fn(&Message) -> bool) -> Duration {
    until_within(Duration::from_secs(5), port, name, t, check)
}

/// As [`until`], waiting at most `limit`.
fn until_within(
    limit: Duration,
    port: u16,
    name: &str,
    t: RecordType,
    check: impl Fn(&Message) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let r = udp(local(port), &query(name, t, None));
        if check(&r) {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "{name} {t}: still {r:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn start(api: &FakeApiServer, dir: &TempDir, client: &str, extra: &str) -> (Server, u16, u16) {
    let (port, ready) = (free_port(), free_port());
    let client = if client == "kubeconfig" {
        format!("kubeconfig {}", api.kubeconfig(dir).display())
    } else {
        format!("endpoint {}", api.url())
    };
    let corefile = format!(
        "cluster.local:{port} in-addr.arpa:{port} {{\n bind 127.0.0.1\n ready 127.0.0.1:{ready}\n errors\n kubernetes cluster.local in-addr.arpa {{\n  {client}\n  {extra}\n }}\n}}\n"
    );
    (Server::start(BIN, &corefile, port), port, ready)
}

#[test]
fn kubeconfig_sync_answers_and_changes() {
    let api = FakeApiServer::start();
    cluster(&api);
    let dir = TempDir::new("k8s");
    let (_server, port, ready) = start(&api, &dir, "kubeconfig", "");
    assert_eq!(http_get(ready, "/ready"), Some((200, "OK".into())));
    // Initial sync: a ClusterIP service over UDP and TCP, headless ready endpoints, PTR.
    let r = udp(
        local(port),
        &query("web.default.svc.cluster.local.", RecordType::A, None),
    );
    assert_eq!(answers(&r), ["web.default.svc.cluster.local. A 10.96.0.20"]);
    assert!(r.metadata.authoritative && !r.metadata.recursion_available);
    let r = tcp(
        local(port),
        &[query("db.default.svc.cluster.local.", RecordType::A, None)],
    )
    .remove(0);
    assert_eq!(
        answers(&r),
        [
            "db.default.svc.cluster.local. A 10.244.0.11",
            "db.default.svc.cluster.local. A 10.244.0.12"
        ]
    );
    let r = udp(
        local(port),
        &query("11.0.244.10.in-addr.arpa.", RecordType::PTR, None),
    );
    assert_eq!(
        answers(&r),
        ["11.0.244.10.in-addr.arpa. PTR db-0.db.default.svc.cluster.local."]
    );
    let r = udp(
        local(port),
        &query("nope.default.svc.cluster.local.", RecordType::A, None),
    );
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert!(
        api.count("watch=true") >= 3,
        "{:?}",
        api.requests.lock().map(|r| r.clone())
    );

    // A service added, an endpoint removed, a namespace deleted: each visible shortly.
    api.apply(service("default", "new", "10.96.0.30", &[("http", "TCP", 80)]));
    let added = until(port, "new.default.svc.cluster.local.", RecordType::A, |r| {
        r.answers.len() == 1
    });
    api.apply(endpoint_slice(
        "default",
        "db-abc",
        "db",
        &[("10.244.0.11", Some("db-0"), true)],
        &[("pg", "TCP", 5432)],
    ));
    let removed = until(port, "db.default.svc.cluster.local.", RecordType::A, |r| {
        r.answers.len() == 1
    });
    api.apply(namespace("doomed"));
    api.apply(service("doomed", "svc", "10.96.0.40", &[("http", "TCP", 80)]));
    until(port, "svc.doomed.svc.cluster.local.", RecordType::A, |r| {
        r.answers.len() == 1
    });
    api.delete("Namespace", "", "doomed");
    let deleted = until(port, "svc.doomed.svc.cluster.local.", RecordType::A, |r| {
        r.metadata.response_code == ResponseCode::NXDomain
    });
    eprintln!(
        "visible after: service added {added:?}, endpoint removed {removed:?}, namespace deleted {deleted:?}"
    );
}

#[test]
fn endpoint_url_watch_drops_410_and_outage() {
    let api = FakeApiServer::start();
    cluster(&api);
    let dir = TempDir::new("k8s-endpoint");
    let (_server, port, _) = start(&api, &dir, "endpoint", "");
    until(port, "web.default.svc.cluster.local.", RecordType::A, |r| {
        r.answers.len() == 1
    });

    // A dropped watch: kube-rs watches again from its last version; changes still arrive.
    api.drop_watches();
    api.apply(service(
        "default",
        "after-drop",
        "10.96.0.50",
        &[("http", "TCP", 80)],
    ));
    until(
        port,
        "after-drop.default.svc.cluster.local.",
        RecordType::A,
        |r| r.answers.len() == 1,
    );

    // History compacted: resuming watches get 410 Expired, list again and converge.
    let lists = api.lists("/api/v1/services");
    api.compact();
    api.apply(service(
        "default",
        "after-410",
        "10.96.0.60",
        &[("http", "TCP", 80)],
    ));
    until(port, "after-410.default.svc.cluster.local.", RecordType::A, |r| {
        r.answers.len() == 1
    });
    assert!(api.lists("/api/v1/services") > lists, "no relist after 410");

    // Injected 5xx are retried.
    api.fail_next(3);
    api.drop_watches();
    api.apply(service(
        "default",
        "after-5xx",
        "10.96.0.70",
        &[("http", "TCP", 80)],
    ));
    until(port, "after-5xx.default.svc.cluster.local.", RecordType::A, |r| {
        r.answers.len() == 1
    });

    // A 20 s API outage: the last good view keeps answering throughout.
    api.set_outage(true);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        let r = udp(
            local(port),
            &query("web.default.svc.cluster.local.", RecordType::A, None),
        );
        assert_eq!(
            answers(&r),
            ["web.default.svc.cluster.local. A 10.96.0.20"],
            "during the outage at {:?}",
            start.elapsed()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    api.set_outage(false);
    api.apply(service(
        "default",
        "after-outage",
        "10.96.0.80",
        &[("http", "TCP", 80)],
    ));
    // The watchers' backoff has grown during the outage (0.8 s doubling to 30 s, as client-go's).
    let back = until_within(
        Duration::from_secs(40),
        port,
        "after-outage.default.svc.cluster.local.",
        RecordType::A,
        |r| r.answers.len() == 1,
    );
    eprintln!("caught up {back:?} after the outage ended");
}

#[test]
fn servfail_and_not_ready_until_synced() {
    let api = FakeApiServer::start();
    cluster(&api);
    api.set_outage(true);
    let dir = TempDir::new("k8s-unsynced");
    let (server, port, ready) = start(&api, &dir, "endpoint", "startup_timeout 1s");
    server
        .wait_for_line(
            "starting server with unsynced Kubernetes API",
            Duration::from_secs(3),
        )
        .expect("warning");
    let r = udp(
        local(port),
        &query("web.default.svc.cluster.local.", RecordType::A, None),
    );
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(
        r.authorities.first().map(|a| a.record_type()),
        Some(RecordType::SOA)
    );
    assert_eq!(http_get(ready, "/ready"), Some((503, "kubernetes".into())));
    api.set_outage(false);
    until(port, "web.default.svc.cluster.local.", RecordType::A, |r| {
        r.answers.len() == 1
    });
    // The answer can come from a partial view (services and namespaces listed, slices still
    // backing off after the outage); ready follows once every kind is listed.
    let start = Instant::now();
    while http_get(ready, "/ready") != Some((200, "OK".into())) {
        assert!(start.elapsed() < Duration::from_secs(10), "never ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = udp(
        local(port),
        &query("nope.default.svc.cluster.local.", RecordType::A, None),
    );
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
}

/// kubeadm's Corefile (Corefile.example) with only addresses changed for the test.
#[test]
fn kubeadm_corefile_end_to_end() {
    let api = FakeApiServer::start();
    cluster(&api);
    let up = FakeUpstream::start();
    up.add(rr("outside.example. 300 A 203.0.113.9"));
    up.add(rr("www.example.org. 300 A 198.51.100.1"));
    let dir = TempDir::new("kubeadm");
    let (port, health, ready, metrics) = (free_port(), free_port(), free_port(), free_port());
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Corefile.example"))
        .expect("Corefile.example");
    let kubeconfig = api.kubeconfig(&dir);
    let host = testkit::KubeadmHost {
        port,
        health,
        ready,
        metrics,
        kubeconfig: &kubeconfig,
        upstream: up.addr,
    };
    let corefile = testkit::kubeadm_corefile(&example, &host);
    let _server = Server::start(BIN, &corefile, port);
    assert_eq!(http_get(health, "/health").map(|r| r.0), Some(200));
    assert_eq!(http_get(ready, "/ready"), Some((200, "OK".into())));
    let r = udp(
        local(port),
        &query("web.default.svc.cluster.local.", RecordType::A, None),
    );
    assert_eq!(answers(&r), ["web.default.svc.cluster.local. A 10.96.0.20"]);
    assert_eq!(r.answers[0].ttl, 30);
    // The ExternalName's target through forward; the cache caps TTLs at 30 (1.11.3).
    let r = udp(
        local(port),
        &query("ext.default.svc.cluster.local.", RecordType::A, None),
    );
    assert_eq!(
        answers(&r),
        [
            "ext.default.svc.cluster.local. CNAME outside.example.",
            "outside.example. A 203.0.113.9"
        ]
    );
    assert!(r.answers.iter().all(|a| a.ttl <= 30));
    let r = udp(local(port), &query("www.example.org.", RecordType::A, None));
    assert_eq!(answers(&r), ["www.example.org. A 198.51.100.1"]);
    // dns-version goes out with the cache's TTL, not 28800 (1.11.3).
    let r = udp(
        local(port),
        &query("dns-version.cluster.local.", RecordType::TXT, None),
    );
    assert_eq!(r.answers.first().map(|a| a.ttl), Some(30));
    // Reverse misses fall through to forward (kubeadm's fallthrough in-addr.arpa ip6.arpa).
    udp(
        local(port),
        &query("9.9.9.9.in-addr.arpa.", RecordType::PTR, None),
    );
    assert_eq!(up.count("9.9.9.9.in-addr.arpa."), 1);
    // A slice change stamped by the EndpointSlice controller is timed until it is served.
    let mut slice = endpoint_slice(
        "default",
        "db-new",
        "db",
        &[("10.244.0.14", Some("db-2"), true)],
        &[("pg", "TCP", 5432)],
    );
    slice["metadata"]["annotations"] =
        serde_json::json!({"endpoints.kubernetes.io/last-change-trigger-time": "2026-01-01T00:00:00Z"});
    api.apply(slice);
    until(port, "db-2.db.default.svc.cluster.local.", RecordType::A, |m| {
        !m.answers.is_empty()
    });
    let scrape = http_get(metrics, "/metrics").expect("metrics").1;
    assert!(
        scrape.contains(
            "coredns_kubernetes_dns_programming_duration_seconds_count{service_kind=\"headless_with_selector\"} 1"
        ),
        "{scrape}"
    );
    assert!(
        scrape.contains("coredns_dns_responses_total{plugin=\"kubernetes\""),
        "{scrape}"
    );
    // client-go's rest client metrics, labelled with the API server's host:port.
    let api_host = api.url().trim_start_matches("http://").to_owned();
    let ok_lists = format!(
        "coredns_kubernetes_rest_client_requests_total{{code=\"200\",host=\"{api_host}\",method=\"GET\"}}"
    );
    assert!(scrape.contains(&ok_lists), "{scrape}");
    assert!(scrape.contains(&format!(
        "coredns_kubernetes_rest_client_request_duration_seconds_count{{host=\"{api_host}\",verb=\"GET\"}}"
    )));
}

/// A sum from a scrape, e.g. of a histogram's `_sum` series.
fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[test]
fn apiserver_limits_throttle_the_client() {
    let api = FakeApiServer::start();
    cluster(&api);
    let (port, metrics) = (free_port(), free_port());
    let corefile = format!(
        "cluster.local:{port} {{\n bind 127.0.0.1\n prometheus 127.0.0.1:{metrics}\n kubernetes {{\n  endpoint {}\n  apiserver_qps 4\n  apiserver_burst 1\n  apiserver_max_inflight 1\n }}\n}}\n",
        api.url()
    );
    let _server = Server::start(BIN, &corefile, port);
    until(port, "web.default.svc.cluster.local.", RecordType::A, |m| {
        !m.answers.is_empty()
    });
    let scrape = http_get(metrics, "/metrics").expect("metrics").1;
    let host = api.url().trim_start_matches("http://").to_owned();
    let labels = format!("{{host=\"{host}\",verb=\"GET\"}}");
    let sum = |name: &str| {
        sample(
            &scrape,
            &format!("coredns_kubernetes_rest_client_rate_limiter_duration_seconds_{name}{labels}"),
        )
    };
    // One list and one watch per kind: past the burst of 1, each waits a quarter second more.
    let requests = sum("count").expect("rate limiter count");
    assert!(requests >= 3.0, "{scrape}");
    let waited = sum("sum").expect("rate limiter sum");
    assert!(
        waited >= 0.25 * (requests - 1.0) * 0.5,
        "waited {waited}s for {requests} requests"
    );
    // One in flight at a time still lets the watches stream: a permit is held to the response
    // head only, as client-go's round tripper holds it.
    api.apply(service("default", "new", "10.96.0.30", &[("http", "TCP", 80)]));
    until(port, "new.default.svc.cluster.local.", RecordType::A, |m| {
        !m.answers.is_empty()
    });
}

#[test]
fn pods_verified_answers_live_pods_only() {
    let api = FakeApiServer::start();
    cluster(&api);
    api.apply(pod("default", "web-0", "10.244.0.50", "Running"));
    api.apply(pod("default", "job-1", "10.244.0.51", "Succeeded"));
    let dir = TempDir::new("pods");
    let (_server, port, _ready) = start(&api, &dir, "endpoint", "pods verified");
    until(
        port,
        "10-244-0-50.default.pod.cluster.local.",
        RecordType::A,
        |m| !m.answers.is_empty(),
    );
    let r = udp(
        local(port),
        &query("10-244-0-50.default.pod.cluster.local.", RecordType::A, None),
    );
    assert_eq!(
        answers(&r),
        ["10-244-0-50.default.pod.cluster.local. A 10.244.0.50"]
    );
    // A finished pod has no IP for DNS; the watch asks the API server to leave such pods out,
    // as CoreDNS's does (this test server sends them anyway).
    let r = udp(
        local(port),
        &query("10-244-0-51.default.pod.cluster.local.", RecordType::A, None),
    );
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert!(api.count("fieldSelector=status.phase") >= 1);
    // Another namespace's pod IP is not this namespace's pod.
    let r = udp(
        local(port),
        &query("10-244-0-50.kube-system.pod.cluster.local.", RecordType::A, None),
    );
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    // Deleted: gone.
    api.delete("Pod", "default", "web-0");
    until(
        port,
        "10-244-0-50.default.pod.cluster.local.",
        RecordType::A,
        |m| m.metadata.response_code == ResponseCode::NXDomain,
    );
}

/// Lists as client-go's informers make them: one `resourceVersion=0` request per kind, whole
/// (the test API server pages consistent lists as kube-apiserver does, so a regression to paged
/// lists shows here as more requests), and one more per kind after a 410.
#[test]
fn one_list_per_kind_at_start_and_after_410() {
    let api = FakeApiServer::start();
    cluster(&api);
    // More objects than kube-rs's and client-go's page of 500.
    api.apply_all((0..1200).flat_map(|i| {
        let name = format!("s{i}");
        let ip = format!("10.97.{}.{}", i / 250, i % 250 + 1);
        let pod = format!("10.245.{}.{}", i / 250, i % 250 + 1);
        [
            service("bulk", &name, &ip, &[("http", "TCP", 80)]),
            endpoint_slice(
                "bulk",
                &format!("{name}-x"),
                &name,
                &[(&pod, None, true)],
                &[("http", "TCP", 80)],
            ),
        ]
    }));
    api.apply(namespace("bulk"));
    let dir = TempDir::new("k8s-lists");
    let (_server, port, _) = start(&api, &dir, "endpoint", "");
    until(port, "s1199.bulk.svc.cluster.local.", RecordType::A, |r| {
        r.answers.len() == 1
    });
    let kinds = [
        "/api/v1/services",
        "/apis/discovery.k8s.io/v1/endpointslices",
        "/api/v1/namespaces",
    ];
    let requests = || api.requests.lock().map(|r| r.clone()).unwrap_or_default();
    for kind in kinds {
        assert_eq!(api.lists(kind), 1, "{kind}: {:#?}", requests());
    }
    let lists: Vec<String> = requests()
        .into_iter()
        .filter(|r| !r.contains("watch=true"))
        .collect();
    assert!(
        lists
            .iter()
            .all(|r| r.contains("resourceVersion=0") && !r.contains("limit=")),
        "{lists:#?}"
    );

    // A 410: each kind lists once more, at once, and sees what changed meanwhile.
    api.compact();
    api.apply(service("bulk", "late", "10.97.9.9", &[("http", "TCP", 80)]));
    let took = until(port, "late.bulk.svc.cluster.local.", RecordType::A, |r| {
        r.answers.len() == 1
    });
    assert!(
        took < Duration::from_secs(1),
        "new service after the 410 took {took:?}"
    );
    // Objects the relist names stay answered through it.
    let r = udp(
        local(port),
        &query("s7.bulk.svc.cluster.local.", RecordType::A, None),
    );
    assert_eq!(answers(&r), ["s7.bulk.svc.cluster.local. A 10.97.0.8"]);
    testkit::wait_until("every kind relisted", Duration::from_secs(5), || {
        kinds.iter().all(|k| api.lists(k) >= 2)
    });
    std::thread::sleep(Duration::from_millis(300));
    for kind in kinds {
        assert_eq!(api.lists(kind), 2, "{kind}: {:#?}", requests());
    }
}

/// `multicluster` (1.12.2): ServiceImports and the slices an MCS implementation labels answer
/// in the clusterset zone, apart from the cluster's own; `zonal` (1.14.7) names pick endpoints
/// by their EndpointSlice zone.
#[test]
fn multicluster_imports_and_zonal_names() {
    let api = FakeApiServer::start();
    cluster(&api);
    api.apply(service_import(
        "default",
        "web",
        &["10.110.0.5"],
        &[("http", "TCP", 80)],
    ));
    api.apply(service_import("default", "db", &[], &[("pg", "TCP", 5432)]));
    for (cluster, ip) in [("east", "10.8.0.11"), ("west", "10.9.0.11")] {
        api.apply(imported_slice(
            "default",
            &format!("db-{cluster}"),
            "db",
            cluster,
            &[(ip, Some("db-0"), true)],
            &[("pg", "TCP", 5432)],
        ));
    }
    // The cluster's own db, with topology zones.
    let mut zoned = endpoint_slice(
        "default",
        "db-abc",
        "db",
        &[
            ("10.244.0.11", Some("db-0"), true),
            ("10.244.0.12", Some("db-1"), true),
        ],
        &[("pg", "TCP", 5432)],
    );
    zoned["endpoints"][0]["zone"] = "us-west-2a".into();
    zoned["endpoints"][1]["zone"] = "US-West-2B".into();
    api.apply(zoned);
    let port = free_port();
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n kubernetes cluster.local clusterset.local {{\n  endpoint {}\n  multicluster clusterset.local\n  zonal\n }}\n}}\n",
        api.url()
    );
    let _server = Server::start(BIN, &corefile, port);
    let ask = |name: &str, t: RecordType| udp(local(port), &query(name, t, None));
    until(port, "web.default.svc.clusterset.local.", RecordType::A, |m| {
        !m.answers.is_empty()
    });
    assert_eq!(
        answers(&ask("web.default.svc.clusterset.local.", RecordType::A)),
        ["web.default.svc.clusterset.local. A 10.110.0.5"]
    );
    let mut db = answers(&ask("db.default.svc.clusterset.local.", RecordType::A));
    db.sort();
    assert_eq!(
        db,
        [
            "db.default.svc.clusterset.local. A 10.8.0.11",
            "db.default.svc.clusterset.local. A 10.9.0.11"
        ]
    );
    assert_eq!(
        answers(&ask("db-0.west.db.default.svc.clusterset.local.", RecordType::A)),
        ["db-0.west.db.default.svc.clusterset.local. A 10.9.0.11"]
    );
    // The imported slices stay out of the cluster's own service.
    let mut own = answers(&ask("db.default.svc.cluster.local.", RecordType::A));
    own.sort();
    assert_eq!(
        own,
        [
            "db.default.svc.cluster.local. A 10.244.0.11",
            "db.default.svc.cluster.local. A 10.244.0.12"
        ]
    );
    // Zonal names: the zone as the slice has it, compared in lower case; prefer widens.
    assert_eq!(
        answers(&ask(
            "us-west-2b.pin._zone.db.default.svc.cluster.local.",
            RecordType::A
        )),
        ["us-west-2b.pin._zone.db.default.svc.cluster.local. A 10.244.0.12"]
    );
    let r = ask("eu-1.pin._zone.db.default.svc.cluster.local.", RecordType::A);
    assert_eq!(
        (r.metadata.response_code, r.answers.len()),
        (ResponseCode::NoError, 0)
    );
    assert_eq!(
        ask("eu-1.prefer._zone.db.default.svc.cluster.local.", RecordType::A)
            .answers
            .len(),
        2
    );
    // The clusterset zone's SOA serial moves with its imports; deleting one takes it away.
    let serial = |m: &Message| format!("{:?}", m.authorities.first().map(|r| &r.data));
    let before = serial(&ask("nosuch.default.svc.clusterset.local.", RecordType::A));
    std::thread::sleep(Duration::from_millis(1100));
    api.delete("ServiceImport", "default", "web");
    until(port, "web.default.svc.clusterset.local.", RecordType::A, |m| {
        m.metadata.response_code == ResponseCode::NXDomain
    });
    let after = serial(&ask("nosuch.default.svc.clusterset.local.", RecordType::A));
    assert_ne!(before, after, "the clusterset serial did not move");
    // The imports were listed once, from the watch cache, and the MCS slices by their label.
    assert_eq!(
        api.lists("/apis/multicluster.x-k8s.io/v1alpha1/serviceimports"),
        1
    );
    assert!(api.count("labelSelector=multicluster.kubernetes.io%2Fservice-name") >= 1);
}
