//! End to end: `autopath @kubernetes` in the real binary. The search path of the client pod
//! (found by its address in the test API server's pods) is walked on the server; a glibc
//! resolver in a network namespace, with a pod's resolv.conf, shows what that saves.

use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use testkit::apiserver::{namespace, pod, service};
use testkit::{
    FakeApiServer, FakeUpstream, Server, TempDir, free_port, http_get, local, query, records, rr, udp,
};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

/// kubeadm's Corefile shape with autopath (`pods verified`, as autopath needs).
fn corefile(port: u16, metrics: u16, api: &FakeApiServer, upstream: &FakeUpstream, autopath: bool) -> String {
    format!(
        ".:{port} {{\n bind 127.0.0.1\n errors\n log\n prometheus 127.0.0.1:{metrics}\n {}\n \
         kubernetes cluster.local in-addr.arpa ip6.arpa {{\n  endpoint {}\n  pods verified\n  \
         fallthrough in-addr.arpa ip6.arpa\n }}\n forward . {}\n}}\n",
        if autopath { "autopath @kubernetes" } else { "" },
        api.url(),
        upstream.addr
    )
}

/// The sum of `coredns_dns_requests_total` (every query the server was sent).
fn requests(metrics: u16) -> u64 {
    let (_, body) = http_get(metrics, "/metrics").expect("metrics");
    body.lines()
        .filter(|l| l.starts_with("coredns_dns_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

fn metric(metrics: u16, name: &str) -> u64 {
    let (_, body) = http_get(metrics, "/metrics").expect("metrics");
    body.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Waits until the server knows the client pod (autopath answers with a CNAME).
fn wait_for(port: u16, name: &str, check: impl Fn(&Message) -> bool) {
    let start = Instant::now();
    loop {
        let r = udp(local(port), &query(name, RecordType::A, None));
        if check(&r) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{name}: {r:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn search_path_walked_for_a_known_pod() {
    let api = FakeApiServer::start();
    api.apply(namespace("default"));
    api.apply(service("default", "web", "10.96.0.20", &[("http", "TCP", 80)]));
    // The test's client queries from 127.0.0.1: a pod with that address.
    api.apply(pod("default", "client", "127.0.0.1", "Running"));
    let upstream = FakeUpstream::start();
    upstream.add(rr("www.example.com. 300 A 203.0.113.7"));
    let (port, metrics) = (free_port(), free_port());
    let _server = Server::start(BIN, &corefile(port, metrics, &api, &upstream, true), port);
    wait_for(port, "www.example.com.default.svc.cluster.local.", |r| {
        r.answers.len() == 2
    });

    // The first search expansion of an external name: a CNAME to the name found, with its
    // TTL, and the answer.
    let r = udp(
        local(port),
        &query("www.example.com.default.svc.cluster.local.", RecordType::A, None),
    );
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        records(&r.answers),
        [
            "www.example.com.default.svc.cluster.local. 300 CNAME www.example.com.",
            "www.example.com. 300 A 203.0.113.7"
        ]
    );
    assert_eq!(
        r.queries[0].name().to_ascii(),
        "www.example.com.default.svc.cluster.local."
    );
    // A service of another namespace, asked as `web.default` from the pod: found under svc.
    let r = udp(
        local(port),
        &query("web.default.default.svc.cluster.local.", RecordType::A, None),
    );
    assert_eq!(
        records(&r.answers),
        [
            "web.default.default.svc.cluster.local. 5 CNAME web.default.svc.cluster.local.",
            "web.default.svc.cluster.local. 5 A 10.96.0.20"
        ]
    );
    // The pod's own namespace: the name itself, no CNAME.
    let r = udp(
        local(port),
        &query("web.default.svc.cluster.local.", RecordType::A, None),
    );
    assert_eq!(
        records(&r.answers),
        ["web.default.svc.cluster.local. 5 A 10.96.0.20"]
    );
    // Found nowhere: the first reply (NXDOMAIN with the cluster's SOA), the client goes on.
    let r = udp(
        local(port),
        &query("nope.default.svc.cluster.local.", RecordType::A, None),
    );
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(r.authorities[0].name.to_ascii(), "cluster.local.");
    // NODATA counts as found: no CNAME without an answer to point to.
    let r = udp(
        local(port),
        &query("web.default.default.svc.cluster.local.", RecordType::AAAA, None),
    );
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert!(r.answers.is_empty());
    assert_eq!(
        r.queries[0].name().to_ascii(),
        "web.default.default.svc.cluster.local."
    );
    // The first search domain itself: CoreDNS's TrimZone fails on it, and so does the query.
    let r = udp(
        local(port),
        &query("default.svc.cluster.local.", RecordType::A, None),
    );
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    // Names not under the client's first search domain pass through untouched.
    let r = udp(local(port), &query("www.example.com.", RecordType::A, None));
    assert_eq!(records(&r.answers), ["www.example.com. 300 A 203.0.113.7"]);
    assert!(metric(metrics, "coredns_autopath_success_total{") >= 3);
}

#[test]
fn search_path_from_a_resolv_conf_for_every_client() {
    let dir = TempDir::new("autopath-resolv");
    let resolv = dir.write(
        "resolv.conf",
        "search example.org corp.example\nnameserver 192.0.2.1\n",
    );
    let port = free_port();
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n autopath {}\n hosts {{\n  10.0.0.9 db.corp.example\n }}\n}}\n",
        resolv.display()
    );
    let _server = Server::start(BIN, &corefile, port);
    let r = udp(local(port), &query("db.example.org.", RecordType::A, None));
    assert_eq!(
        records(&r.answers),
        [
            "db.example.org. 3600 CNAME db.corp.example.",
            "db.corp.example. 3600 A 10.0.0.9"
        ]
    );
    // Not under the first search domain: untouched.
    let r = udp(local(port), &query("db.corp.example.", RecordType::A, None));
    assert_eq!(records(&r.answers), ["db.corp.example. 3600 A 10.0.0.9"]);
}

#[test]
fn glibc_pod_lookups_cost_two_queries_with_autopath() {
    testkit::netns::in_namespace("glibc_pod_lookups_cost_two_queries_with_autopath", || {
        // The pod's address, and queries to 127.0.0.1 sent from it (as a pod's come from its IP);
        // an IPv6 address too, so that glibc asks AAAA as well as A (AI_ADDRCONFIG).
        let pod_ip = "10.244.1.5";
        testkit::netns::sh(&format!(
            "ip link set lo up && ip addr add {pod_ip}/32 dev lo && \
             ip route replace local 127.0.0.1 dev lo table local src {pod_ip} && \
             ip addr add fd00:10:244:1::5/128 dev lo nodad"
        ));
        let dir = TempDir::new("glibc");
        // The server's own resolv.conf (no search list), and the pod's, as kubelet writes it.
        let server_resolv = dir.write("server-resolv.conf", "nameserver 127.0.0.1\n");
        testkit::netns::sh(&format!(
            "mount --bind {} /etc/resolv.conf",
            server_resolv.display()
        ));
        let pod_resolv = dir.write(
            "pod-resolv.conf",
            "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 127.0.0.1\noptions ndots:5\n",
        );
        let getent = |name: &str| {
            testkit::netns::sh(&format!(
                "unshare --mount sh -c 'mount --bind {} /etc/resolv.conf && getent ahosts {name}'",
                pod_resolv.display()
            ))
        };

        let api = FakeApiServer::start();
        api.apply(namespace("default"));
        api.apply(service("default", "web", "10.96.0.20", &[("http", "TCP", 80)]));
        api.apply(service("default", "db", "10.96.0.21", &[("pg", "TCP", 5432)]));
        api.apply(pod("default", "client", pod_ip, "Running"));
        let upstream = FakeUpstream::start();
        upstream.add(rr("www.example.com. 300 A 203.0.113.7"));
        upstream.add(rr("www.example.com. 300 AAAA 2001:db8::7"));

        for autopath in [true, false] {
            let metrics = free_port();
            let server = Server::start(BIN, &corefile(53, metrics, &api, &upstream, autopath), 53);
            // Until the pod is known the server answers as without autopath.
            wait_for(53, "10-244-1-5.default.pod.cluster.local.", |r| {
                r.answers.len() == 1
            });
            for (name, want) in [
                ("web", "10.96.0.20"),
                ("web.default", "10.96.0.20"),
                ("db.default.svc.cluster.local", "10.96.0.21"),
                ("www.example.com", "203.0.113.7"),
            ] {
                let out = getent(name);
                assert!(
                    out.lines().any(|l| l.starts_with(want)),
                    "{name} (autopath {autopath}): {out}"
                );
            }
            let before = requests(metrics);
            let out = getent("www.example.com");
            assert!(out.lines().any(|l| l.starts_with("203.0.113.7")), "{out}");
            assert!(out.lines().any(|l| l.starts_with("2001:db8::7")), "{out}");
            let cost = requests(metrics) - before;
            // glibc asks A and AAAA together: once for the first search domain with autopath;
            // without, for each of the three search domains and then the name itself.
            assert_eq!(
                cost,
                if autopath { 2 } else { 8 },
                "autopath {autopath}: {:?}",
                server.output()
            );
            drop(server);
        }
    });
}
