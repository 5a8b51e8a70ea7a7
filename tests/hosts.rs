//! End to end: the hosts plugin in the real binary, over real sockets.

use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use testkit::{Server, TempDir, free_port, local, query, udp};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

fn a_records(port: u16, name: &str) -> (ResponseCode, Vec<String>) {
    let r = udp(local(port), &query(name, RecordType::A, None));
    let ips = r
        .answers
        .iter()
        .filter_map(|rr| match &rr.data {
            RData::A(a) => Some(format!("{} {} {}", rr.name, rr.ttl, a.0)),
            _ => None,
        })
        .collect();
    (r.metadata.response_code, ips)
}

#[test]
fn seed_inline_entry_with_fallthrough() {
    let port = free_port();
    // The seed's Corefile edit; whoami stands for what fallthrough reaches.
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n hosts {{\n  172.16.0.3 webservice1.com\n  fallthrough\n }}\n whoami\n}}\n"
    );
    let _server = Server::start(BIN, &corefile, port);
    assert_eq!(
        a_records(port, "webservice1.com."),
        (
            ResponseCode::NoError,
            vec!["webservice1.com. 3600 172.16.0.3".into()]
        )
    );
    // Case: the owner comes back lower-cased, as CoreDNS's hosts does.
    assert_eq!(
        a_records(port, "WebService1.COM.").1,
        vec!["webservice1.com. 3600 172.16.0.3".to_string()]
    );
    // Other names fall through to whoami (no answers, the client in the additional section).
    let r = udp(local(port), &query("other.example.", RecordType::A, None));
    assert_eq!(
        (r.metadata.response_code, r.answers.len(), r.additionals.len()),
        (ResponseCode::NoError, 0, 2)
    );
    // PTR generated from the inline entry.
    let r = udp(
        local(port),
        &query("3.0.16.172.in-addr.arpa.", RecordType::PTR, None),
    );
    assert_eq!(
        r.answers.first().map(|rr| rr.data.to_string()),
        Some("webservice1.com.".into())
    );
}

#[test]
fn file_edits_are_picked_up_after_the_reload_interval() {
    let port = free_port();
    let dir = TempDir::new("hosts-e2e");
    let file = dir.write("hosts", "10.1.0.1 old.example.org\n");
    let corefile = format!(
        "example.org:{port} {{\n bind 127.0.0.1\n hosts {} {{\n  reload 1s\n  ttl 30\n }}\n}}\n",
        file.display()
    );
    let _server = Server::start(BIN, &corefile, port);
    assert_eq!(
        a_records(port, "old.example.org."),
        (ResponseCode::NoError, vec!["old.example.org. 30 10.1.0.1".into()])
    );
    // Without fallthrough an unknown name is SERVFAIL (CoreDNS 1.11.3).
    assert_eq!(a_records(port, "new.example.org.").0, ResponseCode::ServFail);

    // A new file (different size) is read within the reload period.
    dir.write("hosts", "10.1.0.2 new.example.org\n10.1.0.3 new.example.org\n");
    testkit::wait_until("the edit", Duration::from_secs(5), || {
        a_records(port, "new.example.org.").0 == ResponseCode::NoError
    });
    assert_eq!(
        a_records(port, "new.example.org.").1,
        vec![
            "new.example.org. 30 10.1.0.2".to_string(),
            "new.example.org. 30 10.1.0.3".into()
        ]
    );
    assert_eq!(a_records(port, "old.example.org.").0, ResponseCode::ServFail);
}

/// CoreDNS 1.14.7's fallthrough_unsupported: types hosts cannot have go to the next plugin.
#[test]
fn unsupported_types_fall_through_on_request() {
    let up = testkit::FakeUpstream::start();
    up.add(testkit::rr("mail.example.org. 60 MX 10 mx.example.org."));
    let port = free_port();
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n hosts {{\n  10.0.0.1 mail.example.org\n  fallthrough_unsupported\n  fallthrough\n }}\n forward . {}\n}}\n",
        up.addr
    );
    let _server = Server::start(BIN, &corefile, port);
    let r = udp(local(port), &query("mail.example.org.", RecordType::MX, None));
    assert_eq!(r.answers.len(), 1, "{r:?}");
    assert_eq!(r.answers[0].record_type(), RecordType::MX);
    // Addresses still come from hosts.
    let r = udp(local(port), &query("mail.example.org.", RecordType::A, None));
    assert_eq!(r.answers[0].data.to_string(), "10.0.0.1");
}
