//! One upstream: a cache of idle connections per transport, the exchange of one query, and the
//! health checks that start after a failure (CoreDNS's `pkg/proxy`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use clusterdns_plugin::proto::op::{Message, MessageType, Query};
use clusterdns_plugin::proto::rr::{DNSClass, RecordType};
use clusterdns_plugin::response::rcode_name;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout_at;
use tokio_rustls::client::TlsStream;

use crate::doh::DohClient;
use crate::metrics;
use crate::multiplex::{Multiplexer, MuxError};
use crate::setup::Options;
use crate::tls::{Clients, Tls};
use crate::upstream::{Upstream, UpstreamTransport};

/// How long a health check waits for its answer.
const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(1);
/// How long connecting over TCP may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(2);
/// Idle connections kept per upstream and transport; more are closed when yielded back.
const MAX_IDLE: usize = 256;
/// TCP (or TLS) connections to one upstream in use at once; more queries are turned away
/// (as a full UDP multiplexer turns them away) rather than each opening one.
const MAX_STREAMS: usize = 256;

/// The transport of one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Udp,
    Tcp,
}

impl Proto {
    fn as_str(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        }
    }
}

/// Why an exchange with an upstream failed; each counts as that upstream failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExchangeError {
    /// A cached TCP connection the upstream had closed: retried on a new one.
    CachedClosed,
    /// No answer in time; CoreDNS's text: `read udp A->B: i/o timeout`.
    Timeout {
        proto: Proto,
        local: Option<SocketAddr>,
        remote: SocketAddr,
    },
    Io(String),
    /// More bytes than asked for (the client's size, or 512 without EDNS).
    Oversized(usize),
    /// Not a DNS message.
    Garbage(String),
    /// A reply for another question.
    WrongQuestion,
    /// As many queries in flight to the upstream as it is given: not a failure of the
    /// upstream (no health check).
    Busy,
}

impl std::fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExchangeError::CachedClosed => write!(f, "cached connection was closed by peer"),
            ExchangeError::Timeout { proto, local, remote } => match local {
                Some(l) => write!(f, "read {} {l}->{remote}: i/o timeout", proto.as_str()),
                None => write!(f, "dial {} {remote}: i/o timeout", proto.as_str()),
            },
            ExchangeError::Io(e) => write!(f, "{e}"),
            ExchangeError::Oversized(n) => write!(f, "dns: overflowing reply of {n} bytes"),
            ExchangeError::Garbage(e) => write!(f, "dns: bad reply: {e}"),
            ExchangeError::WrongQuestion => write!(f, "dns: reply for another question"),
            ExchangeError::Busy => write!(f, "too many queries in flight to this upstream"),
        }
    }
}

/// How one exchange is made: over a cached connection or a fresh one, and how long to wait.
#[derive(Clone, Copy)]
struct Via {
    cached: bool,
    read_timeout: Duration,
}

struct Idle<T> {
    since: Instant,
    /// When the connection was opened (`max_age`).
    born: Instant,
    conn: T,
}

/// One upstream and its state.
pub struct Proxy {
    pub upstream: Upstream,
    label: String,
    options: Arc<Options>,
    udp: Multiplexer,
    tcp: Mutex<Vec<Idle<TcpStream>>>,
    /// Places for TCP and TLS exchanges, [`MAX_STREAMS`].
    streams: tokio::sync::Semaphore,
    tls_conns: Mutex<Vec<Idle<TlsStream<TcpStream>>>>,
    /// The TLS client, for `tls://` and `https://` upstreams (which always use it).
    tls: Option<Tls>,
    /// The HTTP side of an `https://` upstream.
    doh: Option<DohClient>,
    /// Consecutive failed health checks.
    fails: AtomicU32,
    checking: AtomicBool,
}

