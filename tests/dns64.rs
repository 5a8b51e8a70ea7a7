//! End to end: dns64 synthesizes AAAA from A for names without AAAA, keeps real AAAA, and
//! leaves an acl's refusal alone.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use testkit::{FakeUpstream, Server, free_port, http_get, local, query, records, rr, udp};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

#[test]
fn synthesized_aaaa() {
    let up = FakeUpstream::start();
    up.add(rr("v4only.example. 300 A 192.0.2.33"));
    up.answer("v4only.example.", RecordType::AAAA, Vec::new());
    up.add(rr("dual.example. 300 A 192.0.2.34"));
    up.add(rr("dual.example. 300 AAAA 2001:db8::34"));
    up.add(rr("blocked.example. 300 A 192.0.2.35"));
    let (port, metrics) = (free_port(), free_port());
    // The test's client is IPv4 (127.0.0.1): allow_ipv4.
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n prometheus 127.0.0.1:{metrics}\n dns64 {{\n  prefix 64:ff9b::/96\n  allow_ipv4\n }}\n acl blocked.example {{\n  block\n }}\n forward . {}\n}}\n",
        up.addr
    );
    let _server = Server::start(BIN, &corefile, port);
    let r = udp(local(port), &query("v4only.example.", RecordType::AAAA, None));
    assert_eq!(
        records(&r.answers),
        ["v4only.example. 300 AAAA 64:ff9b::c000:221"]
    );
    let r = udp(local(port), &query("dual.example.", RecordType::AAAA, None));
    assert_eq!(records(&r.answers), ["dual.example. 300 AAAA 2001:db8::34"]);
    // A queries are not touched.
    let r = udp(local(port), &query("v4only.example.", RecordType::A, None));
    assert_eq!(records(&r.answers), ["v4only.example. 300 A 192.0.2.33"]);
    // A name the acl blocks stays REFUSED (CoreDNS answers NOERROR with no data).
    let r = udp(local(port), &query("blocked.example.", RecordType::AAAA, None));
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    // NXDOMAIN stays NXDOMAIN.
    let r = udp(local(port), &query("nope.example.", RecordType::AAAA, None));
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    let (_, body) = http_get(metrics, "/metrics").expect("metrics");
    assert!(
        body.contains("coredns_dns64_requests_translated_total{server=\"dns://127.0.0.1:"),
        "{body}"
    );
}

#[test]
fn ipv4_clients_are_left_alone_by_default() {
    let up = FakeUpstream::start();
    up.add(rr("v4only.example. 300 A 192.0.2.33"));
    up.answer("v4only.example.", RecordType::AAAA, Vec::new());
    let port = free_port();
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n dns64\n forward . {}\n}}\n",
        up.addr
    );
    let _server = Server::start(BIN, &corefile, port);
    let r = udp(local(port), &query("v4only.example.", RecordType::AAAA, None));
    assert!(r.answers.is_empty() && r.metadata.response_code == ResponseCode::NoError);
}
