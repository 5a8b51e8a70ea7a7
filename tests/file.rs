//! End to end: the file plugin in the real binary, compared record for record with Knot serving
//! the same zone file, reloaded on a new serial, and refusing bad zone files with file:line.

use std::process::Command;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Record, RecordType};
use testkit::knot::Knot;
use testkit::{Server, TempDir, free_port, local, query, udp, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

/// SOA TTL and minimum are equal: Knot gives negative answers the smaller of the two (RFC
/// 2308), CoreDNS the SOA as written.
const ZONE: &str = "$TTL 3600
$ORIGIN example.org.
@       IN      SOA     sns.dns.icann.org. noc.dns.icann.org. 2015082541 7200 3600 1209600 3600
        IN      NS      b.iana-servers.net.
        IN      NS      a.iana-servers.net.
        IN      MX      10 mx.example.org.
a       IN      A       139.162.196.78
        IN      AAAA    2a01:7e00::f03c:91ff:fef1:6735
        IN      TXT     \"text with spaces\"
www     IN      CNAME   a
two     IN      CNAME   www
out     IN      CNAME   www.example.net.
mx      IN      A       192.0.2.25
_http._tcp.srv IN SRV   10 10 8080 a.example.org.
*.wild  IN      TXT     \"wild\"
*.w2    IN      CNAME   a
a.b.c   IN      A       192.0.2.1
sub     IN      NS      ns1.sub
        IN      NS      ns.elsewhere.net.
ns1.sub IN      A       192.0.2.53
Mixed   IN      A       192.0.2.7
";

/// Records as text, sorted, owners in lower case: Knot writes the question's case into owner
/// names, CoreDNS the zone's names lower-cased (asserted apart below).
fn sorted(records: &[Record]) -> Vec<String> {
    let mut v: Vec<String> = records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.name = r.name.to_lowercase();
            r.to_string()
        })
        .collect();
    v.sort();
    v
}

#[test]
fn answers_as_knot_serving_the_same_zone() {
    let dir = TempDir::new("file-knot");
    dir.write("db.example.org", ZONE);
    let Some(knot) = Knot::start(&dir, "example.org", ZONE) else {
        return;
    };
    let knot_port = knot.port;
    let port = free_port();
    let zone = dir.0.join("db.example.org");
    let corefile = format!(
        "example.org:{port} {{\n bind 127.0.0.1\n file {}\n}}\n",
        zone.display()
    );
    let _server = Server::start(BIN, &corefile, port);

    let cases: &[(&str, RecordType)] = &[
        ("a.example.org.", RecordType::A),
        ("a.example.org.", RecordType::AAAA),
        ("a.example.org.", RecordType::TXT),
        ("A.Example.ORG.", RecordType::A),
        ("a.example.org.", RecordType::MX),
        ("www.example.org.", RecordType::A),
        ("two.example.org.", RecordType::AAAA),
        ("www.example.org.", RecordType::CNAME),
        ("out.example.org.", RecordType::A),
        ("example.org.", RecordType::MX),
        ("example.org.", RecordType::A),
        ("_http._tcp.srv.example.org.", RecordType::SRV),
        ("x.wild.example.org.", RecordType::TXT),
        ("x.y.wild.example.org.", RecordType::TXT),
        ("x.wild.example.org.", RecordType::A),
        ("q.w2.example.org.", RecordType::A),
        ("nope.example.org.", RecordType::A),
        ("deep.nope.example.org.", RecordType::AAAA),
        ("b.c.example.org.", RecordType::A),
        ("c.example.org.", RecordType::TXT),
        ("srv.example.org.", RecordType::A),
        ("host.sub.example.org.", RecordType::A),
        ("sub.example.org.", RecordType::NS),
        ("mixed.example.org.", RecordType::A),
    ];
    for (name, rtype) in cases {
        let q = query(name, *rtype, None);
        let ours = udp(local(port), &q);
        let theirs = udp(local(knot_port), &q);
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
        assert_eq!(sorted(&ours.additionals), sorted(&theirs.additionals), "{what}");
        // Where CoreDNS answers otherwise: a positive answer carries the apex NS in the
        // authority section (Knot's is empty).
        let positive = ours.metadata.response_code == ResponseCode::NoError
            && !ours.answers.is_empty()
            && ours.metadata.authoritative;
        if positive {
            assert!(theirs.authorities.is_empty(), "{what}: {:?}", theirs.authorities);
            assert_eq!(
                sorted(&ours.authorities),
                [
                    "example.org. 3600 IN NS a.iana-servers.net.",
                    "example.org. 3600 IN NS b.iana-servers.net."
                ],
                "{what}"
            );
        } else {
            assert_eq!(sorted(&ours.authorities), sorted(&theirs.authorities), "{what}");
        }
    }
    let mixed = udp(local(port), &query("A.Example.ORG.", RecordType::A, None));
    assert_eq!(
        mixed.answers[0].name.to_string(),
        "a.example.org.",
        "CoreDNS lower-cases owners"
    );

    // Transfers without the transfer plugin are refused, as CoreDNS's file does.
    let axfr = udp(local(port), &query("example.org.", RecordType::AXFR, None));
    assert_eq!(axfr.metadata.response_code, ResponseCode::Refused);
}

