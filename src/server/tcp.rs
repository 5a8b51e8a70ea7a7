//! TCP serving (RFC 7766): queries on one connection answered concurrently, replies written as
//! CoreDNS writes them, with CoreDNS's timeouts and bounds that hold under a flood of
//! connections.
//!
//! Why not hickory-server's TCP: it answers a connection's queries one after another, encodes
//! with name compression (CoreDNS writes TCP replies uncompressed), and has no connection cap,
//! so idle connections could take every file descriptor.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use bytes::BytesMut;
use clusterdns_plugin::Transport;
use clusterdns_plugin::connections::{AcceptBackoff, Connection, Connections, Registered};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::Request as WireRequest;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_rustls::rustls::ServerConfig;

use super::dispatch::{Dispatcher, Incoming, Waiting};

/// Queries of one connection being answered at once; the next is read when one is done.
pub const MAX_PER_CONNECTION: usize = 16;
/// Connections per listener, at most; a quarter of the file descriptors the process may open
/// when that is fewer. A new connection beyond it closes the one idle longest.
pub const MAX_CONNECTIONS: usize = 10_000;

/// A listener's TLS configuration, if it has one (`tls://`, `https://` with `tls`), swapped in
/// place by a reload.
pub type TlsConfig = Arc<ArcSwapOption<ServerConfig>>;

/// One stream listener's accept loop and connections (DNS over TCP or TLS; HTTPS).
pub struct StreamServer {
    stop: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

impl StreamServer {
    /// Runs `accept` (given the stop signal) until stopped.
    pub(crate) fn spawn<Fut>(accept: impl FnOnce(watch::Receiver<bool>) -> Fut) -> Self
    where
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = watch::channel(false);
        let accept = tokio::spawn(accept(stopped));
        Self { stop, accept }
    }

    /// Stops accepting and closes every connection.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.accept.await;
    }
}

/// Serves DNS over TCP on `listener` (over TLS when `tls` holds a configuration); `fd_limit` is
/// the process's file descriptor limit.
pub fn start(
    listener: TcpListener,
    dispatcher: Arc<Dispatcher>,
    fd_limit: u64,
    tls: TlsConfig,
) -> StreamServer {
    let connections = Connections::new(connection_cap(fd_limit));
    StreamServer::spawn(move |stopped| accept_loop(listener, dispatcher, connections, tls, stopped))
}

/// Connections per listener: a quarter of the descriptors the process may open, within
/// bounds.
pub(crate) fn connection_cap(fd_limit: u64) -> usize {
    usize::try_from(fd_limit / 4)
        .unwrap_or(MAX_CONNECTIONS)
        .clamp(16, MAX_CONNECTIONS)
}

/// Accepts connections until stopped, pausing after failed accepts; each one the cap admits
/// is handed to `serve` on a task of its own (a connection past the cap is closed at once).
pub(crate) async fn accept_connections<F, Fut>(
    listener: TcpListener,
    connections: Arc<Connections>,
    mut stopped: watch::Receiver<bool>,
    serve: F,
) where
    F: Fn(TcpStream, SocketAddr, Registered) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut backoff = AcceptBackoff::default();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff.reset();
                accepted
            }
            Err(_) => {
                tokio::select! {
                    () = tokio::time::sleep(backoff.pause()) => {}
                    _ = stopped.changed() => return,
                }
                continue;
            }
        };
        let Some(registered) = connections.register() else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve(stream, peer, registered));
    }
}

/// The TLS handshake on `stream`, within `timeout` (the read timeout, as Go's TLS listener
/// reads it); `None` when it fails or takes too long.
pub(crate) async fn handshake(
    config: Arc<ServerConfig>,
    stream: TcpStream,
    timeout: Duration,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let accept = tokio_rustls::TlsAcceptor::from(config).accept(stream);
    tokio::time::timeout(timeout, accept).await.ok()?.ok()
}

async fn accept_loop(
    listener: TcpListener,
    dispatcher: Arc<Dispatcher>,
    connections: Arc<Connections>,
    tls: TlsConfig,
    stopped: watch::Receiver<bool>,
) {
    let serving = stopped.clone();
    accept_connections(listener, connections, stopped, move |stream, peer, registered| {
        let (dispatcher, stopped, tls) = (dispatcher.clone(), serving.clone(), tls.load_full());
        async move {
            let conn = &registered.connection;
            match tls {
                None => serve(stream, peer, &dispatcher, conn, stopped).await,
                Some(config) => {
                    if let Some(stream) = handshake(config, stream, dispatcher.timeouts().read).await {
                        serve(stream, peer, &dispatcher, conn, stopped).await;
                    }
                }
            }
        }
    })
    .await;
}

/// A query being answered: its replies (one, or a zone transfer's several).
type Pending = Pin<Box<dyn Future<Output = Vec<Vec<u8>>> + Send>>;

