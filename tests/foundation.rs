//! End to end: the real binary on 127.0.0.1, queried over real UDP and TCP sockets.

use std::process::Command;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, ResponseCode};
use hickory_proto::rr::{DNSClass, RData, RecordType};
use testkit::{Server, TempDir, free_port, http_get, local, query, query_class, tcp, udp, udp_raw};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

#[test]
fn zone_routing_refused_and_servfail_at_chain_end() {
    let port = free_port();
    let corefile = format!(
        "example.org:{port} {{\n bind 127.0.0.1\n whoami\n}}\nsub.example.org:{port} {{\n bind 127.0.0.1\n errors\n}}\n"
    );
    let server = Server::start(BIN, &corefile, port);
    // The longest zone wins: sub.example.org's chain is `errors` alone, which ends unanswered.
    let r = udp(local(port), &query("x.sub.example.org.", RecordType::A, None));
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    assert!(!r.metadata.authoritative);
    let line = server
        .wait_for_line("[ERROR] plugin/errors:", Duration::from_secs(3))
        .expect("error logged");
    assert_eq!(
        line,
        "[ERROR] plugin/errors: 2 x.sub.example.org. A: plugin/errors: no next plugin found"
    );
    // example.org's chain answers.
    let r = udp(local(port), &query("www.example.org.", RecordType::A, None));
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert_eq!(r.additionals.len(), 2);
    // No block for other names.
    let r = udp(local(port), &query("example.net.", RecordType::A, None));
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    assert_eq!(r.queries.len(), 1);
}

#[test]
fn whoami_over_udp_and_tcp_keeps_question_case() {
    let port = free_port();
    let server = Server::start(BIN, &format!(".:{port} {{\n bind 127.0.0.1\n whoami\n}}\n"), port);
    let r = udp(
        local(port),
        &query("MiXeD.Example.ORG.", RecordType::A, Some(1232)),
    );
    assert!(r.metadata.authoritative && !r.metadata.recursion_available);
    assert!(r.answers.is_empty());
    assert_eq!(r.queries[0].name().to_string(), "MiXeD.Example.ORG.");
    let a = &r.additionals[0];
    assert_eq!(a.name.to_string(), "MiXeD.Example.ORG.");
    assert_eq!(a.ttl, 0);
    assert_eq!(a.data, RData::A(hickory_proto::rr::rdata::A::new(127, 0, 0, 1)));
    let srv = &r.additionals[1];
    assert_eq!(srv.name.to_string(), "_udp.MiXeD.Example.ORG.");
    // EDNS is echoed with the client's size.
    assert_eq!(r.edns.as_ref().map(Edns::max_payload), Some(1232));

    // Several queries on one TCP connection, each answered in turn.
    let replies = tcp(
        local(port),
        &[
            query("a.", RecordType::A, None),
            query("b.", RecordType::AAAA, None),
        ],
    );
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[0].queries[0].name().to_string(), "a.");
    assert_eq!(replies[1].additionals[1].name.to_string(), "_tcp.b.");
    assert!(
        replies[0].edns.is_none(),
        "no OPT in a reply to a query without one"
    );
    drop(server);
}

#[test]
fn edns_badvers_class_and_malformed_packets() {
    let port = free_port();
    let _server = Server::start(BIN, &format!(".:{port} {{\n bind 127.0.0.1\n whoami\n}}\n"), port);
    // EDNS version 1: BADVERS, with an OPT of version 0, and no question (miekg's reply).
    let mut m = query("example.org.", RecordType::A, Some(1232));
    if let Some(e) = m.edns.as_mut() {
        e.set_version(1);
    }
    let r = udp(local(port), &m);
    // BADVERS and BADSIG share the code 16; hickory decodes it as BADSIG.
    assert_eq!(
        u16::from(r.metadata.response_code),
        u16::from(ResponseCode::BADVERS)
    );
    assert_eq!(r.edns.as_ref().map(Edns::version), Some(0));
    assert!(r.queries.is_empty());
    // Non-IN classes other than CH are refused; CH reaches the chain.
    let r = udp(local(port), &query_class("x.", RecordType::A, DNSClass::HS));
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    let r = udp(local(port), &query_class("x.", RecordType::TXT, DNSClass::CH));
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);

    let good = query("example.org.", RecordType::A, None)
        .to_vec()
        .expect("encode");
    // A header that parses with a cut question: FORMERR, same ID.
    let reply = udp_raw(local(port), &good[..good.len() - 3], Duration::from_secs(2)).expect("FORMERR reply");
    let r = Message::from_vec(&reply).expect("decode");
    assert_eq!(r.metadata.response_code, ResponseCode::FormErr);
    assert_eq!(r.metadata.id, u16::from_be_bytes([good[0], good[1]]));
    // Two questions: FORMERR (miekg/dns accepts exactly one).
    let mut two = query("a.example.org.", RecordType::A, None);
    two.queries.push(two.queries[0].clone());
    assert_eq!(
        udp(local(port), &two).metadata.response_code,
        ResponseCode::FormErr
    );
    // Fewer than 12 bytes, or a response (QR set): dropped.
    assert!(udp_raw(local(port), &[1, 2, 3], Duration::from_millis(300)).is_none());
    let mut response = good.clone();
    response[2] |= 0x80;
    assert!(udp_raw(local(port), &response, Duration::from_millis(300)).is_none());
    // Random garbage never takes the server down.
    for i in 0..200u32 {
        let junk: Vec<u8> = (0..(12 + i % 60))
            .map(|j| (i.wrapping_mul(31) ^ j.wrapping_mul(17)) as u8)
            .collect();
        let _ = udp_raw(local(port), &junk, Duration::from_millis(20));
    }
    assert_eq!(
        udp(local(port), &query("still.alive.", RecordType::A, None))
            .metadata
            .response_code,
        ResponseCode::NoError
    );
}

