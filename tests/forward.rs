//! End to end: forward in the real binary, to test upstreams on 127.0.0.1.

use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use testkit::{Behaviour, FakeUpstream, Server, free_port, local, query, rr, tcp, udp};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

/// A server on a free port with `body` inside its `.` block; `UP1`, `UP2` stand for upstreams.
fn server(body: &str, ups: &[&FakeUpstream]) -> (Server, u16) {
    let port = free_port();
    let mut body = body.to_string();
    for (i, up) in ups.iter().enumerate() {
        body = body.replace(&format!("UP{}", i + 1), &up.addr.to_string());
    }
    let corefile = format!(".:{port} {{\n bind 127.0.0.1\n {body}\n}}\n");
    (Server::start(BIN, &corefile, port), port)
}

fn answers(m: &hickory_proto::op::Message) -> Vec<String> {
    m.answers
        .iter()
        .map(|a| format!("{} {} {}", a.name, a.ttl, a.data))
        .collect()
}

#[test]
fn relays_the_upstream_reply_with_the_client_id() {
    let up = FakeUpstream::start();
    up.add(rr("www.example.org. 300 A 192.0.2.1"));
    let (_s, port) = server("forward . UP1", &[&up]);
    let q = query("www.example.org.", RecordType::A, Some(1232));
    let r = udp(local(port), &q);
    assert_eq!(r.metadata.id, q.metadata.id);
    assert!(r.metadata.recursion_available && !r.metadata.authoritative);
    assert_eq!(answers(&r), ["www.example.org. 300 192.0.2.1"]);
    // The client's EDNS went upstream; the reply carries the client's size.
    assert!(up.received()[0].query.edns.is_some());
    assert_eq!(
        r.edns.as_ref().map(hickory_proto::op::Edns::max_payload),
        Some(1232)
    );
    // Negative answers come back with their SOA.
    let r = udp(local(port), &query("nope.example.org.", RecordType::A, None));
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(r.authorities.len(), 1);
    // Upstream SERVFAIL and REFUSED are relayed as they are.
    up.set(Behaviour::Rcode(ResponseCode::Refused));
    assert_eq!(
        udp(local(port), &query("x.example.", RecordType::A, None))
            .metadata
            .response_code,
        ResponseCode::Refused
    );
}

#[test]
fn transport_follows_the_client_unless_forced() {
    let up = FakeUpstream::start();
    up.add(rr("t.example. 60 A 192.0.2.7"));
    let (_s, port) = server("forward . UP1", &[&up]);
    udp(local(port), &query("t.example.", RecordType::A, None));
    tcp(local(port), &[query("t.example.", RecordType::A, None)]);
    assert_eq!(
        up.received().iter().map(|r| r.tcp).collect::<Vec<_>>(),
        [false, true]
    );

    let up = FakeUpstream::start();
    up.add(rr("t.example. 60 A 192.0.2.7"));
    let (_s, port) = server("forward . UP1 {\n force_tcp\n }", &[&up]);
    assert_eq!(
        answers(&udp(local(port), &query("t.example.", RecordType::A, None))),
        ["t.example. 60 192.0.2.7"]
    );
    assert!(up.received()[0].tcp);

    let up = FakeUpstream::start();
    up.add(rr("t.example. 60 A 192.0.2.7"));
    let (_s, port) = server("forward . UP1 {\n prefer_udp\n }", &[&up]);
    tcp(local(port), &[query("t.example.", RecordType::A, None)]);
    assert!(!up.received()[0].tcp);
}

