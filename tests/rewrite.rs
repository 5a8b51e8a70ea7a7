//! End to end: rewrite in the real binary, with hosts answering the rewritten name.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use testkit::{Server, free_port, local, query, udp};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

/// The seed's edits, with rewrite written after hosts: it still runs first (plugin.cfg order).
#[test]
fn seed_rewrite_answers_with_the_asked_name() {
    let port = free_port();
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n hosts {{\n  172.16.0.3 webservice1.com\n  fallthrough\n }}\n rewrite name web-service.cluster.local webservice1.com\n whoami\n}}\n"
    );
    let _server = Server::start(BIN, &corefile, port);
    let server = local(port);
    let r = udp(
        server,
        &query("web-service.cluster.local.", RecordType::A, Some(1232)),
    );
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.metadata.authoritative);
    assert_eq!(r.queries[0].name().to_string(), "web-service.cluster.local.");
    let answers: Vec<String> = r
        .answers
        .iter()
        .map(|a| format!("{} {} {}", a.name, a.ttl, a.data))
        .collect();
    assert_eq!(answers, ["web-service.cluster.local. 3600 172.16.0.3"]);
    // The target name itself still resolves directly.
    let r = udp(server, &query("webservice1.com.", RecordType::A, None));
    assert_eq!(r.answers.len(), 1);
}

#[test]
fn rcode_and_ttl_rules_over_the_wire() {
    let port = free_port();
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n rewrite continue ttl exact fixed.example. 42\n rewrite rcode exact gone.example. SERVFAIL NXDOMAIN\n hosts {{\n  10.3.0.1 fixed.example\n }}\n}}\n"
    );
    let _server = Server::start(BIN, &corefile, port);
    let server = local(port);
    let r = udp(server, &query("fixed.example.", RecordType::A, None));
    assert_eq!(r.answers.iter().map(|a| a.ttl).collect::<Vec<_>>(), [42]);
    // hosts' SERVFAIL for an unknown name: NXDOMAIN with EDNS (the reply carries an OPT), as
    // CoreDNS 1.11.3 does, and SERVFAIL without.
    let r = udp(server, &query("gone.example.", RecordType::A, Some(1232)));
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    let r = udp(server, &query("gone.example.", RecordType::A, None));
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
}

/// `cname` rules: an upstream's CNAME to `*.cdn.example.net.` is retargeted to
/// `*.other.cdn.example.`, answered by the server itself (hosts here), as CoreDNS's README shows.
#[test]
fn cname_targets_rewritten_and_resolved_again() {
    let up = testkit::FakeUpstream::start();
    up.answer(
        "my-app.example.",
        RecordType::A,
        vec![
            testkit::rr("my-app.example. 200 CNAME my-app.example.cdn.example.net."),
            testkit::rr("my-app.example.cdn.example.net. 300 A 20.2.0.1"),
        ],
    );
    let port = free_port();
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n rewrite cname regex (.*).cdn.example.net. {{1}}.other.cdn.example.\n \
         hosts {{\n  192.0.2.77 my-app.example.other.cdn.example\n  fallthrough\n }}\n forward . {}\n}}\n",
        up.addr
    );
    let _server = Server::start(BIN, &corefile, port);
    let r = udp(local(port), &query("my-app.example.", RecordType::A, None));
    let answers: Vec<String> = r
        .answers
        .iter()
        .map(|a| format!("{} {} {}", a.name, a.ttl, a.data))
        .collect();
    assert_eq!(
        answers,
        [
            "my-app.example. 200 my-app.example.other.cdn.example.",
            "my-app.example.other.cdn.example. 3600 192.0.2.77"
        ]
    );
    // A name without a matching CNAME is untouched.
    up.add(testkit::rr("plain.example. 60 A 192.0.2.1"));
    let r = udp(local(port), &query("plain.example.", RecordType::A, None));
    assert_eq!(r.answers.len(), 1);
}