impl Proxy {
    pub fn new(upstream: Upstream, options: Arc<Options>, clients: &Clients) -> Self {
        let addr = upstream.addr;
        let source = options.source_address;
        let label = upstream.label();
        let tls = match upstream.transport {
            UpstreamTransport::Tls { .. } => clients.dot.clone(),
            UpstreamTransport::Https { .. } => clients.doh.clone(),
            UpstreamTransport::Dns => None,
        };
        let doh = matches!(upstream.transport, UpstreamTransport::Https { .. }).then(|| {
            let name = upstream
                .transport
                .server_name()
                .map(str::to_string)
                .or_else(|| tls.as_ref().and_then(|t| t.server_name().map(str::to_string)));
            let authority = match name {
                Some(n) if addr.port() == 443 => n,
                Some(n) => format!("{n}:{}", addr.port()),
                None => addr.to_string(),
            };
            DohClient::new(options.doh_method, authority)
        });
        Self {
            upstream,
            label,
            options,
            udp: Multiplexer::new(addr, source),
            tcp: Mutex::new(Vec::new()),
            streams: tokio::sync::Semaphore::new(MAX_STREAMS),
            tls_conns: Mutex::new(Vec::new()),
            tls,
            doh,
            fails: AtomicU32::new(0),
            checking: AtomicBool::new(false),
        }
    }

    /// Down when health checks failed more than `max_fails` times in a row (never with 0).
    pub fn down(&self) -> bool {
        self.options.max_fails != 0 && self.fails.load(Ordering::Acquire) > self.options.max_fails
    }

    /// Sends `query` (its ID already the upstream one) over a cached connection if there is
    /// one, and waits for the matching reply.
    pub async fn exchange(
        &self,
        query: &Message,
        wire: &[u8],
        proto: Proto,
        max_udp: usize,
    ) -> Result<Message, ExchangeError> {
        let start = Instant::now();
        let via = Via {
            cached: true,
            read_timeout: self.options.read_timeout,
        };
        // A tls:// upstream is always asked over TLS.
        let result = match proto {
            Proto::Udp if self.tls.is_none() => self.exchange_udp(query, wire, max_udp, via).await,
            _ => self.exchange_tcp(query, wire, via).await,
        };
        if let (Ok(m), Some(h)) = (&result, metrics::REQUEST_DURATION.as_ref()) {
            h.with_label_values(&["forward", &self.label, &rcode_name(m.metadata.response_code)])
                .observe(start.elapsed().as_secs_f64());
        }
        result
    }

    /// One UDP exchange: over the shared sockets, or for a health check over a socket of its
    /// own (a busy multiplexer must not make a healthy upstream look down).
    async fn exchange_udp(
        &self,
        query: &Message,
        wire: &[u8],
        max_udp: usize,
        via: Via,
    ) -> Result<Message, ExchangeError> {
        let deadline = tokio::time::Instant::now() + via.read_timeout;
        let reply = if via.cached {
            let (_, reply, reused) = self
                .udp
                .exchange(wire, deadline, self.options.expire)
                .await
                .map_err(|e| match e {
                    MuxError::Busy => ExchangeError::Busy,
                    MuxError::Io(e) => ExchangeError::Io(format!("udp {}: {e}", self.upstream.addr)),
                    MuxError::Timeout(local) => ExchangeError::Timeout {
                        proto: Proto::Udp,
                        local,
                        remote: self.upstream.addr,
                    },
                })?;
            self.count_cache(reused, Proto::Udp);
            reply
        } else {
            self.exchange_udp_alone(query, wire, max_udp, deadline).await?
        };
        if reply.len() > max_udp {
            return Err(ExchangeError::Oversized(reply.len()));
        }
        check(query, &reply)
    }

