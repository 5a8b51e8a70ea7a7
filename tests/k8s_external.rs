//! End to end: k8s_external in the real binary, reading the kubernetes plugin's index of the
//! test API server: a MetalLB-style load balancer, externalIPs, a cloud load balancer's host
//! name, a headless service with `headless`, SRV, PTR and the apex SOA/NS.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use serde_json::json;
use testkit::apiserver::{endpoint_slice, namespace, service};
use testkit::{FakeApiServer, FakeUpstream, Server, free_port, local, query, records, rr, udp};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

fn cluster(api: &FakeApiServer) {
    api.apply(namespace("default"));
    // MetalLB: a LoadBalancer service whose address is in status.loadBalancer.ingress.
    let mut lb = service(
        "default",
        "lb",
        "10.96.0.30",
        &[("http", "TCP", 80), ("https", "TCP", 443)],
    );
    lb["spec"]["type"] = json!("LoadBalancer");
    lb["status"] = json!({"loadBalancer": {"ingress": [{"ip": "198.51.100.10", "ipMode": "VIP"}]}});
    api.apply(lb);
    // externalIPs on a ClusterIP service, both families.
    let mut ext = service("default", "ext", "10.96.0.31", &[("dns", "UDP", 53)]);
    ext["spec"]["externalIPs"] = json!(["198.51.100.20", "2001:db8::20"]);
    api.apply(ext);
    // A cloud load balancer: a host name, answered with a CNAME and the server's answer for it.
    let mut elb = service("default", "elb", "10.96.0.32", &[("http", "TCP", 80)]);
    elb["spec"]["type"] = json!("LoadBalancer");
    elb["status"] = json!({"loadBalancer": {"ingress": [{"hostname": "lb-1.cloud.example"}]}});
    api.apply(elb);
    // Headless, no external address: its endpoints with `headless`.
    api.apply(service("default", "db", "None", &[("pg", "TCP", 5432)]));
    api.apply(endpoint_slice(
        "default",
        "db-abc",
        "db",
        &[
            ("10.244.0.11", Some("db-0"), true),
            ("10.244.0.12", Some("db-1"), true),
        ],
        &[("pg", "TCP", 5432)],
    ));
    // A plain ClusterIP service: nothing outside.
    api.apply(service(
        "default",
        "internal",
        "10.96.0.33",
        &[("http", "TCP", 80)],
    ));
}

fn start(api: &FakeApiServer, upstream: &FakeUpstream, options: &str) -> (Server, u16) {
    let port = free_port();
    let corefile = format!(
        "example.org:{port} 100.51.198.in-addr.arpa:{port} cluster.local:{port} .:{port} {{\n bind 127.0.0.1\n errors\n \
         k8s_external example.org 100.51.198.in-addr.arpa {{\n  {options}\n }}\n kubernetes cluster.local {{\n  endpoint {}\n }}\n \
         forward . {}\n}}\n",
        api.url(),
        upstream.addr
    );
    (Server::start(BIN, &corefile, port), port)
}

fn ask(port: u16, name: &str, t: RecordType) -> Message {
    udp(local(port), &query(name, t, None))
}

