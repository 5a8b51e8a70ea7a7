//! End to end: what a tenant, a client on the pod network or a slow peer can throw at the real
//! binary leaves cluster answers standing: CNAME loops, a flood to an upstream that never
//! answers, thousands of idle TCP connections, a slowloris on the HTTP endpoints.

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use testkit::apiserver::{external_name, namespace, service};
use testkit::{
    Behaviour, FakeApiServer, FakeUpstream, Server, ask, free_port, http_get, local, query, tcp, udp,
    wait_until,
};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

/// Two ExternalName services naming each other across the plugin's two zones, and one whose
/// target a rewrite rule leads back to it: each query would go round forever.
#[test]
fn cname_loops_answer_servfail_and_the_server_keeps_serving() {
    let api = FakeApiServer::start();
    api.apply(namespace("default"));
    api.apply(service("default", "web", "10.96.0.20", &[("http", "TCP", 80)]));
    api.apply(external_name("default", "a", "b.default.svc.corp.internal"));
    api.apply(external_name("default", "b", "a.default.svc.cluster.local"));
    api.apply(external_name("default", "c", "c.loop.example"));
    let port = free_port();
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n errors\n rewrite name suffix .loop.example. .default.svc.cluster.local.\n kubernetes cluster.local corp.internal {{\n  endpoint {}\n }}\n}}\n",
        api.url()
    );
    let server = Server::start(BIN, &corefile, port);
    wait_until("the sync", Duration::from_secs(10), || {
        ask(port, "web.default.svc.cluster.local.").is_some_and(|r| r.answers.len() == 1)
    });
    for name in ["a.default.svc.cluster.local.", "c.default.svc.cluster.local."] {
        for _ in 0..3 {
            let start = Instant::now();
            let r = udp(local(port), &query(name, RecordType::A, None));
            assert_eq!(
                r.metadata.response_code,
                ResponseCode::ServFail,
                "{name} over UDP"
            );
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "{name}: {:?}",
                start.elapsed()
            );
            let r = tcp(local(port), &[query(name, RecordType::A, None)]).remove(0);
            assert_eq!(
                r.metadata.response_code,
                ResponseCode::ServFail,
                "{name} over TCP"
            );
        }
    }
    // Still serving, and each loop logged once however often it is asked (the errors plugin
    // logs every SERVFAIL, as CoreDNS's does).
    let r = udp(
        local(port),
        &query("web.default.svc.cluster.local.", RecordType::A, None),
    );
    assert_eq!(r.answers.len(), 1);
    server
        .wait_for_line("lookups through the server", Duration::from_secs(2))
        .expect("the loop is logged");
    let logged = server
        .output()
        .into_iter()
        .filter(|l| l.contains("lookups through the server") && !l.contains("plugin/errors"))
        .count();
    assert_eq!(logged, 2, "{:#?}", server.output());
}

