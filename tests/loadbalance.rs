//! End to end: loadbalance reorders what hosts answers, over real sockets.

use std::collections::HashSet;

use hickory_proto::rr::RecordType;
use testkit::{Server, TempDir, free_port, local, query, udp};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

#[test]
fn addresses_are_shuffled_across_repeated_queries() {
    let port = free_port();
    let dir = TempDir::new("loadbalance");
    let file = dir.write(
        "hosts",
        "10.2.0.1 web.example.\n10.2.0.2 web.example.\n10.2.0.3 web.example.\n10.2.0.4 web.example.\n",
    );
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n hosts {} {{\n  reload 0\n }}\n loadbalance\n}}\n",
        file.display()
    );
    let _server = Server::start(BIN, &corefile, port);
    let server = local(port);
    let mut orders = HashSet::new();
    for _ in 0..40 {
        let r = udp(server, &query("web.example.", RecordType::A, None));
        let order: Vec<String> = r.answers.iter().map(|a| a.data.to_string()).collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(sorted, ["10.2.0.1", "10.2.0.2", "10.2.0.3", "10.2.0.4"]);
        orders.insert(order);
    }
    // 24 possible orders; 40 shuffled answers show many of them.
    assert!(orders.len() > 5, "only {} distinct orders", orders.len());
}

/// An upstream's CNAME chain stays first while the addresses after it are shuffled.
#[test]
fn cnames_stay_first_when_forwarded_answers_are_shuffled() {
    let up = testkit::FakeUpstream::start();
    let chain = [
        "www.example. 60 CNAME web.example.",
        "web.example. 60 A 10.4.0.1",
        "web.example. 60 A 10.4.0.2",
        "web.example. 60 A 10.4.0.3",
    ];
    up.answer(
        "www.example.",
        RecordType::A,
        chain.iter().map(|r| testkit::rr(r)).collect(),
    );
    let port = free_port();
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n loadbalance\n forward . {}\n}}\n",
        up.addr
    );
    let _server = Server::start(BIN, &corefile, port);
    let mut orders = HashSet::new();
    for _ in 0..30 {
        let r = udp(testkit::local(port), &query("www.example.", RecordType::A, None));
        assert_eq!(r.answers.len(), 4);
        assert_eq!(r.answers[0].record_type(), RecordType::CNAME);
        orders.insert(
            r.answers
                .iter()
                .skip(1)
                .map(|a| a.data.to_string())
                .collect::<Vec<_>>(),
        );
    }
    assert!(orders.len() > 2, "only {} orders", orders.len());
}