#[test]
fn directive_order_is_fixed_and_log_writes_common_log_format() {
    let port = free_port();
    // whoami is listed before log; log still runs first, as plugin.cfg orders them.
    let server = Server::start(
        BIN,
        &format!(".:{port} {{\n bind 127.0.0.1\n whoami\n log\n}}\n"),
        port,
    );
    let m = query("Order.Example.", RecordType::AAAA, Some(4096));
    let id = m.metadata.id;
    udp(local(port), &m);
    let line = server
        .wait_for_line(&format!(" - {id} "), Duration::from_secs(3))
        .expect("log line");
    let prefix = "[INFO] 127.0.0.1:";
    assert!(line.starts_with(prefix), "{line}");
    let rest = line.split_once(&format!(" - {id} ")).map(|(_, r)| r).expect("id");
    let parts: Vec<&str> = rest.split(' ').collect();
    assert_eq!(
        &parts[..8],
        [
            "\"AAAA",
            "IN",
            "order.example.",
            "udp",
            parts[4],
            "false",
            "4096\"",
            "NOERROR"
        ]
    );
    assert!(parts[4].parse::<usize>().is_ok());
    assert_eq!(parts[8], "qr,aa,rd");
    assert!(parts[9].parse::<usize>().is_ok_and(|n| n > 0));
    assert!(parts[10].ends_with('s'));
}

#[test]
fn log_class_filter() {
    let port = free_port();
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n log {{\n  class error\n }}\n whoami\n}}\nfail.:{port} {{\n bind 127.0.0.1\n log {{\n  class error\n }}\n}}\n"
    );
    let server = Server::start(BIN, &corefile, port);
    udp(local(port), &query("ok.example.", RecordType::A, None));
    udp(local(port), &query("x.fail.", RecordType::A, None));
    let line = server
        .wait_for_line("x.fail.", Duration::from_secs(3))
        .expect("error logged");
    assert!(
        line.contains("\" - - 0 "),
        "a chain that wrote nothing logs '-': {line}"
    );
    assert!(
        server.output().iter().all(|l| !l.contains("ok.example.")),
        "success must not be logged"
    );
}

#[test]
fn health_ready_and_lameduck() {
    let (port, health, ready) = (free_port(), free_port(), free_port());
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n health 127.0.0.1:{health} {{\n  lameduck 2s\n }}\n ready 127.0.0.1:{ready}\n whoami\n}}\n"
    );
    let mut server = Server::start(BIN, &corefile, port);
    assert_eq!(http_get(health, "/health"), Some((200, "OK".into())));
    assert_eq!(http_get(health, "/other").map(|r| r.0), Some(404));
    assert_eq!(http_get(ready, "/ready"), Some((200, "OK".into())));

    server.signal("TERM");
    server
        .wait_for_line("Going into lameduck mode for 2s", Duration::from_secs(2))
        .expect("lameduck logged");
    // During lameduck: queries are still answered, health is OK, ready says shutting down.
    let r = udp(local(port), &query("during.lameduck.", RecordType::A, None));
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert_eq!(http_get(health, "/health"), Some((200, "OK".into())));
    assert_eq!(http_get(ready, "/ready"), Some((503, "Shutting down".into())));
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(
        server
            .output()
            .iter()
            .any(|l| l == "[INFO] SIGTERM: Shutting down servers then terminating")
    );
}

