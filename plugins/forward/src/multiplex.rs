//! UDP exchanges with one upstream over a few shared sockets: each socket carries up to
//! [`PER_SOCKET`] queries at once, told apart by their IDs, and one reader per socket hands each
//! reply to the query waiting for its ID.
//!
//! Why not one socket per query, as CoreDNS's proxy: a flood of unique names to an upstream that
//! never answers then holds a socket and a receive buffer the size of the client's EDNS size
//! per query for the whole read timeout (CoreDNS 1.11.3 reached 20,000 descriptors and 525 MB).
//! Here descriptors and buffers are bounded per upstream, and a reply is copied out at its own
//! size. Replies are still matched on ID and question, and a connected socket takes datagrams
//! from the upstream's address only.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::RngExt;
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

/// Queries in flight on one socket: few enough that a burst of their replies fits the socket's
/// default receive buffer (about 200 small datagrams) and that a spoofed reply has a small
/// chance of guessing a live ID (128 of 65,536); a socket takes new queries until half full
/// while others can be opened.
pub const PER_SOCKET: usize = 128;
/// Sockets per upstream: with [`PER_SOCKET`], at most 4,096 queries in flight to one upstream.
pub const MAX_SOCKETS: usize = 32;
/// The largest datagram.
const MAX_DATAGRAM: usize = 65_535;

/// Why a multiplexed exchange did not get a reply.
#[derive(Debug)]
pub enum MuxError {
    /// Every socket is carrying its maximum of queries.
    Busy,
    Io(std::io::Error),
    /// No reply by the deadline; the socket's local address, for the error text.
    Timeout(Option<SocketAddr>),
}

/// One shared socket and the queries waiting on it.
struct Socket {
    socket: UdpSocket,
    waiting: Mutex<HashMap<u16, oneshot::Sender<Vec<u8>>>>,
    /// Milliseconds since the multiplexer started, when it was last used.
    used: AtomicU64,
}

/// A socket in the pool; its reader stops when the pool lets it go.
struct Open {
    shared: Arc<Socket>,
    reader: AbortHandle,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// The shared sockets of one upstream.
pub struct Multiplexer {
    upstream: SocketAddr,
    /// The local address to send from (`source_address`), if not any.
    source: Option<std::net::IpAddr>,
    started: Instant,
    pool: Mutex<Pool>,
}

#[derive(Default)]
struct Pool {
    open: Vec<Arc<Open>>,
    /// Sockets being opened: they count toward [`MAX_SOCKETS`] already.
    opening: usize,
}

/// A query's place on a socket: its ID is freed when the exchange ends, however it ends.
struct Place<'a> {
    socket: &'a Socket,
    id: u16,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if let Ok(mut waiting) = self.socket.waiting.lock() {
            waiting.remove(&self.id);
        }
    }
}

impl Multiplexer {
    /// Sockets to `upstream`, sent from `source` if given (`source_address`).
    pub fn new(upstream: SocketAddr, source: Option<std::net::IpAddr>) -> Self {
        Self {
            upstream,
            source,
            started: Instant::now(),
            pool: Mutex::new(Pool::default()),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A socket with room for one more query: the least busy open one, or a new one while there
    /// are fewer than [`MAX_SOCKETS`]. Sockets idle longer than `expire` are closed on the way.
    /// Also returns whether an open socket was reused (the connection cache metrics).
    async fn socket(&self, expire: Duration) -> Result<(Arc<Open>, bool), MuxError> {
        let now = self.now();
        let expire = u64::try_from(expire.as_millis()).unwrap_or(u64::MAX);
        {
            let mut pool = self
                .pool
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            pool.open.retain(|o| {
                o.shared.waiting.lock().is_ok_and(|w| !w.is_empty())
                    || now.saturating_sub(o.shared.used.load(Ordering::Acquire)) < expire
            });
            let full = pool.open.len() + pool.opening >= MAX_SOCKETS;
            let least = pool
                .open
                .iter()
                .map(|o| (o.shared.waiting.lock().map_or(usize::MAX, |w| w.len()), o))
                .min_by_key(|(n, _)| *n);
            match least {
                // Spread over more sockets once one is half full.
                Some((n, o)) if n < PER_SOCKET / 2 || (n < PER_SOCKET && full) => {
                    return Ok((o.clone(), true));
                }
                _ if full => return Err(MuxError::Busy),
                _ => pool.opening += 1,
            }
        }
        let opened = self.open_socket(now).await;
        let mut pool = self
            .pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        pool.opening -= 1;
        let opened = Arc::new(opened?);
        pool.open.push(opened.clone());
        Ok((opened, false))
    }

    async fn open_socket(&self, now: u64) -> Result<Open, MuxError> {
        let local = crate::proxy::local_address(self.upstream, self.source);
        let socket = UdpSocket::bind(local).await.map_err(MuxError::Io)?;
        socket.connect(self.upstream).await.map_err(MuxError::Io)?;
        let shared = Arc::new(Socket {
            socket,
            waiting: Mutex::new(HashMap::new()),
            used: AtomicU64::new(now),
        });
        let reader = tokio::spawn(read(shared.clone())).abort_handle();
        Ok(Open { shared, reader })
    }

    /// Sends `query` (its ID bytes are replaced by a free one) and waits until `deadline` for
    /// the datagram that comes back with that ID. Returns the ID used, the reply, and whether
    /// an open socket was reused.
    pub async fn exchange(
        &self,
        query: &[u8],
        deadline: tokio::time::Instant,
        expire: Duration,
    ) -> Result<(u16, Vec<u8>, bool), MuxError> {
        let (open, reused) = self.socket(expire).await?;
        let socket = &*open.shared;
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut waiting = socket
                .waiting
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if waiting.len() >= PER_SOCKET {
                return Err(MuxError::Busy);
            }
            let mut rng = rand::rng();
            let id = loop {
                let id: u16 = rng.random();
                if !waiting.contains_key(&id) {
                    break id;
                }
            };
            waiting.insert(id, tx);
            id
        };
        let place = Place { socket, id };
        socket.used.store(self.now(), Ordering::Release);
        let mut wire = query.to_vec();
        if let Some(head) = wire.get_mut(..2) {
            head.copy_from_slice(&id.to_be_bytes());
        }
        socket.socket.send(&wire).await.map_err(MuxError::Io)?;
        let reply = match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(reply)) => reply,
            // The reader stopped (the socket failed): no reply will come.
            Ok(Err(_)) => return Err(MuxError::Io(std::io::Error::other("upstream socket closed"))),
            Err(_) => return Err(MuxError::Timeout(socket.socket.local_addr().ok())),
        };
        drop(place);
        Ok((id, reply, reused))
    }

    /// Open sockets (for tests).
    #[cfg(test)]
    fn sockets(&self) -> usize {
        self.pool.lock().map_or(0, |p| p.open.len())
    }
}

