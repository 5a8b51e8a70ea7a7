//! End to end: acl allows, blocks (REFUSED, extended error 15), filters (NOERROR, 17) and
//! drops (no reply) by client network and query type.

use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::EdnsCode;
use testkit::{Server, free_port, http_get, local, query, udp};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

fn ede(r: &hickory_proto::op::Message) -> Option<Vec<u8>> {
    match r.edns.as_ref()?.options().get(EdnsCode::Unknown(15))? {
        hickory_proto::rr::rdata::opt::EdnsOption::Unknown(_, data) => Some(data.clone()),
        _ => None,
    }
}

#[test]
fn allow_block_filter_drop() {
    let (port, metrics) = (free_port(), free_port());
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n prometheus 127.0.0.1:{metrics}\n acl {{\n  block type AAAA net 127.0.0.0/8\n  filter type MX net 127.0.0.1\n  drop type TXT net *\n  block net 192.0.2.0/24\n  allow net 127.0.0.1\n }}\n hosts {{\n  10.0.0.1 www.example.org\n }}\n}}\n"
    );
    let _server = Server::start(BIN, &corefile, port);
    // Allowed.
    let r = udp(local(port), &query("www.example.org.", RecordType::A, Some(1232)));
    assert_eq!(r.answers.len(), 1);
    // Blocked: REFUSED with "Blocked", DO copied (clear) rather than set.
    let r = udp(
        local(port),
        &query("www.example.org.", RecordType::AAAA, Some(1232)),
    );
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    assert_eq!(ede(&r), Some(vec![0, 15]));
    assert!(!r.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok));
    // A client without EDNS gets no OPT record (RFC 6891; CoreDNS adds one).
    let r = udp(local(port), &query("www.example.org.", RecordType::AAAA, None));
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    assert!(r.edns.is_none());
    // Filtered: NOERROR, no records, "Filtered".
    let r = udp(
        local(port),
        &query("www.example.org.", RecordType::MX, Some(1232)),
    );
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.answers.is_empty());
    assert_eq!(ede(&r), Some(vec![0, 17]));
    // Dropped: nothing comes back over UDP; over TCP the connection goes on.
    let bytes = query("www.example.org.", RecordType::TXT, None)
        .to_vec()
        .expect("encode");
    assert!(testkit::udp_raw(local(port), &bytes, Duration::from_millis(500)).is_none());
    {
        use std::io::{Read, Write};
        let mut conn = std::net::TcpStream::connect(local(port)).expect("connect");
        conn.set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
        for (t, id) in [(RecordType::TXT, 1u16), (RecordType::A, 2)] {
            let mut q = query("www.example.org.", t, None);
            q.metadata.id = id;
            let bytes = q.to_vec().expect("encode");
            let len = u16::try_from(bytes.len()).expect("len").to_be_bytes();
            conn.write_all(&len)
                .and_then(|_| conn.write_all(&bytes))
                .expect("write");
        }
        let mut len = [0u8; 2];
        conn.read_exact(&mut len).expect("one reply");
        let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
        conn.read_exact(&mut reply).expect("reply");
        let r = hickory_proto::op::Message::from_vec(&reply).expect("decodes");
        assert_eq!(
            (r.metadata.id, r.answers.len()),
            (2, 1),
            "only the allowed query is answered"
        );
    }
    let (_, body) = http_get(metrics, "/metrics").expect("metrics");
    for family in [
        "coredns_acl_blocked_requests_total{server=\"dns://127.0.0.1:",
        "coredns_acl_filtered_requests_total{",
        "coredns_acl_dropped_requests_total{",
        "coredns_acl_allowed_requests_total{",
    ] {
        assert!(body.contains(family), "{family} in {body}");
    }
}
