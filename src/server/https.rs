//! DNS over HTTPS (RFC 8484), as CoreDNS's `https://` server blocks serve it: `/dns-query`,
//! GET with `?dns=` (base64url) or POST with an `application/dns-message` body, over HTTP/2 or
//! HTTP/1.1 as the TLS handshake negotiates; the same chain as `dns://`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use clusterdns_plugin::connections::Connections;
use clusterdns_plugin::proto::op::Message;
use clusterdns_plugin::response::{minimal_ttl, typify};
use hickory_server::net::xfer::Protocol;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming as Body;
use hyper::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::dispatch::{Dispatcher, Incoming};
use super::tcp::{StreamServer, TlsConfig, accept_connections, connection_cap, handshake};

/// RFC 8484's path, the only one CoreDNS answers.
const PATH: &str = "/dns-query";
const MIME: &str = "application/dns-message";
/// A DNS message is at most 64 KiB; a POST body past it is refused unread.
const MAX_BODY: usize = 65_535;

/// Serves DNS over HTTPS on `listener`, over TLS when `tls` holds a configuration (plain HTTP
/// otherwise, as CoreDNS serves an `https://` block without `tls`).
pub fn start(
    listener: TcpListener,
    dispatcher: Arc<Dispatcher>,
    fd_limit: u64,
    tls: TlsConfig,
) -> StreamServer {
    let connections = Connections::new(connection_cap(fd_limit));
    StreamServer::spawn(move |stopped| accept_loop(listener, dispatcher, connections, tls, stopped))
}

async fn accept_loop(
    listener: TcpListener,
    dispatcher: Arc<Dispatcher>,
    connections: Arc<Connections>,
    tls: TlsConfig,
    stopped: watch::Receiver<bool>,
) {
    let closing = stopped.clone();
    accept_connections(listener, connections, stopped, move |stream, peer, registered| {
        let (dispatcher, mut stopped, tls) = (dispatcher.clone(), closing.clone(), tls.load_full());
        async move {
            let serving = async {
                match tls {
                    None => serve(stream, false, peer, &dispatcher).await,
                    Some(config) => {
                        let Some(stream) = handshake(config, stream, dispatcher.timeouts().read).await else {
                            return;
                        };
                        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                        serve(stream, h2, peer, &dispatcher).await;
                    }
                }
            };
            tokio::select! {
                () = serving => {}
                () = registered.connection.evicted() => {}
                _ = stopped.changed() => {}
            }
        }
    })
    .await;
}

/// One connection's requests, over HTTP/2 or HTTP/1.1 (CoreDNS's server: Go's net/http with
/// its read timeout for the headers).
async fn serve<S: AsyncRead + AsyncWrite + Send + Unpin + 'static>(
    stream: S,
    h2: bool,
    peer: SocketAddr,
    dispatcher: &Arc<Dispatcher>,
) {
    let io = TokioIo::new(stream);
    let d = dispatcher.clone();
    let service = hyper::service::service_fn(move |req| {
        let d = d.clone();
        async move { Ok::<_, Infallible>(answer(req, peer, &d).await) }
    });
    if h2 {
        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .max_concurrent_streams(super::tcp::MAX_PER_CONNECTION as u32)
            .serve_connection(io, service)
            .await;
    } else {
        let _ = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(dispatcher.timeouts().idle)
            .serve_connection(io, service)
            .await;
    }
}

/// CoreDNS's `ServeHTTP`: the query from the request, the chain's reply as the body.
async fn answer(req: Request<Body>, peer: SocketAddr, dispatcher: &Arc<Dispatcher>) -> Response<Full<Bytes>> {
    let response = match respond(req, peer, dispatcher).await {
        Ok(response) => response,
        Err((status, text)) => error(status, &text),
    };
    if let Some(c) = clusterdns_plugin::metrics::HTTPS_RESPONSES.as_ref() {
        c.with_label_values(&[dispatcher.server(), response.status().as_str()])
            .inc();
    }
    response
}

async fn respond(
    req: Request<Body>,
    peer: SocketAddr,
    dispatcher: &Arc<Dispatcher>,
) -> Result<Response<Full<Bytes>>, (StatusCode, String)> {
    if req.uri().path() != PATH {
        return Err((StatusCode::NOT_FOUND, String::new()));
    }
    let bad = |e: String| (StatusCode::BAD_REQUEST, e);
    let wire = match *req.method() {
        Method::GET => {
            let values: Vec<&str> = req
                .uri()
                .query()
                .unwrap_or("")
                .split('&')
                .filter_map(|kv| kv.strip_prefix("dns="))
                .collect();
            let [b64] = values.as_slice() else {
                return Err(bad("no 'dns' query parameter found".into()));
            };
            data_encoding::BASE64URL_NOPAD
                .decode(b64.as_bytes())
                .map_err(|e| bad(e.to_string()))?
        }
        Method::POST => Limited::new(req.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| bad(e.to_string()))?
            .to_bytes()
            .to_vec(),
        ref other => return Err(bad(format!("unexpected method: {other}"))),
    };
    // A body that is no DNS query is the HTTP client's error (CoreDNS: 400, not FORMERR).
    let request = match Incoming::sort(wire, peer, Protocol::Tcp) {
        Incoming::Query(request) => request,
        Incoming::Malformed(_) | Incoming::Ignored => {
            return Err(bad("dns: message is not a query".into()));
        }
    };
    let reply = dispatcher.reply(&request).await;
    if reply.is_empty() {
        return Err((StatusCode::INTERNAL_SERVER_ERROR, "No response".into()));
    }
    // RFC 8484 section 5.1: cacheable for the reply's smallest TTL (Go's %f).
    let age = Message::from_vec(&reply).map_or(0.0, |m| minimal_ttl(&m, typify(&m)).as_secs_f64());
    let len = reply.len();
    let mut response = Response::new(Full::new(Bytes::from(reply)));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(MIME));
    if let Ok(v) = HeaderValue::from_str(&format!("max-age={age:.6}")) {
        headers.insert(CACHE_CONTROL, v);
    }
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    Ok(response)
}

/// Go's `http.Error`: the text and a newline, as plain text.
fn error(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{text}\n"))));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    response
}
