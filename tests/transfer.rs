//! End to end: zone transfers out of `file` and `kubernetes` zones with `dig AXFR` (a real
//! client), who may transfer, IXFR, and NOTIFY to the listed secondaries.

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use testkit::apiserver::{endpoint_slice, external_name, namespace, service};
use testkit::{FakeApiServer, Server, TempDir, free_port, local, query, tcp, udp, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

/// A zone of `names` A records beside the apex.
fn zone(serial: u32, names: usize) -> String {
    let mut z = format!(
        "$TTL 300\n$ORIGIN example.org.\n@ IN SOA ns1.example.org. hostmaster.example.org. {serial} 7200 3600 1209600 300\n\
         @ IN NS ns1.example.org.\nns1 IN A 192.0.2.53\n"
    );
    for i in 0..names {
        z.push_str(&format!("host{i} IN A 10.0.{}.{}\n", i / 250, i % 250 + 1));
    }
    z
}

/// `dig` as a secondary's operator runs it: the records, and dig's own summary line.
fn dig(port: u16, args: &[&str]) -> (Vec<String>, String) {
    let out = Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            "+noall",
            "+answer",
            "+stats",
        ])
        .args(args)
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) => panic!("dig (bind9-dnsutils) is needed: {e}"),
    };
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let records = text
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    (records, text)
}

#[test]
fn axfr_of_a_file_zone_in_batches_and_who_may_have_it() {
    let dir = TempDir::new("xfr-file");
    let db = dir.write("db.example.org", &zone(7, 1200));
    let net = dir.write(
        "db.example.net",
        &zone(7, 1).replace("example.org.", "example.net."),
    );
    let port = free_port();
    let corefile = format!(
        "example.org:{port} {{\n bind 127.0.0.1\n file {}\n transfer {{\n  to *\n }}\n}}\n\
         example.net:{port} {{\n bind 127.0.0.1\n file {}\n transfer {{\n  to 192.0.2.1\n }}\n}}\n",
        db.display(),
        net.display()
    );
    let server = Server::start(BIN, &corefile, port);

    let (records, text) = dig(port, &["example.org", "AXFR"]);
    assert_eq!(records.len(), 1204, "{text}");
    assert_eq!(
        records.first().map(String::as_str),
        Some("example.org. 300 IN SOA ns1.example.org. hostmaster.example.org. 7 7200 3600 1209600 300")
    );
    assert_eq!(records.first(), records.last(), "the SOA closes the transfer");
    assert_eq!(records[1], "example.org. 300 IN NS ns1.example.org.");
    assert!(records.contains(&"host1199.example.org. 300 IN A 10.0.4.200".to_string()));
    // CoreDNS's batches: a message once more than 500 records wait.
    assert!(text.contains("XFR size: 1204 records (messages 3,"), "{text}");
    assert!(
        server
            .wait_for_line(
                "Outgoing transfer of 1204 records of zone",
                Duration::from_secs(5)
            )
            .is_some_and(|l| l.contains("\"example.org.\" to 127.0.0.1 for 7 SOA serial")),
        "{:?}",
        server.output()
    );

    // IXFR from the zone's own serial: the SOA alone; from an older one, the whole zone.
    let (records, _) = dig(port, &["example.org", "IXFR=7"]);
    assert_eq!(records.len(), 1, "{records:?}");
    let (records, _) = dig(port, &["example.org", "IXFR=6"]);
    assert_eq!(records.len(), 1204);

    // Over UDP, never; to an address not listed, REFUSED written back.
    let over_udp = udp(local(port), &query("example.org.", RecordType::AXFR, None));
    assert_eq!(over_udp.metadata.response_code, ResponseCode::Refused);
    let refused = tcp(local(port), &[query("example.net.", RecordType::AXFR, None)]);
    assert_eq!(refused[0].metadata.response_code, ResponseCode::Refused);
    assert!(refused[0].answers.is_empty());
    // A name below the zone is no zone of file's: file refuses transfers itself.
    let below = tcp(
        local(port),
        &[query("host1.example.org.", RecordType::AXFR, None)],
    );
    assert_eq!(below[0].metadata.response_code, ResponseCode::Refused);
}

