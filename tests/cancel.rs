//! End to end: cancel gives up on a query the chain has not answered by the deadline.

use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use testkit::{Behaviour, FakeUpstream, Server, free_port, local, query, rr, udp};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

#[test]
fn slow_upstream_is_cancelled_with_servfail() {
    let up = FakeUpstream::start();
    up.add(rr("slow.example. 60 A 192.0.2.1"));
    up.set(Behaviour::Delay(Duration::from_secs(4)));
    let port = free_port();
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n cancel 1s\n forward . {}\n}}\n",
        up.addr
    );
    let _server = Server::start(BIN, &corefile, port);
    let started = std::time::Instant::now();
    let r = udp(local(port), &query("slow.example.", RecordType::A, None));
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    // Answered at the deadline, not when the upstream would have answered.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}
