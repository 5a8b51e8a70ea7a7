//! End to end: /metrics with CoreDNS's names and labels after a little traffic.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use hickory_proto::rr::{DNSClass, RecordType};
use testkit::{FakeUpstream, Server, free_port, local, query, query_class, rr, udp};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

fn get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    text
}

#[test]
fn metrics_families_and_labels() {
    let up = FakeUpstream::start();
    up.add(rr("up.example. 60 A 192.0.2.1"));
    let (port, metrics, health) = (free_port(), free_port(), free_port());
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n errors\n health 127.0.0.1:{health}\n prometheus 127.0.0.1:{metrics}\n hosts {{\n  10.0.0.1 web.example\n  fallthrough\n }}\n cache 30\n loadbalance\n forward . {}\n}}\n",
        up.addr
    );
    let _server = Server::start(BIN, &corefile, port);
    udp(local(port), &query("web.example.", RecordType::A, None));
    udp(local(port), &query("up.example.", RecordType::A, None));
    udp(local(port), &query("up.example.", RecordType::A, None));
    udp(
        local(port),
        &query_class("x.example.", RecordType::A, DNSClass::HS),
    );
    std::thread::sleep(Duration::from_millis(1200));
    let text = get(metrics, "/metrics");
    assert!(
        text.starts_with("HTTP/1.0 200") || text.starts_with("HTTP/1.1 200"),
        "{text}"
    );
    assert!(
        text.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4")
    );
    // Names CoreDNS 1.11.3 shows after a little traffic (coredns-1.11.3-observed.md), for the
    // plugins in this Corefile.
    for family in [
        "coredns_build_info",
        "coredns_cache_entries",
        "coredns_cache_hits_total",
        "coredns_cache_misses_total",
        "coredns_cache_requests_total",
        "coredns_dns_request_duration_seconds_bucket",
        "coredns_dns_request_size_bytes_bucket",
        "coredns_dns_requests_total",
        "coredns_dns_response_size_bytes_bucket",
        "coredns_dns_responses_total",
        "coredns_forward_healthcheck_broken_total",
        "coredns_forward_max_concurrent_rejects_total",
        "coredns_health_request_duration_seconds_bucket",
        "coredns_health_request_failures_total",
        "coredns_hosts_entries",
        "coredns_panics_total",
        "coredns_plugin_enabled",
        "coredns_proxy_conn_cache_misses_total",
        "coredns_proxy_request_duration_seconds_bucket",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(family)),
            "{family} missing:\n{text}"
        );
    }
    let server = format!("server=\"dns://127.0.0.1:{port}\"");
    let has = |needle: &[&str]| text.lines().any(|l| needle.iter().all(|n| l.contains(n)));
    assert!(
        has(&[
            "coredns_dns_requests_total{",
            "family=\"1\"",
            "proto=\"udp\"",
            &server,
            "type=\"A\"",
            "zone=\".\"",
            "} 3"
        ]),
        "{text}"
    );
    assert!(
        has(&[
            "coredns_dns_responses_total{",
            "plugin=\"hosts\"",
            "rcode=\"NOERROR\"",
            "} 1"
        ]),
        "{text}"
    );
    assert!(
        has(&["coredns_dns_responses_total{", "plugin=\"forward\"", "} 1"]),
        "{text}"
    );
    assert!(
        has(&["coredns_dns_responses_total{", "plugin=\"cache\"", "} 1"]),
        "{text}"
    );
    assert!(
        has(&["coredns_dns_requests_total{", "zone=\"dropped\""]),
        "{text}"
    );
    assert!(
        has(&["coredns_cache_hits_total{", "type=\"success\"", "} 1"]),
        "{text}"
    );
    assert!(
        has(&[
            "coredns_plugin_enabled{",
            "name=\"forward\"",
            &server,
            "zone=\".\"",
            "} 1"
        ]),
        "{text}"
    );
    assert!(get(metrics, "/other").contains(" 404 "));
}

/// `tls CONFIG` (CoreDNS 1.14.3): a Prometheus web config puts /metrics behind TLS, with
/// verified client certificates when it asks for them; plain HTTP is then refused.
#[test]
fn metrics_over_tls_with_a_web_config() {
    let dir = testkit::TempDir::new("prometheus-tls");
    let (cert, key) = testkit::self_signed_pem();
    let (client_cert, client_key, client_ca) = testkit::client_cert_pem();
    dir.write("server.pem", &cert);
    dir.write("server.key", &key);
    dir.write("clients.pem", &client_ca);
    let open = dir.write(
        "web.yml",
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\nhttp_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n",
    );
    let strict = dir.write(
        "strict.yml",
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: clients.pem\n",
    );
    let (port, metrics, strict_metrics) = (free_port(), free_port(), free_port());
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n prometheus 127.0.0.1:{metrics} {{\n  tls {}\n }}\n whoami\n}}\n\
         .:{} {{\n bind 127.0.0.1\n prometheus 127.0.0.1:{strict_metrics} {{\n  tls {}\n }}\n whoami\n}}\n",
        open.display(),
        free_port(),
        strict.display()
    );
    let _s = Server::start(BIN, &corefile, metrics);
    udp(local(port), &query("example.org.", RecordType::A, None));
    let (status, body) = testkit::https_get(metrics, "/metrics", &cert, None).expect("https");
    assert_eq!(status, 200);
    assert!(body.contains("coredns_dns_requests_total"), "{body}");
    // Plain HTTP on a TLS port gets no metrics.
    assert!(testkit::http_get(metrics, "/metrics").is_none_or(|(s, _)| s != 200));
    // Client certificates: required and verified against the web config's CA.
    assert_eq!(
        testkit::https_get(
            strict_metrics,
            "/metrics",
            &cert,
            Some((&client_cert, &client_key))
        )
        .map(|r| r.0),
        Some(200)
    );
    assert!(testkit::https_get(strict_metrics, "/metrics", &cert, None).is_none());
}
