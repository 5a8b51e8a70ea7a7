//! End to end: a CoreDNS 1.12 Corefile with multisocket starts and serves; bad numbers fail
//! validation with CoreDNS's texts.

use hickory_proto::rr::RecordType;
use testkit::{Server, TempDir, free_port, local, query, udp};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

#[test]
fn accepted_and_validated() {
    let port = free_port();
    let _server = Server::start(
        BIN,
        &format!(".:{port} {{\n bind 127.0.0.1\n multisocket 4\n whoami\n}}\n"),
        port,
    );
    let r = udp(local(port), &query("a.example.", RecordType::A, None));
    assert!(!r.additionals.is_empty());
    let dir = TempDir::new("multisocket");
    let path = dir.write("Corefile", ".:53 {\n multisocket 2000\n whoami\n}\n");
    let out = std::process::Command::new(BIN)
        .args(["-validate", "-conf"])
        .arg(&path)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("plugin/multisocket: num sockets exceeds maximum (1024): 2000"),
        "{text}"
    );
}