#[test]
fn truncated_replies_relayed_and_retried_over_tcp_with_prefer_udp() {
    let up = FakeUpstream::start();
    up.add(rr("big.example. 60 A 192.0.2.9"));
    up.set(Behaviour::Truncate);
    let (_s, port) = server("forward . UP1", &[&up]);
    // A UDP client gets the TC reply and retries over TCP itself.
    let r = udp(local(port), &query("big.example.", RecordType::A, None));
    assert!(r.metadata.truncation && r.answers.is_empty());
    let r = tcp(local(port), &[query("big.example.", RecordType::A, None)]).remove(0);
    assert_eq!(answers(&r), ["big.example. 60 192.0.2.9"]);

    // With prefer_udp, a TCP client's query goes over UDP, and again over TCP on TC.
    let up = FakeUpstream::start();
    up.add(rr("big.example. 60 A 192.0.2.9"));
    up.set(Behaviour::Truncate);
    let (_s, port) = server("forward . UP1 {\n prefer_udp\n }", &[&up]);
    let r = tcp(local(port), &[query("big.example.", RecordType::A, None)]).remove(0);
    assert_eq!(answers(&r), ["big.example. 60 192.0.2.9"]);
    assert_eq!(
        up.received().iter().map(|r| r.tcp).collect::<Vec<_>>(),
        [false, true]
    );
}

#[test]
fn failover_health_checks_and_recovery() {
    let (bad, good) = (FakeUpstream::start(), FakeUpstream::start());
    for up in [&bad, &good] {
        up.add(rr("f.example. 60 A 192.0.2.2"));
    }
    bad.set(Behaviour::Drop);
    let (_s, port) = server(
        "forward . UP1 UP2 {\n policy sequential\n max_fails 1\n health_check 100ms\n }",
        &[&bad, &good],
    );
    // The first upstream times out (2 s), the second answers.
    let r = udp(local(port), &query("f.example.", RecordType::A, None));
    assert_eq!(answers(&r), ["f.example. 60 192.0.2.2"]);
    // Health checks (". IN NS") now run against the dropping upstream and mark it down.
    std::thread::sleep(Duration::from_millis(2500));
    let probes = bad
        .received()
        .iter()
        .filter(|r| r.query.queries[0].query_type() == RecordType::NS)
        .count();
    assert!(probes >= 2, "{probes} health checks");
    assert_eq!(
        bad.received()
            .iter()
            .find(|r| r.query.queries[0].query_type() == RecordType::NS)
            .map(|r| r.query.queries[0].name().to_string()),
        Some(".".into())
    );
    // Down: skipped at once, no 2 s wait, not asked.
    let asked_before = bad.count("f.example.");
    let start = Instant::now();
    let r = udp(local(port), &query("f.example.", RecordType::A, None));
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(
        bad.count("f.example."),
        asked_before,
        "the down upstream was asked"
    );
    // It recovers: the next health check succeeds and sequential order sends to it again.
    bad.set(Behaviour::Answer);
    std::thread::sleep(Duration::from_millis(1500));
    let before = bad.count("f.example.");
    udp(local(port), &query("f.example.", RecordType::A, None));
    assert_eq!(bad.count("f.example."), before + 1);
}

#[test]
fn misbehaving_upstreams_count_as_failing() {
    for behaviour in [Behaviour::WrongId, Behaviour::Garbage, Behaviour::Oversized] {
        let (bad, good) = (FakeUpstream::start(), FakeUpstream::start());
        good.add(rr("m.example. 60 A 192.0.2.3"));
        bad.set(behaviour.clone());
        let (server, port) = server(
            "errors\n forward . UP1 UP2 {\n policy sequential\n }",
            &[&bad, &good],
        );
        let r = udp(local(port), &query("m.example.", RecordType::A, None));
        assert_eq!(answers(&r), ["m.example. 60 192.0.2.3"], "{behaviour:?}");
        assert!(bad.count("m.example.") >= 1);
        drop(server);
    }
    // With no other upstream: SERVFAIL, the error logged.
    let bad = FakeUpstream::start();
    bad.set(Behaviour::Garbage);
    let (server, port) = server("errors\n forward . UP1 {\n max_fails 0\n }", &[&bad]);
    let r = udp(local(port), &query("g.example.", RecordType::A, None));
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    assert!(
        server
            .wait_for_line(
                "[ERROR] plugin/errors: 2 g.example. A: dns: bad reply",
                Duration::from_secs(2)
            )
            .is_some(),
        "{:?}",
        server.output()
    );
}

