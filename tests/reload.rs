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