fn validate(corefile: &str) -> (bool, String) {
    let dir = TempDir::new("validate");
    let path = dir.write("Corefile", corefile);
    let out = Command::new(BIN)
        .arg("-validate")
        .arg("-conf")
        .arg(&path)
        .output()
        .expect("run");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn validate_good_and_bad_files() {
    let (ok, out) = validate(".:53 {\n errors\n log\n health {\n  lameduck 5s\n }\n ready\n whoami\n}\n");
    assert!(ok, "{out}");
    assert!(out.contains("Corefile is valid"), "{out}");
    // Every error is reported, each with its file and line.
    let (ok, out) =
        validate(".:53 {\n errors a b\n}\nexample.org {\n health 80\n}\nexample.org {\n whoami\n}\n");
    assert!(!ok);
    assert!(
        out.contains(
            "Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after 'b'"
        ),
        "{out}"
    );
    assert!(
        out.contains("plugin/health: address 80: missing port in address"),
        "{out}"
    );
    assert!(
        out.contains(
            "Corefile:7 - Error during parsing: cannot serve dns://example.org.:53 - it is already defined"
        ),
        "{out}"
    );
    let (ok, out) = validate(". {\n proxy . 8.8.8.8\n}\n");
    assert!(!ok);
    assert!(
        out.contains("Corefile:2 - Error during parsing: Unknown directive 'proxy'"),
        "{out}"
    );
    assert!(out.contains("did you mean 'forward'?"), "{out}");
}

#[test]
fn bad_corefile_fails_at_start_with_file_and_line() {
    let port = free_port();
    let dir = TempDir::new("bad");
    let path = dir.write("Corefile", &format!(".:{port} {{\n whoami }}\n"));
    let out = Command::new(BIN).arg("-conf").arg(&path).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Corefile:2 - Error during parsing: Unexpected '}' because no matching opening brace"),
        "{err}"
    );
}

#[test]
fn cli_version_plugins_and_bad_flag() {
    let out = Command::new(BIN).arg("-version").output().expect("run");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("clusterdns-"));
    let out = Command::new(BIN).arg("--plugins").output().expect("run");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let plugins: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("  dns.")).collect();
    // Listed in execution order (CoreDNS 1.11.3's plugin.cfg, with 1.12's multisocket in its
    // place), the foundation's among them.
    let order = "root metadata geoip cancel tls timeouts multisocket reload nsid bufsize bind debug trace ready health pprof \
                 prometheus errors log dnstap local dns64 acl any chaos loadbalance tsig cache rewrite header dnssec \
                 autopath minimal template transfer hosts route53 azure clouddns k8s_external kubernetes file auto \
                 secondary etcd loop forward grpc erratic whoami on sign view";
    let rank = |p: &str| {
        order
            .split_whitespace()
            .position(|o| o == p)
            .unwrap_or(usize::MAX)
    };
    assert!(plugins.windows(2).all(|w| rank(w[0]) < rank(w[1])), "{plugins:?}");
    for p in ["bind", "ready", "health", "errors", "log", "whoami"] {
        assert!(plugins.contains(&p), "{p} missing from {plugins:?}");
    }
    let out = Command::new(BIN).arg("-proxy").output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("flag provided but not defined: -proxy"));
}

#[test]
fn readme_corefile_examples_validate() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(root.join("plugins"))
        .expect("plugins")
        .filter_map(Result::ok)
        .map(|e| e.path().join("README.md"))
        .collect();
    files.sort();
    let mut checked = 0;
    for readme in files {
        let text =
            std::fs::read_to_string(&readme).unwrap_or_else(|_| panic!("{} is missing", readme.display()));
        for block in text.split("```corefile").skip(1) {
            let corefile = block.split("```").next().expect("closing fence");
            let (ok, out) = validate(corefile);
            assert!(
                ok,
                "{}: example does not validate:\n{corefile}\n{out}",
                readme.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} corefile examples found");
    // kubeadm's Corefile too (its kubernetes block sets up for the service account: no API call).
    let example = std::fs::read_to_string(root.join("Corefile.example")).expect("Corefile.example");
    let (ok, out) = validate(&example);
    assert!(ok, "Corefile.example does not validate:\n{out}");
}

#[test]
fn udp_truncation_and_tcp_retry() {
    let port = free_port();
    let dir = TempDir::new("truncation");
    let lines: String = (0..60).map(|i| format!("10.0.1.{i} big.example.\n")).collect();
    let file = dir.write("hosts", &lines);
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n hosts {} {{\n  reload 0\n }}\n}}\n",
        file.display()
    );
    let _server = Server::start(BIN, &corefile, port);

    // Without EDNS: 512 bytes at most, TC set, the records that fit kept in order.
    let r = udp(local(port), &query("big.example.", RecordType::A, None));
    assert!(r.metadata.truncation);
    assert!(
        !r.answers.is_empty() && r.answers.len() < 60,
        "{} answers",
        r.answers.len()
    );
    assert!(r.to_vec().expect("encode").len() <= 512);
    assert_eq!(
        r.answers[0].data,
        RData::A(hickory_proto::rr::rdata::A::new(10, 0, 1, 0))
    );
    assert!(r.edns.is_none());
    // With EDNS 1232 all 60 fit.
    let r = udp(local(port), &query("big.example.", RecordType::A, Some(1232)));
    assert!(!r.metadata.truncation);
    assert_eq!(r.answers.len(), 60);
    // The client retries over TCP and gets everything.
    let r = tcp(local(port), &[query("big.example.", RecordType::A, None)]).remove(0);
    assert!(!r.metadata.truncation);
    assert_eq!(r.answers.len(), 60);
}

