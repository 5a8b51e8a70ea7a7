//! The handler: CoreDNS's plugin/any.

use clusterdns_plugin::proto::rr::rdata::HINFO;
use clusterdns_plugin::proto::rr::{RData, Record, RecordType};
use clusterdns_plugin::{Handler, Next, PluginError, Reply, Request};

/// The handler.
pub struct Any;

#[async_trait::async_trait]
impl Handler for Any {
    fn name(&self) -> &'static str {
        "any"
    }

    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
        if req.qtype() != RecordType::ANY {
            return next.run(req).await;
        }
        let mut m = req.reply();
        let hinfo = HINFO::new("ANY obsoleted".into(), "See RFC 8482".into());
        m.answers
            .push(Record::from_rdata(req.qname().clone(), 8482, RData::HINFO(hinfo)));
        Ok(Reply::Answer(m))
    }
}