    /// One exchange on a socket opened for it.
    async fn exchange_udp_alone(
        &self,
        query: &Message,
        wire: &[u8],
        max_udp: usize,
        deadline: tokio::time::Instant,
    ) -> Result<Vec<u8>, ExchangeError> {
        let sock = UdpSocket::bind(local_address(self.upstream.addr, self.options.source_address))
            .await
            .map_err(|e| ExchangeError::Io(format!("dial udp: {e}")))?;
        sock.connect(self.upstream.addr)
            .await
            .map_err(|e| ExchangeError::Io(format!("dial udp {}: {e}", self.upstream.addr)))?;
        sock.send(wire)
            .await
            .map_err(|e| ExchangeError::Io(format!("write udp {}: {e}", self.upstream.addr)))?;
        let mut buf = vec![0u8; max_udp + 1];
        loop {
            let n = match timeout_at(deadline, sock.recv(&mut buf)).await {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return Err(ExchangeError::Io(format!("read udp {}: {e}", self.upstream.addr))),
                Err(_) => {
                    return Err(ExchangeError::Timeout {
                        proto: Proto::Udp,
                        local: sock.local_addr().ok(),
                        remote: self.upstream.addr,
                    });
                }
            };
            if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) != query.metadata.id {
                continue;
            }
            buf.truncate(n);
            return Ok(buf);
        }
    }

    /// TCP, TLS for `tls://` upstreams, HTTPS for `https://` ones, over a cached connection
    /// if there is one.
    async fn exchange_tcp(&self, query: &Message, wire: &[u8], via: Via) -> Result<Message, ExchangeError> {
        match (&self.tls, &self.doh) {
            (Some(tls), Some(doh)) => self.exchange_doh(tls, doh, query, wire, via).await,
            (Some(tls), None) => {
                let connect = async { self.handshake(tls, self.dial().await?).await };
                let local = |s: &TlsStream<TcpStream>| s.get_ref().0.local_addr().ok();
                self.exchange_pooled(&self.tls_conns, connect, local, query, wire, via)
                    .await
            }
            (None, _) => {
                let local = |s: &TcpStream| s.local_addr().ok();
                self.exchange_pooled(&self.tcp, self.dial(), local, query, wire, via)
                    .await
            }
        }
    }

    /// One exchange on a stream from `pool`, or on a new one from `connect`, which goes back
    /// to the pool afterwards.
    async fn exchange_pooled<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        pool: &Mutex<Vec<Idle<S>>>,
        connect: impl Future<Output = Result<S, ExchangeError>>,
        local_of: impl Fn(&S) -> Option<SocketAddr>,
        query: &Message,
        wire: &[u8],
        via: Via,
    ) -> Result<Message, ExchangeError> {
        let _place = self.streams.try_acquire().map_err(|_| ExchangeError::Busy)?;
        let (mut stream, born, reused) =
            match via.cached.then(|| self.take_cached(pool, Proto::Tcp)).flatten() {
                Some((s, born)) => (s, born, true),
                None => (connect.await?, Instant::now(), false),
            };
        let local = local_of(&stream);
        let reply = self
            .exchange_stream(&mut stream, reused, local, query, wire, via)
            .await?;
        if via.cached {
            let keep = match self.options.max_idle_conns {
                0 => MAX_IDLE,
                n => n.min(MAX_IDLE),
            };
            yield_back(pool, stream, born, keep);
        }
        Ok(reply)
    }

    /// One DoH exchange (CoreDNS's `lookupDoH`): the query's ID zero, over the shared HTTP/2
    /// connection or a new one, the whole within the read timeout.
    async fn exchange_doh(
        &self,
        tls: &Tls,
        doh: &DohClient,
        query: &Message,
        wire: &[u8],
        via: Via,
    ) -> Result<Message, ExchangeError> {
        let _place = self.streams.try_acquire().map_err(|_| ExchangeError::Busy)?;
        let mut wire = wire.to_vec();
        if wire.len() >= 2 {
            wire[..2].copy_from_slice(&[0, 0]);
        }
        let remote = self.upstream.addr;
        let exchange = async {
            let cached = via.cached.then(|| doh.cached(self.options.max_age)).flatten();
            if via.cached {
                self.count_cache(cached.is_some(), Proto::Tcp);
            }
            let conn = match cached {
                Some(conn) => conn,
                None => {
                    let stream = self.handshake(tls, self.dial().await?).await?;
                    doh.connect(stream, via.cached)
                        .await
                        .map_err(|e| ExchangeError::Io(format!("https {remote}: {e}")))?
                }
            };
            let reply = doh
                .exchange(conn, &wire)
                .await
                .map_err(|e| ExchangeError::Io(format!("https {remote}: {e}")))?;
            check(query, &reply)
        };
        timeout_at(tokio::time::Instant::now() + via.read_timeout, exchange)
            .await
            .map_err(|_| ExchangeError::Timeout {
                proto: Proto::Tcp,
                local: None,
                remote,
            })?
    }

    /// The TLS handshake on a dialled connection, within the dial timeout.
    async fn handshake(&self, tls: &Tls, tcp: TcpStream) -> Result<TlsStream<TcpStream>, ExchangeError> {
        let name = self.upstream.transport.server_name();
        tokio::time::timeout(DIAL_TIMEOUT, tls.connect(tcp, self.upstream.addr, name))
            .await
            .map_err(|_| ExchangeError::Timeout {
                proto: Proto::Tcp,
                local: None,
                remote: self.upstream.addr,
            })?
            .map_err(|e| ExchangeError::Io(format!("tls handshake with {}: {e}", self.upstream.addr)))
    }

    async fn dial(&self) -> Result<TcpStream, ExchangeError> {
        let connect = async {
            let socket = if self.upstream.addr.is_ipv4() {
                tokio::net::TcpSocket::new_v4()?
            } else {
                tokio::net::TcpSocket::new_v6()?
            };
            if self.options.source_address.is_some() {
                socket.bind(local_address(self.upstream.addr, self.options.source_address))?;
            }
            socket.connect(self.upstream.addr).await
        };
        match tokio::time::timeout(DIAL_TIMEOUT, connect).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(ExchangeError::Io(format!("dial tcp {}: {e}", self.upstream.addr))),
            Err(_) => Err(ExchangeError::Timeout {
                proto: Proto::Tcp,
                local: None,
                remote: self.upstream.addr,
            }),
        }
    }

    /// One length-prefixed exchange on a stream; replies with other IDs are skipped.
    async fn exchange_stream<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        reused: bool,
        local: Option<SocketAddr>,
        query: &Message,
        wire: &[u8],
        via: Via,
    ) -> Result<Message, ExchangeError> {
        let closed = |e: std::io::Error| {
            if reused {
                ExchangeError::CachedClosed
            } else {
                ExchangeError::Io(format!("tcp {}: {e}", self.upstream.addr))
            }
        };
        let len = u16::try_from(wire.len()).map_err(|_| ExchangeError::Io("query too large".into()))?;
        let mut framed = Vec::with_capacity(wire.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(wire);
        stream.write_all(&framed).await.map_err(closed)?;
        stream.flush().await.map_err(closed)?;
        let deadline = tokio::time::Instant::now() + via.read_timeout;
        let timeout = || ExchangeError::Timeout {
            proto: Proto::Tcp,
            local,
            remote: self.upstream.addr,
        };
        loop {
            let mut len = [0u8; 2];
            match timeout_at(deadline, stream.read_exact(&mut len)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(closed(e)),
                Err(_) => return Err(timeout()),
            }
            let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
            match timeout_at(deadline, stream.read_exact(&mut reply)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(ExchangeError::Io(format!("read tcp {}: {e}", self.upstream.addr))),
                Err(_) => return Err(timeout()),
            }
            if reply.len() >= 2 && u16::from_be_bytes([reply[0], reply[1]]) != query.metadata.id {
                continue;
            }
            return check(query, &reply);
        }
    }

    /// An idle connection from the cache, counting the hit or miss.
    fn take_cached<T>(&self, pool: &Mutex<Vec<Idle<T>>>, proto: Proto) -> Option<(T, Instant)> {
        let conn = take(pool, self.options.expire, self.options.max_age);
        self.count_cache(conn.is_some(), proto);
        conn
    }

    /// `coredns_proxy_conn_cache_{hits,misses}_total`: an open connection (a shared UDP socket)
    /// reused, or one opened.
    fn count_cache(&self, hit: bool, proto: Proto) {
        let family = if hit {
            &*metrics::CONN_CACHE_HITS
        } else {
            &*metrics::CONN_CACHE_MISSES
        };
        if let Some(c) = family {
            c.with_label_values(&["forward", &self.label, proto.as_str()])
                .inc();
        }
    }

    /// Starts checking the upstream (`. IN NS` every health_check period) unless a check is
    /// already running; checks stop at the first answer, which resets the failure count.
    pub fn health_check(self: &Arc<Self>) {
        if self.options.max_fails == 0 || self.checking.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak: Weak<Proxy> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(proxy) = weak.upgrade() else { return };
                if proxy.probe().await.is_ok() {
                    proxy.fails.store(0, Ordering::Release);
                    proxy.checking.store(false, Ordering::Release);
                    return;
                }
                proxy.fails.fetch_add(1, Ordering::AcqRel);
                if let Some(c) = metrics::HEALTHCHECK_FAILURES.as_ref() {
                    c.with_label_values(&["forward", &proxy.label]).inc();
                }
                let period = proxy.options.health_check;
                drop(proxy);
                tokio::time::sleep(period).await;
            }
        });
    }

    /// One health check: any reply at all means the upstream is up (as CoreDNS).
    async fn probe(&self) -> Result<(), ExchangeError> {
        let mut m = Message::new(
            rand::random(),
            MessageType::Query,
            clusterdns_plugin::proto::op::OpCode::Query,
        );
        m.metadata.recursion_desired = self.options.health_check_rd;
        let mut q = Query::query(self.options.health_check_domain.clone(), RecordType::NS);
        q.set_query_class(DNSClass::IN);
        m.queries.push(q);
        let wire = m.to_vec().map_err(|e| ExchangeError::Io(e.to_string()))?;
        // Health checks use a connection of their own, never the cached ones.
        let via = Via {
            cached: false,
            read_timeout: HEALTH_CHECK_TIMEOUT,
        };
        let result = if self.options.force_tcp || self.tls.is_some() {
            self.exchange_tcp(&m, &wire, via).await
        } else {
            self.exchange_udp(&m, &wire, 512, via).await
        };
        result.map(|_| ())
    }
}

