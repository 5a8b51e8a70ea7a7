//! Test-only helpers: start the real clusterdns binary on a Corefile, query it over real UDP
//! and TCP sockets with hickory-proto messages, read its log and its HTTP endpoints.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub mod apiserver;
mod doh;
pub mod knot;
mod load;
pub mod netns;
mod upstream;

pub use apiserver::FakeApiServer;
pub use load::Load;
pub use upstream::{Behaviour, FakeUpstream, Received};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, RecordType};

/// A port free on 127.0.0.1 for both UDP and TCP at the time of the call.
pub fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let port = udp.local_addr().expect("addr").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A running clusterdns process, killed on drop.
pub struct Server {
    child: Child,
    pub dir: TempDir,
    pub corefile: PathBuf,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Writes `corefile` into a fresh directory and starts `bin -conf` on it, then waits until
    /// `ready_port` (a DNS port over TCP, or an HTTP port) accepts connections.
    pub fn start(bin: &str, corefile: &str, ready_port: u16) -> Server {
        let dir = TempDir::new("server");
        let path = dir.write("Corefile", corefile);
        let args = vec!["-conf".to_string(), path.display().to_string()];
        Server::spawn(
            bin,
            &args,
            &[],
            dir,
            path,
            SocketAddr::from(([127, 0, 0, 1], ready_port)),
        )
    }

    /// Starts `bin ARGS` with extra environment variables, its files in `dir` (`corefile` is
    /// the one it serves), then waits until `ready` accepts TCP connections.
    pub fn spawn(
        bin: &str,
        args: &[String],
        env: &[(&str, &str)],
        dir: TempDir,
        corefile: PathBuf,
        ready: SocketAddr,
    ) -> Server {
        let mut child = Command::new(bin)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start clusterdns");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().expect("lines").push(line);
                }
            });
        }
        let mut server = Server {
            child,
            dir,
            corefile,
            lines,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(ready).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("clusterdns exited with {status}: {:?}", server.output());
            }
            assert!(
                Instant::now() < deadline,
                "clusterdns did not listen: {:?}",
                server.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process printed so far, stdout and stderr interleaved by line.
    pub fn output(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }

    /// Waits up to `timeout` for a printed line containing `needle`.
    pub fn wait_for_line(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.output().into_iter().find(|l| l.contains(needle)) {
                return Some(line);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends a signal by name (`TERM`, `INT`).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status();
        assert!(ok.is_ok_and(|s| s.success()), "kill -{name} failed");
    }

    /// The process's resident memory in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
            .unwrap_or(0)
    }

    /// The file descriptors the process has open.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map_or(0, Iterator::count)
    }

    /// Waits for the process to exit, up to `timeout`; its exit code if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A query message: RD set, a random ID, `edns` as the client's UDP size (None: no OPT).
pub fn query(name: &str, rtype: RecordType, edns: Option<u16>) -> Message {
    let mut m = Message::new(rand_id(), MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.queries
        .push(Query::query(Name::from_ascii(name).expect("name"), rtype));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        m.edns = Some(e);
    }
    m
}

/// Same as [`query`] with another class.
pub fn query_class(name: &str, rtype: RecordType, class: DNSClass) -> Message {
    let mut m = query(name, rtype, None);
    m.queries[0].set_query_class(class);
    m
}

fn rand_id() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (nanos ^ (nanos >> 16)) as u16
}

/// Sends raw bytes over UDP; the raw reply, or None after `timeout`.
pub fn udp_raw(server: SocketAddr, bytes: &[u8], timeout: Duration) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(timeout)).expect("timeout");
    sock.send_to(bytes, server).expect("send");
    let mut buf = vec![0u8; 65535];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// Sends `m` over UDP and parses the reply (panics after 3 s without one).
pub fn udp(server: SocketAddr, m: &Message) -> Message {
    let reply = udp_raw(server, &m.to_vec().expect("encode"), Duration::from_secs(3)).expect("no UDP reply");
    Message::from_vec(&reply).expect("decode reply")
}