#[test]
fn reloads_on_a_new_serial_and_keeps_the_zone_a_bad_file_would_replace() {
    let port = free_port();
    let dir = TempDir::new("file-reload");
    let zone = dir.write("db.example.org", ZONE);
    let corefile = format!(
        "example.org:{port} {{\n bind 127.0.0.1\n file {} {{\n  reload 200ms\n }}\n}}\n",
        zone.display()
    );
    let server = Server::start(BIN, &corefile, port);
    let mx = || {
        let r = udp(local(port), &query("mx.example.org.", RecordType::A, None));
        sorted(&r.answers)
    };
    assert_eq!(mx(), ["mx.example.org. 3600 IN A 192.0.2.25"]);

    // Same serial: the change is not taken (CoreDNS reloads on a serial change only).
    std::fs::write(&zone, ZONE.replace("192.0.2.25", "192.0.2.26")).expect("write");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(mx(), ["mx.example.org. 3600 IN A 192.0.2.25"]);

    let bumped = ZONE
        .replace("192.0.2.25", "192.0.2.26")
        .replace("2015082541", "2015082542");
    std::fs::write(&zone, &bumped).expect("write");
    wait_until("the new serial served", Duration::from_secs(10), || {
        mx() == ["mx.example.org. 3600 IN A 192.0.2.26"]
    });
    assert!(
        server
            .wait_for_line("with 2015082542 SOA serial", Duration::from_secs(5))
            .is_some_and(|l| l.contains("[INFO] plugin/file: Successfully reloaded zone \"example.org.\"")),
        "{:?}",
        server.output()
    );

    // A broken file with a newer serial: logged with where, the zone served stays.
    let broken = bumped
        .replace("2015082542", "2015082543")
        .replace("ns1.sub IN      A       192.0.2.53", "ns1.sub IN A 192.0.2");
    std::fs::write(&zone, broken).expect("write");
    let line = ZONE.lines().position(|l| l.starts_with("ns1.sub")).expect("line") + 1;
    let logged = server.wait_for_line("Parsing zone", Duration::from_secs(10));
    assert!(
        logged
            .as_ref()
            .is_some_and(|l| l.contains(&format!("db.example.org:{line}: "))),
        "{logged:?}"
    );
    assert_eq!(mx(), ["mx.example.org. 3600 IN A 192.0.2.26"]);
}

#[test]
fn a_bad_zone_file_stops_the_start_with_where() {
    let dir = TempDir::new("file-bad");
    let zone = dir.write(
        "db.example.org",
        &ZONE.replace("a       IN      A       139.162.196.78", "a IN A 139.162"),
    );
    let corefile = dir.write(
        "Corefile",
        &format!("example.org:{} {{\n file {}\n}}\n", free_port(), zone.display()),
    );
    let out = Command::new(BIN)
        .arg("-conf")
        .arg(&corefile)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    let line = ZONE.lines().position(|l| l.starts_with("a ")).expect("line") + 1;
    assert!(
        text.contains(&format!("plugin/file: {}:{line}: ", zone.display())),
        "{text}"
    );

    let missing = dir.write(
        "Corefile2",
        &format!(
            "example.org:{} {{\n file {}/none {{\n  reload 0\n }}\n}}\n",
            free_port(),
            dir.0.display()
        ),
    );
    let out = Command::new(BIN)
        .arg("-conf")
        .arg(&missing)
        .output()
        .expect("run");
    assert!(
        !out.status.success(),
        "a missing file without reload is fatal, as in CoreDNS"
    );
}
