//! End to end: metadata collects the kubernetes plugin's labels for log's `{/label}`
//! placeholders and template's `.Meta`.

use std::time::Duration;

use hickory_proto::rr::RecordType;
use testkit::apiserver::{namespace, pod, service};
use testkit::{FakeApiServer, Server, free_port, local, query, udp};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

#[test]
fn labels_in_log_lines_and_templates() {
    let api = FakeApiServer::start();
    api.apply(namespace("default"));
    api.apply(namespace("team-a"));
    api.apply(service("default", "web", "10.96.0.20", &[("http", "TCP", 80)]));
    // The test's client is 127.0.0.1: a pod of team-a.
    let mut client = pod("team-a", "client", "127.0.0.1", "Running");
    client["metadata"]["labels"] = serde_json::json!({"app": "shop", "tier": "front"});
    api.apply(client);
    let port = free_port();
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n metadata\n log . \"{{name}} ns={{/kubernetes/namespace}} svc={{/kubernetes/service}} client={{/kubernetes/client-namespace}} pod={{/kubernetes/client-pod-name}} app={{/kubernetes/client-label/app}} none={{/nope}}\"\n \
         template IN TXT whoami.example {{\n  answer \"{{{{ .Name }}}} 5 IN TXT {{{{ .Meta \\\"kubernetes/client-namespace\\\" }}}}\"\n }}\n \
         kubernetes cluster.local {{\n  endpoint {}\n  pods verified\n }}\n}}\n",
        api.url()
    );
    let server = Server::start(BIN, &corefile, port);
    // Wait for the pod to be known.
    let start = std::time::Instant::now();
    loop {
        let r = udp(local(port), &query("whoami.example.", RecordType::TXT, None));
        if r.answers.first().is_some_and(|a| a.data.to_string() == "team-a") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{r:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = udp(
        local(port),
        &query("web.default.svc.cluster.local.", RecordType::A, None),
    );
    assert_eq!(r.answers.len(), 1);
    let line = server
        .wait_for_line("web.default.svc.cluster.local. ns=", Duration::from_secs(3))
        .expect("log line");
    assert!(
        line.ends_with(
            "web.default.svc.cluster.local. ns=default svc=web client=team-a pod=client app=shop none=-"
        ),
        "{line}"
    );
}

/// forward records the upstream it asked (`forward/upstream`, `IP:port` as CoreDNS's
/// `proxy.Addr()`).
#[test]
fn forward_records_its_upstream() {
    let up = testkit::FakeUpstream::start();
    up.add(testkit::rr("www.example. 60 A 192.0.2.1"));
    let port = free_port();
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n metadata\n log . \"{{name}} via={{/forward/upstream}}\"\n forward . {}\n}}\n",
        up.addr
    );
    let server = Server::start(BIN, &corefile, port);
    let r = udp(local(port), &query("www.example.", RecordType::A, None));
    assert_eq!(r.answers.len(), 1);
    let line = server
        .wait_for_line("www.example. via=", Duration::from_secs(3))
        .expect("log line");
    assert!(line.ends_with(&format!("www.example. via={}", up.addr)), "{line}");
}