#[test]
fn except_names_go_to_the_next_plugin() {
    let up = FakeUpstream::start();
    up.add(rr("a.example. 60 A 192.0.2.4"));
    let (server, port) = server("errors\n forward . UP1 {\n except internal.example\n }", &[&up]);
    assert_eq!(
        answers(&udp(local(port), &query("a.example.", RecordType::A, None))),
        ["a.example. 60 192.0.2.4"]
    );
    let r = udp(local(port), &query("x.internal.example.", RecordType::A, None));
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    assert!(!r.metadata.authoritative);
    assert_eq!(up.count("x.internal.example."), 0);
    assert!(
        server
            .wait_for_line("plugin/forward: no next plugin found", Duration::from_secs(2))
            .is_some()
    );
}

#[test]
fn policies_spread_queries_as_configured() {
    let run = |policy: &str| -> (usize, usize) {
        let (a, b) = (FakeUpstream::start(), FakeUpstream::start());
        for up in [&a, &b] {
            for i in 0..60 {
                up.add(rr(&format!("p{i}.example. 60 A 192.0.2.5")));
            }
        }
        let (_s, port) = server(&format!("forward . UP1 UP2 {{\n policy {policy}\n }}"), &[&a, &b]);
        for i in 0..60 {
            udp(
                local(port),
                &query(&format!("p{i}.example."), RecordType::A, None),
            );
        }
        (a.received().len(), b.received().len())
    };
    assert_eq!(run("sequential"), (60, 0));
    assert_eq!(run("round_robin"), (30, 30));
    let (a, b) = run("random");
    assert_eq!(a + b, 60);
    assert!(a >= 15 && b >= 15, "random spread {a}/{b}");
}

#[test]
fn max_concurrent_refuses_beyond_the_limit_and_identical_queries_share_one_upstream_query() {
    let up = FakeUpstream::start();
    for i in 0..4 {
        up.add(rr(&format!("c{i}.example. 60 A 192.0.2.6")));
    }
    up.set(Behaviour::Delay(Duration::from_millis(400)));
    let (_s, port) = server("forward . UP1 {\n max_concurrent 2\n }", &[&up]);
    let handles: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                udp(
                    local(port),
                    &query(&format!("c{i}.example."), RecordType::A, None),
                )
                .metadata
                .response_code
            })
        })
        .collect();
    let rcodes: Vec<ResponseCode> = handles.into_iter().map(|h| h.join().expect("thread")).collect();
    assert_eq!(
        rcodes.iter().filter(|r| **r == ResponseCode::Refused).count(),
        2,
        "{rcodes:?}"
    );
    assert_eq!(
        rcodes.iter().filter(|r| **r == ResponseCode::NoError).count(),
        2,
        "{rcodes:?}"
    );

    let up = FakeUpstream::start();
    up.add(rr("same.example. 60 A 192.0.2.8"));
    up.set(Behaviour::Delay(Duration::from_millis(400)));
    let (_s, port) = server("forward . UP1", &[&up]);
    let handles: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(move || udp(local(port), &query("same.example.", RecordType::A, None))))
        .collect();
    for h in handles {
        assert_eq!(
            answers(&h.join().expect("thread")),
            ["same.example. 60 192.0.2.8"]
        );
    }
    assert_eq!(up.count("same.example."), 1);
}

#[test]
fn next_rcode_hands_over_to_the_next_forward() {
    let (first, second) = (FakeUpstream::start(), FakeUpstream::start());
    second.add(rr("n.example. 60 A 192.0.2.10"));
    let (_s, port) = server(
        "forward . UP1 {\n next NXDOMAIN\n }\n forward . UP2",
        &[&first, &second],
    );
    assert_eq!(
        answers(&udp(local(port), &query("n.example.", RecordType::A, None))),
        ["n.example. 60 192.0.2.10"]
    );
    assert_eq!(first.count("n.example."), 1);
}

