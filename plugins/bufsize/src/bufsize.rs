//! The handler: lowers the EDNS UDP size of the query, for the rest of the chain and for the
//! reply, which is then fitted to it (CoreDNS changes the OPT record its writer reads).

use clusterdns_plugin::{Handler, Next, PluginError, Reply, Request};

/// The handler.
pub struct Bufsize {
    pub size: u16,
}

#[async_trait::async_trait]
impl Handler for Bufsize {
    fn name(&self) -> &'static str {
        "bufsize"
    }

    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
        if let Some(edns) = req.edns.as_mut()
            && edns.max_payload() > self.size
        {
            edns.set_max_payload(self.size);
        }
        next.run(req).await
    }
}
