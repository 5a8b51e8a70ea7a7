//! Handler tables on an in-memory cluster: every row of the kubernetes answer rules.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use arc_swap::ArcSwap;
use clusterdns_plugin::proto::op::{Message, ResponseCode};
use clusterdns_plugin::proto::rr::{DNSClass, Name, RecordType};
use clusterdns_plugin::{Dispenser, Handler, Lookup, Reply, Request};
use testkit::{PASSED, request, rr, serve};

use crate::index::Store;
use crate::objects::{Address, Pod, Port, Service, ServiceKind, Slice, SliceExtra};
use crate::{Kubernetes, parse};

fn port(name: &str, proto: &str, port: i32) -> Port {
    Port {
        name: Arc::from(name),
        protocol: Arc::from(proto),
        port,
    }
}

fn svc(ns: &str, name: &str, kind: ServiceKind, ports: Vec<Port>) -> Service {
    Service {
        namespace: Arc::from(ns),
        name: Arc::from(name),
        kind,
        ports: ports.into(),
        has_selector: true,
        external: Box::default(),
    }
}

fn addr(ip: &str, hostname: Option<&str>, pod: Option<&str>) -> Address {
    Address {
        ip: ip.parse().expect("ip"),
        hostname: hostname.map(Arc::from),
        pod_name: pod.map(Arc::from),
    }
}

fn slice(ns: &str, name: &str, service: &str, addresses: Vec<Address>, ports: Vec<Port>) -> Slice {
    Slice {
        namespace: Arc::from(ns),
        name: Arc::from(name),
        service: Arc::from(service),
        addresses,
        ports: ports.into(),
        extra: None,
    }
}

fn ips(v: &[&str]) -> Vec<IpAddr> {
    v.iter().map(|s| s.parse().expect("ip")).collect()
}

/// The test cluster.
fn cluster() -> Store {
    let mut s = Store::default();
    for ns in ["default", "kube-system", "testns"] {
        s.apply_namespace(Arc::from(ns));
    }
    s.apply_service(svc(
        "testns",
        "svc1",
        ServiceKind::ClusterIp(ips(&["10.0.0.1"])),
        vec![port("http", "tcp", 80)],
    ));
    s.apply_service(svc(
        "testns",
        "svc6",
        ServiceKind::ClusterIp(ips(&["10.0.0.6", "1234:abcd::6"])),
        vec![port("http", "tcp", 80)],
    ));
    s.apply_service(svc(
        "testns",
        "empty",
        ServiceKind::ClusterIp(ips(&["10.0.0.7"])),
        vec![port("http", "tcp", 80)],
    ));
    s.apply_service(svc(
        "testns",
        "hdls1",
        ServiceKind::Headless,
        vec![port("http", "tcp", 80)],
    ));
    s.apply_slice(slice(
        "testns",
        "hdls1-v4",
        "hdls1",
        vec![
            addr("172.0.0.2", Some("dup-name"), None),
            addr("172.0.0.3", Some("dup-name"), None),
            addr("172.0.0.4", None, Some("pod-4")),
        ],
        vec![port("http", "tcp", 80)],
    ));
    s.apply_slice(slice(
        "testns",
        "hdls1-v6",
        "hdls1",
        vec![
            addr("5678:abcd::1", None, None),
            addr("fd00:10:244:3::", None, None),
        ],
        vec![port("http", "tcp", 80)],
    ));
    s.apply_service(svc("testns", "noports", ServiceKind::Headless, vec![]));
    s.apply_slice(slice(
        "testns",
        "noports-x",
        "noports",
        vec![addr("172.0.1.1", None, None)],
        vec![port("", "", -1)],
    ));
    s.apply_service(svc(
        "testns",
        "external",
        ServiceKind::ExternalName("ext.interwebs.test".into()),
        vec![port("http", "tcp", 80)],
    ));
    s.apply_service(svc(
        "testns",
        "extip",
        ServiceKind::ExternalName("1.2.3.4".into()),
        vec![],
    ));
    s.apply_service(svc(
        "testns",
        "inzone",
        ServiceKind::ExternalName("svc1.testns.svc.cluster.local".into()),
        vec![],
    ));
    s.apply_service(svc(
        "kube-system",
        "kube-dns",
        ServiceKind::ClusterIp(ips(&["10.96.0.10"])),
        vec![
            port("dns", "udp", 53),
            port("dns-tcp", "tcp", 53),
            port("metrics", "tcp", 9153),
        ],
    ));
    s.apply_slice(slice(
        "kube-system",
        "kube-dns-x",
        "kube-dns",
        vec![addr("10.244.0.5", None, Some("coredns-abc"))],
        vec![port("dns", "udp", 53)],
    ));
    // A slice whose service does not exist: PTRs only (1.11.3).
    s.apply_slice(slice(
        "testns",
        "gone-x",
        "gone",
        vec![addr("10.9.9.9", None, None)],
        vec![port("http", "tcp", 80)],
    ));
    s.apply_pod(Pod {
        namespace: Arc::from("testns"),
        name: Arc::from("p1"),
        ip: Some("10.244.1.20".parse().expect("ip")),
        details: None,
    });
    s
}

