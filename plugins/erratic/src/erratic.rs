//! The handler: CoreDNS's plugin/erratic. Every query gets an A (192.0.2.53) or AAAA
//! (2001:db8::53) answer, other types SERVFAIL; every Nth query is dropped, delayed or
//! truncated as configured.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};

use clusterdns_plugin::proto::op::ResponseCode;
use clusterdns_plugin::proto::rr::rdata::{A, AAAA};
use clusterdns_plugin::proto::rr::{RData, Record, RecordType};
use clusterdns_plugin::{AutoPather, Handler, Next, PluginError, Reply, Request};

use crate::setup::Config;

/// The handler.
pub struct Erratic {
    config: Config,
    /// Queries seen so far.
    queries: AtomicU64,
}

impl Erratic {
    pub fn new(config: Config) -> Self {
        Self {
            config,
            queries: AtomicU64::new(0),
        }
    }
}

/// A fixed search path, so `autopath @erratic` can be tried without a cluster.
impl AutoPather for Erratic {
    fn search_path(&self, _req: &Request, _qname: &str) -> Option<Vec<String>> {
        Some(vec![
            "a.example.org.".into(),
            "b.example.org.".into(),
            String::new(),
        ])
    }
}

#[async_trait::async_trait]
impl Handler for Erratic {
    fn name(&self) -> &'static str {
        "erratic"
    }

    /// Ready only while its third and fourth queries are counted (to exercise `ready`).
    fn ready(&self) -> Option<bool> {
        let q = self.queries.load(Ordering::Relaxed);
        Some((3..5).contains(&q))
    }

    async fn serve(&self, req: &mut Request, _next: Next<'_>) -> Result<Reply, PluginError> {
        let n = self.queries.fetch_add(1, Ordering::Relaxed);
        let c = &self.config;
        let drop = c.drop > 0 && n.is_multiple_of(c.drop);
        let delay = c.delay > 0 && n.is_multiple_of(c.delay);
        // CoreDNS tests `n & truncate` here, not `n % truncate`.
        let truncate = c.truncate > 0 && n & c.truncate == 0;
        let mut m = req.reply();
        m.metadata.authoritative = true;
        m.metadata.truncation = truncate;
        let owner = req.qname().clone();
        match req.qtype() {
            RecordType::A => {
                let copies = if c.large { 30 } else { 1 };
                for _ in 0..copies {
                    m.answers.push(Record::from_rdata(
                        owner.clone(),
                        0,
                        RData::A(A(Ipv4Addr::new(192, 0, 2, 53))),
                    ));
                }
            }
            RecordType::AAAA => m.answers.push(Record::from_rdata(
                owner,
                0,
                RData::AAAA(AAAA(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x53))),
            )),
            _ => {
                if drop {
                    return Ok(Reply::Dropped);
                }
                if delay {
                    tokio::time::sleep(c.duration).await;
                }
                return Ok(Reply::NoAnswer(ResponseCode::ServFail));
            }
        }
        if drop {
            return Ok(Reply::Dropped);
        }
        if delay {
            tokio::time::sleep(c.duration).await;
        }
        Ok(Reply::Answer(m))
    }
}
