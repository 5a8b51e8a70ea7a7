//! End to end: local answers localhost, the loopback reverse zones and localhost.<domain>.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use testkit::{Server, free_port, http_get, local, query, records, udp};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

#[test]
fn localhost_and_loopback_zones() {
    let (port, metrics) = (free_port(), free_port());
    let corefile =
        format!(".:{port} {{\n bind 127.0.0.1\n prometheus 127.0.0.1:{metrics}\n local\n whoami\n}}\n");
    let _server = Server::start(BIN, &corefile, port);
    let ask = |name: &str, t: RecordType| -> Message { udp(local(port), &query(name, t, None)) };
    assert_eq!(
        records(&ask("localhost.", RecordType::A).answers),
        ["localhost. 604800 A 127.0.0.1"]
    );
    assert_eq!(
        records(&ask("LocalHost.", RecordType::AAAA).answers),
        ["LocalHost. 604800 AAAA ::1"]
    );
    assert_eq!(
        records(&ask("localhost.", RecordType::NS).answers),
        ["localhost. 604800 NS localhost."]
    );
    assert_eq!(
        records(&ask("localhost.", RecordType::SOA).answers),
        ["localhost. 604800 SOA localhost. root.localhost. 1 0 0 0 604800"]
    );
    assert_eq!(
        records(&ask("1.0.0.127.in-addr.arpa.", RecordType::PTR).answers),
        ["1.0.0.127.in-addr.arpa. 604800 PTR localhost."]
    );
    // Names in the zones that do not exist: NXDOMAIN with the zone's SOA.
    let r = ask("foo.localhost.", RecordType::A);
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(records(&r.authorities)[0].split(' ').next(), Some("localhost."));
    let r = ask("2.0.0.127.in-addr.arpa.", RecordType::PTR);
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(r.authorities[0].name.to_ascii(), "127.in-addr.arpa.");
    // localhost.<domain>: loopback addresses, counted.
    let r = ask("localhost.example.org.", RecordType::A);
    assert_eq!(records(&r.answers), ["localhost.example.org. 604800 A 127.0.0.1"]);
    let r = ask("localhost.example.org.", RecordType::MX);
    assert!(r.answers.is_empty() && r.metadata.response_code == ResponseCode::NoError);
    let (_, body) = http_get(metrics, "/metrics").expect("metrics");
    assert!(
        body.contains("coredns_local_localhost_requests_total 2"),
        "{body}"
    );
    // Anything else goes on.
    let r = ask("www.example.org.", RecordType::A);
    assert!(r.answers.is_empty() && !r.additionals.is_empty(), "whoami");
}

/// `localhost_prefix off` (CoreDNS 1.14.5): `localhost.<domain>` goes on to the next plugin.
#[test]
fn localhost_prefix_off_passes_prefixed_names_on() {
    let port = free_port();
    let corefile =
        format!(".:{port} {{\n bind 127.0.0.1\n local {{\n  localhost_prefix off\n }}\n whoami\n}}\n");
    let _server = Server::start(BIN, &corefile, port);
    let r = udp(local(port), &query("localhost.example.org.", RecordType::A, None));
    // whoami answered it: its A record is the client's address, in the additional section.
    assert!(r.answers.is_empty(), "{r:?}");
    assert_eq!(records(&r.additionals)[0], "localhost.example.org. 0 A 127.0.0.1");
    assert_eq!(
        records(&udp(local(port), &query("localhost.", RecordType::A, None)).answers),
        ["localhost. 604800 A 127.0.0.1"]
    );
}
