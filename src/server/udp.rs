//! UDP serving: blocking reader threads that answer each query in place, without a task per query.
//!
//! Why not hickory-server's UDP loop: it spawns a task per query and hands every reply through a
//! channel to a writer task, so each query costs an epoll wake, a failed `recvfrom`, a task and a
//! cross-task send. Cluster and cache answers are ready on the first poll, so here a reader
//! blocks in `recvfrom`, polls the chain once on its own thread and writes the reply with one
//! `sendto`; only a query that must wait (forward, a sub-lookup) moves to the runtime.

use std::io;
use std::net::{Shutdown, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::Duration;

use clusterdns_plugin::{Transport, clog, metrics};
use hickory_server::net::xfer::Protocol;
use hickory_server::server::Request as WireRequest;
use nix::sys::socket::{SockaddrStorage, recvfrom};
use tokio::runtime::Handle;

use super::dispatch::{Dispatcher, Incoming};

/// The largest UDP datagram.
const MAX_DATAGRAM: usize = 65_535;
/// A reply the kernel cannot queue within this long is dropped, as a full socket would drop it.
const SEND_TIMEOUT: Duration = Duration::from_millis(100);
/// How long a reader rests after an unexpected socket error, so a persistent one cannot spin.
const ERROR_PAUSE: Duration = Duration::from_millis(10);

/// One UDP socket and its reader threads.
pub struct UdpListener {
    socket: Arc<UdpSocket>,
    stopping: Arc<AtomicBool>,
    readers: Vec<JoinHandle<()>>,
}

impl UdpListener {
    /// Serves `socket` with one blocking reader per core this process may run on; queries that
    /// wait go to `runtime`.
    pub fn start(socket: UdpSocket, dispatcher: Arc<Dispatcher>, runtime: Handle) -> io::Result<Self> {
        socket.set_nonblocking(false)?;
        socket.set_write_timeout(Some(SEND_TIMEOUT))?;
        let socket = Arc::new(socket);
        let stopping = Arc::new(AtomicBool::new(false));
        let count = std::thread::available_parallelism().map_or(1, usize::from);
        let mut readers = Vec::with_capacity(count);
        for i in 0..count {
            let reader = Reader {
                socket: socket.clone(),
                dispatcher: dispatcher.clone(),
                stopping: stopping.clone(),
                runtime: runtime.clone(),
            };
            readers.push(
                std::thread::Builder::new()
                    .name(format!("udp-{i}"))
                    .spawn(move || reader.run())?,
            );
        }
        Ok(Self {
            socket,
            stopping,
            readers,
        })
    }

    /// Stops reading and waits for the readers to leave; replies still being worked out on the
    /// runtime are sent when ready.
    pub async fn stop(self) {
        self.stopping.store(true, Ordering::Release);
        // Linux wakes every thread blocked in recvfrom on a shut-down socket (it reports ENOTCONN
        // for an unconnected UDP socket, which is expected here).
        let _ = socket2::SockRef::from(&*self.socket).shutdown(Shutdown::Read);
        let readers = self.readers;
        let _ = tokio::task::spawn_blocking(move || {
            for reader in readers {
                let _ = reader.join();
            }
        })
        .await;
    }
}

struct Reader {
    socket: Arc<UdpSocket>,
    dispatcher: Arc<Dispatcher>,
    stopping: Arc<AtomicBool>,
    runtime: Handle,
}

impl Reader {
    fn run(self) {
        // Plugins open sockets, start timers and spawn while being polled here.
        let _runtime = self.runtime.enter();
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            // nix's recvfrom rather than std's: std asserts that an IPv4 source address is
            // complete and panics the reader when the kernel returns a short one (seen when the
            // socket was shut down to wake its readers, after `loop`'s probe); here such a
            // datagram has no source and is skipped.
            let received = recvfrom::<SockaddrStorage>(self.socket.as_raw_fd(), &mut buf);
            if self.stopping.load(Ordering::Acquire) {
                return;
            }
            match received {
                Ok((len, Some(src))) => {
                    let src = if let Some(v4) = src.as_sockaddr_in() {
                        SocketAddr::from(SocketAddrV4::from(*v4))
                    } else if let Some(v6) = src.as_sockaddr_in6() {
                        SocketAddr::from(SocketAddrV6::from(*v6))
                    } else {
                        continue;
                    };
                    self.answer(&buf[..len], src);
                }
                Ok((_, None)) => {}
                Err(e) if is_transient(&io::Error::from(e)) => {}
                Err(e) => {
                    clog::warning(None, format_args!("reading UDP: {e}"));
                    std::thread::sleep(ERROR_PAUSE);
                }
            }
        }
    }

    /// Answers one datagram: in place when the chain is ready at once, else on the runtime,
    /// if the listener has room for one more waiting query (else REFUSED).
    fn answer(&self, bytes: &[u8], src: SocketAddr) {
        // From port 0 there is nowhere to reply.
        if src.port() == 0 {
            return;
        }
        let reply = UdpReply {
            socket: self.socket.clone(),
            dst: src,
        };
        let request = match Incoming::sort(bytes.to_vec(), src, Protocol::Udp) {
            Incoming::Query(request) => request,
            Incoming::Malformed(formerr) => return reply.send_bytes(&formerr),
            Incoming::Ignored => return,
        };
        let dispatcher = self.dispatcher.clone();
        let mut task: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
            reply.send_bytes(&dispatcher.reply(&request).await);
        });
        // A future must register the waker of its latest poll, so one first polled with a no-op
        // waker and then spawned is woken by the runtime as usual.
        let mut cx = Context::from_waker(Waker::noop());
        match std::panic::catch_unwind(AssertUnwindSafe(|| task.as_mut().poll(&mut cx))) {
            Ok(Poll::Ready(())) => {}
            Ok(Poll::Pending) => match self.dispatcher.admit(Transport::Udp) {
                Some(waiting) => {
                    self.runtime.spawn(async move {
                        task.await;
                        drop(waiting);
                    });
                }
                None => {
                    // What the task had started (an upstream exchange) is dropped with it.
                    drop(task);
                    if let Ok(request) = WireRequest::from_bytes(bytes.to_vec(), src, Protocol::Udp) {
                        let reply = UdpReply {
                            socket: self.socket.clone(),
                            dst: src,
                        };
                        reply.send_bytes(&Dispatcher::refused(&request));
                    }
                }
            },
            // The chain catches its own panics; this is one in writing the reply.
            Err(_) => {
                if let Some(c) = metrics::PANICS.as_ref() {
                    c.inc();
                }
                clog::error(None, format_args!("Recovered from panic answering {src}"));
            }
        }
    }
}

/// Errors that say nothing about the socket: an interrupted call, an ICMP error of an earlier
/// reply, a timeout.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
    )
}

/// Writes one reply to the client with a single `sendto`.
struct UdpReply {
    socket: Arc<UdpSocket>,
    dst: SocketAddr,
}

impl UdpReply {
    /// Sends a reply already in wire form. A reply the socket cannot take is dropped, as a
    /// full socket buffer drops it (the client retries).
    /// Sends `bytes`; nothing for a dropped query (no bytes).
    fn send_bytes(&self, bytes: &[u8]) {
        if !bytes.is_empty() {
            let _ = self.socket.send_to(bytes, self.dst);
        }
    }
}
