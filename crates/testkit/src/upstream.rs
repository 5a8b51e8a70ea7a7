//! A DNS server for tests to forward to: answers from a table, misbehaves on request, and
//! records what it was asked. Runs on its own threads, on 127.0.0.1: UDP and TCP, DNS over TLS,
//! or DNS over HTTPS (RFC 8484, HTTP/2 or HTTP/1.1 as the client's TLS handshake offers).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, ResponseCode};
use hickory_proto::rr::{Name, Record, RecordType};

/// How the upstream treats queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// Answers from its table: the records, or NXDOMAIN with an SOA.
    Answer,
    /// Sends nothing.
    Drop,
    /// Answers after this long.
    Delay(Duration),
    /// Replies with this rcode and no records.
    Rcode(ResponseCode),
    /// Over UDP, a TC reply with no records; over TCP, the full answer.
    Truncate,
    /// A reply with another ID.
    WrongId,
    /// Bytes that are not a DNS message.
    Garbage,
    /// A reply of 3000 bytes whatever the query asked for.
    Oversized,
}

/// What the upstream received.
#[derive(Debug, Clone)]
pub struct Received {
    pub tcp: bool,
    pub query: Message,
    /// Over HTTPS: the method and HTTP version (`POST HTTP/2.0`).
    pub http: Option<String>,
}

pub(crate) struct State {
    behaviour: Behaviour,
    records: HashMap<(Name, RecordType), Vec<Record>>,
    /// Delegated zones: names under them without records get a referral (NS, glue).
    referrals: Vec<(Name, Vec<Record>, Vec<Record>)>,
    /// Authority and additional records sent with the answer to a name and type.
    sections: HashMap<(Name, RecordType), (Vec<Record>, Vec<Record>)>,
    received: Vec<Received>,
}

impl State {
    /// A fresh table, answering normally.
    fn shared() -> Arc<Mutex<State>> {
        Arc::new(Mutex::new(State {
            behaviour: Behaviour::Answer,
            records: HashMap::new(),
            referrals: Vec::new(),
            sections: HashMap::new(),
            received: Vec::new(),
        }))
    }
}

/// A test upstream; stops on drop.
pub struct FakeUpstream {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    /// With [`FakeUpstream::start_tls`]: the CA certificate (PEM) clients verify it with.
    pub ca: Option<std::path::PathBuf>,
    _files: Option<crate::TempDir>,
}

impl FakeUpstream {
    /// Starts on a free port of 127.0.0.1.
    pub fn start() -> FakeUpstream {
        // Bound here rather than on a port from `free_port`: another test may take that port
        // between the two calls.
        loop {
            let udp = UdpSocket::bind("127.0.0.1:0").expect("upstream udp");
            let addr = udp.local_addr().expect("addr");
            if let Ok(tcp) = TcpListener::bind(addr) {
                return FakeUpstream::serve(udp, tcp);
            }
        }
    }

    /// Starts on `port` of 127.0.0.1 (to restart an upstream where it was).
    pub fn start_on(port: u16) -> FakeUpstream {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let udp = UdpSocket::bind(addr).expect("upstream udp");
        let tcp = TcpListener::bind(addr).expect("upstream tcp");
        FakeUpstream::serve(udp, tcp)
    }

