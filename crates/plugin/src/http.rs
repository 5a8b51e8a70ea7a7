//! A small HTTP/1.1 endpoint on hyper for `health`, `ready` and `prometheus` (which may serve
//! it over TLS).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::watch;

use crate::connections::{AcceptBackoff, Connections};
use crate::setup::Phase;

/// A request's head must arrive within this long (hyper's default is 30 s): a slowloris holds
/// a connection no longer than this.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection is asked to close after this long, however busy (scrapers reconnect).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);
/// Open connections per endpoint: a newer one closes the oldest beyond it, so a flood of slow
/// connections cannot keep kubelet's probes out.
const MAX_CONNECTIONS: usize = 256;

/// Answers one request path: status, content type and body.
pub type Route = Arc<dyn Fn(&str) -> (StatusCode, &'static str, String) + Send + Sync>;

/// The content type of `health` and `ready` bodies (Go's for a plain `io.WriteString`).
pub const TEXT: &str = "text/plain; charset=utf-8";

/// Serves one connection until it ends, is evicted, or has lived [`CONNECTION_LIFETIME`].
async fn serve_connection<I>(
    io: I,
    route: Route,
    headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    evicted: impl Future<Output = ()>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
        let (status, content_type, body) = route(req.uri().path());
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static(content_type),
        );
        for (name, value) in &headers {
            resp.headers_mut().insert(name.clone(), value.clone());
        }
        async move { Ok::<_, Infallible>(resp) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    // A client that hangs up or speaks garbage only ends its own connection.
    tokio::select! {
        _ = conn.as_mut() => {}
        () = evicted => {}
        () = tokio::time::sleep(CONNECTION_LIFETIME) => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(HEADER_TIMEOUT, conn).await;
        }
    }
}

/// Resolves a Go-style listen address (`:8080`, `127.0.0.1:8181`, `localhost:9153`,
/// `[::1]:8080`). An empty host means every interface.
pub async fn resolve_listen_addr(addr: &str) -> Result<Vec<SocketAddr>, String> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("address {addr}: missing port in address"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("address {addr}: invalid port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Ok(vec![
            SocketAddr::from(([0u16; 8], port)),
            SocketAddr::from(([0u8; 4], port)),
        ]);
    }
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("address {addr}: {e}"))?
        .collect();
    if found.is_empty() {
        return Err(format!("address {addr}: no addresses"));
    }
    Ok(found)
}

/// Checks the syntax of a Go-style `host:port`, as `net.SplitHostPort` (setup-time, no I/O).
pub fn check_listen_addr(addr: &str) -> Result<(), String> {
    match addr.rsplit_once(':') {
        None => Err(format!("address {addr}: missing port in address")),
        Some((_, port)) if port.parse::<u16>().is_err() => Err(format!("address {addr}: invalid port")),
        Some((host, _)) if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) => {
            Err(format!("address {addr}: too many colons in address"))
        }
        Some(_) => Ok(()),
    }
}

/// Reads the optional `[ADDRESS]` argument of `health`, `ready` and `prometheus`: none, or one
/// Go-style `host:port`.
pub fn optional_listen_addr(d: &mut corefile::Dispenser) -> Result<Option<String>, crate::SetupError> {
    match d.remaining_args().as_slice() {
        [] => Ok(None),
        [addr] => {
            check_listen_addr(addr).map_err(crate::SetupError::Other)?;
            Ok(Some(addr.clone()))
        }
        _ => Err(d.arg_err().into()),
    }
}

/// How an endpoint is reached beyond plain HTTP: over TLS, and with extra response headers.
#[derive(Clone, Default)]
pub struct Access {
    /// Connections shake hands first (client certificates as the acceptor's configuration says).
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Added to every response.
    pub headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
}

/// Binds `addr` (the first of its addresses that binds: `[::]` then `0.0.0.0` for `:PORT`) and
/// serves `route` until the phase is `Stopped`. Returns the bound address.
pub async fn serve(addr: &str, route: Route, phase: watch::Receiver<Phase>) -> Result<SocketAddr, String> {
    serve_with(addr, route, Access::default(), phase).await
}

/// [`serve`], reached as `access` says.
pub async fn serve_with(
    addr: &str,
    route: Route,
    access: Access,
    mut phase: watch::Receiver<Phase>,
) -> Result<SocketAddr, String> {
    let mut last_err = String::new();
    let mut listener = None;
    for candidate in resolve_listen_addr(addr).await? {
        match crate::listen::tcp(candidate) {
            Ok(l) => {
                listener = Some(l);
                break;
            }
            Err(e) => last_err = format!("listen tcp {candidate}: {e}"),
        }
    }
    let listener = listener.ok_or(last_err)?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let connections = Connections::new(MAX_CONNECTIONS);
    tokio::spawn(async move {
        let mut backoff = AcceptBackoff::default();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let stream = match accepted {
                        Ok((stream, _)) => {
                            backoff.reset();
                            stream
                        }
                        Err(_) => {
                            tokio::time::sleep(backoff.pause()).await;
                            continue;
                        }
                    };
                    let Some(registered) = connections.register() else { continue };
                    let (route, access) = (route.clone(), access.clone());
                    tokio::spawn(async move {
                        let evicted = registered.connection.evicted();
                        match &access.tls {
                            None => serve_connection(stream, route, access.headers, evicted).await,
                            Some(tls) => {
                                // The handshake within the header timeout: a silent client
                                // holds its place no longer than a slow plain one.
                                let Ok(Ok(stream)) =
                                    tokio::time::timeout(HEADER_TIMEOUT, tls.accept(stream)).await
                                else {
                                    return;
                                };
                                serve_connection(stream, route, access.headers, evicted).await;
                            }
                        }
                    });
                }
                changed = phase.changed() => {
                    if changed.is_err() || *phase.borrow() == Phase::Stopped {
                        break;
                    }
                }
            }
        }
    });
    Ok(bound)
}