/// A self-signed certificate made now for `127.0.0.1` and `dns.test`, and its key, as PEM: its
/// own CA.
pub fn self_signed_pem() -> (String, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "dns.test".to_string()])
        .expect("certificate");
    (cert.cert.pem(), cert.signing_key.serialize_pem())
}

/// A client certificate and key, and the CA (its own, made now) that signed it, as PEM:
/// (certificate, key, CA certificate).
pub fn client_cert_pem() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(params, ca_key).expect("ca");
    let key = rcgen::KeyPair::generate().expect("client key");
    let mut params = rcgen::CertificateParams::new(vec!["client.test".to_string()]).expect("client params");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &ca).expect("client certificate");
    (cert.pem(), key.serialize_pem(), ca.pem())
}

/// An A query for `name` over UDP; None when no answer came within 2 s (for tests that count
/// failures rather than panic on the first).
pub fn ask(port: u16, name: &str) -> Option<Message> {
    let bytes = query(name, RecordType::A, None).to_vec().ok()?;
    Message::from_vec(&udp_raw(local(port), &bytes, Duration::from_secs(2))?).ok()
}

/// Polls `done` every 20 ms until it holds; panics naming `what` after `timeout`. Returns how
/// long it took.
pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

/// Sends each message over one TCP connection, in order, and parses each reply.
pub fn tcp(server: SocketAddr, messages: &[Message]) -> Vec<Message> {
    let mut stream = TcpStream::connect(server).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    messages
        .iter()
        .map(|m| {
            let bytes = m.to_vec().expect("encode");
            let len = u16::try_from(bytes.len()).expect("size").to_be_bytes();
            stream.write_all(&len).expect("write");
            stream.write_all(&bytes).expect("write");
            let mut len = [0u8; 2];
            stream.read_exact(&mut len).expect("read length");
            let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
            stream.read_exact(&mut reply).expect("read reply");
            Message::from_vec(&reply).expect("decode reply")
        })
        .collect()
}

/// `GET path` over HTTP/1.0: the status code and the body.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http_get_at(SocketAddr::from(([127, 0, 0, 1], port)), path)
}

/// [`http_get`] at any address.
pub fn http_get_at(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    status_and_body(&text)
}

/// An HTTP response's status code and body.
fn status_and_body(text: &str) -> Option<(u16, String)> {
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// `GET path` over HTTPS (HTTP/1.0), trusting the CA in `ca` (PEM) for the name `dns.test`,
/// presenting `client` (certificate and key PEM) if given: the status code and the body; `None`
/// when the handshake or the request fails.
pub fn https_get(port: u16, path: &str, ca: &str, client: Option<(&str, &str)>) -> Option<(u16, String)> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.as_bytes()).ok()?)
        .ok()?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).ok()?],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).ok()?,
            )
            .ok()?,
    };
    let name = ServerName::try_from("dns.test").ok()?;
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).ok()?;
    let tcp = TcpStream::connect(("127.0.0.1", port)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    write!(stream, "GET {path} HTTP/1.0\r\nHost: dns.test\r\n\r\n").ok()?;
    let mut bytes = Vec::new();
    // A server closing without close_notify still gave its whole response.
    let _ = stream.read_to_end(&mut bytes);
    status_and_body(&String::from_utf8_lossy(&bytes))
}

/// Runs a directive's `parse` on each Corefile snippet and checks that it fails with a message
/// containing the expected text (file and line included when the case says so).
pub fn assert_parse_errors<T: std::fmt::Debug, E: std::fmt::Display>(
    parse: impl Fn(&mut corefile::Dispenser) -> Result<T, E>,
    cases: &[(&str, &str)],
) {
    for (input, want) in cases {
        match parse(&mut corefile::Dispenser::from_text(input)) {
            Ok(v) => panic!("{input:?} parsed as {v:?}; wanted an error containing {want:?}"),
            Err(e) => {
                let got = e.to_string();
                assert!(got.contains(want), "{input:?}\n got: {got}\nwant: {want}");
            }
        }
    }
}

