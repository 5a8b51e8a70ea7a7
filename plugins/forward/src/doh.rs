//! DNS over HTTPS to an upstream (RFC 8484; CoreDNS's `pkg/doh` client): `/dns-query`, POST
//! with the message as its body or GET with `?dns=` base64url, `application/dns-message`.
//! HTTP/2 when the server chooses it in the TLS handshake (one connection, kept and shared),
//! else HTTP/1.1 on a connection per query.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::{http1, http2};
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST};
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::setup::DohMethod;

const MIME: &str = "application/dns-message";
/// CoreDNS reads at most this much of a reply (`maxDNSQuerySize`).
const MAX_REPLY: usize = 65536;

/// An HTTP connection to the upstream.
pub enum Connection {
    H2(http2::SendRequest<Full<Bytes>>),
    H1(http1::SendRequest<Full<Bytes>>),
}

/// One upstream's DoH client: how it asks, and its shared HTTP/2 connection.
pub struct DohClient {
    method: DohMethod,
    /// The `:authority` (Host) of requests: the name verified, else the address.
    authority: String,
    h2: Mutex<Option<(http2::SendRequest<Full<Bytes>>, Instant)>>,
}

impl DohClient {
    pub fn new(method: DohMethod, authority: String) -> Self {
        Self {
            method,
            authority,
            h2: Mutex::new(None),
        }
    }

    /// The open HTTP/2 connection, unless it closed or is older than `max_age` (zero: any age).
    pub fn cached(&self, max_age: Duration) -> Option<Connection> {
        let mut h2 = self.h2.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*h2 {
            Some((sender, born))
                if !sender.is_closed() && (max_age.is_zero() || born.elapsed() < max_age) =>
            {
                Some(Connection::H2(sender.clone()))
            }
            _ => {
                *h2 = None;
                None
            }
        }
    }

    /// HTTP over a fresh TLS stream, in the protocol the server chose; an HTTP/2 connection is
    /// kept for the next queries when `keep`.
    pub async fn connect(&self, tls: TlsStream<TcpStream>, keep: bool) -> Result<Connection, String> {
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let io = TokioIo::new(tls);
        if h2 {
            let (sender, conn) = http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(|e| e.to_string())?;
            // Ends when the connection closes and every sender is gone.
            tokio::spawn(conn);
            if keep {
                *self.h2.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Some((sender.clone(), Instant::now()));
            }
            return Ok(Connection::H2(sender));
        }
        let (sender, conn) = http1::handshake(io).await.map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        Ok(Connection::H1(sender))
    }

    /// One query (`wire`, its ID zero as RFC 8484 asks) and its reply's bytes.
    pub async fn exchange(&self, conn: Connection, wire: &[u8]) -> Result<Vec<u8>, String> {
        let path = match self.method {
            DohMethod::Post => "/dns-query".to_string(),
            DohMethod::Get => format!("/dns-query?dns={}", data_encoding::BASE64URL_NOPAD.encode(wire)),
        };
        let body = match self.method {
            DohMethod::Post => Full::new(Bytes::copy_from_slice(wire)),
            DohMethod::Get => Full::new(Bytes::new()),
        };
        let method = match self.method {
            DohMethod::Post => hyper::Method::POST,
            DohMethod::Get => hyper::Method::GET,
        };
        let builder = Request::builder()
            .method(method)
            .header(CONTENT_TYPE, MIME)
            .header(ACCEPT, MIME);
        let response = match conn {
            Connection::H2(mut sender) => {
                let request = builder
                    .uri(format!("https://{}{path}", self.authority))
                    .body(body)
                    .map_err(|e| e.to_string())?;
                sender.ready().await.map_err(|e| e.to_string())?;
                sender.send_request(request).await
            }
            Connection::H1(mut sender) => {
                let request = builder
                    .uri(path)
                    .header(HOST, &self.authority)
                    .body(body)
                    .map_err(|e| e.to_string())?;
                sender.ready().await.map_err(|e| e.to_string())?;
                sender.send_request(request).await
            }
        }
        .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_REPLY)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if status != StatusCode::OK {
            return Err(format!("HTTP status {status}"));
        }
        Ok(body.to_vec())
    }
}