/// A reply truncated to 512 bytes is compressed, as miekg's `Truncate` compresses it, and holds
/// as many records as CoreDNS's: for an owner name of 30 bytes, 29 A records (12 + 34 + 29 × 16).
#[test]
fn truncated_replies_hold_as_many_records_as_coredns_fits() {
    let port = free_port();
    let dir = TempDir::new("truncation-count");
    let owner = "a2345678901234567890.example.";
    let lines: String = (0..60).map(|i| format!("10.0.2.{i} {owner}\n")).collect();
    let file = dir.write("hosts", &lines);
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n hosts {} {{\n  reload 0\n }}\n}}\n",
        file.display()
    );
    let _server = Server::start(BIN, &corefile, port);
    let bytes = query(owner, RecordType::A, None).to_vec().expect("encode");
    let reply = testkit::udp_raw(local(port), &bytes, std::time::Duration::from_secs(2)).expect("reply");
    assert!(reply.len() <= 512, "{} bytes", reply.len());
    let r = hickory_proto::op::Message::from_vec(&reply).expect("decodes");
    assert!(r.metadata.truncation);
    assert_eq!(r.answers.len(), 29);
    assert_eq!(reply.len(), 12 + 34 + 29 * 16);
}

/// TCP replies are written as CoreDNS writes them: uncompressed (it compresses only above 64 KiB),
/// byte for byte the UDP reply to the same query.
#[test]
fn tcp_replies_are_written_uncompressed_like_udp_ones() {
    use std::io::{Read, Write};
    let port = free_port();
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n hosts {{\n  10.7.0.1 www.example.org\n  10.7.0.2 www.example.org\n  10.7.0.3 www.example.org\n }}\n}}\n"
    );
    let _server = Server::start(BIN, &corefile, port);
    let bytes = query("www.example.org.", RecordType::A, Some(1280))
        .to_vec()
        .expect("encode");
    let over_udp =
        testkit::udp_raw(local(port), &bytes, std::time::Duration::from_secs(2)).expect("udp reply");
    let mut conn = std::net::TcpStream::connect(local(port)).expect("connect");
    let len = u16::try_from(bytes.len()).expect("len").to_be_bytes();
    conn.write_all(&[&len[..], &bytes].concat()).expect("write");
    let mut head = [0u8; 2];
    conn.read_exact(&mut head).expect("length");
    let mut over_tcp = vec![0u8; usize::from(u16::from_be_bytes(head))];
    conn.read_exact(&mut over_tcp).expect("reply");
    assert_eq!(over_tcp, over_udp);
    // No compression pointer anywhere after the ID (nothing else here has a byte of 0xC0 or more).
    assert!(!over_tcp[2..].iter().any(|b| b & 0xC0 == 0xC0), "{over_tcp:?}");
    let m = hickory_proto::op::Message::from_vec(&over_tcp).expect("decodes");
    assert_eq!(m.answers.len(), 3);
}

/// The embedded default sets up on this host (validated only: it forwards to the host's resolver).
#[test]
fn embedded_default_validates() {
    let dir = TempDir::new("default");
    let out = Command::new(BIN)
        .arg("-validate")
        .current_dir(&dir.0)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// An extra `}` at the end: CoreDNS 1.11.3 starts without a word; we start and warn, naming the
/// place, and `-validate` fails on it.
#[test]
fn a_stray_closing_brace_is_a_warning_at_start_and_an_error_in_validate() {
    let (ok, out) = validate(".:53 {\n whoami\n}\n}\n");
    assert!(!ok, "{out}");
    assert!(
        out.contains("Corefile:4 - Unexpected '}' because no matching opening brace"),
        "{out}"
    );
    let port = free_port();
    let server = Server::start(
        BIN,
        &format!(".:{port} {{\n bind 127.0.0.1\n whoami\n}}\n}}\n"),
        port,
    );
    assert!(
        server
            .wait_for_line("[WARNING] ", std::time::Duration::from_secs(5))
            .is_some_and(|l| l.contains("Corefile:5 - Unexpected '}'")),
        "{:?}",
        server.output()
    );
    let r = udp(local(port), &query("a.example.", RecordType::A, None));
    assert_eq!(r.metadata.response_code, hickory_proto::op::ResponseCode::NoError);
}
