//! End to end: timeouts sets how long the block's TCP listener waits for a connection's first
//! query (CoreDNS's default is 3 s).

use std::io::Read;
use std::time::Duration;

use hickory_proto::rr::RecordType;
use testkit::{Server, free_port, local, query, tcp};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

#[test]
fn a_silent_connection_is_closed_after_the_read_timeout() {
    let port = free_port();
    let corefile =
        format!(".:{port} {{\n bind 127.0.0.1\n timeouts {{\n  read 1s\n  idle 1s\n }}\n whoami\n}}\n");
    let _server = Server::start(BIN, &corefile, port);
    let mut silent = std::net::TcpStream::connect(local(port)).expect("connect");
    // Closed by the server after 1 s: well before the default 3 s.
    silent
        .set_read_timeout(Some(Duration::from_millis(2500)))
        .expect("timeout");
    let mut byte = [0u8; 1];
    assert!(matches!(silent.read(&mut byte), Ok(0)), "the server closes it");
    // Queries are answered as before.
    let r = tcp(local(port), &[query("a.example.", RecordType::A, None)]);
    assert_eq!(r.len(), 1);
}
