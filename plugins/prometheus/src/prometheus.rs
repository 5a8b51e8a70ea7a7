//! The handler that counts every query of its server block, and the `/metrics` endpoint.

use std::sync::Arc;

use clusterdns_plugin::http::{Access, Route, serve_with};
use clusterdns_plugin::proto::rr::Name;
use clusterdns_plugin::{Handler, Next, PluginError, Reply, Request, Service, ServiceContext, metrics};
use hyper::StatusCode;
use prometheus::{Encoder, TextEncoder};

/// Records `coredns_dns_*` for every query, under the block zone it matched.
pub struct Metrics {
    /// The block's zones with their label text, made once so no query formats one.
    zones: Vec<(Name, String)>,
}

impl Metrics {
    pub fn new(zones: Vec<Name>) -> Self {
        Self {
            zones: zones.into_iter().map(|z| (z.clone(), z.to_string())).collect(),
        }
    }

    /// The longest block zone holding `name`, `.` when none does (CoreDNS's rule).
    fn zone_of(&self, name: &Name) -> &str {
        self.zones
            .iter()
            .filter(|(z, _)| z.zone_of(name))
            .max_by_key(|(z, _)| z.num_labels())
            .map_or(".", |(_, label)| label)
    }
}

#[async_trait::async_trait]
impl Handler for Metrics {
    fn name(&self) -> &'static str {
        "prometheus"
    }

    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
        let result = next.run(req).await;
        let (rcode, size) = match &result {
            // The reply's size as CoreDNS writes it when it fits: uncompressed (before any
            // truncation the server may still do).
            Ok(Reply::Answer(m)) => (m.metadata.response_code, clusterdns_plugin::size::message_len(m)),
            // Nothing written: the rcode returned (NOERROR for a dropped query, as CoreDNS's
            // recorder reports it).
            Ok(r @ (Reply::NoAnswer(_) | Reply::Dropped)) => (r.rcode(), 0),
            // Several messages (a zone transfer): CoreDNS's recorder adds up their sizes.
            Ok(r @ Reply::Transfer(messages)) => (
                r.rcode(),
                messages.iter().map(clusterdns_plugin::size::message_len).sum(),
            ),
            Err(e) => (e.rcode, 0),
        };
        let zone = self.zone_of(req.qname());
        metrics::report(req, zone, rcode, req.responder.unwrap_or(""), size, req.received);
        result
    }
}

/// `/metrics` in Prometheus's text format, every family of the process's registry (what Go's
/// `promhttp.Handler()` serves); anything else is Go's 404.
pub fn exposition() -> Route {
    Arc::new(|path| {
        if path != "/metrics" {
            return (
                StatusCode::NOT_FOUND,
                clusterdns_plugin::http::TEXT,
                "404 page not found\n".into(),
            );
        }
        let mut body = Vec::new();
        let encoder = TextEncoder::new();
        if let Err(e) = encoder.encode(&prometheus::gather(), &mut body) {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                clusterdns_plugin::http::TEXT,
                e.to_string(),
            );
        }
        (
            StatusCode::OK,
            prometheus::TEXT_FORMAT,
            String::from_utf8_lossy(&body).into_owned(),
        )
    })
}

/// `/metrics` on one address, in Prometheus's text format, over TLS if its web config says.
pub struct Endpoint {
    addr: String,
    access: Access,
}

impl Endpoint {
    pub fn new(addr: String, access: Access) -> Self {
        Self { addr, access }
    }
}

#[async_trait::async_trait]
impl Service for Endpoint {
    fn key(&self) -> String {
        format!("prometheus {}", self.addr)
    }

    async fn start(self: Arc<Self>, ctx: ServiceContext) -> Result<(), String> {
        let route = exposition();
        serve_with(&self.addr, route, self.access.clone(), ctx.phase).await?;
        Ok(())
    }
}
