//! End to end: any answers ANY queries with RFC 8482's HINFO.

use hickory_proto::rr::RecordType;
use testkit::{Server, free_port, local, query, udp};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

#[test]
fn any_gets_hinfo_and_other_types_go_on() {
    let port = free_port();
    let corefile =
        format!(".:{port} {{\n bind 127.0.0.1\n any\n hosts {{\n  10.0.0.1 www.example.org\n }}\n}}\n");
    let _server = Server::start(BIN, &corefile, port);
    let r = udp(local(port), &query("www.example.org.", RecordType::ANY, None));
    let a: Vec<String> = r
        .answers
        .iter()
        .map(|r| format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data))
        .collect();
    assert_eq!(a, ["www.example.org. 8482 HINFO ANY obsoleted See RFC 8482"]);
    let r = udp(local(port), &query("www.example.org.", RecordType::A, None));
    assert_eq!(r.answers.len(), 1);
    assert_eq!(r.answers[0].record_type(), RecordType::A);
}
