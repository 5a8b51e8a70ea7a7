//! End to end: Corefile edits picked up by reload and SIGUSR1, with no failed query.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use testkit::{Server, free_port, http_get, local, query, udp_raw};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

fn corefile(port: u16, metrics: u16, extra: &str) -> String {
    format!(
        ".:{port} {{\n bind 127.0.0.1\n reload 2s 1s\n prometheus 127.0.0.1:{metrics}\n hosts {{\n  10.5.0.1 steady.example\n{extra}  fallthrough\n }}\n whoami\n}}\n"
    )
}

/// A query over UDP; None when no answer came within a second.
fn ask(port: u16, name: &str) -> Option<hickory_proto::op::Message> {
    let bytes = query(name, RecordType::A, None).to_vec().expect("encode");
    let reply = udp_raw(local(port), &bytes, Duration::from_secs(1))?;
    hickory_proto::op::Message::from_vec(&reply).ok()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn edits_apply_without_a_failed_query_and_bad_edits_keep_the_old_config() {
    let (port, metrics) = (free_port(), free_port());
    let server = Server::start(BIN, &corefile(port, metrics, ""), port);

    // A steady load while the Corefile changes under it.
    let (stop, failed, sent) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let load = {
        let (stop, failed, sent) = (stop.clone(), failed.clone(), sent.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                sent.fetch_add(1, Ordering::Relaxed);
                let ok = ask(port, "steady.example.").is_some_and(|r| {
                    r.metadata.response_code == ResponseCode::NoError && r.answers.len() == 1
                });
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };

    // Add a hosts entry and a rewrite; SIGUSR1 reloads at once.
    let edited = corefile(port, metrics, "  10.5.0.2 added.example\n").replace(
        " whoami\n",
        " rewrite name alias.example added.example\n whoami\n",
    );
    std::fs::write(&server.corefile, &edited).expect("write");
    server.signal("USR1");
    wait_for("the edit", || {
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
    wait_for("the timer's reload", || {
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

    stop.store(true, Ordering::Release);
    load.join().expect("load");
    assert!(sent.load(Ordering::Relaxed) > 100);
    assert_eq!(failed.load(Ordering::Relaxed), 0, "queries failed during reloads");
}
