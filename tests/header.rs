//! End to end: header changes flags of the query (what upstreams see) and of the reply.

use hickory_proto::rr::RecordType;
use testkit::{FakeUpstream, Server, free_port, local, query, rr, udp};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

#[test]
fn query_and_response_flags() {
    let up = FakeUpstream::start();
    up.add(rr("www.example.org. 60 A 192.0.2.1"));
    let port = free_port();
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n header {{\n  query clear rd\n  response set aa\n  response clear ra\n }}\n forward . {}\n}}\n",
        up.addr
    );
    let _server = Server::start(BIN, &corefile, port);
    let r = udp(local(port), &query("www.example.org.", RecordType::A, None));
    assert_eq!(r.answers.len(), 1);
    assert!(r.metadata.authoritative && !r.metadata.recursion_available);
    // The upstream was asked without RD.
    let asked = up.received();
    assert!(!asked.is_empty() && asked.iter().all(|q| !q.query.metadata.recursion_desired));
}