#[test]
fn notify_goes_to_listed_secondaries_at_start_and_on_a_new_serial() {
    let secondary = UdpSocket::bind("127.0.0.1:0").expect("bind");
    secondary
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let at = secondary.local_addr().expect("addr");
    let dir = TempDir::new("xfr-notify");
    let db = dir.write("db.example.org", &zone(1, 2));
    let port = free_port();
    let corefile = format!(
        "example.org:{port} {{\n bind 127.0.0.1\n file {} {{\n  reload 200ms\n }}\n transfer {{\n  to * {at}\n }}\n}}\n",
        db.display()
    );
    let _server = Server::start(BIN, &corefile, port);
    let receive = || {
        let mut buf = [0u8; 512];
        let (n, from) = secondary.recv_from(&mut buf).expect("a NOTIFY");
        let m = Message::from_vec(&buf[..n]).expect("decode");
        // Accepted, as a secondary answers it.
        let mut reply = Message::new(m.metadata.id, MessageType::Response, OpCode::Notify);
        reply.metadata.authoritative = true;
        reply.queries = m.queries.clone();
        secondary
            .send_to(&reply.to_vec().expect("encode"), from)
            .expect("reply");
        m
    };
    let first = receive();
    assert_eq!(first.metadata.op_code, OpCode::Notify);
    assert!(first.metadata.authoritative);
    assert_eq!(first.queries[0].name().to_string(), "example.org.");
    assert_eq!(first.queries[0].query_type(), RecordType::SOA);

    std::fs::write(&db, zone(2, 3)).expect("write");
    let second = receive();
    assert_eq!(second.metadata.op_code, OpCode::Notify);
    // The secondary then finds the new serial.
    let soa = udp(local(port), &query("example.org.", RecordType::SOA, None));
    assert!(matches!(&soa.answers[0].data, RData::SOA(s) if s.serial == 2));
}

#[test]
fn axfr_of_the_cluster_zone() {
    let api = FakeApiServer::start();
    api.apply(namespace("default"));
    api.apply(service(
        "default",
        "web",
        "10.96.0.20",
        &[("http", "TCP", 80), ("", "UDP", 53)],
    ));
    api.apply(service("default", "db", "None", &[("pg", "TCP", 5432)]));
    api.apply(endpoint_slice(
        "default",
        "db-abc",
        "db",
        &[
            ("10.244.0.11", Some("db-0"), true),
            ("10.244.0.12", None, true),
            ("10.244.0.13", None, false),
        ],
        &[("pg", "TCP", 5432)],
    ));
    api.apply(external_name("default", "ext", "outside.example"));
    let dir = TempDir::new("xfr-k8s");
    let (port, ready) = (free_port(), free_port());
    let corefile = format!(
        "cluster.local:{port} {{\n bind 127.0.0.1\n ready 127.0.0.1:{ready}\n kubernetes {{\n  kubeconfig {}\n }}\n transfer {{\n  to *\n }}\n}}\n",
        api.kubeconfig(&dir).display()
    );
    let _server = Server::start(BIN, &corefile, port);
    wait_until("synced", Duration::from_secs(10), || {
        !udp(
            local(port),
            &query("web.default.svc.cluster.local.", RecordType::A, None),
        )
        .answers
        .is_empty()
    });
    let (records, text) = dig(port, &["cluster.local", "AXFR"]);
    let soa = records.first().cloned().unwrap_or_default();
    assert!(
        soa.starts_with("cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. "),
        "{text}"
    );
    assert_eq!(records.last(), Some(&soa));
    // In CoreDNS's order: services by name, each with its records.
    let body: Vec<&str> = records[1..records.len() - 1].iter().map(String::as_str).collect();
    assert_eq!(
        body,
        [
            "db.default.svc.cluster.local. 5 IN A 10.244.0.11",
            "db-0.db.default.svc.cluster.local. 5 IN A 10.244.0.11",
            "_pg._tcp.db.default.svc.cluster.local. 5 IN SRV 0 50 5432 db-0.db.default.svc.cluster.local.",
            "db.default.svc.cluster.local. 5 IN A 10.244.0.12",
            "10-244-0-12.db.default.svc.cluster.local. 5 IN A 10.244.0.12",
            "_pg._tcp.db.default.svc.cluster.local. 5 IN SRV 0 50 5432 10-244-0-12.db.default.svc.cluster.local.",
            "ext.default.svc.cluster.local. 5 IN CNAME outside.example.",
            "web.default.svc.cluster.local. 5 IN A 10.96.0.20",
            "web.default.svc.cluster.local. 5 IN SRV 0 100 80 web.default.svc.cluster.local.",
            "_http._tcp.web.default.svc.cluster.local. 5 IN SRV 0 100 80 web.default.svc.cluster.local.",
            "web.default.svc.cluster.local. 5 IN SRV 0 100 53 web.default.svc.cluster.local.",
        ],
        "{text}"
    );
}
