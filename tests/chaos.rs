//! End to end: chaos answers CH TXT for the server's version, authors and host name.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, RData, RecordType};
use testkit::{Server, free_port, local, query_class, udp};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

fn texts(m: &hickory_proto::op::Message) -> Vec<String> {
    m.answers
        .iter()
        .map(|r| match &r.data {
            RData::TXT(t) => t.to_string(),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn version_authors_and_hostname() {
    let port = free_port();
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n chaos Example-1.0 b@example.org a@example.org\n whoami\n}}\n"
    );
    let _server = Server::start(BIN, &corefile, port);
    for name in ["version.bind.", "VERSION.server."] {
        let r = udp(local(port), &query_class(name, RecordType::TXT, DNSClass::CH));
        assert_eq!(texts(&r), ["Example-1.0"], "{name}");
        assert_eq!(r.answers[0].dns_class, DNSClass::CH);
        assert_eq!(r.answers[0].ttl, 0);
        assert_eq!(r.answers[0].name.to_ascii(), name);
    }
    let r = udp(
        local(port),
        &query_class("authors.bind.", RecordType::TXT, DNSClass::CH),
    );
    let mut authors = texts(&r);
    authors.sort();
    assert_eq!(authors, ["a@example.org", "b@example.org"]);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    let r = udp(
        local(port),
        &query_class("id.server.", RecordType::TXT, DNSClass::CH),
    );
    assert_eq!(texts(&r), [host.trim()]);
    // Other names, classes and types go on to the next plugin.
    for (name, t, class) in [
        ("version.bind.", RecordType::TXT, DNSClass::IN),
        ("version.bind.", RecordType::A, DNSClass::CH),
        ("other.bind.", RecordType::TXT, DNSClass::CH),
    ] {
        let r = udp(local(port), &query_class(name, t, class));
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert!(
            r.answers.is_empty() && !r.additionals.is_empty(),
            "whoami for {name} {t} {class}"
        );
    }
}
