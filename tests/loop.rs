//! End to end: loop detection at start, as CoreDNS's.

use std::process::{Command, Stdio};
use std::time::Duration;

use hickory_proto::rr::RecordType;
use testkit::{FakeUpstream, Server, TempDir, free_port, local, query, udp, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

/// `forward` pointing back at the server itself: the process exits with CoreDNS's line.
#[test]
fn a_forwarding_loop_is_fatal_at_start() {
    let port = free_port();
    let dir = TempDir::new("loop");
    let corefile = dir.write(
        "Corefile",
        &format!(".:{port} {{\n bind 127.0.0.1\n loop\n forward . 127.0.0.1:{port}\n}}\n"),
    );
    let mut child = Command::new(BIN)
        .arg("-conf")
        .arg(&corefile)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start");
    let mut status = None;
    wait_until("the loop to be detected", Duration::from_secs(20), || {
        status = child.try_wait().expect("wait");
        status.is_some()
    });
    let out = child.wait_with_output().expect("output");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(status.and_then(|s| s.code()), Some(1));
    let line = text
        .lines()
        .find(|l| l.starts_with("[FATAL] plugin/loop: Loop ("))
        .expect(&text);
    assert!(line.contains(&format!(" -> 127.0.0.1:{port}) detected for zone \".\", see https://coredns.io/plugins/loop#troubleshooting. Query: \"HINFO ")), "{line}");
}

/// Without a loop the probe reaches the upstream once and the server keeps serving.
#[test]
fn no_loop_probes_the_upstream_and_serves_on() {
    let up = FakeUpstream::start();
    up.add(testkit::rr("ok.example. 60 A 192.0.2.1"));
    let port = free_port();
    let corefile = format!(
        "example:{port} {{\n bind 127.0.0.1\n loop\n forward . {}\n}}\n",
        up.addr
    );
    let server = Server::start(BIN, &corefile, port);
    let probes = || -> Vec<String> {
        up.received()
            .iter()
            .filter(|r| r.query.queries[0].query_type() == RecordType::HINFO)
            .map(|r| r.query.queries[0].name().to_string())
            .collect()
    };
    // The probe goes out at start (later on a loaded machine); then no other comes.
    wait_until("the loop probe", Duration::from_secs(10), || !probes().is_empty());
    std::thread::sleep(Duration::from_millis(500));
    let probes = probes();
    assert_eq!(probes.len(), 1, "{probes:?}");
    assert!(
        probes[0].ends_with(".example."),
        "probe in the block's zone: {probes:?}"
    );
    assert_eq!(
        udp(local(port), &query("ok.example.", RecordType::A, None))
            .answers
            .len(),
        1
    );
    assert!(server.output().iter().all(|l| !l.contains("FATAL")));
}
