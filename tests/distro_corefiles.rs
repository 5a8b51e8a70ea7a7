//! Every Corefile collected in tests/corefiles (kubeadm, k3s, RKE2, AKS and AKS LocalDNS, EKS,
//! OpenShift, kops, kubespray, Talos, k0s, microk8s, NodeLocal DNSCache, one written for
//! CoreDNS 1.14, and examples from CoreDNS's plugin READMEs) passes -validate, and starts and
//! answers on the addresses and ports it names, in a network namespace of its own.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use testkit::apiserver::namespace;
use testkit::netns::{in_namespace, sh};
use testkit::{FakeApiServer, TempDir, query};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

/// Each Corefile and an address it serves.
const COREFILES: &[(&str, &str)] = &[
    ("aks", "127.0.0.1:53"),
    ("aks-localdns", "169.254.10.11:53"),
    ("coredns-1.14", "127.0.0.1:53"),
    ("eks", "127.0.0.1:53"),
    ("k0s", "127.0.0.1:53"),
    ("k3s", "127.0.0.1:53"),
    ("kops-ipv6", "127.0.0.1:53"),
    ("kubeadm", "127.0.0.1:53"),
    ("kubespray", "127.0.0.1:53"),
    ("microk8s", "127.0.0.1:53"),
    ("nodelocaldns", "169.254.20.10:53"),
    ("openshift", "127.0.0.1:5353"),
    ("readme-examples", "127.0.0.1:1053"),
    ("rke2", "127.0.0.1:53"),
    ("talos", "127.0.0.1:53"),
];

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corefiles")
        .join(name)
}

#[test]
fn every_collected_corefile_validates() {
    let listed: Vec<String> = std::fs::read_dir(path(""))
        .expect("tests/corefiles")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    assert_eq!(
        listed.len(),
        COREFILES.len(),
        "every file is in COREFILES: {listed:?}"
    );
    for (name, _) in COREFILES {
        let out = Command::new(BIN)
            .arg("-validate")
            .arg("-conf")
            .arg(path(name))
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The Corefile examples of CoreDNS 1.11.3's READMEs for every plugin clusterdns has (94 of
/// them; left out: those needing `auto` or `tls://`, a weights file that is not there, and
/// `{$PORT}` without PORT).
#[test]
fn every_readme_example_validates() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corefiles-readme");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/corefiles-readme") {
        let file = entry.expect("entry").path();
        let out = Command::new(BIN)
            .arg("-validate")
            .arg("-conf")
            .arg(&file)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}: {}{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert!(checked > 80, "{checked}");
}

#[test]
fn every_collected_corefile_serves() {
    in_namespace("every_collected_corefile_serves", || {
        sh(
            "ip link set lo up && for a in 169.254.20.10 10.96.0.10 169.254.10.10 169.254.10.11; do \
            ip addr add $a/32 dev lo; done",
        );
        // An upstream that is not there (no route in the namespace), so that `loop` finds no
        // loop and `forward` answers SERVFAIL.
        let dir = TempDir::new("distro");
        let resolv = dir.write("resolv.conf", "nameserver 192.0.2.1\n");
        sh(&format!("mount --bind {} /etc/resolv.conf", resolv.display()));
        // The kubernetes plugin reads its cluster from the test API server (these Corefiles
        // expect the in-cluster configuration of a pod).
        let api = FakeApiServer::start();
        api.apply(namespace("default"));
        let kubernetes = regex::Regex::new(r"(kubernetes [^\n{]*\{)").expect("regex");
        for (name, addr) in COREFILES {
            let text = std::fs::read_to_string(path(name)).expect("corefile");
            let text = kubernetes.replace_all(&text, format!("$1\n endpoint {}", api.url()));
            // k3s and AKS import from directories that hold nothing here.
            let corefile = dir.write(name, &text);
            let mut child = Command::new(BIN)
                .arg("-conf")
                .arg(&corefile)
                .current_dir(dir.0.as_path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starts");
            let bytes = query("localhost.", RecordType::A, None).to_vec().expect("encode");
            let target = addr.parse().expect("address");
            // Any answer will do (forward has no upstream here).
            let start = Instant::now();
            let answered = loop {
                if testkit::udp_raw(target, &bytes, Duration::from_millis(200)).is_some() {
                    break true;
                }
                if start.elapsed() > Duration::from_secs(15) || child.try_wait().ok().flatten().is_some() {
                    break false;
                }
            };
            let _ = child.kill();
            let _ = child.wait();
            assert!(answered, "{name} did not answer on {addr}");
        }
    });
}
