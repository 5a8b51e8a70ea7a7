//! End to end: debug turns on [DEBUG] lines (local's interception of localhost.<domain>).

use std::time::Duration;

use hickory_proto::rr::RecordType;
use testkit::{Server, free_port, local, query, udp};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

fn run(debug: bool) -> Option<String> {
    let port = free_port();
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n {}\n local\n}}\n",
        if debug { "debug" } else { "" }
    );
    let server = Server::start(BIN, &corefile, port);
    let r = udp(local(port), &query("localhost.example.org.", RecordType::A, None));
    assert_eq!(r.answers.len(), 1);
    server.wait_for_line(
        "[DEBUG] plugin/local: Intercepting localhost query",
        Duration::from_millis(800),
    )
}

#[test]
fn debug_lines_only_with_debug() {
    assert!(run(true).is_some_and(|l| l.contains("\"localhost.example.org.\" A, from 127.0.0.1")));
    assert!(run(false).is_none());
}
