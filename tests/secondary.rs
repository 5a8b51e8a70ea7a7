//! End to end: `secondary` transferring a zone in from Knot as its primary, serving it as Knot
//! does, following the primary's changes on NOTIFY, passing it on with `transfer`; SERVFAIL
//! while no primary has given the zone.

use std::net::UdpSocket;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, Record, RecordType};
use testkit::knot::Knot;
use testkit::{Server, TempDir, free_port, local, query, tcp, udp, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

fn zone(serial: u32, extra: &str) -> String {
    format!(
        "$TTL 300\n$ORIGIN example.org.\n@ IN SOA ns1.example.org. hostmaster.example.org. {serial} 3600 600 86400 300\n\
         @ IN NS ns1.example.org.\nns1 IN A 192.0.2.53\nwww IN A 192.0.2.80\nalias IN CNAME www\n\
         _sip._udp IN SRV 10 60 5060 www\n{extra}"
    )
}

fn sorted(records: &[Record]) -> Vec<String> {
    let mut v: Vec<String> = records.iter().map(ToString::to_string).collect();
    v.sort();
    v
}

#[test]
fn a_zone_from_a_knot_primary_served_and_kept_up_to_date() {
    let dir = TempDir::new("secondary");
    let Some(knot) = Knot::start(&dir, "example.org", &zone(1, "")) else {
        return;
    };
    let port = free_port();
    let corefile = format!(
        "example.org:{port} {{\n bind 127.0.0.1\n secondary {{\n  transfer from {}\n }}\n transfer {{\n  to *\n }}\n}}\n",
        knot.addr()
    );
    let server = Server::start(BIN, &corefile, port);
    wait_until("the zone transferred in", Duration::from_secs(10), || {
        udp(local(port), &query("www.example.org.", RecordType::A, None))
            .metadata
            .response_code
            == ResponseCode::NoError
    });
    assert!(
        server
            .wait_for_line("Transferred: example.org.", Duration::from_secs(5))
            .is_some(),
        "{:?}",
        server.output()
    );
    for (name, rtype) in [
        ("www.example.org.", RecordType::A),
        ("alias.example.org.", RecordType::A),
        ("_sip._udp.example.org.", RecordType::SRV),
        ("nope.example.org.", RecordType::A),
        ("www.example.org.", RecordType::TXT),
        ("example.org.", RecordType::NS),
    ] {
        let q = query(name, rtype, None);
        let (ours, theirs) = (udp(local(port), &q), udp(knot.addr(), &q));
        let what = format!("{name} {rtype}");
        assert_eq!(
            ours.metadata.response_code, theirs.metadata.response_code,
            "{what}"
        );
        assert_eq!(
            ours.metadata.authoritative, theirs.metadata.authoritative,
            "{what}"
        );
        assert_eq!(sorted(&ours.answers), sorted(&theirs.answers), "{what}");
    }

    // The primary changes; its NOTIFY (sent here from its address) has the zone checked now,
    // not at the next refresh an hour away.
    std::fs::write(&knot.file, zone(2, "new IN A 192.0.2.99\n")).expect("write");
    knot.reload();
    knot.wait_for_serial(Some(2));
    let notify = {
        let mut m = Message::new(4242, MessageType::Query, OpCode::Notify);
        m.metadata.authoritative = true;
        m.queries.push(Query::query(
            Name::from_ascii("example.org.").expect("name"),
            RecordType::SOA,
        ));
        m
    };
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    sock.send_to(&notify.to_vec().expect("encode"), local(port))
        .expect("send");
    let mut buf = [0u8; 512];
    let (n, _) = sock.recv_from(&mut buf).expect("NOTIFY answered");
    let ack = Message::from_vec(&buf[..n]).expect("decode");
    assert_eq!((ack.metadata.id, ack.metadata.op_code), (4242, OpCode::Notify));
    assert!(ack.metadata.authoritative);
    wait_until("the new serial transferred", Duration::from_secs(10), || {
        !udp(local(port), &query("new.example.org.", RecordType::A, None))
            .answers
            .is_empty()
    });

    // Passed on: an AXFR out of the secondary zone, SOA to SOA.
    let out = tcp(local(port), &[query("example.org.", RecordType::AXFR, None)]);
    assert_eq!(
        out[0].answers.first().map(Record::record_type),
        Some(RecordType::SOA)
    );
    assert_eq!(
        out[0].answers.last().map(Record::record_type),
        Some(RecordType::SOA)
    );
    assert_eq!(out[0].answers.len(), 2 + 6, "{:?}", out[0].answers);
}

#[test]
fn servfail_until_a_primary_gives_the_zone_and_notify_from_strangers_dropped() {
    // Nothing listens there: the transfer is retried, the zone is not served meanwhile.
    let dead = free_port();
    let port = free_port();
    let corefile = format!(
        "example.org:{port} {{\n bind 127.0.0.1\n secondary {{\n  transfer from 127.0.0.2:{dead}\n }}\n}}\n"
    );
    let server = Server::start(BIN, &corefile, port);
    let r = udp(local(port), &query("www.example.org.", RecordType::A, None));
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    assert!(
        server
            .wait_for_line(
                "All 'example.org.' masters failed to transfer, retrying in",
                Duration::from_secs(10)
            )
            .is_some(),
        "{:?}",
        server.output()
    );
    // A NOTIFY from an address that is no primary of the zone gets no reply at all.
    let mut notify = Message::new(7, MessageType::Query, OpCode::Notify);
    notify.queries.push(Query::query(
        Name::from_ascii("example.org.").expect("name"),
        RecordType::SOA,
    ));
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    sock.send_to(&notify.to_vec().expect("encode"), local(port))
        .expect("send");
    let mut buf = [0u8; 512];
    assert!(
        sock.recv_from(&mut buf).is_err(),
        "no reply to a stranger's NOTIFY"
    );
    assert!(
        server
            .wait_for_line(
                "Dropping notify from 127.0.0.1 for example.org.",
                Duration::from_secs(5)
            )
            .is_some()
    );
}
