//! End to end: Corefile edits picked up by reload and SIGUSR1, with no failed query.

use std::time::Duration;

use hickory_proto::op::ResponseCode;
use testkit::{Load, Server, ask, free_port, http_get, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

fn corefile(port: u16, metrics: u16, extra: &str) -> String {
    format!(
        ".:{port} {{\n bind 127.0.0.1\n reload 2s 1s\n prometheus 127.0.0.1:{metrics}\n hosts {{\n  10.5.0.1 steady.example\n{extra}  fallthrough\n }}\n whoami\n}}\n"
    )
}

#[test]
fn edits_apply_without_a_failed_query_and_bad_edits_keep_the_old_config() {
    let (port, metrics) = (free_port(), free_port());
    let server = Server::start(BIN, &corefile(port, metrics, ""), port);

    // A steady load while the Corefile changes under it.
    let load = Load::start(port, &["steady.example."], |r| {
        r.metadata.response_code == ResponseCode::NoError && r.answers.len() == 1
    });

    // Add a hosts entry and a rewrite; SIGUSR1 reloads at once.
    let edited = corefile(port, metrics, "  10.5.0.2 added.example\n").replace(
        " whoami\n",
        " rewrite name alias.example added.example\n whoami\n",
    );
    std::fs::write(&server.corefile, &edited).expect("write");
    server.signal("USR1");
    wait_until("the edit", Duration::from_secs(10), || {
        ask(port, "added.example.").is_some_and(|r| r.answers.len() == 1)
    });
    let r = ask(port, "alias.example.").expect("answer");
    assert_eq!(
        r.answers.first().map(|a| a.name.to_string()),
        Some("alias.example.".into())
    );
    assert!(
        server
            .wait_for_line(
                "[INFO] plugin/reload: Running configuration SHA512 = ",
                Duration::from_secs(2)
            )
            .is_some()
    );

    // The timer alone picks up the next edit (2 s interval, 1 s jitter).
    let timed = edited.replace(
        "  10.5.0.2 added.example\n",
        "  10.5.0.2 added.example\n  10.5.0.3 timed.example\n",
    );
    std::fs::write(&server.corefile, &timed).expect("write");
    wait_until("the timer's reload", Duration::from_secs(10), || {
        ask(port, "timed.example.").is_some_and(|r| r.answers.len() == 1)
    });

    // An unknown directive: logged, counted, the old config keeps serving.
    std::fs::write(
        &server.corefile,
        timed.replace(" whoami\n", " proxy . 127.0.0.1\n whoami\n"),
    )
    .expect("write");
    server.signal("USR1");
    server
        .wait_for_line(
            "[ERROR] plugin/reload: Corefile changed but reload failed:",
            Duration::from_secs(5),
        )
        .expect("failure logged");
    assert!(ask(port, "timed.example.").is_some_and(|r| r.answers.len() == 1));
    let scrape = http_get(metrics, "/metrics").expect("metrics").1;
    assert!(
        scrape.lines().any(|l| l == "coredns_reload_failed_total 1"),
        "{scrape}"
    );
    assert!(
        scrape
            .lines()
            .any(|l| l.starts_with("coredns_reload_version_info{hash=\"sha512\",value=\""))
    );

    // A syntax error: only a warning, not counted.
    std::fs::write(&server.corefile, timed.replace(" whoami\n}", " whoami\n")).expect("write");
    server.signal("USR1");
    server
        .wait_for_line(
            "[WARNING] plugin/reload: Corefile parse failed:",
            Duration::from_secs(5),
        )
        .expect("warning");
    let scrape = http_get(metrics, "/metrics").expect("metrics").1;
    assert!(
        scrape.lines().any(|l| l == "coredns_reload_failed_total 1"),
        "{scrape}"
    );

    let (sent, failed) = load.finish();
    assert!(sent > 100);
    assert_eq!(failed, 0, "queries failed during reloads");
}

#[test]
fn a_port_moved_by_reload_is_released_and_the_new_one_serves() {
    let (old, new, metrics) = (free_port(), free_port(), free_port());
    let server = Server::start(BIN, &corefile(old, metrics, ""), old);
    assert!(ask(old, "steady.example.").is_some_and(|r| r.answers.len() == 1));

    std::fs::write(&server.corefile, corefile(new, metrics, "")).expect("write");
    server.signal("USR1");
    wait_until("the new port", Duration::from_secs(10), || {
        ask(new, "steady.example.").is_some_and(|r| r.answers.len() == 1)
    });
    // The old listener's readers are gone and its sockets closed: the port binds again.
    wait_until("the old port released", Duration::from_secs(5), || {
        std::net::UdpSocket::bind(("127.0.0.1", old)).is_ok()
            && std::net::TcpListener::bind(("127.0.0.1", old)).is_ok()
    });
    assert!(ask(new, "steady.example.").is_some_and(|r| r.answers.len() == 1));
}

/// A Corefile with a kubernetes block, for the reload tests below.
fn kubernetes_corefile(port: u16, api: &str, hosts: &str, kubernetes: &str) -> String {
    format!(
        ".:{port} {{\n bind 127.0.0.1\n hosts {{\n  10.5.0.1 steady.example\n{hosts}  fallthrough\n }}\n kubernetes cluster.local {{\n  endpoint {api}\n{kubernetes} }}\n}}\n"
    )
}

const CLUSTER_NAMES: &[&str] = &[
    "s0.default.svc.cluster.local.",
    "s1999.default.svc.cluster.local.",
];

/// Right answers for [`CLUSTER_NAMES`] only (the load's check).
fn cluster_answer(r: &hickory_proto::op::Message) -> bool {
    r.metadata.response_code == ResponseCode::NoError
        && r.answers.len() == 1
        && r.answers[0].data.to_string().starts_with("10.97.")
}

/// Edits outside the kubernetes block keep its watchers and index (no request to the API at
/// all); an edit of the block while the API is down keeps answering from the previous index
/// with the new settings, and the new watchers take over once the API is back.
#[test]
fn reloads_keep_the_kubernetes_index_and_never_serve_an_empty_one() {
    use testkit::apiserver::{namespace, service};
    let api = testkit::FakeApiServer::start();
    api.apply(namespace("default"));
    api.apply_all((0..2000).map(|i| {
        let ip = format!("10.97.{}.{}", i / 250, i % 250 + 1);
        service("default", &format!("s{i}"), &ip, &[("http", "TCP", 80)])
    }));
    let port = free_port();
    let server = Server::start(BIN, &kubernetes_corefile(port, &api.url(), "", ""), port);
    wait_until("the first sync", Duration::from_secs(10), || {
        ask(port, CLUSTER_NAMES[1]).is_some_and(|r| cluster_answer(&r))
    });
    let load = Load::start(port, CLUSTER_NAMES, cluster_answer);

    // An edit outside the kubernetes block: not one request to the API server.
    let requests = api.requests.lock().map(|r| r.len()).unwrap_or(0);
    let edited = kubernetes_corefile(port, &api.url(), "  10.5.0.2 added.example\n", "");
    std::fs::write(&server.corefile, &edited).expect("write");
    server.signal("USR1");
    wait_until("the hosts edit", Duration::from_secs(5), || {
        ask(port, "added.example.").is_some_and(|r| r.answers.len() == 1)
    });
    std::thread::sleep(Duration::from_millis(300));
    let after: Vec<String> = api
        .requests
        .lock()
        .map(|r| r[requests..].to_vec())
        .unwrap_or_default();
    assert!(
        after.is_empty(),
        "requests after an edit outside kubernetes: {after:#?}"
    );

    // The API goes down, then the kubernetes block changes: the new settings apply at once
    // over the previous index.
    api.set_outage(true);
    let changed = kubernetes_corefile(port, &api.url(), "  10.5.0.2 added.example\n", "  ttl 17\n");
    std::fs::write(&server.corefile, &changed).expect("write");
    server.signal("USR1");
    wait_until("the new ttl", Duration::from_secs(5), || {
        ask(port, CLUSTER_NAMES[0]).is_some_and(|r| cluster_answer(&r) && r.answers[0].ttl == 17)
    });
    server
        .wait_for_line(
            "serving the previous index until the API is synced",
            Duration::from_secs(2),
        )
        .expect("the log says so");
    std::thread::sleep(Duration::from_secs(2));
    assert!(ask(port, CLUSTER_NAMES[1]).is_some_and(|r| cluster_answer(&r)));

    // Back: the new watchers list everything and take over.
    api.set_outage(false);
    api.apply(service("default", "late", "10.97.9.9", &[("http", "TCP", 80)]));
    wait_until("the new watchers", Duration::from_secs(40), || {
        ask(port, "late.default.svc.cluster.local.").is_some_and(|r| r.answers.len() == 1)
    });
    let (sent, failed) = load.finish();
    assert!(sent > 100, "{sent}");
    assert_eq!(failed, 0, "wrong answers for existing names during the reloads");
}
