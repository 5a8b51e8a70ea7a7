//! The `/ready` endpoint: 200 `OK`, or 503 with the comma-separated names of the plugins not
//! ready yet, or 503 `Shutting down` once SIGTERM arrived (as CoreDNS's).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use clusterdns_plugin::http::{Route, TEXT, serve};
use clusterdns_plugin::{Phase, Service, ServiceContext, clog};
use hyper::StatusCode;

use crate::setup::{Config, Monitor};

/// The ready endpoint on one address.
pub struct Ready {
    config: Config,
}

impl Ready {
    pub fn new(config: Config) -> Self {
        Self { config }
    }
}

#[async_trait::async_trait]
impl Service for Ready {
    fn key(&self) -> String {
        // A reload that changes the mode starts a new endpoint (listeners share the port).
        format!("ready {} {:?}", self.config.addr, self.config.monitor)
    }

    async fn start(self: Arc<Self>, ctx: ServiceContext) -> Result<(), String> {
        let monitor = self.config.monitor;
        // Plugins seen ready once, for `until-ready`: they are not asked again.
        let seen_ready: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
        let (phase, readiness) = (ctx.phase.clone(), ctx.readiness.clone());
        let route: Route = Arc::new(move |path| {
            if path != "/ready" {
                return (StatusCode::NOT_FOUND, TEXT, "404 page not found\n".into());
            }
            if *phase.borrow() != Phase::Running {
                return (StatusCode::SERVICE_UNAVAILABLE, TEXT, "Shutting down".into());
            }
            let mut seen = seen_ready
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut not_ready = BTreeSet::new();
            for (name, ready) in readiness.states() {
                if ready && monitor == Monitor::UntilReady {
                    seen.insert(name);
                }
                if !ready && !seen.contains(name) {
                    not_ready.insert(name);
                }
            }
            let not_ready: Vec<&str> = not_ready.into_iter().collect();
            if not_ready.is_empty() {
                return (StatusCode::OK, TEXT, "OK".into());
            }
            let names = not_ready.join(",");
            clog::info(Some("ready"), format_args!("Still waiting on: {names:?}"));
            (StatusCode::SERVICE_UNAVAILABLE, TEXT, names)
        });
        serve(&self.config.addr, route, ctx.phase).await?;
        Ok(())
    }
}