/// A socket's reader: hands each datagram to the query waiting for its ID; others (late
/// replies to queries that timed out, garbage) are dropped.
async fn read(socket: Arc<Socket>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let n = match socket.socket.recv(&mut buf).await {
            Ok(n) => n,
            // ICMP port unreachable from an earlier query: not this socket's end.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
            Err(_) => {
                // Waiting queries see their channel close and fail at once.
                if let Ok(mut waiting) = socket.waiting.lock() {
                    waiting.clear();
                }
                return;
            }
        };
        if n < 2 {
            continue;
        }
        let id = u16::from_be_bytes([buf[0], buf[1]]);
        let waiter = socket.waiting.lock().ok().and_then(|mut w| w.remove(&id));
        if let Some(tx) = waiter {
            let _ = tx.send(buf[..n].to_vec());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream that echoes each query back after `delay`, or swallows it.
    async fn upstream(answer: bool) -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let addr = socket.local_addr().expect("addr");
        tokio::spawn(async move {
            let mut buf = vec![0u8; 512];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                if answer {
                    let _ = socket.send_to(&buf[..n], from).await;
                }
            }
        });
        addr
    }

    #[tokio::test]
    async fn replies_reach_their_queries_over_few_sockets() {
        let mux = Arc::new(Multiplexer::new(upstream(true).await, None));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        let mut tasks = Vec::new();
        // A burst the test upstream's own receive buffer takes whole.
        for i in 0..150u16 {
            let mux = mux.clone();
            tasks.push(tokio::spawn(async move {
                let query = [0, 0, (i >> 8) as u8, i as u8];
                let (id, reply, _) = mux
                    .exchange(&query, deadline, Duration::from_secs(10))
                    .await
                    .expect("reply");
                assert_eq!(reply[..2], id.to_be_bytes());
                assert_eq!(reply[2..], query[2..], "each query got its own reply");
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        let sockets = mux.sockets();
        assert!((1..=MAX_SOCKETS).contains(&sockets), "{sockets} sockets");
    }

    #[tokio::test]
    async fn a_silent_upstream_holds_no_more_than_its_bound() {
        let mux = Arc::new(Multiplexer::new(upstream(false).await, None));
        let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
        let mut tasks = Vec::new();
        for _ in 0..(PER_SOCKET * MAX_SOCKETS + 100) {
            let mux = mux.clone();
            tasks.push(tokio::spawn(async move {
                mux.exchange(&[0, 0, 1], deadline, Duration::from_secs(10)).await
            }));
        }
        let (mut busy, mut timeouts) = (0, 0);
        for t in tasks {
            match t.await.expect("task") {
                Err(MuxError::Busy) => busy += 1,
                Err(MuxError::Timeout(_)) => timeouts += 1,
                other => panic!("{other:?}"),
            }
        }
        // Never more in flight than the sockets carry; the rest turned away at once.
        assert_eq!(timeouts + busy, PER_SOCKET * MAX_SOCKETS + 100);
        assert!(
            timeouts <= PER_SOCKET * MAX_SOCKETS && busy >= 100,
            "{timeouts} {busy}"
        );
        assert_eq!(mux.sockets(), MAX_SOCKETS);
        // Idle sockets close after `expire`.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(10);
        tokio::time::sleep(Duration::from_millis(30)).await;
        let _ = mux
            .exchange(&[0, 0, 1], deadline, Duration::from_millis(20))
            .await;
        assert_eq!(mux.sockets(), 1);
    }
}
