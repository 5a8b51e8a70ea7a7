//! End to end: minimal drops the authority and additional sections of positive replies only.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use testkit::{FakeUpstream, Server, free_port, local, query, rr, udp};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

#[test]
fn positive_replies_lose_authority_and_additional() {
    let up = FakeUpstream::start();
    up.add(rr("www.example.org. 60 A 192.0.2.1"));
    up.refer(
        "sub.example.org.",
        vec![rr("sub.example.org. 60 NS ns1.sub.example.org.")],
        vec![rr("ns1.sub.example.org. 60 A 192.0.2.53")],
    );
    let port = free_port();
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n minimal\n forward . {}\n}}\n",
        up.addr
    );
    let _server = Server::start(BIN, &corefile, port);
    // A positive answer with the zone's NS and their addresses, as authoritative servers send.
    up.sections(
        "www.example.org.",
        RecordType::A,
        vec![rr("example.org. 60 NS ns1.example.org.")],
        vec![rr("ns1.example.org. 60 A 192.0.2.2")],
    );
    let r = udp(local(port), &query("www.example.org.", RecordType::A, Some(1232)));
    assert_eq!(r.answers.len(), 1);
    assert!(r.authorities.is_empty() && r.additionals.is_empty());
    assert!(r.edns.is_some(), "the client's OPT still comes back");
    // A denial keeps its SOA; a referral keeps NS and glue.
    let r = udp(local(port), &query("nope.example.org.", RecordType::A, None));
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(r.authorities.len(), 1);
    let r = udp(local(port), &query("www.sub.example.org.", RecordType::A, None));
    assert_eq!((r.authorities.len(), r.additionals.len()), (1, 1));
}