fn handler(options: &str, synced: bool, local_ips: &[&str]) -> Arc<dyn Handler> {
    let corefile = format!("kubernetes cluster.local in-addr.arpa ip6.arpa {{\n{options}\n}}");
    let config = parse(&mut Dispenser::from_text(&corefile), &[".".into()]).expect("config");
    let index = Arc::new(ArcSwap::from_pointee(cluster().snapshot()));
    Arc::new(Kubernetes::new(
        &config,
        index,
        Arc::new(AtomicBool::new(synced)),
        ips(local_ips),
    ))
}

/// A handler on `store`'s snapshot, with `options` in its block and `local_ips` as its own.
pub(crate) fn handler_on(store: &Store, options: &str, local_ips: &[&str]) -> Kubernetes {
    let corefile = format!("kubernetes cluster.local {{\n{options}\n}}");
    let config = parse(&mut Dispenser::from_text(&corefile), &[".".into()]).expect("config");
    Kubernetes::new(
        &config,
        Arc::new(ArcSwap::from_pointee(store.snapshot())),
        Arc::new(AtomicBool::new(true)),
        ips(local_ips),
    )
}

/// A server lookup that knows one external name.
struct Upstream;

#[async_trait::async_trait]
impl Lookup for Upstream {
    async fn lookup(
        &self,
        req: &Request,
        name: Name,
        qtype: RecordType,
    ) -> Result<Message, clusterdns_plugin::PluginError> {
        let mut m = req.reply();
        if name.to_ascii() == "ext.interwebs.test." && qtype == RecordType::A {
            m.answers.push(rr("ext.interwebs.test. 300 A 203.0.113.7"));
        } else {
            m.metadata.response_code = ResponseCode::NXDomain;
        }
        Ok(m)
    }
}

/// What came back, as text: rcode, AA, answers, authority, additional.
#[derive(Debug, PartialEq)]
struct Got {
    rcode: ResponseCode,
    aa: bool,
    answer: Vec<String>,
    ns: Vec<String>,
    extra: Vec<String>,
}

fn text(records: &[clusterdns_plugin::proto::rr::Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data))
        .collect()
}

async fn ask_class(h: &Arc<dyn Handler>, name: &str, t: RecordType, class: DNSClass) -> Got {
    let mut req = request(name, t);
    req.query.set_query_class(class);
    req.server_lookup = Some(Arc::new(Upstream));
    match serve(h.clone(), &mut req).await.expect("no error") {
        Reply::Answer(m) => Got {
            rcode: m.metadata.response_code,
            aa: m.metadata.authoritative,
            answer: text(&m.answers),
            ns: text(&m.authorities),
            extra: text(&m.additionals),
        },
        other => Got {
            rcode: other.rcode(),
            aa: false,
            answer: vec![],
            ns: vec![],
            extra: vec![],
        },
    }
}

