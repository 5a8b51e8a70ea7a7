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

/// `maxtcpqueries` (CoreDNS 1.14.5): after that many queries a connection is answered and
/// closed; without it, any number (the default, -1).
#[test]
fn a_connection_closes_after_maxtcpqueries() {
    use std::io::Write;
    let port = free_port();
    let corefile =
        format!(".:{port} {{\n bind 127.0.0.1\n timeouts {{\n  maxtcpqueries 2\n }}\n whoami\n}}\n");
    let _server = Server::start(BIN, &corefile, port);
    let mut conn = std::net::TcpStream::connect(local(port)).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    // Three queries at once: two answers, then the server closes.
    for _ in 0..3 {
        let wire = query("a.example.", RecordType::A, None).to_vec().expect("encode");
        let len = u16::try_from(wire.len()).expect("len").to_be_bytes();
        conn.write_all(&[&len[..], &wire].concat()).expect("write");
    }
    let mut replies = 0;
    loop {
        let mut len = [0u8; 2];
        if conn.read_exact(&mut len).is_err() {
            break;
        }
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        conn.read_exact(&mut body).expect("reply");
        replies += 1;
    }
    assert_eq!(replies, 2);
    // A listener without the option answers a fourth query on one connection.
    let port = free_port();
    let corefile = format!(".:{port} {{\n bind 127.0.0.1\n whoami\n}}\n");
    let _plain = Server::start(BIN, &corefile, port);
    let q = query("a.example.", RecordType::A, None);
    assert_eq!(tcp(local(port), &[q.clone(), q.clone(), q.clone(), q]).len(), 4);
}
