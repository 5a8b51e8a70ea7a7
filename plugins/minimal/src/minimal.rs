//! The handler: CoreDNS's plugin/minimal. Denials, errors and referrals need what follows the
//! answer and keep it; a positive reply keeps only its answer.

use clusterdns_plugin::response::{ReplyType, typify};
use clusterdns_plugin::{Handler, Next, PluginError, Reply, Request};

/// The handler.
pub struct Minimal;

#[async_trait::async_trait]
impl Handler for Minimal {
    fn name(&self) -> &'static str {
        "minimal"
    }

    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
        let reply = next.run(req).await?;
        let Reply::Answer(mut m) = reply else {
            return Ok(reply);
        };
        if typify(&m) == ReplyType::NoError {
            m.authorities.clear();
            m.additionals.clear();
            // The OPT record lived in the additional section too; the server adds the
            // client's back.
            m.edns = None;
        }
        Ok(Reply::Answer(m))
    }
}
