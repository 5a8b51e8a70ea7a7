//! The handler: a query carrying the NSID option gets the server's identifier in the OPT record
//! of its reply (CoreDNS's plugin/nsid).

use clusterdns_plugin::proto::op::Edns;
use clusterdns_plugin::proto::rr::rdata::opt::{EdnsCode, EdnsOption, NSIDPayload};
use clusterdns_plugin::{Handler, Next, PluginError, Reply, Request};

/// The handler.
pub struct Nsid {
    payload: NSIDPayload,
}

impl Nsid {
    /// `data` longer than an option holds is cut.
    pub fn new(data: &str) -> Self {
        let bytes = &data.as_bytes()[..data.len().min(usize::from(u16::MAX) - 64)];
        Self {
            payload: NSIDPayload::new(bytes.to_vec()).unwrap_or_else(|_| {
                NSIDPayload::new(Vec::new()).unwrap_or_else(|_| unreachable!("an empty NSID is valid"))
            }),
        }
    }
}

#[async_trait::async_trait]
impl Handler for Nsid {
    fn name(&self) -> &'static str {
        "nsid"
    }

    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
        let asked = req
            .edns
            .as_ref()
            .is_some_and(|e| e.options().get(EdnsCode::NSID).is_some());
        let reply = next.run(req).await?;
        if !asked {
            return Ok(reply);
        }
        Ok(match reply {
            Reply::Answer(mut m) => {
                // The server copies the client's DO bit and size into this OPT (RFC 3225);
                // CoreDNS sets DO here even when the query had it clear.
                let edns = m.edns.get_or_insert_with(Edns::new);
                edns.options_mut().insert(EdnsOption::NSID(self.payload.clone()));
                Reply::Answer(m)
            }
            other => other,
        })
    }
}