/// Waits for the index to hold the load balancer.
fn synced(port: u16) {
    let start = std::time::Instant::now();
    while ask(port, "lb.default.example.org.", RecordType::A)
        .answers
        .is_empty()
    {
        assert!(start.elapsed().as_secs() < 10, "never synced");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn load_balancers_external_ips_headless_srv_ptr_and_apex() {
    let api = FakeApiServer::start();
    cluster(&api);
    let upstream = FakeUpstream::start();
    upstream.add(rr("lb-1.cloud.example. 60 A 203.0.113.50"));
    let (_server, port) = start(&api, &upstream, "headless");
    synced(port);

    // MetalLB ingress IP: one record for both ports, our TTL (5), authoritative.
    let r = ask(port, "lb.default.example.org.", RecordType::A);
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.metadata.authoritative);
    assert_eq!(records(&r.answers), ["lb.default.example.org. 5 A 198.51.100.10"]);
    // No IPv6 address: NODATA with the zone's SOA.
    let r = ask(port, "lb.default.example.org.", RecordType::AAAA);
    assert!(r.answers.is_empty() && r.metadata.response_code == ResponseCode::NoError);
    assert_eq!(r.authorities.len(), 1);
    assert_eq!(r.authorities[0].record_type(), RecordType::SOA);

    // SRV: kubernetes's TTL on the SRV, the target's address in the additional section.
    let r = ask(port, "_https._tcp.lb.default.example.org.", RecordType::SRV);
    assert_eq!(
        records(&r.answers),
        ["_https._tcp.lb.default.example.org. 5 SRV 0 100 443 lb.default.example.org."]
    );
    assert_eq!(
        records(&r.additionals),
        ["lb.default.example.org. 5 A 198.51.100.10"]
    );
    let r = ask(port, "lb.default.example.org.", RecordType::SRV);
    assert_eq!(
        records(&r.answers),
        [
            "lb.default.example.org. 5 SRV 0 50 80 lb.default.example.org.",
            "lb.default.example.org. 5 SRV 0 50 443 lb.default.example.org."
        ]
    );
    assert_eq!(
        records(&r.additionals),
        ["lb.default.example.org. 5 A 198.51.100.10"]
    );
    let r = ask(port, "_ftp._tcp.lb.default.example.org.", RecordType::SRV);
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);

    // externalIPs, per family.
    let r = ask(port, "ext.default.example.org.", RecordType::A);
    assert_eq!(
        records(&r.answers),
        ["ext.default.example.org. 5 A 198.51.100.20"]
    );
    let r = ask(port, "ext.default.example.org.", RecordType::AAAA);
    assert_eq!(
        records(&r.answers),
        ["ext.default.example.org. 5 AAAA 2001:db8::20"]
    );

    // A load balancer host name: CNAME (kubernetes's TTL), then what the server resolves.
    let r = ask(port, "elb.default.example.org.", RecordType::A);
    assert_eq!(
        records(&r.answers),
        [
            "elb.default.example.org. 5 CNAME lb-1.cloud.example.",
            "lb-1.cloud.example. 60 A 203.0.113.50"
        ]
    );

    // Headless with `headless`: the ready endpoints, and each by its host name.
    let r = ask(port, "db.default.example.org.", RecordType::A);
    assert_eq!(
        records(&r.answers),
        [
            "db.default.example.org. 5 A 10.244.0.11",
            "db.default.example.org. 5 A 10.244.0.12"
        ]
    );
    let r = ask(port, "db-1.db.default.example.org.", RecordType::A);
    assert_eq!(
        records(&r.answers),
        ["db-1.db.default.example.org. 5 A 10.244.0.12"]
    );
    let r = ask(port, "_pg._tcp.db.default.example.org.", RecordType::SRV);
    assert_eq!(
        records(&r.answers),
        [
            "_pg._tcp.db.default.example.org. 5 SRV 0 50 5432 db-0.db.default.example.org.",
            "_pg._tcp.db.default.example.org. 5 SRV 0 50 5432 db-1.db.default.example.org."
        ]
    );
    assert_eq!(
        records(&r.additionals),
        [
            "db-0.db.default.example.org. 5 A 10.244.0.11",
            "db-1.db.default.example.org. 5 A 10.244.0.12"
        ]
    );

    // Nothing outside: NXDOMAIN; a namespace alone exists (NODATA); unknown namespaces do not.
    for name in [
        "internal.default.example.org.",
        "nope.default.example.org.",
        "lb.nope.example.org.",
    ] {
        let r = ask(port, name, RecordType::A);
        assert_eq!(r.metadata.response_code, ResponseCode::NXDomain, "{name}");
        assert_eq!(r.authorities[0].record_type(), RecordType::SOA, "{name}");
    }
    let r = ask(port, "default.example.org.", RecordType::A);
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.answers.is_empty());
    // Other types of a name that exists: NODATA.
    let r = ask(port, "lb.default.example.org.", RecordType::TXT);
    assert!(r.answers.is_empty() && r.metadata.response_code == ResponseCode::NoError);

    // PTR of a load balancer address, named under the first zone.
    let r = ask(port, "10.100.51.198.in-addr.arpa.", RecordType::PTR);
    assert_eq!(
        records(&r.answers),
        ["10.100.51.198.in-addr.arpa. 5 PTR lb.default.example.org."]
    );
    let r = ask(port, "99.100.51.198.in-addr.arpa.", RecordType::PTR);
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);

    // The apex: SOA as CoreDNS builds it (serial: when external addresses last changed).
    let r = ask(port, "example.org.", RecordType::SOA);
    assert!(r.metadata.authoritative);
    assert_eq!(r.answers.len(), 1);
    let soa = match &r.answers[0].data {
        RData::SOA(soa) => soa.clone(),
        other => panic!("not a SOA: {other:?}"),
    };
    assert_eq!(r.answers[0].ttl, 5);
    assert_eq!(soa.mname.to_ascii(), "ns1.dns.example.org.");
    assert_eq!(soa.rname.to_ascii(), "hostmaster.dns.example.org.");
    assert_eq!(
        (soa.refresh, soa.retry, soa.expire, soa.minimum),
        (7200, 1800, 86400, 5)
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    assert!(
        u64::from(soa.serial) + 60 > now && u64::from(soa.serial) <= now,
        "{}",
        soa.serial
    );
    // NS at the apex; bound to 127.0.0.1 the server has no address of its own to give (as
    // CoreDNS with `bind`), so no glue, and ns1.dns has no address.
    let r = ask(port, "example.org.", RecordType::NS);
    assert_eq!(records(&r.answers), ["example.org. 5 NS ns1.dns.example.org."]);
    let r = ask(port, "ns1.dns.example.org.", RecordType::A);
    assert!(r.answers.is_empty() && r.metadata.response_code == ResponseCode::NoError);
    let r = ask(port, "dns.example.org.", RecordType::A);
    assert!(r.answers.is_empty() && r.metadata.response_code == ResponseCode::NoError);
    let r = ask(port, "ns2.dns.example.org.", RecordType::A);
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    // Other apex types: NODATA.
    let r = ask(port, "example.org.", RecordType::MX);
    assert!(r.answers.is_empty() && r.authorities.len() == 1);

    // Cluster names still come from the kubernetes plugin.
    let r = ask(port, "lb.default.svc.cluster.local.", RecordType::A);
    assert_eq!(
        records(&r.answers),
        ["lb.default.svc.cluster.local. 5 A 10.96.0.30"]
    );

    // A new load balancer address is answered once the watch delivers it.
    let mut lb2 = service("default", "lb2", "10.96.0.34", &[("http", "TCP", 80)]);
    lb2["spec"]["type"] = json!("LoadBalancer");
    lb2["status"] = json!({"loadBalancer": {"ingress": [{"ip": "198.51.100.11"}]}});
    api.apply(lb2);
    let start = std::time::Instant::now();
    loop {
        let r = ask(port, "lb2.default.example.org.", RecordType::A);
        if records(&r.answers) == ["lb2.default.example.org. 5 A 198.51.100.11"] {
            break;
        }
        assert!(start.elapsed().as_secs() < 5, "{r:?}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn without_headless_and_with_fallthrough() {
    let api = FakeApiServer::start();
    cluster(&api);
    let upstream = FakeUpstream::start();
    upstream.add(rr("internal.default.example.org. 60 A 192.0.2.99"));
    let (_server, port) = start(&api, &upstream, "ttl 30\n  fallthrough");
    synced(port);
    // Our TTL; a headless service is not answered without `headless`.
    let r = ask(port, "lb.default.example.org.", RecordType::A);
    assert_eq!(
        records(&r.answers),
        ["lb.default.example.org. 30 A 198.51.100.10"]
    );
    let r = ask(port, "db.default.example.org.", RecordType::A);
    assert!(
        r.answers
            .iter()
            .all(|a| a.name.to_ascii() != "db.default.example.org."),
        "{r:?}"
    );
    // NXDOMAIN falls through to forward.
    let r = ask(port, "internal.default.example.org.", RecordType::A);
    assert_eq!(
        records(&r.answers),
        ["internal.default.example.org. 60 A 192.0.2.99"]
    );
}

#[test]
fn needs_the_kubernetes_plugin() {
    let dir = testkit::TempDir::new("k8s-external");
    let corefile = dir.write("Corefile", "example.org {\n k8s_external\n whoami\n}\n");
    let out = std::process::Command::new(BIN)
        .args(["-validate", "-conf"])
        .arg(&corefile)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("plugin/k8s_external: kubernetes plugin not loaded"),
        "{text}"
    );
}
