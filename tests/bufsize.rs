//! End to end: bufsize lowers the UDP size a client advertised, for the reply's OPT and for
//! where the reply is truncated.

use hickory_proto::rr::RecordType;
use testkit::{Server, TempDir, free_port, local, query, udp};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

#[test]
fn replies_fit_the_lowered_size() {
    let port = free_port();
    let dir = TempDir::new("bufsize");
    let lines: String = (0..200)
        .map(|i| format!("10.0.{}.{} big.example.\n", i / 250, i % 250))
        .collect();
    let file = dir.write("hosts", &lines);
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n bufsize 1232\n hosts {} {{\n  reload 0\n }}\n}}\n",
        file.display()
    );
    let _server = Server::start(BIN, &corefile, port);
    // The client says 4096: the reply says 1232 and is cut there.
    let bytes = query("big.example.", RecordType::A, Some(4096))
        .to_vec()
        .expect("encode");
    let reply = testkit::udp_raw(local(port), &bytes, std::time::Duration::from_secs(2)).expect("reply");
    assert!(reply.len() <= 1232 && reply.len() > 1000, "{} bytes", reply.len());
    let r = hickory_proto::op::Message::from_vec(&reply).expect("decodes");
    assert!(r.metadata.truncation);
    assert_eq!(r.edns.as_ref().map(|e| e.max_payload()), Some(1232));
    // A client asking for less keeps its size.
    let r = udp(local(port), &query("big.example.", RecordType::A, Some(800)));
    assert_eq!(r.edns.as_ref().map(|e| e.max_payload()), Some(800));
    assert!(r.to_vec().expect("encode").len() <= 800);
}