/// The rcode the [`Passed`] marker answers with: a reply with it means "went to the next plugin".
pub const PASSED: hickory_proto::op::ResponseCode = hickory_proto::op::ResponseCode::NotZone;

/// Stands for the rest of the chain in handler tables: answers every query with [`PASSED`].
pub struct Passed;

#[async_trait::async_trait]
impl clusterdns_plugin::Handler for Passed {
    fn name(&self) -> &'static str {
        "passed"
    }

    async fn serve(
        &self,
        _req: &mut clusterdns_plugin::Request,
        _next: clusterdns_plugin::Next<'_>,
    ) -> Result<clusterdns_plugin::Reply, clusterdns_plugin::PluginError> {
        Ok(clusterdns_plugin::Reply::NoAnswer(PASSED))
    }
}

/// A UDP request from 10.0.0.99:40000 for `name`/`rtype`, as the server would build it.
pub fn request(name: &str, rtype: RecordType) -> clusterdns_plugin::Request {
    let m = query(name, rtype, None);
    clusterdns_plugin::Request {
        metadata: m.metadata,
        query: m.queries[0].clone(),
        edns: None,
        client: SocketAddr::from(([10, 0, 0, 99], 40000)),
        local: SocketAddr::from(([10, 0, 0, 10], 53)),
        transport: clusterdns_plugin::Transport::Udp,
        size: 40,
        server: std::sync::Arc::from("dns://:53"),
        zone: std::sync::Arc::from("."),
        received: Instant::now(),
        responder: None,
        server_lookup: None,
        lookups: None,
        meta: None,
        ixfr_serial: None,
    }
}

/// Runs `handler` with [`Passed`] as the rest of the chain.
pub async fn serve(
    handler: std::sync::Arc<dyn clusterdns_plugin::Handler>,
    req: &mut clusterdns_plugin::Request,
) -> Result<clusterdns_plugin::Reply, clusterdns_plugin::PluginError> {
    serve_chain(vec![handler, std::sync::Arc::new(Passed)], req).await
}

/// Runs a whole chain from its head.
pub async fn serve_chain(
    chain: Vec<std::sync::Arc<dyn clusterdns_plugin::Handler>>,
    req: &mut clusterdns_plugin::Request,
) -> Result<clusterdns_plugin::Reply, clusterdns_plugin::PluginError> {
    let chain: clusterdns_plugin::Chain = chain.into();
    clusterdns_plugin::Next::chain(&chain).run(req).await
}

/// Stands for the rest of the chain in handler tables: answers every query with this rcode
/// and these records (owner names as given, whatever the question), and remembers the
/// question it was asked last.
pub struct Fixed {
    pub rcode: hickory_proto::op::ResponseCode,
    pub answers: Vec<hickory_proto::rr::Record>,
    pub authorities: Vec<hickory_proto::rr::Record>,
    pub asked: Mutex<Option<hickory_proto::op::Query>>,
}

impl Fixed {
    pub fn new(rcode: hickory_proto::op::ResponseCode, answers: Vec<hickory_proto::rr::Record>) -> Self {
        Fixed {
            rcode,
            answers,
            authorities: Vec::new(),
            asked: Mutex::new(None),
        }
    }

    /// The question the chain below was asked last.
    pub fn asked(&self) -> Option<hickory_proto::op::Query> {
        self.asked.lock().expect("asked").clone()
    }
}

#[async_trait::async_trait]
impl clusterdns_plugin::Handler for Fixed {
    fn name(&self) -> &'static str {
        "fixed"
    }

    async fn serve(
        &self,
        req: &mut clusterdns_plugin::Request,
        _next: clusterdns_plugin::Next<'_>,
    ) -> Result<clusterdns_plugin::Reply, clusterdns_plugin::PluginError> {
        *self.asked.lock().expect("asked") = Some(req.query.clone());
        let mut m = req.reply();
        m.metadata.response_code = self.rcode;
        m.answers = self.answers.clone();
        m.authorities = self.authorities.clone();
        Ok(clusterdns_plugin::Reply::Answer(m))
    }
}

