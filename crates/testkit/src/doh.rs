//! The HTTP side of the DNS-over-HTTPS test upstream (RFC 8484): `/dns-query`, POST with an
//! `application/dns-message` body or GET with `?dns=` base64url; anything else gets the
//! status a DoH server gives it (404, 405, 400, 415).

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::upstream::{State, respond_to};

/// Accepts TLS connections until `stop`, serving each over HTTP/2 or HTTP/1.1 as its ALPN says.
pub(crate) async fn serve(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    while !stop.load(Ordering::Acquire) {
        let Ok(Ok((conn, _))) = tokio::time::timeout(Duration::from_millis(50), listener.accept()).await
        else {
            continue;
        };
        let (acceptor, state) = (acceptor.clone(), state.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(conn).await else {
                return;
            };
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            let io = TokioIo::new(tls);
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(req, &state).await) }
            });
            if h2 {
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(io, service)
                    .await;
            } else {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            }
        });
    }
}

async fn answer(req: Request<Incoming>, state: &Arc<Mutex<State>>) -> Response<Full<Bytes>> {
    let status = |code: StatusCode| {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = code;
        r
    };
    if req.uri().path() != "/dns-query" {
        return status(StatusCode::NOT_FOUND);
    }
    let how = format!("{} {:?}", req.method(), req.version());
    let wire = match *req.method() {
        Method::GET => {
            let dns = req
                .uri()
                .query()
                .unwrap_or("")
                .split('&')
                .find_map(|kv| kv.strip_prefix("dns="));
            match dns.and_then(|b64| data_encoding::BASE64URL_NOPAD.decode(b64.as_bytes()).ok()) {
                Some(w) => w,
                None => return status(StatusCode::BAD_REQUEST),
            }
        }
        Method::POST => {
            let mime = req
                .headers()
                .get(hyper::header::CONTENT_TYPE)
                .map(|v| v.as_bytes());
            if mime != Some(b"application/dns-message") {
                return status(StatusCode::UNSUPPORTED_MEDIA_TYPE);
            }
            match Limited::new(req.into_body(), 65535).collect().await {
                Ok(body) => body.to_bytes().to_vec(),
                Err(_) => return status(StatusCode::BAD_REQUEST),
            }
        }
        _ => return status(StatusCode::METHOD_NOT_ALLOWED),
    };
    match respond_to(state, &wire, true, Some(how)) {
        Some(reply) => {
            let mut r = Response::new(Full::new(Bytes::from(reply)));
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/dns-message"),
            );
            r
        }
        // A dropped query: the server never answers (the client's timeout ends it).
        None => {
            std::future::pending::<()>().await;
            status(StatusCode::GATEWAY_TIMEOUT)
        }
    }
}
