//! Benchmark fixture: a test API server holding N services with their EndpointSlices (and
//! optionally pods), plus the same names as a dnsperf query file and a Knot zone file. Runs
//! until killed, taking commands on standard input, one per line:
//!
//! - `compact`: forget history, so every watch gets 410 Gone and relists;
//! - `add NAME IP`: a new service NAME in namespace `bench` with cluster IP IP;
//! - `outage on` / `outage off`: every request answered 503, watches dropped, or not.
//!
//! Usage: k8s-fixture N DIR [PODS]  (writes DIR/kubeconfig, DIR/queries.txt, DIR/cluster.local.zone)

use std::fmt::Write as _;
use std::io::BufRead;
use std::net::Ipv4Addr;

use testkit::apiserver::{endpoint_slice, namespace, pod, service};
use testkit::{FakeApiServer, TempDir};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
    let pods: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let api = FakeApiServer::start();
    api.apply(namespace("default"));
    api.apply(namespace("bench"));
    let (mut queries, mut zone) = (
        String::new(),
        String::from(
            "$ORIGIN cluster.local.\n$TTL 5\n@ SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5\n@ NS ns.dns.cluster.local.\nns.dns A 127.0.0.1\n",
        ),
    );
    let offset = |base: Ipv4Addr, k: u32| Ipv4Addr::from(u32::from(base) + k).to_string();
    let mut objects = Vec::with_capacity(2 * n as usize);
    for i in 0..n {
        let ip = offset(Ipv4Addr::new(10, 96, 0, 0), 10 + i);
        let name = format!("svc-{i}");
        objects.push(service("bench", &name, &ip, &[("http", "TCP", 80)]));
        let (a, b) = (
            offset(Ipv4Addr::new(10, 64, 0, 0), 2 * i),
            offset(Ipv4Addr::new(10, 64, 0, 0), 2 * i + 1),
        );
        objects.push(endpoint_slice(
            "bench",
            &format!("{name}-x"),
            &name,
            &[(&a, None, true), (&b, None, true)],
            &[("http", "TCP", 80)],
        ));
        let _ = writeln!(queries, "{name}.bench.svc.cluster.local A");
        let _ = writeln!(zone, "{name}.bench.svc A {ip}");
    }
    api.apply_all(objects);
    api.apply_all((0..pods).map(|i| {
        let ip = offset(Ipv4Addr::new(10, 128, 0, 0), i);
        pod("bench", &format!("pod-{i}"), &ip, "Running")
    }));
    // Keep the kubeconfig where the benchmark looks for it: a TempDir would remove it on exit.
    let scratch = TempDir::new("fixture");
    let kubeconfig = api.kubeconfig(&scratch);
    std::fs::copy(&kubeconfig, dir.join("kubeconfig")).expect("kubeconfig");
    std::fs::write(dir.join("queries.txt"), queries).expect("queries");
    std::fs::write(dir.join("cluster.local.zone"), zone).expect("zone");
    println!("ready {n} services, {pods} pods at {}", api.url());
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["compact"] => api.compact(),
            ["add", name, ip] => api.apply(service("bench", name, ip, &[("http", "TCP", 80)])),
            ["outage", on] => api.set_outage(*on == "on"),
            _ => eprintln!("unknown command {line:?}"),
        }
    }
    loop {
        std::thread::park();
    }
}