/// Records as `name ttl TYPE data` lines, to compare a section with what is expected.
pub fn records(section: &[hickory_proto::rr::Record]) -> Vec<String> {
    section
        .iter()
        .map(|r| format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data))
        .collect()
}

/// Parses a record written as in a zone file's simple form: `name ttl TYPE data`, for A, AAAA,
/// CNAME, NS, PTR, MX (`pref host`), SRV (`prio weight port target`), TXT (one string) and SOA.
pub fn rr(text: &str) -> hickory_proto::rr::Record {
    use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT};
    use hickory_proto::rr::{RData, Record};
    let f: Vec<&str> = text.split_whitespace().collect();
    let name = |s: &str| Name::from_ascii(s).expect("name");
    let num = |s: &str| s.parse::<u32>().expect("number");
    let data = match f[2] {
        "A" => RData::A(A(f[3].parse().expect("ipv4"))),
        "AAAA" => RData::AAAA(AAAA(f[3].parse().expect("ipv6"))),
        "CNAME" => RData::CNAME(CNAME(name(f[3]))),
        "PTR" => RData::PTR(PTR(name(f[3]))),
        "NS" => RData::NS(NS(name(f[3]))),
        "MX" => RData::MX(MX::new(num(f[3]) as u16, name(f[4]))),
        "SRV" => RData::SRV(SRV::new(
            num(f[3]) as u16,
            num(f[4]) as u16,
            num(f[5]) as u16,
            name(f[6]),
        )),
        "TXT" => RData::TXT(TXT::new(vec![f[3..].join(" ")])),
        "SOA" => RData::SOA(SOA::new(
            name(f[3]),
            name(f[4]),
            num(f[5]),
            num(f[6]) as i32,
            num(f[7]) as i32,
            num(f[8]) as i32,
            num(f[9]),
        )),
        other => panic!("rr: unsupported type {other}"),
    };
    Record::from_rdata(name(f[0]), num(f[1]), data)
}

/// A directory of its own under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("clusterdns-{label}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    /// Writes `text` to `name` in the directory; returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `127.0.0.1:port`, where test servers listen.
pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Where a test runs kubeadm's Corefile: its own ports, the test API server, a test upstream.
pub struct KubeadmHost<'a> {
    pub port: u16,
    pub health: u16,
    pub ready: u16,
    pub metrics: u16,
    pub kubeconfig: &'a std::path::Path,
    pub upstream: SocketAddr,
}

/// kubeadm's Corefile with only its addresses changed for a test host: the DNS port bound to
/// 127.0.0.1, health/ready/metrics on given ports, the API server by kubeconfig, forward to a
/// test upstream. Everything else stays as written.
pub fn kubeadm_corefile(original: &str, host: &KubeadmHost<'_>) -> String {
    let replaced = original
        .replace(".:53 {", &format!(".:{} {{\n    bind 127.0.0.1", host.port))
        .replace(
            "    health {",
            &format!("    health 127.0.0.1:{} {{", host.health),
        )
        .replace("    ready\n", &format!("    ready 127.0.0.1:{}\n", host.ready))
        .replace(
            "       pods insecure",
            &format!(
                "       kubeconfig {}\n       pods insecure",
                host.kubeconfig.display()
            ),
        )
        .replace(
            "prometheus :9153",
            &format!("prometheus 127.0.0.1:{}", host.metrics),
        )
        .replace(
            "forward . /etc/resolv.conf",
            &format!("forward . {}", host.upstream),
        );
    assert_eq!(
        replaced.matches("127.0.0.1").count(),
        5,
        "kubeadm's Corefile changed shape:\n{replaced}"
    );
    replaced
}
