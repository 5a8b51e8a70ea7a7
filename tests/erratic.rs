//! End to end: erratic answers every name, and drops every Nth query as configured.

use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use testkit::{Server, free_port, local, query, udp};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

#[test]
fn drops_every_second_query_by_default() {
    let port = free_port();
    let _server = Server::start(
        BIN,
        &format!("example.org:{port} {{\n bind 127.0.0.1\n erratic\n}}\n"),
        port,
    );
    let ask = |t: RecordType| {
        let bytes = query("www.example.org.", t, None).to_vec().expect("encode");
        testkit::udp_raw(local(port), &bytes, Duration::from_millis(400))
            .map(|b| hickory_proto::op::Message::from_vec(&b).expect("decodes"))
    };
    // Queries 0, 2, 4... are dropped; 1, 3... answered.
    assert!(ask(RecordType::A).is_none());
    let r = ask(RecordType::A).expect("second query answered");
    assert!(r.metadata.authoritative);
    assert_eq!(r.answers[0].data.to_string(), "192.0.2.53");
    assert!(ask(RecordType::AAAA).is_none());
    assert_eq!(
        ask(RecordType::AAAA).expect("answered").answers[0]
            .data
            .to_string(),
        "2001:db8::53"
    );
    assert!(ask(RecordType::MX).is_none());
    assert_eq!(
        ask(RecordType::MX).expect("answered").metadata.response_code,
        ResponseCode::ServFail
    );
}

#[test]
fn without_drops() {
    let port = free_port();
    let corefile = format!("example.org:{port} {{\n bind 127.0.0.1\n erratic {{\n  drop 0\n }}\n}}\n");
    let _server = Server::start(BIN, &corefile, port);
    for _ in 0..4 {
        let r = udp(local(port), &query("x.example.org.", RecordType::A, None));
        assert_eq!(r.answers.len(), 1);
    }
}
