//! node-cache's role end to end, in a network namespace of its own: Kubernetes'
//! nodelocaldns.yaml (our overlay, only the image changed) filled as its install docs say, run
//! with the DaemonSet's args; the link, the answers on both local IPs, the iptables rules, the
//! kube-dns ConfigMap, health, both metrics endpoints and the teardown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::{RData, RecordType};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::ConfigMap;
use testkit::netns::{in_namespace, sh};
use testkit::{FakeUpstream, Server, TempDir, http_get, http_get_at, query, rr, tcp, udp, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");
const LOCAL_DNS: &str = "169.254.20.10";
/// The kube-dns Service's ClusterIP, which node-cache also answers on (iptables-mode kube-proxy).
const DNS_SERVER: &str = "10.96.0.10";

/// The install-time sed of Kubernetes' NodeLocal DNSCache docs (iptables mode).
fn sed(text: &str) -> String {
    text.replace("__PILLAR__LOCAL__DNS__", LOCAL_DNS)
        .replace("__PILLAR__DNS__DOMAIN__", "cluster.local")
        .replace("__PILLAR__DNS__SERVER__", DNS_SERVER)
}

/// The overlay's Corefile template and the DaemonSet container's args, after the sed.
fn manifest() -> (String, Vec<String>) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/manifests/overlays/nodelocaldns/nodelocaldns.yaml"
    ))
    .expect("manifest");
    let text = sed(&text);
    let mut template = None;
    let mut args = None;
    for doc in text.split("\n---\n") {
        if doc.contains("\nkind: ConfigMap") {
            let cm: ConfigMap = serde_saphyr::from_str(doc).expect("configmap");
            template = cm.data.and_then(|d| d.get("Corefile").cloned());
        } else if doc.contains("\nkind: DaemonSet") {
            let ds: DaemonSet = serde_saphyr::from_str(doc).expect("daemonset");
            let pod = ds.spec.and_then(|s| s.template.spec).expect("pod spec");
            args = pod.containers[0].args.clone();
        }
    }
    (template.expect("Corefile template"), args.expect("args"))
}

/// A kube-dns ConfigMap mount: keys as symlinks through `..data`, swapped atomically on update.
struct ConfigMapMount {
    dir: PathBuf,
    generation: usize,
}

impl ConfigMapMount {
    fn new(dir: PathBuf, key: &str, value: &str) -> Self {
        std::fs::create_dir_all(&dir).expect("mkdir");
        let mut mount = Self { dir, generation: 0 };
        mount.update(key, value);
        std::os::unix::fs::symlink(format!("..data/{key}"), mount.dir.join(key)).expect("key link");
        mount
    }

    /// The kubelet's update: a new timestamped directory, then `..data` renamed onto it.
    fn update(&mut self, key: &str, value: &str) {
        self.generation += 1;
        let data = format!("..gen_{}", self.generation);
        std::fs::create_dir_all(self.dir.join(&data)).expect("mkdir");
        std::fs::write(self.dir.join(&data).join(key), value).expect("write");
        let tmp = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&data, &tmp).expect("symlink");
        std::fs::rename(&tmp, self.dir.join("..data")).expect("swap");
    }
}

fn ask(server: &str, name: &str, over_tcp: bool) -> Message {
    let addr: SocketAddr = format!("{server}:53").parse().expect("addr");
    let q = query(name, RecordType::A, None);
    if over_tcp {
        tcp(addr, &[q]).pop().expect("tcp reply")
    } else {
        udp(addr, &q)
    }
}

fn a_records(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect()
}

/// The lines of `iptables-save` that carry node-cache's comments.
fn node_cache_rules() -> Vec<String> {
    sh("iptables-save")
        .lines()
        .filter(|l| l.contains("NodeLocal DNS Cache"))
        .map(str::to_string)
        .collect()
}

