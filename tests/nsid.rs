//! End to end: nsid puts the server's identifier in the OPT record of replies to queries that
//! ask for it, and copies the client's DO bit rather than setting it.

use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption, NSIDPayload};
use testkit::{Server, free_port, local, query, udp};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

#[test]
fn identifier_in_replies_that_ask_for_it() {
    let port = free_port();
    let corefile = format!(".:{port} {{\n bind 127.0.0.1\n nsid Use The Force\n whoami\n}}\n");
    let _server = Server::start(BIN, &corefile, port);
    let mut q = query("a.example.", RecordType::A, Some(1232));
    if let Some(edns) = q.edns.as_mut() {
        edns.options_mut()
            .insert(EdnsOption::NSID(NSIDPayload::new(Vec::new()).expect("empty")));
    }
    let r = udp(local(port), &q);
    let edns = r.edns.expect("OPT");
    match edns.options().get(EdnsCode::NSID) {
        Some(EdnsOption::NSID(p)) => assert_eq!(p.as_ref(), b"Use The Force"),
        other => panic!("no NSID: {other:?}"),
    }
    assert!(
        !edns.flags().dnssec_ok,
        "DO copied from the query, which had it clear"
    );
    assert_eq!(edns.max_payload(), 1232);
    // With DO set, DO stays set.
    if let Some(e) = q.edns.as_mut() {
        e.set_dnssec_ok(true);
    }
    assert!(udp(local(port), &q).edns.expect("OPT").flags().dnssec_ok);
    // Without the option: no NSID.
    let r = udp(local(port), &query("a.example.", RecordType::A, Some(1232)));
    assert!(r.edns.expect("OPT").options().get(EdnsCode::NSID).is_none());
    // Without EDNS: no OPT at all.
    assert!(
        udp(local(port), &query("a.example.", RecordType::A, None))
            .edns
            .is_none()
    );
}