/// DNS over TLS to a local upstream whose certificate was made for this test.
#[test]
fn dns_over_tls_verifies_the_upstream() {
    let up = FakeUpstream::start_tls();
    up.add(rr("tls.example. 60 A 192.0.2.11"));
    let ca = up.ca.clone().expect("ca");
    let p = up.addr.port();
    // Verified by the name in the certificate (tls://IP%name:port), and by its IP.
    for target in [
        format!("tls://127.0.0.1%dns.test:{p}"),
        format!("tls://127.0.0.1:{p}"),
    ] {
        let (_s, port) = server(&format!("forward . {target} {{\n tls {}\n }}", ca.display()), &[]);
        let r = udp(local(port), &query("tls.example.", RecordType::A, None));
        assert_eq!(answers(&r), ["tls.example. 60 192.0.2.11"], "{target}");
    }
    assert!(up.received().iter().all(|r| r.tcp), "DoT is always a stream");
    // A name the certificate does not carry: the handshake fails, SERVFAIL.
    let (_s, port) = server(
        &format!(
            "forward . tls://127.0.0.1:{p} {{\n tls {}\n tls_servername other.test\n }}",
            ca.display()
        ),
        &[],
    );
    let r = udp(local(port), &query("tls.example.", RecordType::A, None));
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
}

/// CoreDNS 1.13.2's `failover`: an upstream's SERVFAIL sends the query to the next one.
#[test]
fn failover_tries_the_next_upstream_on_listed_rcodes() {
    let broken = FakeUpstream::start();
    broken.set(Behaviour::Rcode(ResponseCode::ServFail));
    let good = FakeUpstream::start();
    good.add(rr("www.example.org. 60 A 192.0.2.80"));
    let port = free_port();
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n forward . {} {} {{\n  policy sequential\n  failover SERVFAIL\n }}\n}}\n",
        broken.addr, good.addr
    );
    let _server = Server::start(BIN, &corefile, port);
    let r = udp(local(port), &query("www.example.org.", RecordType::A, None));
    assert_eq!(r.answers.len(), 1, "{r:?}");
    assert_eq!(broken.count("www.example.org."), 1);
    // Without failover the first upstream's SERVFAIL is the answer (CoreDNS 1.13).
    let port = free_port();
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n forward . {} {} {{\n  policy sequential\n }}\n}}\n",
        broken.addr, good.addr
    );
    let _server = Server::start(BIN, &corefile, port);
    let r = udp(local(port), &query("www.example.org.", RecordType::A, None));
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
}

/// CoreDNS 1.14.5's `source_address`: queries leave from that address, over UDP and TCP.
#[test]
fn queries_leave_from_the_source_address() {
    let up = FakeUpstream::start();
    up.add(rr("www.example.org. 60 A 192.0.2.81"));
    for transport in ["", "\n  force_tcp"] {
        let port = free_port();
        let corefile = format!(
            ".:{port} {{\n bind 127.0.0.1\n forward . {} {{\n  source_address 127.0.0.1\n  read_timeout 1s{transport}\n }}\n}}\n",
            up.addr
        );
        let _server = Server::start(BIN, &corefile, port);
        let r = udp(local(port), &query("www.example.org.", RecordType::A, None));
        assert_eq!(r.answers.len(), 1, "{transport}: {r:?}");
    }
    assert!(up.received().iter().any(|q| q.tcp) && up.received().iter().any(|q| !q.tcp));
}