fn link_exists() -> bool {
    Command::new("ip")
        .args(["link", "show", "nodelocaldns"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether this kernel makes dummy links; where it does not, the test pre-creates the link as a
/// bridge, which node-cache reuses as it reuses any existing link of its name.
fn dummy_links_work() -> bool {
    let made = Command::new("ip")
        .args(["link", "add", "probe0", "type", "dummy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if made {
        sh("ip link del probe0");
    }
    made
}

/// Starts node-cache's role with the manifest's args plus `extra` (later flags win, as in Go).
fn start(dir: &Path, args: &[String], extra: &[&str]) -> Server {
    let files = TempDir::new("nodecache-run");
    let corefile = dir.join("Corefile");
    let mut all = args.to_vec();
    all.extend(
        [
            "-conf",
            &corefile.display().to_string(),
            "-pidfile",
            &dir.join("node-cache.pid").display().to_string(),
            "-basecorefile",
            &dir.join("coredns/Corefile.base").display().to_string(),
            "-kubednscm",
            &dir.join("kube-dns").display().to_string(),
            "-metrics-listen-address",
            "127.0.0.1:9353",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    all.extend(extra.iter().map(|s| s.to_string()));
    let ready = SocketAddr::from(([169, 254, 20, 10], 53));
    // The kubelet's variable for the kube-dns-upstream Service: the cluster DNS, here a test
    // upstream on this namespace's loopback.
    Server::spawn(
        BIN,
        &all,
        &[("KUBE_DNS_UPSTREAM_SERVICE_HOST", "127.0.0.1")],
        files,
        corefile,
        ready,
    )
}

/// Signals the server and waits for it to exit cleanly.
fn stop(server: &mut Server, signal: &str) {
    server.signal(signal);
    assert_eq!(
        server.wait_exit(Duration::from_secs(15)),
        Some(0),
        "{:?}",
        server.output()
    );
}

/// node-cache's role on `localip` with the template `base`, writing `corefile`, its metrics on
/// 127.0.0.1:9353, then `extra`.
fn role_args(localip: &str, corefile: &Path, base: &Path, extra: &[&str]) -> Vec<String> {
    let (corefile, base) = (corefile.display().to_string(), base.display().to_string());
    let head = [
        "-localip",
        localip,
        "-conf",
        &corefile,
        "-basecorefile",
        &base,
        "-metrics-listen-address",
        "127.0.0.1:9353",
    ];
    head.iter().chain(extra).map(|s| s.to_string()).collect()
}

#[test]
fn nodelocaldns_manifest_runs_as_designed() {
    in_namespace("nodelocaldns_manifest_runs_as_designed", || {
        sh("ip link set lo up");
        let dummy = dummy_links_work();
        if !dummy {
            sh("ip link add nodelocaldns type bridge");
        }
        // The cluster DNS (kube-dns-upstream) and the node's resolver, both on 127.0.0.1:53.
        let cluster = FakeUpstream::start_on(53);
        cluster.answer(
            "web.default.svc.cluster.local.",
            RecordType::A,
            vec![rr("web.default.svc.cluster.local. 30 A 10.0.0.7")],
        );
        cluster.answer(
            "example.org.",
            RecordType::A,
            vec![rr("example.org. 300 A 192.0.2.80")],
        );
        let stub = FakeUpstream::start();
        stub.answer(
            "db.acme.local.",
            RecordType::A,
            vec![rr("db.acme.local. 60 A 192.0.2.1")],
        );
        let stub2 = FakeUpstream::start();
        stub2.answer(
            "db.acme.local.",
            RecordType::A,
            vec![rr("db.acme.local. 60 A 192.0.2.2")],
        );

        let dir = TempDir::new("nodecache");
        let resolv = dir.write("resolv.conf", "nameserver 127.0.0.1\n");
        sh(&format!("mount --bind {} /etc/resolv.conf", resolv.display()));
        let (template, args) = manifest();
        std::fs::create_dir_all(dir.0.join("coredns")).expect("mkdir");
        dir.write("coredns/Corefile.base", &template);
        let mut kube_dns = ConfigMapMount::new(
            dir.0.join("kube-dns"),
            "stubDomains",
            &format!(r#"{{"acme.local": ["{}"]}}"#, stub.addr),
        );

        // 1. As the DaemonSet runs it.
        let mut server = start(&dir.0, &args, &[]);
        let addrs = sh("ip -o addr show dev nodelocaldns");
        for want in [format!("{LOCAL_DNS}/32"), format!("{DNS_SERVER}/32")] {
            assert!(addrs.contains(&want), "{want} missing: {addrs}");
        }
        if dummy {
            assert!(sh("ip -d link show nodelocaldns").contains("dummy"));
        }
        let rendered = std::fs::read_to_string(dir.0.join("Corefile")).expect("generated Corefile");
        assert!(!rendered.contains("__PILLAR__"), "{rendered}");
        assert!(rendered.contains("forward . 127.0.0.1 {"), "{rendered}");
        assert!(rendered.contains("forward . /etc/resolv.conf\n"), "{rendered}");
        assert!(rendered.contains(&format!("acme.local:53 {{\n    errors\n    cache 30\n    bind {LOCAL_DNS} {DNS_SERVER}\n    forward . {}\n}}", stub.addr)), "{rendered}");

        for ip in [LOCAL_DNS, DNS_SERVER] {
            for over_tcp in [false, true] {
                let m = ask(ip, "web.default.svc.cluster.local.", over_tcp);
                assert_eq!(a_records(&m), vec!["10.0.0.7"], "{ip} tcp={over_tcp}");
            }
        }
        // Cluster names go to the cluster DNS over TCP (force_tcp); other names to the node's
        // resolver as the client asked; stub domains to their servers.
        let cluster_queries: Vec<bool> = cluster
            .received()
            .iter()
            .filter(|r| {
                r.query
                    .queries
                    .first()
                    .is_some_and(|q| q.name().to_string() == "web.default.svc.cluster.local.")
            })
            .map(|r| r.tcp)
            .collect();
        assert!(
            !cluster_queries.is_empty() && cluster_queries.iter().all(|&t| t),
            "{cluster_queries:?}"
        );
        assert_eq!(
            a_records(&ask(LOCAL_DNS, "example.org.", false)),
            vec!["192.0.2.80"]
        );
        assert!(cluster.received().iter().any(|r| {
            !r.tcp
                && r.query
                    .queries
                    .first()
                    .is_some_and(|q| q.name().to_string() == "example.org.")
        }));
        assert_eq!(
            a_records(&ask(DNS_SERVER, "db.acme.local.", false)),
            vec!["192.0.2.1"]
        );

        // The rules, once the server serves.
        wait_until("the 24 rules", Duration::from_secs(10), || {
            node_cache_rules().len() == 24
        });
        let rules = node_cache_rules();
        assert!(
            rules.iter().any(|r| r.starts_with(&format!(
                "-A PREROUTING -d {LOCAL_DNS}/32 -p udp -m udp --dport 53"
            )) && r.ends_with("-j NOTRACK")),
            "{rules:?}"
        );
        assert!(
            rules
                .iter()
                .any(|r| r.contains("--sport 8080") && r.contains(DNS_SERVER)),
            "{rules:?}"
        );

        let health = http_get_at(SocketAddr::from(([169, 254, 20, 10], 8080)), "/health");
        assert_eq!(health, Some((200, "OK".into())));
        let (status, metrics) = http_get(9253, "/metrics").expect(":9253");
        assert_eq!(status, 200);
        assert!(metrics.contains("coredns_dns_requests_total"), "{metrics}");
        let (status, metrics) = http_get(9353, "/metrics").expect(":9353");
        assert_eq!(status, 200);
        for t in [
            "iptables",
            "iptables_lock",
            "interface_add",
            "interface_check",
            "configmap",
        ] {
            let line = format!("coredns_nodecache_setup_errors_total{{errortype=\"{t}\"}} 0");
            assert!(metrics.contains(&line), "{line} missing: {metrics}");
        }
        assert!(
            metrics.contains("coredns_dns_requests_total"),
            "the whole registry on :9353"
        );

        stop(&mut server, "TERM");
        assert!(server.output().iter().any(|l| l.contains("Tearing down")));
        assert_eq!(node_cache_rules(), Vec::<String>::new());
        assert!(!link_exists(), "the link outlived the teardown");

        // 2. -skipteardown, a 1 s sync interval and -reloadwithsignal.
        if !dummy {
            sh("ip link add nodelocaldns type bridge");
        }
        let mut server = start(
            &dir.0,
            &args,
            &["-skipteardown", "-syncinterval=1ns", "-reloadwithsignal"],
        );
        wait_until("the 24 rules", Duration::from_secs(10), || {
            node_cache_rules().len() == 24
        });
        // A rule someone deleted comes back at the next sync.
        sh(&format!(
            "iptables -w 5 -t raw -D PREROUTING -p udp -d {LOCAL_DNS} --dport 53 -j NOTRACK -m comment --comment 'NodeLocal DNS Cache: skip conntrack'"
        ));
        assert_eq!(node_cache_rules().len(), 23);
        wait_until("the rule restored", Duration::from_secs(10), || {
            node_cache_rules().len() == 24
        });
        // A kube-dns ConfigMap update is rendered within its 10 s poll and reloaded at once
        // (not asked before, so the stub block's cache holds nothing from the old server).
        kube_dns.update("stubDomains", &format!(r#"{{"acme.local": ["{}"]}}"#, stub2.addr));
        let reloaded = server.wait_for_line("Reloading complete", Duration::from_secs(30));
        assert!(reloaded.is_some(), "{:?}", server.output());
        assert!(
            server
                .output()
                .iter()
                .any(|l| l.contains("Sending reload signal to PID"))
        );
        assert_eq!(
            a_records(&ask(LOCAL_DNS, "db.acme.local.", false)),
            vec!["192.0.2.2"]
        );
        stop(&mut server, "TERM");
        assert_eq!(node_cache_rules().len(), 24, "-skipteardown keeps the rules");
        assert!(
            sh("ip -o addr show dev nodelocaldns").contains(LOCAL_DNS),
            "and the link"
        );

        // 3. The link left behind is reused; SIGINT tears down too.
        let mut server = start(&dir.0, &args, &[]);
        assert_eq!(
            a_records(&ask(LOCAL_DNS, "db.acme.local.", true)),
            vec!["192.0.2.2"]
        );
        stop(&mut server, "INT");
        assert_eq!(node_cache_rules(), Vec::<String>::new());
        assert!(!link_exists());
    });
}

#[test]
fn nodecache_counts_setup_errors() {
    in_namespace("nodecache_counts_setup_errors", || {
        sh("ip link set lo up");
        let dir = TempDir::new("nodecache-errors");
        std::fs::create_dir_all(dir.0.join("coredns")).expect("mkdir");
        let base = dir.write(
            "coredns/Corefile.base",
            ".:53 {\n    bind __PILLAR__LOCAL__DNS__\n    whoami\n}\n",
        );
        // kube-dns accepts a host name as a stub server; node-cache's forward check does not.
        ConfigMapMount::new(
            dir.0.join("kube-dns"),
            "stubDomains",
            r#"{"acme.local": ["ns.acme.local"]}"#,
        );
        let corefile = dir.0.join("Corefile");
        let kube_dns = dir.0.join("kube-dns").display().to_string();
        let args = role_args(
            "127.0.0.5",
            &corefile,
            &base,
            // Longer than a link name may be: the link cannot be made.
            &[
                "-kubednscm",
                &kube_dns,
                "-interfacename",
                "nodelocaldns-far-too-long",
                "-setupiptables=false",
            ],
        );
        let server = Server::spawn(
            BIN,
            &args,
            &[],
            TempDir::new("nodecache-errors-run"),
            corefile.clone(),
            SocketAddr::from(([127, 0, 0, 5], 53)),
        );
        let (_, metrics) = http_get(9353, "/metrics").expect(":9353");
        // Counted at start and again at the first sync, once the server serves.
        let count = |t: &str| -> u64 {
            let prefix = format!("coredns_nodecache_setup_errors_total{{errortype=\"{t}\"}} ");
            metrics
                .lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{t} missing: {metrics}"))
        };
        assert!(
            count("interface_add") >= 1 && count("interface_check") >= 1,
            "{metrics}"
        );
        assert_eq!((count("configmap"), count("iptables")), (1, 0), "{metrics}");
        let output = server.output().join("\n");
        assert!(
            output.contains("Failed to add non-existent interface nodelocaldns-far-too-long"),
            "{output}"
        );
        assert!(output.contains("Invalid config: invalid nameservers"), "{output}");
        assert!(
            output.contains(
                "Unable to lookup IP address of Upstream service kube-dns, env $KUBE_DNS_SERVICE_HOST ``"
            ),
            "{output}"
        );
        // The Corefile was still written from the template alone, and serves.
        assert_eq!(
            std::fs::read_to_string(&corefile).expect("Corefile"),
            ".:53 {\n    bind 127.0.0.5\n    whoami\n}\n"
        );
        let m = ask("127.0.0.5", "whoami.example.", false);
        assert!(!m.additionals.is_empty(), "{m:?}");
    });
}

#[test]
fn nodecache_flags_fail_as_node_cache_does() {
    let out = Command::new(BIN)
        .args(["-localip", "169.254.20.10,", "-conf", "/nonexistent/Corefile"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("Starting node-cache image: "), "{text}");
    assert!(
        text.contains("[FATAL] Error parsing flags - invalid localip specified - \"\", Exiting"),
        "{text}"
    );
    let out = Command::new(BIN)
        .args(["-syncinterval", "30"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}

/// The capabilities the image's Dockerfile gives the binary: file-permitted only.
const IMAGE_CAPS: &str = "cap_net_bind_service,cap_net_admin,cap_net_raw,cap_dac_override+p";

/// A copy of the binary with the image's file capabilities, runnable by the image's user.
fn image_binary(dir: &TempDir) -> String {
    let copy = dir.0.join("coredns");
    std::fs::copy(BIN, &copy).expect("copy");
    sh(&format!(
        "chmod 0777 {} && setcap {IMAGE_CAPS} {}",
        dir.0.display(),
        copy.display()
    ));
    copy.display().to_string()
}

#[test]
fn nodecache_runs_as_the_images_user() {
    in_namespace("nodecache_runs_as_the_images_user", || {
        sh("ip link set lo up");
        if !dummy_links_work() {
            sh("ip link add nodelocaldns type bridge");
        }
        let dir = TempDir::new("nodecache-nonroot");
        let coredns = image_binary(&dir);
        let base = dir.write(
            "Corefile.base",
            &format!(
                ".:53 {{\n    bind __PILLAR__LOCAL__DNS__\n    whoami\n    health {LOCAL_DNS}:8080\n}}\n"
            ),
        );
        let corefile = dir.0.join("Corefile");
        // As the node-local-dns DaemonSet runs the image: its user (65532), the container's
        // capabilities with NET_ADMIN added, nothing inherited.
        let setpriv = [
            "--reuid=65532",
            "--regid=65532",
            "--clear-groups",
            "--inh-caps=-all",
        ];
        let args: Vec<String> = setpriv
            .iter()
            .map(|s| s.to_string())
            .chain([coredns.clone()])
            .chain(role_args(LOCAL_DNS, &corefile, &base, &[]))
            .collect();
        let mut server = Server::spawn(
            "setpriv",
            &args,
            &[],
            TempDir::new("nodecache-nonroot-run"),
            corefile.clone(),
            SocketAddr::from(([169, 254, 20, 10], 53)),
        );
        let m = ask(LOCAL_DNS, "whoami.example.", false);
        assert!(!m.additionals.is_empty(), "{m:?}");
        assert!(sh("ip -o addr show dev nodelocaldns").contains(LOCAL_DNS));
        // iptables, run as the same user, got NET_ADMIN from the server.
        wait_until("the 12 rules", Duration::from_secs(10), || {
            node_cache_rules().len() == 12
        });
        stop(&mut server, "TERM");
        assert_eq!(node_cache_rules(), Vec::<String>::new(), "{:?}", server.output());
        assert!(!link_exists());

        // As the coredns Deployment runs it: every capability dropped but NET_BIND_SERVICE. A
        // file effective bit would make this exec fail (the file asks for more than the
        // bounding set holds); permitted-only, the server raises what it got and binds :53.
        let plain = dir.write("Corefile.plain", ".:53 {\n    bind 127.0.0.5\n    whoami\n}\n");
        let args: Vec<String> = setpriv
            .iter()
            .chain(&[
                "--bounding-set=-all,+net_bind_service",
                &coredns,
                "-conf",
                &plain.display().to_string(),
            ])
            .map(|s| s.to_string())
            .collect();
        let server = Server::spawn(
            "setpriv",
            &args,
            &[],
            TempDir::new("deployment-nonroot-run"),
            plain,
            SocketAddr::from(([127, 0, 0, 5], 53)),
        );
        let m = ask("127.0.0.5", "whoami.example.", false);
        assert!(!m.additionals.is_empty(), "{:?}", server.output());
    });
}

#[test]
fn nodecache_ipv6_uses_ip6tables() {
    in_namespace("nodecache_ipv6_uses_ip6tables", || {
        sh("ip link set lo up");
        // A link that does neighbour discovery, left in place: node-cache's addresses go on it
        // without duplicate address detection, so they can be bound while it is down.
        sh("ip link add nodelocaldns type bridge");
        let dir = TempDir::new("nodecache-v6");
        let base = dir.write(
            "Corefile.base",
            ".:53 {\n    bind __PILLAR__LOCAL__DNS__\n    whoami\n}\n",
        );
        let corefile = dir.0.join("Corefile");
        let args = role_args("fd00::10,fd00::53", &corefile, &base, &[]);
        let ready: SocketAddr = "[fd00::53]:53".parse().expect("addr");
        let mut server = Server::spawn(BIN, &args, &[], TempDir::new("nodecache-v6-run"), corefile, ready);
        let reply = tcp(ready, &[query("whoami.example.", RecordType::A, None)]);
        assert!(!reply[0].additionals.is_empty(), "{reply:?}");
        let v6_rules = || {
            sh("ip6tables-save")
                .lines()
                .filter(|l| l.contains("NodeLocal DNS Cache"))
                .count()
        };
        wait_until("24 ip6tables rules", Duration::from_secs(10), || v6_rules() == 24);
        assert_eq!(node_cache_rules(), Vec::<String>::new(), "nothing in iptables");
        stop(&mut server, "TERM");
        assert_eq!(v6_rules(), 0);
        assert!(!link_exists());
    });
}
