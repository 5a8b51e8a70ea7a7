//! The handler: CoreDNS's plugin/cancel puts a deadline on the query's context; here the rest
//! of the chain is dropped (cancelled) when the deadline passes, and the query fails.

use std::time::Duration;

use clusterdns_plugin::proto::op::ResponseCode;
use clusterdns_plugin::{Handler, Next, PluginError, Reply, Request};

/// The handler.
pub struct Cancel {
    pub timeout: Duration,
}

#[async_trait::async_trait]
impl Handler for Cancel {
    fn name(&self) -> &'static str {
        "cancel"
    }

    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
        match tokio::time::timeout(self.timeout, next.run(req)).await {
            Ok(reply) => reply,
            // What a plugin waiting on the cancelled context reports in CoreDNS.
            Err(_) => Err(PluginError {
                rcode: ResponseCode::ServFail,
                message: "context deadline exceeded".into(),
            }),
        }
    }
}
