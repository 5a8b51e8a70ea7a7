//! Benchmark fixture: a test API server holding N services with their EndpointSlices, plus the
//! same names as a dnsperf query file and a Knot zone file. Runs until killed.
//!
//! Usage: k8s-fixture N DIR  (writes DIR/kubeconfig, DIR/queries.txt, DIR/cluster.local.zone)

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use testkit::apiserver::{endpoint_slice, namespace, service};
use testkit::{FakeApiServer, TempDir};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    let api = FakeApiServer::start();
    api.apply(namespace("default"));
    api.apply(namespace("bench"));
    let (mut queries, mut zone) = (
        String::new(),
        String::from(
            "$ORIGIN cluster.local.\n$TTL 5\n@ SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5\n@ NS ns.dns.cluster.local.\nns.dns A 127.0.0.1\n",
        ),
    );
    for i in 0..n {
        let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 96, 0, 0)) + 10 + i);
        let pod = |k: u32| Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 244, 0, 0)) + 2 * i + k).to_string();
        let name = format!("svc-{i}");
        api.apply(service("bench", &name, &ip.to_string(), &[("http", "TCP", 80)]));
        let (a, b) = (pod(0), pod(1));
        api.apply(endpoint_slice(
            "bench",
            &format!("{name}-x"),
            &name,
            &[(&a, None, true), (&b, None, true)],
            &[("http", "TCP", 80)],
        ));
        let _ = writeln!(queries, "{name}.bench.svc.cluster.local A");
        let _ = writeln!(zone, "{name}.bench.svc A {ip}");
    }
    // Keep the kubeconfig where the benchmark looks for it: a TempDir would remove it on exit.
    let scratch = TempDir::new("fixture");
    let kubeconfig = api.kubeconfig(&scratch);
    std::fs::copy(&kubeconfig, dir.join("kubeconfig")).expect("kubeconfig");
    std::fs::write(dir.join("queries.txt"), queries).expect("queries");
    std::fs::write(dir.join("cluster.local.zone"), zone).expect("zone");
    println!("ready {} services at {}", n, api.url());
    loop {
        std::thread::park();
    }
}
