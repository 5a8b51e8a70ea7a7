//! The drop-in run: the binary on exactly the ConfigMap's Corefile (only addresses changed for a
//! test host), through a Corefile edit, a broken edit and a SIGTERM, all under query load.

use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use k8s_openapi::api::core::v1::ConfigMap;
use testkit::apiserver::{namespace, service};
use testkit::{FakeApiServer, FakeUpstream, Load, Server, TempDir, ask, free_port, http_get, rr, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

/// Metric families CoreDNS 1.11.3 shows after a little traffic and one reload
/// (coredns-1.11.3-observed.md), but for the kubernetes client's `rest_client` families.
const COREDNS_FAMILIES: &[&str] = &[
    "coredns_build_info",
    "coredns_cache_entries",
    "coredns_cache_hits_total",
    "coredns_cache_misses_total",
    "coredns_cache_requests_total",
    "coredns_dns_request_duration_seconds",
    "coredns_dns_request_size_bytes",
    "coredns_dns_requests_total",
    "coredns_dns_response_size_bytes",
    "coredns_dns_responses_total",
    "coredns_forward_healthcheck_broken_total",
    "coredns_forward_max_concurrent_rejects_total",
    "coredns_health_request_duration_seconds",
    "coredns_health_request_failures_total",
    "coredns_hosts_entries",
    "coredns_hosts_reload_timestamp_seconds",
    "coredns_kubernetes_rest_client_rate_limiter_duration_seconds",
    "coredns_kubernetes_rest_client_request_duration_seconds",
    "coredns_kubernetes_rest_client_requests_total",
    "coredns_panics_total",
    "coredns_plugin_enabled",
    "coredns_proxy_conn_cache_misses_total",
    "coredns_proxy_request_duration_seconds",
    "coredns_reload_failed_total",
    "coredns_reload_version_info",
];

/// The load: a cluster name and an external one, in turn.
const CLUSTER_AND_EXTERNAL: &[&str] = &["web.default.svc.cluster.local.", "www.example.org."];

fn answered(r: &Message) -> bool {
    r.metadata.response_code == ResponseCode::NoError && !r.answers.is_empty()
}

#[test]
fn drop_in_edits_and_restart_lose_no_query() {
    let api = FakeApiServer::start();
    api.apply(namespace("default"));
    api.apply(service("default", "web", "10.96.0.20", &[("http", "TCP", 80)]));
    let up = FakeUpstream::start();
    up.add(rr("www.example.org. 300 A 198.51.100.1"));
    let dir = TempDir::new("dropin");
    let (port, health, ready, metrics) = (free_port(), free_port(), free_port(), free_port());

    let manifest = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/manifests/base/configmap.yaml"
    ))
    .expect("configmap");
    let cm: ConfigMap = serde_saphyr::from_str(&manifest).expect("parse configmap");
    let original = cm
        .data
        .and_then(|d| d.get("Corefile").cloned())
        .expect("Corefile");
    let kubeconfig = api.kubeconfig(&dir);
    let host = testkit::KubeadmHost {
        port,
        health,
        ready,
        metrics,
        kubeconfig: &kubeconfig,
        upstream: up.addr,
    };
    let corefile = testkit::kubeadm_corefile(&original, &host);
    let mut server = Server::start(BIN, &corefile, port);
    assert_eq!(http_get(health, "/health"), Some((200, "OK".into())));
    assert_eq!(http_get(ready, "/ready"), Some((200, "OK".into())));
    assert_eq!(
        ask(port, "web.default.svc.cluster.local.").map(|r| r.answers.len()),
        Some(1)
    );
    assert_eq!(ask(port, "www.example.org.").map(|r| r.answers.len()), Some(1));

    // Edit the Corefile under load: a hosts entry and a rewrite.
    let load = Load::start(port, CLUSTER_AND_EXTERNAL, answered);
    std::thread::sleep(Duration::from_millis(500));
    let edited = corefile.replace(
        "    loadbalance\n",
        "    loadbalance\n    hosts {\n        172.16.0.3 webservice1.com\n        fallthrough\n    }\n    rewrite name web-service.cluster.local webservice1.com\n",
    );
    std::fs::write(&server.corefile, &edited).expect("write");
    server.signal("USR1");
    wait_until("the edit", Duration::from_secs(10), || {
        ask(port, "web-service.cluster.local.").is_some_and(|r| !r.answers.is_empty())
    });
    let r = ask(port, "web-service.cluster.local.").expect("answer");
    assert_eq!(r.answers[0].name.to_string(), "web-service.cluster.local.");
    // A broken Corefile: logged, counted, the edited config keeps serving.
    std::fs::write(
        &server.corefile,
        edited.replace("    loop\n", "    loop\n    proxy . 127.0.0.1\n"),
    )
    .expect("write");
    server.signal("USR1");
    server
        .wait_for_line("Corefile changed but reload failed", Duration::from_secs(5))
        .expect("failure logged");
    assert_eq!(ask(port, "webservice1.com.").map(|r| r.answers.len()), Some(1));
    std::thread::sleep(Duration::from_millis(500));
    let (sent, failed) = load.finish();
    assert!(sent > 50);
    assert_eq!(failed, 0, "{failed} of {sent} queries failed across the reloads");

    let scrape = http_get(metrics, "/metrics").expect("metrics").1;
    for family in COREDNS_FAMILIES {
        assert!(scrape.lines().any(|l| l.starts_with(family)), "{family} missing");
    }
    assert!(scrape.lines().any(|l| l == "coredns_reload_failed_total 1"));

    // SIGTERM under load: answered throughout the 5 s lameduck.
    let load = Load::start(port, CLUSTER_AND_EXTERNAL, answered);
    std::thread::sleep(Duration::from_millis(200));
    server.signal("TERM");
    std::thread::sleep(Duration::from_millis(4500));
    let (sent, failed) = load.finish();
    assert!(sent > 50);
    assert_eq!(failed, 0, "{failed} of {sent} queries failed during lameduck");
    assert_eq!(server.wait_exit(Duration::from_secs(5)), Some(0));
}