/// The reply, if it is a well-formed response to `query`'s question.
fn check(query: &Message, bytes: &[u8]) -> Result<Message, ExchangeError> {
    let reply = Message::from_vec(bytes).map_err(|e| ExchangeError::Garbage(e.to_string()))?;
    // Names compare without case (hickory's Name equality), as CoreDNS's state.Match.
    let same = match (reply.queries.as_slice(), query.queries.first()) {
        ([r], Some(q)) => r.name() == q.name() && r.query_type() == q.query_type(),
        _ => false,
    };
    if reply.metadata.message_type != MessageType::Response || !same {
        return Err(ExchangeError::WrongQuestion);
    }
    Ok(reply)
}

/// The most recently used connection idle for less than `expire` and, with a `max_age`,
/// younger than it; older ones are closed.
fn take<T>(pool: &Mutex<Vec<Idle<T>>>, expire: Duration, max_age: Duration) -> Option<(T, Instant)> {
    let mut pool = pool.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    while let Some(idle) = pool.pop() {
        let young = max_age.is_zero() || idle.born.elapsed() < max_age;
        if idle.since.elapsed() < expire && young {
            return Some((idle.conn, idle.born));
        }
    }
    None
}

fn yield_back<T>(pool: &Mutex<Vec<Idle<T>>>, conn: T, born: Instant, keep: usize) {
    let mut pool = pool.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if pool.len() < keep {
        pool.push(Idle {
            since: Instant::now(),
            born,
            conn,
        });
    }
}

/// The local address to send to `upstream` from: `source` (`source_address`) or any address of
/// the upstream's family, any port.
pub fn local_address(upstream: SocketAddr, source: Option<std::net::IpAddr>) -> SocketAddr {
    match source {
        Some(ip) => SocketAddr::new(ip, 0),
        None if upstream.is_ipv4() => ([0, 0, 0, 0], 0).into(),
        None => ([0u16; 8], 0).into(),
    }
}
