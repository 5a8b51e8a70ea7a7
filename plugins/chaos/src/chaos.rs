//! The handler: CH TXT for `version.bind`, `version.server`, `authors.bind`, `hostname.bind`
//! and `id.server` (CoreDNS's plugin/chaos); everything else goes on down the chain.

use clusterdns_plugin::proto::rr::rdata::TXT;
use clusterdns_plugin::proto::rr::{DNSClass, RData, Record, RecordType};
use clusterdns_plugin::{Handler, Next, PluginError, Reply, Request, lowercase_ascii};
use rand::seq::SliceRandom;

use crate::setup::{Config, trim};

/// The handler.
pub struct Chaos {
    config: Config,
}

impl Chaos {
    pub fn new(config: Config) -> Self {
        Self { config }
    }
}

#[async_trait::async_trait]
impl Handler for Chaos {
    fn name(&self) -> &'static str {
        "chaos"
    }

    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
        if req.qclass() != DNSClass::CH || req.qtype() != RecordType::TXT {
            return next.run(req).await;
        }
        let texts: Vec<String> = match lowercase_ascii(req.qname()).as_str() {
            "authors.bind." => {
                // CoreDNS shuffles them on every query.
                let mut authors = self.config.authors.clone();
                authors.shuffle(&mut rand::rng());
                authors
            }
            "version.bind." | "version.server." => vec![self.config.version.clone()],
            "hostname.bind." | "id.server." => vec![trim(&clusterdns_plugin::hostname()).to_string()],
            _ => return next.run(req).await,
        };
        let mut m = req.reply();
        for text in texts {
            let mut record = Record::from_rdata(req.qname().clone(), 0, RData::TXT(TXT::new(vec![text])));
            record.dns_class = DNSClass::CH;
            m.answers.push(record);
        }
        Ok(Reply::Answer(m))
    }
}