/// DNS over HTTPS (CoreDNS 1.14.4): POST over HTTP/2 by default, GET with `doh_method`, the
/// query's ID zero on the wire and the client's restored; a certificate for another name fails.
#[test]
fn dns_over_https_upstreams() {
    let up = FakeUpstream::start_doh();
    up.add(rr("doh.example. 60 A 192.0.2.12"));
    let ca = up.ca.clone().expect("ca");
    let p = up.addr.port();
    for (method, expect) in [("POST", "POST HTTP/2.0"), ("GET", "GET HTTP/2.0")] {
        let (_s, port) = server(
            &format!(
                "forward . https://127.0.0.1:{p} {{\n tls {}\n doh_method {method}\n }}",
                ca.display()
            ),
            &[],
        );
        let q = query("doh.example.", RecordType::A, None);
        let r = udp(local(port), &q);
        assert_eq!(answers(&r), ["doh.example. 60 192.0.2.12"], "{method}");
        assert_eq!(r.metadata.id, q.metadata.id);
        // A second query rides the same HTTP/2 connection.
        let r = tcp(local(port), &[query("doh.example.", RecordType::A, None)]);
        assert_eq!(answers(&r[0]), ["doh.example. 60 192.0.2.12"]);
        let received = up.received();
        let last = received.last().expect("asked");
        assert_eq!(last.http.as_deref(), Some(expect));
        assert_eq!(last.query.metadata.id, 0, "RFC 8484: ID 0");
    }
    // A server without HTTP/2: HTTP/1.1, as Go's client falls back to.
    let h1 = FakeUpstream::start_doh_http1();
    h1.add(rr("doh.example. 60 A 192.0.2.13"));
    let (_s, port) = server(
        &format!(
            "forward . https://127.0.0.1:{} {{\n tls {}\n }}",
            h1.addr.port(),
            h1.ca.clone().expect("ca").display()
        ),
        &[],
    );
    for _ in 0..2 {
        let r = udp(local(port), &query("doh.example.", RecordType::A, None));
        assert_eq!(answers(&r), ["doh.example. 60 192.0.2.13"]);
    }
    assert!(
        h1.received()
            .iter()
            .all(|r| r.http.as_deref() == Some("POST HTTP/1.1"))
    );
    let (_s, port) = server(
        &format!(
            "forward . https://127.0.0.1%other.test:{p} {{\n tls {}\n }}",
            ca.display()
        ),
        &[],
    );
    let r = udp(local(port), &query("doh.example.", RecordType::A, None));
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
}

/// Host names as destinations (CoreDNS 1.14.6), resolved at start through `resolver`; TLS and
/// HTTPS verify the name. `next_on_nodata` (1.14.4) hands an empty NOERROR to the next forward.
#[test]
fn host_name_destinations_and_next_on_nodata() {
    let (resolver, plain, doh) = (
        FakeUpstream::start(),
        FakeUpstream::start(),
        FakeUpstream::start_doh(),
    );
    resolver.add(rr("dns.test. 60 A 127.0.0.1"));
    plain.add(rr("www.example. 60 A 192.0.2.20"));
    doh.add(rr("www.example. 60 A 192.0.2.21"));
    let ca = doh.ca.clone().expect("ca");
    let (_s, port) = server(
        &format!(
            "forward . dns.test:{} {{\n resolver {}\n }}",
            plain.addr.port(),
            resolver.addr
        ),
        &[],
    );
    assert_eq!(
        answers(&udp(local(port), &query("www.example.", RecordType::A, None))),
        ["www.example. 60 192.0.2.20"]
    );
    assert!(resolver.count("dns.test.") >= 1, "resolved through the resolver");
    let (_s, port) = server(
        &format!(
            "forward . https://dns.test:{} {{\n tls {}\n resolver {}\n }}",
            doh.addr.port(),
            ca.display(),
            resolver.addr
        ),
        &[],
    );
    assert_eq!(
        answers(&udp(local(port), &query("www.example.", RecordType::A, None))),
        ["www.example. 60 192.0.2.21"]
    );
    // A name that does not resolve stops the start, naming it.
    let dir = testkit::TempDir::new("forward-unresolved");
    let corefile = dir.write(
        "Corefile",
        &format!(
            ".:{} {{\n bind 127.0.0.1\n forward . nowhere.test {{\n  resolver {}\n }}\n}}\n",
            free_port(),
            resolver.addr
        ),
    );
    let out = std::process::Command::new(BIN)
        .arg("-conf")
        .arg(&corefile)
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("failed to resolve \"nowhere.test\""), "{text}");
    // next_on_nodata: the first upstream's empty NOERROR goes to the second forward.
    let (first, second) = (FakeUpstream::start(), FakeUpstream::start());
    first.answer("nodata.example.", RecordType::A, Vec::new());
    second.add(rr("nodata.example. 60 A 192.0.2.22"));
    let (_s, port) = server(
        "forward . UP1 {\n next_on_nodata\n }\n forward . UP2",
        &[&first, &second],
    );
    assert_eq!(
        answers(&udp(local(port), &query("nodata.example.", RecordType::A, None))),
        ["nodata.example. 60 192.0.2.22"]
    );
    assert_eq!(first.count("nodata.example."), 1);
}