/// Serves one connection (TCP, or TLS over it) until the client closes it, it times out, or
/// it is evicted.
async fn serve<S: AsyncRead + AsyncWrite + Send + 'static>(
    stream: S,
    peer: SocketAddr,
    dispatcher: &Arc<Dispatcher>,
    conn: &Connection,
    mut stopped: watch::Receiver<bool>,
) {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut buf = BytesMut::with_capacity(512);
    let mut pending: FuturesUnordered<Pending> = FuturesUnordered::new();
    let mut waiting: Vec<Waiting> = Vec::new();
    // How long a new connection may take to send its first query (read), an open one to send
    // its next (idle), a reply to be taken (write): the listener's `timeouts`, CoreDNS's 3 s,
    // 10 s and 5 s by default. A query trickling in byte by byte extends neither.
    let timeouts = dispatcher.timeouts();
    let mut deadline = Instant::now() + timeouts.read;
    let mut open = true;
    // `maxtcpqueries`: once that many queries were taken, nothing more is read; the connection
    // closes when they are answered (miekg's MaxTCPQueries).
    let mut left = timeouts.max_queries.map_or(u64::MAX, u64::from);
    loop {
        // Every complete query buffered, while there is room.
        while pending.len() < MAX_PER_CONNECTION
            && left > 0
            && let Some(frame) = take_frame(&mut buf)
        {
            left -= 1;
            if left == 0 {
                open = false;
            }
            deadline = Instant::now() + timeouts.idle;
            conn.touch();
            match answer(dispatcher, frame, peer) {
                Answered::Now(replies) => {
                    if !write_all(&mut wr, &replies, timeouts.write).await {
                        return;
                    }
                }
                Answered::Later(task, request) => match dispatcher.admit(Transport::Tcp) {
                    Some(place) => {
                        waiting.push(place);
                        pending.push(task);
                        conn.set_busy(pending.len());
                    }
                    None => {
                        // What the task had started (an upstream exchange) is dropped with it.
                        drop(task);
                        if !write(&mut wr, &Dispatcher::refused(&request), timeouts.write).await {
                            return;
                        }
                    }
                },
                Answered::Nothing => {}
            }
        }
        if !open && pending.is_empty() {
            return;
        }
        tokio::select! {
            Some(replies) = pending.next() => {
                waiting.pop();
                conn.set_busy(pending.len());
                conn.touch();
                if !write_all(&mut wr, &replies, timeouts.write).await {
                    return;
                }
                if pending.is_empty() && buf.is_empty() {
                    deadline = Instant::now() + timeouts.idle;
                }
            }
            read = rd.read_buf(&mut buf), if open && pending.len() < MAX_PER_CONNECTION => {
                match read {
                    // The client is done sending; what it asked is still answered.
                    Ok(0) | Err(_) => open = false,
                    Ok(_) => {}
                }
            }
            () = tokio::time::sleep_until(deadline), if pending.is_empty() => return,
            () = conn.evicted() => return,
            _ = stopped.changed() => return,
        }
    }
}

/// Where a query's answer comes from.
enum Answered {
    /// Ready at once (cluster names, cache hits, errors): written without holding anything.
    Now(Vec<Vec<u8>>),
    /// Waiting (forward): answered when ready, if the listener has room.
    Later(Pending, Arc<WireRequest>),
    /// A response, or shorter than a header: no reply (as over UDP).
    Nothing,
}

/// Starts answering one query, polling it once in place.
fn answer(dispatcher: &Arc<Dispatcher>, frame: Vec<u8>, peer: SocketAddr) -> Answered {
    let request = match Incoming::sort(frame, peer, Protocol::Tcp) {
        Incoming::Query(request) => Arc::new(request),
        Incoming::Malformed(formerr) => return Answered::Now(vec![formerr]),
        Incoming::Ignored => return Answered::Nothing,
    };
    let (dispatcher, asked) = (dispatcher.clone(), request.clone());
    let mut task: Pending = Box::pin(async move { dispatcher.replies(&asked).await });
    match task.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(reply) => Answered::Now(reply),
        Poll::Pending => Answered::Later(task, request),
    }
}

/// The next complete length-prefixed message in `buf`, removed from it (in constant time: a
/// client pipelining many small queries costs no copying of the rest of the buffer).
pub(crate) fn take_frame(buf: &mut BytesMut) -> Option<Vec<u8>> {
    let len = usize::from(u16::from_be_bytes([*buf.first()?, *buf.get(1)?]));
    if buf.len() < 2 + len {
        return None;
    }
    let frame = buf.split_to(2 + len);
    Some(frame[2..].to_vec())
}

/// Writes a query's replies in order; false when the connection is done for.
async fn write_all(wr: &mut (impl AsyncWrite + Unpin), replies: &[Vec<u8>], timeout: Duration) -> bool {
    for reply in replies {
        if !write(wr, reply, timeout).await {
            return false;
        }
    }
    true
}

/// Writes one reply, length-prefixed, within the write timeout; false when the connection is
/// done for (the client is gone, or too slow to take it).
async fn write(wr: &mut (impl AsyncWrite + Unpin), reply: &[u8], timeout: Duration) -> bool {
    // A dropped query has no reply; the connection goes on.
    let Ok(len) = u16::try_from(reply.len()) else {
        return true;
    };
    if len == 0 {
        return true;
    }
    let mut framed = Vec::with_capacity(reply.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(reply);
    matches!(
        tokio::time::timeout(timeout, wr.write_all(&framed)).await,
        Ok(Ok(()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_out_whole_and_in_order() {
        let mut buf = BytesMut::from(&[0, 2, b'a', b'b', 0, 3, b'c'][..]);
        assert_eq!(take_frame(&mut buf), Some(b"ab".to_vec()));
        assert_eq!(take_frame(&mut buf), None, "second frame incomplete");
        buf.extend_from_slice(b"de");
        assert_eq!(take_frame(&mut buf), Some(b"cde".to_vec()));
        assert!(buf.is_empty());
        let mut empty = BytesMut::from(&[0u8, 0][..]);
        assert_eq!(take_frame(&mut empty), Some(Vec::new()));
    }
}