/// 4,000 queries a second for names never asked before, forwarded to an upstream that never
/// answers: memory and descriptors stay bounded, and names the server answers itself keep
/// being answered.
#[test]
fn a_flood_to_a_silent_upstream_stays_bounded() {
    let up = FakeUpstream::start();
    up.set(Behaviour::Drop);
    let (port, metrics) = (free_port(), free_port());
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n prometheus 127.0.0.1:{metrics}\n hosts {{\n  10.5.0.1 steady.example\n  fallthrough\n }}\n forward . {}\n}}\n",
        up.addr
    );
    let server = Server::start(BIN, &corefile, port);
    let flood = std::thread::spawn(move || {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket.set_nonblocking(true).expect("nonblocking");
        let start = Instant::now();
        let mut sent = 0u64;
        let mut sink = [0u8; 512];
        while start.elapsed() < Duration::from_secs(10) {
            // 4,000 a second, kept up by catching up on what a late wake-up missed (a sleep
            // on two busy cores overshoots: the rate, not the pause, is what is tested).
            let due = start.elapsed().as_millis() as u64 * 4;
            // At most 200 at once: a catch-up is a burst, not the whole backlog.
            let burst_end = sent + 200;
            while sent < due && sent < burst_end {
                let name = format!("n{sent}.flood.example.");
                if let Ok(bytes) = query(&name, RecordType::A, Some(4096)).to_vec() {
                    let _ = socket.send_to(&bytes, local(port));
                }
                sent += 1;
            }
            while socket.recv(&mut sink).is_ok() {}
            std::thread::sleep(Duration::from_millis(10));
        }
        sent
    });
    let (mut peak_rss, mut peak_fds, mut checks, mut answered) = (0, 0, 0, 0);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        // A client's retry, as resolvers make one. The steady query shares the socket's queue
        // with the flood: when a debug build on two busy cores (other tests beside this one)
        // reads slower than 4,000 a second, the kernel drops datagrams it had no room for, the
        // steady ones among them; what is tested is that the server keeps answering.
        if let Some(r) = ask(port, "steady.example.").or_else(|| ask(port, "steady.example.")) {
            assert_eq!(r.answers.len(), 1);
            answered += 1;
        }
        peak_rss = peak_rss.max(server.rss_kib());
        peak_fds = peak_fds.max(server.open_fds());
        checks += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    let sent = flood.join().expect("flood");
    eprintln!(
        "flood: {sent} queries, peak RSS {peak_rss} KiB, peak fds {peak_fds}, {answered} of {checks} checks answered"
    );
    assert!(
        answered * 2 >= checks,
        "{answered} of {checks} steady queries answered"
    );
    // And at once when the flood is over.
    assert_eq!(ask(port, "steady.example.").map(|r| r.answers.len()), Some(1));
    assert!(sent >= 30_000, "{sent}");
    assert!(peak_rss < 150 * 1024, "RSS {peak_rss} KiB");
    assert!(peak_fds < 4096, "{peak_fds} descriptors");
    // The excess was refused and counted, not queued.
    let scrape = http_get(metrics, "/metrics").expect("metrics").1;
    let refused: f64 = scrape
        .lines()
        .filter(|l| l.starts_with("clusterdns_overload_refused_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(refused > 0.0, "{scrape}");
}

/// 3,000 idle TCP connections: new TCP and UDP queries are still answered at once, and the
/// idle ones are closed by the server's timeouts.
#[test]
fn idle_tcp_connections_do_not_shut_out_new_queries() {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let port = free_port();
    let corefile = format!(".:{port} {{\n bind 127.0.0.1\n hosts {{\n  10.5.0.1 steady.example\n }}\n}}\n");
    let server = Server::start(BIN, &corefile, port);
    let idle: Vec<TcpStream> = (0..3000)
        .map(|_| TcpStream::connect(local(port)).expect("connect"))
        .collect();
    let start = Instant::now();
    let r = tcp(local(port), &[query("steady.example.", RecordType::A, None)]).remove(0);
    assert_eq!(r.answers.len(), 1);
    let r = udp(local(port), &query("steady.example.", RecordType::A, None));
    assert_eq!(r.answers.len(), 1);
    assert!(start.elapsed() < Duration::from_secs(1), "{:?}", start.elapsed());
    // None of them sent a query within the read timeout (3 s): all closed by the server.
    wait_until("idle connections closed", Duration::from_secs(10), || {
        server.open_fds() < 100
    });
    drop(idle);
}

/// A slowloris on the health and ready endpoints: a thousand connections sending their
/// request head a byte at a time. kubelet's probes keep passing.
#[test]
fn a_slowloris_does_not_keep_probes_out() {
    let (port, health, ready) = (free_port(), free_port(), free_port());
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n health 127.0.0.1:{health}\n ready 127.0.0.1:{ready}\n whoami\n}}\n"
    );
    let _server = Server::start(BIN, &corefile, health);
    let mut slow: Vec<TcpStream> = Vec::new();
    for target in [health, ready] {
        for _ in 0..500 {
            if let Ok(mut s) = TcpStream::connect(local(target)) {
                let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n");
                slow.push(s);
            }
        }
    }
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(8) {
        // One more header line each second, never the blank line that ends the head.
        for s in &mut slow {
            let _ = s.write_all(b"X-a: b\r\n");
        }
        let probe = Instant::now();
        assert_eq!(http_get(health, "/health"), Some((200, "OK".into())));
        assert_eq!(http_get(ready, "/ready"), Some((200, "OK".into())));
        assert!(
            probe.elapsed() < Duration::from_secs(1),
            "probes took {:?}",
            probe.elapsed()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    // The server let the slow ones go (header timeout, or room made for newer ones).
    let mut closed = 0;
    for s in &mut slow {
        let _ = s.set_read_timeout(Some(Duration::from_millis(10)));
        let mut b = [0u8; 64];
        if matches!(s.read(&mut b), Ok(0)) || s.write_all(b"X: y\r\n").is_err() {
            closed += 1;
        }
    }
    assert!(closed > 900, "{closed} of {} slow connections closed", slow.len());
}
