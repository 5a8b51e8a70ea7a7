//! The handler: CoreDNS's plugin/acl. The first rule whose zone holds the name and whose first
//! matching policy (type and client network) says allow, block, filter or drop decides.

use std::net::IpAddr;

use clusterdns_plugin::ede::{BLOCKED, FILTERED, extended_error};
use clusterdns_plugin::proto::op::{Edns, ResponseCode};
use clusterdns_plugin::proto::rr::RecordType;
use clusterdns_plugin::{Handler, Next, PluginError, Reply, Request, Zones};
use ipnet::IpNet;

use crate::metrics;

/// What a policy does with the queries it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    /// REFUSED, with the extended error "Blocked" (15).
    Block,
    /// NOERROR without records, with the extended error "Filtered" (17).
    Filter,
    /// No reply at all.
    Drop,
}

/// One line of a rule: an action for query types (empty: all) from networks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub action: Action,
    pub types: Vec<RecordType>,
    pub nets: Vec<IpNet>,
}

impl Policy {
    fn matches(&self, qtype: RecordType, client: IpAddr) -> bool {
        (self.types.is_empty() || self.types.contains(&qtype))
            && self.nets.iter().any(|n| n.contains(&client))
    }
}

/// One `acl` block: its zones and policies, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub zones: Zones,
    pub policies: Vec<Policy>,
}

/// The handler.
pub struct Acl {
    rules: Vec<Rule>,
}

impl Acl {
    pub fn new(rules: Vec<Rule>) -> Self {
        Self { rules }
    }
}

/// A reply carrying an extended DNS error (RFC 8914). The server adds OPT only for clients that
/// sent one, with their DO bit; CoreDNS adds it (DO set) to every such reply.
fn refusal(req: &Request, rcode: ResponseCode, info: u16) -> Reply {
    let mut m = req.reply();
    m.metadata.response_code = rcode;
    let mut edns = Edns::new();
    edns.options_mut().insert(extended_error(info, ""));
    m.edns = Some(edns);
    Reply::Answer(m)
}

#[async_trait::async_trait]
impl Handler for Acl {
    fn name(&self) -> &'static str {
        "acl"
    }

    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
        let client = req.client.ip().to_canonical();
        let qtype = req.qtype();
        for rule in &self.rules {
            let Some(zone) = rule.zones.matches(req.qname()) else {
                continue;
            };
            let Some(policy) = rule.policies.iter().find(|p| p.matches(qtype, client)) else {
                continue;
            };
            let count = |family: &Option<prometheus::CounterVec>| {
                if let Some(c) = family {
                    c.with_label_values(&[&*req.server, &zone.to_ascii(), ""]).inc();
                }
            };
            match policy.action {
                Action::Allow => break,
                Action::Drop => {
                    count(&metrics::DROPPED);
                    return Ok(Reply::Dropped);
                }
                Action::Block => {
                    count(&metrics::BLOCKED);
                    return Ok(refusal(req, ResponseCode::Refused, BLOCKED));
                }
                Action::Filter => {
                    count(&metrics::FILTERED);
                    return Ok(refusal(req, ResponseCode::NoError, FILTERED));
                }
            }
        }
        if let Some(c) = metrics::ALLOWED.as_ref() {
            c.with_label_values(&[&*req.server, ""]).inc();
        }
        next.run(req).await
    }
}
