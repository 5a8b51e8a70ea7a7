//! Knot DNS (Debian's `knot`) as a reference authoritative server and a primary to transfer
//! from: started on a zone file in a directory of its own, stopped on drop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use crate::{TempDir, free_port, local, query, udp_raw, wait_until};

/// A running knotd serving one zone.
pub struct Knot {
    child: Child,
    pub port: u16,
    conf: PathBuf,
    zone: String,
    /// The zone file Knot reads (rewrite it, then [`Knot::reload`]).
    pub file: PathBuf,
}

impl Knot {
    /// knotd serving `zone` from `text` in `dir`; transfers allowed to 127.0.0.1. `None` (and
    /// a line on stderr) where knot is not installed, unless `CLUSTERDNS_REQUIRE_KNOT` is set.
    pub fn start(dir: &TempDir, zone: &str, text: &str) -> Option<Knot> {
        let Some(knotd) = ["/usr/sbin/knotd", "/usr/bin/knotd"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
        else {
            assert!(
                std::env::var_os("CLUSTERDNS_REQUIRE_KNOT").is_none(),
                "knotd is required (CLUSTERDNS_REQUIRE_KNOT is set) but not installed"
            );
            eprintln!("knotd not installed: the comparison with Knot is skipped");
            return None;
        };
        let port = free_port();
        let root = dir.0.join("knot");
        std::fs::create_dir_all(&root).expect("knot dir");
        let file = root.join(format!("db.{zone}"));
        std::fs::write(&file, text).expect("zone file");
        let r = root.display();
        let conf = root.join("knot.conf");
        std::fs::write(
            &conf,
            format!(
                "server:\n    listen: 127.0.0.1@{port}\n    rundir: {r}\ndatabase:\n    storage: {r}\n\
                 acl:\n  - id: local\n    address: 127.0.0.1\n    action: transfer\n\
                 zone:\n  - domain: {zone}\n    file: {}\n    storage: {r}\n    acl: local\n",
                file.display()
            ),
        )
        .expect("knot.conf");
        let child = Command::new(knotd)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start knotd");
        let knot = Knot {
            child,
            port,
            conf,
            zone: zone.to_string(),
            file,
        };
        knot.wait_for_serial(None);
        Some(knot)
    }

    pub fn addr(&self) -> SocketAddr {
        local(self.port)
    }

    /// The zone's serial as Knot serves it.
    pub fn serial(&self) -> Option<u32> {
        let q = query(&format!("{}.", self.zone), RecordType::SOA, None);
        let bytes = udp_raw(self.addr(), &q.to_vec().ok()?, Duration::from_millis(300))?;
        let m = Message::from_vec(&bytes).ok()?;
        if m.metadata.response_code != ResponseCode::NoError {
            return None;
        }
        m.answers.iter().find_map(|r| match &r.data {
            hickory_proto::rr::RData::SOA(soa) => Some(soa.serial),
            _ => None,
        })
    }

    /// Waits until Knot serves the zone (with `serial`, if given).
    pub fn wait_for_serial(&self, serial: Option<u32>) {
        wait_until("knot serves the zone", Duration::from_secs(20), || {
            self.serial().is_some_and(|s| serial.is_none_or(|want| want == s))
        });
    }

    /// Has Knot read its zone file again (`knotc zone-reload`).
    pub fn reload(&self) {
        let status = Command::new("knotc")
            .arg("-c")
            .arg(&self.conf)
            .args(["zone-reload", &self.zone])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("knotc");
        assert!(status.success(), "knotc zone-reload failed");
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
