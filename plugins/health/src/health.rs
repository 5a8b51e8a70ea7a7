//! The `/health` endpoint: 200 `OK` for as long as the process serves (lameduck included),
//! as CoreDNS's, which is "always healthy".

use std::sync::Arc;

use clusterdns_plugin::http::{Route, serve};
use clusterdns_plugin::{Service, ServiceContext};
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
            "/health" => (StatusCode::OK, "OK".into()),
            _ => (StatusCode::NOT_FOUND, "404 page not found\n".into()),
        });
        serve(&self.addr, route, ctx.phase).await?;
        Ok(())
    }
}
