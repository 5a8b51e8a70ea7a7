//! The `/health` endpoint: 200 `OK` for as long as the process serves (lameduck included),
//! as CoreDNS's, which is "always healthy".

use std::sync::Arc;

use clusterdns_plugin::http::{Route, TEXT, serve};
use std::time::{Duration, Instant};

use clusterdns_plugin::{Service, ServiceContext, spawn_every};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::metrics;
use hyper::StatusCode;

/// The health endpoint on one address.
pub struct Health {
    addr: String,
}

impl Health {
    pub fn new(addr: String) -> Self {
        Self { addr }
    }
}

#[async_trait::async_trait]
impl Service for Health {
    fn key(&self) -> String {
        format!("health {}", self.addr)
    }

    async fn start(self: Arc<Self>, ctx: ServiceContext) -> Result<(), String> {
        let route: Route = Arc::new(|path| match path {
            "/health" => (StatusCode::OK, TEXT, "OK".into()),
            _ => (StatusCode::NOT_FOUND, TEXT, "404 page not found\n".into()),
        });
        let bound = serve(&self.addr, route, ctx.phase.clone()).await?;
        // Every second, ask ourselves (CoreDNS's health does, for its metrics).
        let target = std::net::SocketAddr::new(
            if bound.ip().is_unspecified() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                bound.ip()
            },
            bound.port(),
        );
        if let Some(c) = metrics::REQUEST_FAILURES.as_ref() {
            c.inc_by(0);
        }
        spawn_every(Duration::from_secs(1), ctx.phase, move || {
            tokio::spawn(self_check(target));
        });
        Ok(())
    }
}

/// One GET of our own `/health`, timed; anything but a 200 within a second is a failure.
async fn self_check(target: std::net::SocketAddr) {
    let start = Instant::now();
    let check = async {
        let mut stream = tokio::net::TcpStream::connect(target).await.ok()?;
        stream
            .write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await
            .ok()?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await.ok()?;
        reply.starts_with(b"HTTP/1.0 200").then_some(())
    };
    let ok = tokio::time::timeout(Duration::from_secs(1), check)
        .await
        .ok()
        .flatten()
        .is_some();
    if let Some(h) = metrics::REQUEST_DURATION.as_ref() {
        h.observe(start.elapsed().as_secs_f64());
    }
    if !ok && let Some(c) = metrics::REQUEST_FAILURES.as_ref() {
        c.inc();
    }
}