    fn serve(udp: UdpSocket, tcp: TcpListener) -> FakeUpstream {
        let addr = udp.local_addr().expect("addr");
        udp.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        tcp.set_nonblocking(true).expect("nonblocking");
        let (state, stop) = (State::shared(), Arc::new(AtomicBool::new(false)));
        let (s, st) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65535];
            while !st.load(Ordering::Acquire) {
                let Ok((n, from)) = udp.recv_from(&mut buf) else {
                    continue;
                };
                let (Ok(sock), bytes, s) = (udp.try_clone(), buf[..n].to_vec(), s.clone()) else {
                    continue;
                };
                std::thread::spawn(move || {
                    if let Some(reply) = respond(&s, &bytes, false) {
                        let _ = sock.send_to(&reply, from);
                    }
                });
            }
        });
        let (s, st) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Acquire) {
                match tcp.accept() {
                    Ok((conn, _)) => {
                        let s = s.clone();
                        std::thread::spawn(move || {
                            let _ = conn.set_nonblocking(false);
                            let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                            serve_stream(conn, &s);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FakeUpstream {
            addr,
            state,
            stop,
            ca: None,
            _files: None,
        }
    }

    /// A DNS-over-TLS upstream on a free port, with a certificate made now for `127.0.0.1` and
    /// `dns.test` (self-signed: its own CA, in [`FakeUpstream::ca`]).
    pub fn start_tls() -> FakeUpstream {
        let (config, ca, files) = self_signed("dot", &[b"dot"]);
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind dot");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let (state, stop) = (State::shared(), Arc::new(AtomicBool::new(false)));
        let (s, st) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (s, config) = (s.clone(), config.clone());
                        std::thread::spawn(move || {
                            let _ = conn.set_nonblocking(false);
                            let Ok(server) = rustls::ServerConnection::new(config) else {
                                return;
                            };
                            serve_stream(rustls::StreamOwned::new(server, conn), &s);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FakeUpstream {
            addr,
            state,
            stop,
            ca: Some(ca),
            _files: Some(files),
        }
    }

    /// A DNS-over-HTTPS upstream on a free port (`/dns-query`, GET and POST), with a
    /// certificate made now for `127.0.0.1` and `dns.test`, its CA in [`FakeUpstream::ca`].
    pub fn start_doh() -> FakeUpstream {
        FakeUpstream::start_doh_speaking(&[b"h2", b"http/1.1"])
    }

    /// As [`FakeUpstream::start_doh`], speaking HTTP/1.1 only.
    pub fn start_doh_http1() -> FakeUpstream {
        FakeUpstream::start_doh_speaking(&[b"http/1.1"])
    }

    fn start_doh_speaking(alpn: &[&[u8]]) -> FakeUpstream {
        let (config, ca, files) = self_signed("doh", alpn);
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind doh");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let (state, stop) = (State::shared(), Arc::new(AtomicBool::new(false)));
        let (s, st) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            runtime.block_on(crate::doh::serve(listener, acceptor, s, st));
        });
        FakeUpstream {
            addr,
            state,
            stop,
            ca: Some(ca),
            _files: Some(files),
        }
    }

    /// Adds a record to the table (`rr` syntax); queries for its name and type get it.
    pub fn add(&self, record: Record) {
        let mut s = self.state.lock().expect("state");
        s.records
            .entry((record.name.clone(), record.record_type()))
            .or_default()
            .push(record);
    }

    /// Sets the whole answer to `name`/`rtype` (a CNAME chain, say), in this order.
    pub fn answer(&self, name: &str, rtype: RecordType, records: Vec<Record>) {
        let mut s = self.state.lock().expect("state");
        s.records
            .insert((Name::from_ascii(name).expect("name"), rtype), records);
    }

    /// Delegates `zone`: queries under it that the table has no records for get a referral,
    /// NOERROR with `ns` in the authority section and `glue` in the additional one.
    pub fn refer(&self, zone: &str, ns: Vec<Record>, glue: Vec<Record>) {
        let mut s = self.state.lock().expect("state");
        s.referrals
            .push((Name::from_ascii(zone).expect("zone"), ns, glue));
    }

    /// Sends `authorities` and `additionals` along with the answer to `name`/`rtype`.
    pub fn sections(
        &self,
        name: &str,
        rtype: RecordType,
        authorities: Vec<Record>,
        additionals: Vec<Record>,
    ) {
        let mut s = self.state.lock().expect("state");
        s.sections.insert(
            (Name::from_ascii(name).expect("name"), rtype),
            (authorities, additionals),
        );
    }

    pub fn set(&self, behaviour: Behaviour) {
        self.state.lock().expect("state").behaviour = behaviour;
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().expect("state").received.clone()
    }

    /// How many queries for `name` were received.
    pub fn count(&self, name: &str) -> usize {
        let name = Name::from_ascii(name).expect("name");
        self.received()
            .iter()
            .filter(|r| r.query.queries.first().is_some_and(|q| *q.name() == name))
            .count()
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// A TLS server configuration with a certificate made now for `127.0.0.1` and `dns.test`
/// (self-signed: its own CA, written to the directory returned), offering `alpn`.
fn self_signed(label: &str, alpn: &[&[u8]]) -> (rustls::ServerConfig, std::path::PathBuf, crate::TempDir) {
    use rustls::pki_types::pem::PemObject;
    let (cert, key) = crate::self_signed_pem();
    let files = crate::TempDir::new(label);
    let ca = files.write("ca.pem", &cert);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key");
    let cert = rustls::pki_types::CertificateDer::from_pem_slice(cert.as_bytes()).expect("cert");
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server config");
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    (config, ca, files)
}

/// Length-prefixed DNS over a stream: TCP, or TLS.
fn serve_stream(mut conn: impl Read + Write, state: &Arc<Mutex<State>>) {
    loop {
        let mut len = [0u8; 2];
        if conn.read_exact(&mut len).is_err() {
            return;
        }
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if conn.read_exact(&mut query).is_err() {
            return;
        }
        if let Some(reply) = respond(state, &query, true) {
            let Ok(len) = u16::try_from(reply.len()) else {
                return;
            };
            if conn
                .write_all(&len.to_be_bytes())
                .and_then(|_| conn.write_all(&reply))
                .is_err()
            {
                return;
            }
        }
    }
}

/// The bytes to send back for a query, if any.
fn respond(state: &Arc<Mutex<State>>, bytes: &[u8], tcp: bool) -> Option<Vec<u8>> {
    respond_to(state, bytes, tcp, None)
}

/// [`respond`], noting how a DoH query came (`http`).
pub(crate) fn respond_to(
    state: &Arc<Mutex<State>>,
    bytes: &[u8],
    tcp: bool,
    http: Option<String>,
) -> Option<Vec<u8>> {
    let query = Message::from_vec(bytes).ok()?;
    let (behaviour, answers, referral, sections) = {
        let mut s = state.lock().expect("state");
        s.received.push(Received {
            tcp,
            query: query.clone(),
            http,
        });
        let q = query.queries.first()?;
        let referral = s
            .referrals
            .iter()
            .find(|(zone, _, _)| zone.zone_of(q.name()))
            .map(|(_, ns, glue)| (ns.clone(), glue.clone()));
        (
            s.behaviour.clone(),
            s.records.get(&(q.name().clone(), q.query_type())).cloned(),
            referral,
            s.sections.get(&(q.name().clone(), q.query_type())).cloned(),
        )
    };
    let mut reply = Message::new(query.metadata.id, MessageType::Response, query.metadata.op_code);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.queries = query.queries.clone();
    if query.edns.is_some() {
        let mut e = Edns::new();
        e.set_max_payload(1232);
        reply.edns = Some(e);
    }
    match behaviour {
        Behaviour::Drop => return None,
        Behaviour::Delay(d) => std::thread::sleep(d),
        Behaviour::Rcode(rc) => {
            reply.metadata.response_code = rc;
            return reply.to_vec().ok();
        }
        Behaviour::Truncate if !tcp => {
            reply.metadata.truncation = true;
            return reply.to_vec().ok();
        }
        Behaviour::WrongId => reply.metadata.id = query.metadata.id.wrapping_add(1),
        Behaviour::Garbage => {
            let mut junk = bytes[..2].to_vec();
            junk.extend_from_slice(&[0xff; 30]);
            return Some(junk);
        }
        Behaviour::Oversized => {
            let mut big = reply.to_vec().ok()?;
            big.resize(3000, 0);
            return Some(big);
        }
        Behaviour::Answer | Behaviour::Truncate => {}
    }
    match (answers, referral) {
        (Some(records), _) => {
            reply.answers = records;
            if let Some((authorities, additionals)) = sections {
                reply.authorities = authorities;
                reply.additionals = additionals;
            }
        }
        (None, Some((ns, glue))) => {
            reply.authorities = ns;
            reply.additionals = glue;
        }
        (None, None) => {
            reply.metadata.response_code = ResponseCode::NXDomain;
            reply.authorities.push(crate::rr(
                "example. 60 SOA ns.example. hostmaster.example. 1 7200 1800 86400 30",
            ));
        }
    }
    reply.to_vec().ok()
}