async fn ask(h: &Arc<dyn Handler>, name: &str, t: RecordType) -> Got {
    ask_class(h, name, t, DNSClass::IN).await
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// (rcode, answers) for a name; negative answers must carry the SOA.
async fn check(h: &Arc<dyn Handler>, name: &str, t: RecordType, rcode: ResponseCode, answer: &[&str]) -> Got {
    let got = ask(h, name, t).await;
    assert_eq!(
        (got.rcode, &got.answer),
        (rcode, &strs(answer)),
        "{name} {t}: {got:#?}"
    );
    if rcode == ResponseCode::NXDomain || (rcode == ResponseCode::NoError && answer.is_empty()) {
        assert!(
            got.ns.first().is_some_and(|s| s.contains(" SOA ns.dns.")),
            "{name} {t}: negative without SOA {got:#?}"
        );
    }
    if rcode != PASSED {
        assert!(got.aa, "{name} {t}: AA");
    }
    got
}

use RecordType::*;
const OK: ResponseCode = ResponseCode::NoError;
const NX: ResponseCode = ResponseCode::NXDomain;

#[tokio::test]
async fn services_headless_and_endpoints() {
    let h = handler("", true, &[]);
    check(
        &h,
        "svc1.testns.svc.cluster.local.",
        A,
        OK,
        &["svc1.testns.svc.cluster.local. 5 A 10.0.0.1"],
    )
    .await;
    // Owner names keep the question's case.
    check(
        &h,
        "SVC1.TestNS.svc.Cluster.Local.",
        A,
        OK,
        &["SVC1.TestNS.svc.Cluster.Local. 5 A 10.0.0.1"],
    )
    .await;
    check(&h, "svc1.testns.svc.cluster.local.", AAAA, OK, &[]).await;
    check(
        &h,
        "svc6.testns.svc.cluster.local.",
        A,
        OK,
        &["svc6.testns.svc.cluster.local. 5 A 10.0.0.6"],
    )
    .await;
    check(
        &h,
        "svc6.testns.svc.cluster.local.",
        AAAA,
        OK,
        &["svc6.testns.svc.cluster.local. 5 AAAA 1234:abcd::6"],
    )
    .await;
    check(
        &h,
        "hdls1.testns.svc.cluster.local.",
        A,
        OK,
        &[
            "hdls1.testns.svc.cluster.local. 5 A 172.0.0.2",
            "hdls1.testns.svc.cluster.local. 5 A 172.0.0.3",
            "hdls1.testns.svc.cluster.local. 5 A 172.0.0.4",
        ],
    )
    .await;
    check(
        &h,
        "hdls1.testns.svc.cluster.local.",
        AAAA,
        OK,
        &[
            "hdls1.testns.svc.cluster.local. 5 AAAA 5678:abcd::1",
            "hdls1.testns.svc.cluster.local. 5 AAAA fd00:10:244:3::",
        ],
    )
    .await;
    // Endpoint names: hostnames (two endpoints share one), dashed IPs (IPv6: no trailing 0).
    check(
        &h,
        "dup-name.hdls1.testns.svc.cluster.local.",
        A,
        OK,
        &[
            "dup-name.hdls1.testns.svc.cluster.local. 5 A 172.0.0.2",
            "dup-name.hdls1.testns.svc.cluster.local. 5 A 172.0.0.3",
        ],
    )
    .await;
    check(
        &h,
        "172-0-0-4.hdls1.testns.svc.cluster.local.",
        A,
        OK,
        &["172-0-0-4.hdls1.testns.svc.cluster.local. 5 A 172.0.0.4"],
    )
    .await;
    check(
        &h,
        "fd00-10-244-3--.hdls1.testns.svc.cluster.local.",
        AAAA,
        OK,
        &["fd00-10-244-3--.hdls1.testns.svc.cluster.local. 5 AAAA fd00:10:244:3::"],
    )
    .await;
    check(
        &h,
        "fd00-10-244-3--0.hdls1.testns.svc.cluster.local.",
        AAAA,
        NX,
        &[],
    )
    .await;
    check(&h, "pod-4.hdls1.testns.svc.cluster.local.", A, NX, &[]).await;
    // Endpoint names work under ClusterIP services too.
    check(
        &h,
        "10-244-0-5.kube-dns.kube-system.svc.cluster.local.",
        A,
        OK,
        &["10-244-0-5.kube-dns.kube-system.svc.cluster.local. 5 A 10.244.0.5"],
    )
    .await;
    // A service with no ready endpoints still has its cluster IP.
    check(
        &h,
        "empty.testns.svc.cluster.local.",
        A,
        OK,
        &["empty.testns.svc.cluster.local. 5 A 10.0.0.7"],
    )
    .await;
    // Port labels filter ports, and answer A queries too (a quirk).
    check(
        &h,
        "_http._tcp.svc1.testns.svc.cluster.local.",
        A,
        OK,
        &["_http._tcp.svc1.testns.svc.cluster.local. 5 A 10.0.0.1"],
    )
    .await;
    check(&h, "_https._tcp.svc1.testns.svc.cluster.local.", A, NX, &[]).await;
}

#[tokio::test]
async fn endpoint_pod_names() {
    let h = handler("endpoint_pod_names", true, &[]);
    check(
        &h,
        "pod-4.hdls1.testns.svc.cluster.local.",
        A,
        OK,
        &["pod-4.hdls1.testns.svc.cluster.local. 5 A 172.0.0.4"],
    )
    .await;
    // A hostname still wins over the pod name.
    check(
        &h,
        "dup-name.hdls1.testns.svc.cluster.local.",
        A,
        OK,
        &[
            "dup-name.hdls1.testns.svc.cluster.local. 5 A 172.0.0.2",
            "dup-name.hdls1.testns.svc.cluster.local. 5 A 172.0.0.3",
        ],
    )
    .await;
}

#[tokio::test]
async fn srv_records_weights_and_glue() {
    let h = handler("", true, &[]);
    let got = check(
        &h,
        "_http._tcp.svc1.testns.svc.cluster.local.",
        SRV,
        OK,
        &["_http._tcp.svc1.testns.svc.cluster.local. 5 SRV 0 100 80 svc1.testns.svc.cluster.local."],
    )
    .await;
    assert_eq!(got.extra, ["svc1.testns.svc.cluster.local. 5 A 10.0.0.1"]);
    // Empty port label: any port.
    check(
        &h,
        "_._tcp.svc1.testns.svc.cluster.local.",
        SRV,
        OK,
        &["_._tcp.svc1.testns.svc.cluster.local. 5 SRV 0 100 80 svc1.testns.svc.cluster.local."],
    )
    .await;
    // Three ports, two with 53: weights from 3 entries, 2 records (1.11.3).
    check(
        &h,
        "kube-dns.kube-system.svc.cluster.local.",
        SRV,
        OK,
        &[
            "kube-dns.kube-system.svc.cluster.local. 5 SRV 0 33 53 kube-dns.kube-system.svc.cluster.local.",
            "kube-dns.kube-system.svc.cluster.local. 5 SRV 0 33 9153 kube-dns.kube-system.svc.cluster.local.",
        ],
    )
    .await;
    // Dual-stack: one record of weight 50, both addresses as glue.
    let got = check(
        &h,
        "svc6.testns.svc.cluster.local.",
        SRV,
        OK,
        &["svc6.testns.svc.cluster.local. 5 SRV 0 50 80 svc6.testns.svc.cluster.local."],
    )
    .await;
    assert_eq!(
        got.extra,
        [
            "svc6.testns.svc.cluster.local. 5 A 10.0.0.6",
            "svc6.testns.svc.cluster.local. 5 AAAA 1234:abcd::6"
        ]
    );
    // Headless: one per endpoint name; two endpoints sharing a hostname make one SRV with two glue records.
    let got = check(&h, "_http._tcp.hdls1.testns.svc.cluster.local.", SRV, OK, &[
        "_http._tcp.hdls1.testns.svc.cluster.local. 5 SRV 0 20 80 dup-name.hdls1.testns.svc.cluster.local.",
        "_http._tcp.hdls1.testns.svc.cluster.local. 5 SRV 0 20 80 172-0-0-4.hdls1.testns.svc.cluster.local.",
        "_http._tcp.hdls1.testns.svc.cluster.local. 5 SRV 0 20 80 5678-abcd--1.hdls1.testns.svc.cluster.local.",
        "_http._tcp.hdls1.testns.svc.cluster.local. 5 SRV 0 20 80 fd00-10-244-3--.hdls1.testns.svc.cluster.local.",
    ]).await;
    assert_eq!(got.extra.len(), 5);
    // No ports: addresses answer A, SRV is NODATA.
    check(
        &h,
        "noports.testns.svc.cluster.local.",
        A,
        OK,
        &["noports.testns.svc.cluster.local. 5 A 172.0.1.1"],
    )
    .await;
    check(&h, "noports.testns.svc.cluster.local.", SRV, OK, &[]).await;
    check(&h, "_http._udp.svc1.testns.svc.cluster.local.", SRV, NX, &[]).await;
}

#[tokio::test]
async fn ptr_records() {
    let h = handler("", true, &[]);
    check(
        &h,
        "1.0.0.10.in-addr.arpa.",
        PTR,
        OK,
        &["1.0.0.10.in-addr.arpa. 5 PTR svc1.testns.svc.cluster.local."],
    )
    .await;
    check(
        &h,
        "2.0.0.172.in-addr.arpa.",
        PTR,
        OK,
        &["2.0.0.172.in-addr.arpa. 5 PTR dup-name.hdls1.testns.svc.cluster.local."],
    )
    .await;
    check(
        &h,
        "4.0.0.172.in-addr.arpa.",
        PTR,
        OK,
        &["4.0.0.172.in-addr.arpa. 5 PTR 172-0-0-4.hdls1.testns.svc.cluster.local."],
    )
    .await;
    let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.8.7.6.5.ip6.arpa.";
    check(
        &h,
        v6,
        PTR,
        OK,
        &[&format!(
            "{v6} 5 PTR 5678-abcd--1.hdls1.testns.svc.cluster.local."
        )],
    )
    .await;
    // Slices whose service is gone still give PTRs (1.11.3).
    check(
        &h,
        "9.9.9.10.in-addr.arpa.",
        PTR,
        OK,
        &["9.9.9.10.in-addr.arpa. 5 PTR 10-9-9-9.gone.testns.svc.cluster.local."],
    )
    .await;
    check(&h, "gone.testns.svc.cluster.local.", A, NX, &[]).await;
    check(&h, "9.9.9.9.in-addr.arpa.", PTR, NX, &[]).await;
    check(&h, "1.0.0.10.in-addr.arpa.", A, NX, &[]).await;
    check(&h, "svc1.testns.svc.cluster.local.", PTR, OK, &[]).await;
    // kubeadm's fallthrough sends reverse misses on.
    let h = handler("fallthrough in-addr.arpa ip6.arpa", true, &[]);
    assert_eq!(ask(&h, "9.9.9.9.in-addr.arpa.", PTR).await.rcode, PASSED);
    assert_eq!(ask(&h, "nope.testns.svc.cluster.local.", A).await.rcode, NX);
}

#[tokio::test]
async fn external_names() {
    let h = handler("", true, &[]);
    // CNAME, then the target resolved through the server.
    check(
        &h,
        "external.testns.svc.cluster.local.",
        A,
        OK,
        &[
            "external.testns.svc.cluster.local. 5 CNAME ext.interwebs.test.",
            "ext.interwebs.test. 300 A 203.0.113.7",
        ],
    )
    .await;
    // A target the server does not know: the CNAME alone.
    check(
        &h,
        "external.testns.svc.cluster.local.",
        AAAA,
        OK,
        &["external.testns.svc.cluster.local. 5 CNAME ext.interwebs.test."],
    )
    .await;
    // A target inside the zone is followed directly.
    check(
        &h,
        "inzone.testns.svc.cluster.local.",
        A,
        OK,
        &[
            "inzone.testns.svc.cluster.local. 5 CNAME svc1.testns.svc.cluster.local.",
            "svc1.testns.svc.cluster.local. 5 A 10.0.0.1",
        ],
    )
    .await;
    check(
        &h,
        "external.testns.svc.cluster.local.",
        CNAME,
        OK,
        &["external.testns.svc.cluster.local. 5 CNAME ext.interwebs.test."],
    )
    .await;
    for t in [TXT, MX, SRV] {
        check(&h, "external.testns.svc.cluster.local.", t, OK, &[]).await;
    }
    check(&h, "_http._tcp.external.testns.svc.cluster.local.", A, NX, &[]).await;
    check(&h, "x.external.testns.svc.cluster.local.", A, NX, &[]).await;
    check(&h, "extip.testns.svc.cluster.local.", A, NX, &[]).await;
}

#[tokio::test]
async fn apex_soa_ns_txt_and_nodata_table() {
    let h = handler("ttl 30", true, &[]);
    let got = ask(&h, "cluster.local.", SOA).await;
    assert_eq!(got.answer.len(), 1);
    assert!(
        got.answer[0].starts_with("cluster.local. 30 SOA ns.dns.cluster.local. hostmaster.cluster.local. "),
        "{got:?}"
    );
    assert!(got.answer[0].ends_with(" 7200 1800 86400 30"), "{got:?}");
    // The SOA keeps the query's case of the zone.
    let got = ask(&h, "nope.testns.svc.Cluster.Local.", A).await;
    assert!(
        got.ns[0].starts_with("Cluster.Local. 30 SOA ns.dns.Cluster.Local. hostmaster.Cluster.Local."),
        "{got:?}"
    );
    check(
        &h,
        "dns-version.cluster.local.",
        TXT,
        OK,
        &["dns-version.cluster.local. 28800 TXT 1.1.0"],
    )
    .await;
    check(&h, "cluster.local.", TXT, NX, &[]).await;
    for t in [A, AAAA, MX] {
        check(&h, "cluster.local.", t, OK, &[]).await;
    }
    check(&h, "svc.cluster.local.", A, OK, &[]).await;
    check(&h, "pod.cluster.local.", A, OK, &[]).await;
    check(&h, "testns.svc.cluster.local.", A, OK, &[]).await;
    check(&h, "nons.svc.cluster.local.", A, NX, &[]).await;
    check(&h, "svc1.nons.svc.cluster.local.", A, NX, &[]).await;
    check(&h, "foo.cluster.local.", A, NX, &[]).await;
    check(&h, "a.b.c.d.e.svc.cluster.local.", A, NX, &[]).await;
    // SOA below the apex is NODATA, even for names that do not exist.
    check(&h, "nope.nons.svc.cluster.local.", SOA, OK, &[]).await;
    // Other types: NODATA if the name exists, else NXDOMAIN.
    check(&h, "svc1.testns.svc.cluster.local.", MX, OK, &[]).await;
    check(&h, "svc1.testns.svc.cluster.local.", HTTPS, OK, &[]).await;
    check(&h, "svc1.testns.svc.cluster.local.", NS, OK, &[]).await;
    check(&h, "nope.testns.svc.cluster.local.", MX, NX, &[]).await;
    check(&h, "foo.cluster.local.", NS, NX, &[]).await;
    // Bound only to loopback: no NS, no ns.dns address (1.11.3).
    check(&h, "cluster.local.", NS, OK, &[]).await;
    check(&h, "ns.dns.cluster.local.", A, OK, &[]).await;
    assert_eq!(ask(&h, "cluster.local.", AXFR).await.rcode, ResponseCode::Refused);
    // CH class: the apex SOA as if IN.
    let got = ask_class(&h, "cluster.local.", SOA, DNSClass::CH).await;
    assert_eq!((got.rcode, got.answer.len(), got.aa), (OK, 1, true));
}

#[tokio::test]
async fn ns_records_with_our_address_in_kube_dns() {
    let h = handler("", true, &["10.244.0.5"]);
    let got = check(
        &h,
        "cluster.local.",
        NS,
        OK,
        &["cluster.local. 5 NS kube-dns.kube-system.svc.cluster.local."],
    )
    .await;
    assert_eq!(
        got.extra,
        ["kube-dns.kube-system.svc.cluster.local. 5 A 10.96.0.10"]
    );
    check(
        &h,
        "ns.dns.cluster.local.",
        A,
        OK,
        &["ns.dns.cluster.local. 5 A 10.96.0.10"],
    )
    .await;
    // Not in any endpoint: ns.dns.<zone> with our own address.
    let h = handler("", true, &["192.0.2.53"]);
    let got = check(
        &h,
        "cluster.local.",
        NS,
        OK,
        &["cluster.local. 5 NS ns.dns.cluster.local."],
    )
    .await;
    assert_eq!(got.extra, ["ns.dns.cluster.local. 5 A 192.0.2.53"]);
}

#[tokio::test]
async fn pods_by_mode() {
    let h = handler("", true, &[]);
    check(&h, "10-244-1-20.testns.pod.cluster.local.", A, NX, &[]).await;
    let h = handler("pods insecure", true, &[]);
    check(
        &h,
        "10-244-1-20.testns.pod.cluster.local.",
        A,
        OK,
        &["10-244-1-20.testns.pod.cluster.local. 5 A 10.244.1.20"],
    )
    .await;
    check(
        &h,
        "10-9-9-9.testns.pod.cluster.local.",
        A,
        OK,
        &["10-9-9-9.testns.pod.cluster.local. 5 A 10.9.9.9"],
    )
    .await;
    // Extra labels in front are ignored (1.11.3).
    check(
        &h,
        "x.10-244-1-20.testns.pod.cluster.local.",
        A,
        OK,
        &["x.10-244-1-20.testns.pod.cluster.local. 5 A 10.244.1.20"],
    )
    .await;
    check(
        &h,
        "1234-abcd--6.testns.pod.cluster.local.",
        AAAA,
        OK,
        &["1234-abcd--6.testns.pod.cluster.local. 5 AAAA 1234:abcd::6"],
    )
    .await;
    check(&h, "10-244-1-20.nons.pod.cluster.local.", A, NX, &[]).await;
    check(&h, "not-an-ip.testns.pod.cluster.local.", A, NX, &[]).await;
    check(&h, "testns.pod.cluster.local.", A, OK, &[]).await;
    // SRV on a pod name: port 0.
    check(
        &h,
        "10-244-1-20.testns.pod.cluster.local.",
        SRV,
        OK,
        &["10-244-1-20.testns.pod.cluster.local. 5 SRV 0 100 0 10-244-1-20.testns.pod.cluster.local."],
    )
    .await;
    let h = handler("pods verified", true, &[]);
    check(
        &h,
        "10-244-1-20.testns.pod.cluster.local.",
        A,
        OK,
        &["10-244-1-20.testns.pod.cluster.local. 5 A 10.244.1.20"],
    )
    .await;
    check(&h, "10-244-1-20.default.pod.cluster.local.", A, NX, &[]).await;
    check(&h, "10-9-9-9.testns.pod.cluster.local.", A, NX, &[]).await;
}

#[tokio::test]
async fn options_namespaces_ignore_empty_and_sync() {
    let h = handler("namespaces default kube-system", true, &[]);
    check(&h, "svc1.testns.svc.cluster.local.", A, NX, &[]).await;
    check(
        &h,
        "kube-dns.kube-system.svc.cluster.local.",
        A,
        OK,
        &["kube-dns.kube-system.svc.cluster.local. 5 A 10.96.0.10"],
    )
    .await;
    check(&h, "1.0.0.10.in-addr.arpa.", PTR, NX, &[]).await;
    let h = handler("ignore empty_service", true, &[]);
    check(&h, "empty.testns.svc.cluster.local.", A, NX, &[]).await;
    check(&h, "svc1.testns.svc.cluster.local.", A, NX, &[]).await;
    check(
        &h,
        "hdls1.testns.svc.cluster.local.",
        SRV,
        OK,
        &[
            "hdls1.testns.svc.cluster.local. 5 SRV 0 20 80 dup-name.hdls1.testns.svc.cluster.local.",
            "hdls1.testns.svc.cluster.local. 5 SRV 0 20 80 172-0-0-4.hdls1.testns.svc.cluster.local.",
            "hdls1.testns.svc.cluster.local. 5 SRV 0 20 80 5678-abcd--1.hdls1.testns.svc.cluster.local.",
            "hdls1.testns.svc.cluster.local. 5 SRV 0 20 80 fd00-10-244-3--.hdls1.testns.svc.cluster.local.",
        ],
    )
    .await;
    // The PTR of an empty service's cluster IP is still answered.
    check(
        &h,
        "7.0.0.10.in-addr.arpa.",
        PTR,
        OK,
        &["7.0.0.10.in-addr.arpa. 5 PTR empty.testns.svc.cluster.local."],
    )
    .await;
    // Before the first sync: would-be NXDOMAIN is SERVFAIL (with SOA); known names answer.
    let h = handler("", false, &[]);
    let got = ask(&h, "nope.testns.svc.cluster.local.", A).await;
    assert_eq!(got.rcode, ResponseCode::ServFail);
    assert!(got.ns[0].contains(" SOA "));
    check(
        &h,
        "svc1.testns.svc.cluster.local.",
        A,
        OK,
        &["svc1.testns.svc.cluster.local. 5 A 10.0.0.1"],
    )
    .await;
    assert_eq!(h.ready(), Some(false));
}

/// A slice of `cluster` (an imported service's) or with `zones` per address (zonal).
fn slice_with(base: Slice, cluster: Option<&str>, zones: &[Option<&str>]) -> Slice {
    Slice {
        extra: Some(Box::new(SliceExtra {
            cluster: cluster.map(Arc::from),
            zones: zones.iter().map(|z| z.map(Arc::from)).collect(),
        })),
        ..base
    }
}

/// The clusterset: a ClusterSetIP import, one with no IPs yet, and a headless one exported by
/// two clusters.
fn clusterset() -> Store {
    let mut s = Store::default();
    let http = || vec![port("http", "tcp", 80)];
    s.apply_service(svc(
        "testns",
        "mcs1",
        ServiceKind::ClusterIp(ips(&["10.100.0.1"])),
        http(),
    ));
    s.apply_service(svc(
        "testns",
        "pending",
        ServiceKind::ClusterIp(Vec::new()),
        http(),
    ));
    s.apply_service(svc("testns", "mcshl", ServiceKind::Headless, http()));
    for (cluster, ip) in [("east", "10.8.0.1"), ("west", "10.9.0.1")] {
        let base = slice(
            "testns",
            &format!("mcshl-{cluster}"),
            "mcshl",
            vec![addr(ip, Some("db-0"), None)],
            http(),
        );
        s.apply_slice(slice_with(base, Some(cluster), &[]));
    }
    s
}

fn multicluster_handler() -> Arc<dyn Handler> {
    let corefile = "kubernetes cluster.local clusterset.local {\n multicluster clusterset.local\n}";
    let config = parse(&mut Dispenser::from_text(corefile), &[".".into()]).expect("config");
    let k = Kubernetes::new(
        &config,
        Arc::new(ArcSwap::from_pointee(cluster().snapshot())),
        Arc::new(AtomicBool::new(true)),
        Vec::new(),
    )
    .with_clusterset(Arc::new(ArcSwap::from_pointee(clusterset().snapshot())));
    Arc::new(k)
}

#[tokio::test]
async fn multicluster_zone_answers_from_imports() {
    let h = multicluster_handler();
    let z = "clusterset.local.";
    check(
        &h,
        &format!("mcs1.testns.svc.{z}"),
        A,
        OK,
        &["mcs1.testns.svc.clusterset.local. 5 A 10.100.0.1"],
    )
    .await;
    // An import without IPs exists: NODATA, not NXDOMAIN (CoreDNS's err = nil per port).
    check(&h, &format!("pending.testns.svc.{z}"), A, OK, &[]).await;
    // The cluster's own services are not in the clusterset zone, and imports not in the cluster's.
    check(&h, &format!("svc1.testns.svc.{z}"), A, NX, &[]).await;
    check(&h, "mcs1.testns.svc.cluster.local.", A, NX, &[]).await;
    // A headless import: every cluster's endpoints; one by endpoint and cluster id.
    check(
        &h,
        &format!("mcshl.testns.svc.{z}"),
        A,
        OK,
        &[
            "mcshl.testns.svc.clusterset.local. 5 A 10.8.0.1",
            "mcshl.testns.svc.clusterset.local. 5 A 10.9.0.1",
        ],
    )
    .await;
    check(
        &h,
        &format!("db-0.west.mcshl.testns.svc.{z}"),
        A,
        OK,
        &["db-0.west.mcshl.testns.svc.clusterset.local. 5 A 10.9.0.1"],
    )
    .await;
    check(&h, &format!("db-0.north.mcshl.testns.svc.{z}"), A, NX, &[]).await;
    // SRV targets name the endpoint under its cluster.
    let got = check(
        &h,
        &format!("_http._tcp.mcshl.testns.svc.{z}"),
        SRV,
        OK,
        &[
            "_http._tcp.mcshl.testns.svc.clusterset.local. 5 SRV 0 50 80 db-0.east.mcshl.testns.svc.clusterset.local.",
            "_http._tcp.mcshl.testns.svc.clusterset.local. 5 SRV 0 50 80 db-0.west.mcshl.testns.svc.clusterset.local.",
        ],
    )
    .await;
    assert_eq!(got.extra.len(), 2, "{got:#?}");
    // Namespaces are the cluster's: an unknown one is NXDOMAIN.
    check(&h, &format!("mcs1.nowhere.svc.{z}"), A, NX, &[]).await;
}

#[tokio::test]
async fn zonal_names_pin_and_prefer() {
    let mut store = cluster();
    let http = || vec![port("http", "tcp", 80)];
    store.apply_service(svc("testns", "db", ServiceKind::Headless, http()));
    let base = slice(
        "testns",
        "db-abc",
        "db",
        vec![
            addr("10.1.0.1", None, None),
            addr("10.1.0.2", None, None),
            addr("10.1.0.3", None, None),
        ],
        http(),
    );
    store.apply_slice(slice_with(
        base,
        None,
        &[Some("us-west-2a"), Some("us-west-2b"), None],
    ));
    let h: Arc<dyn Handler> = Arc::new(handler_on(&store, "zonal", &[]));
    let name = |zone: &str, how: &str| format!("{zone}.{how}._zone.db.testns.svc.cluster.local.");
    let owner = name("us-west-2a", "pin");
    check(&h, &owner, A, OK, &[&format!("{owner} 5 A 10.1.0.1")]).await;
    // A zone no endpoint is in: pin is NODATA for every type, prefer gives them all.
    check(&h, &name("eu-1", "pin"), A, OK, &[]).await;
    check(&h, &name("eu-1", "pin"), TXT, OK, &[]).await;
    let owner = name("eu-1", "prefer");
    let all: Vec<String> = ["10.1.0.1", "10.1.0.2", "10.1.0.3"]
        .iter()
        .map(|ip| format!("{owner} 5 A {ip}"))
        .collect();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    check(&h, &owner, A, OK, &all).await;
    // Only headless services; unknown directives stay too long.
    check(&h, "a.pin._zone.svc1.testns.svc.cluster.local.", A, NX, &[]).await;
    check(&h, "a.nearest._zone.db.testns.svc.cluster.local.", A, NX, &[]).await;
    check(&h, "a.pin._zone.nosuch.testns.svc.cluster.local.", A, NX, &[]).await;
    // Without the option the shape is too long, as in 1.11.3.
    let plain: Arc<dyn Handler> = Arc::new(handler_on(&store, "", &[]));
    check(&plain, &name("us-west-2a", "pin"), A, NX, &[]).await;
}
