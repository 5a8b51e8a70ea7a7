//! The handler: CoreDNS's plugin/local (RFC 6761 localhost, RFC 6303 loopback zones).

use std::net::{Ipv4Addr, Ipv6Addr};

use clusterdns_plugin::proto::op::{Message, ResponseCode};
use clusterdns_plugin::proto::rr::rdata::{A, AAAA, NS, PTR, SOA};
use clusterdns_plugin::proto::rr::{Name, RData, Record, RecordType};
use clusterdns_plugin::{Handler, Next, PluginError, Reply, Request, lowercase_ascii, text_in_zone};

use crate::metrics;

/// The handler.
pub struct Local {
    /// `localhost.<domain>` answered (`localhost_prefix on`, the default).
    localhost_prefix: bool,
}

impl Local {
    pub fn new(localhost_prefix: bool) -> Self {
        Self { localhost_prefix }
    }
}

/// The zones answered here.
const ZONES: [&str; 4] = [
    "localhost.",
    "0.in-addr.arpa.",
    "127.in-addr.arpa.",
    "255.in-addr.arpa.",
];

/// TTL of every record (a week).
const TTL: u32 = 604_800;

fn localhost() -> Name {
    Name::from_ascii("localhost.").unwrap_or_else(|_| Name::root())
}

fn soa(origin: &Name) -> Record {
    let mbox = Name::from_ascii("root.localhost.").unwrap_or_else(|_| Name::root());
    Record::from_rdata(
        origin.clone(),
        TTL,
        RData::SOA(SOA::new(localhost(), mbox, 1, 0, 0, 0, TTL)),
    )
}

/// Loopback addresses for A and AAAA, else NODATA with an SOA named after `origin`.
fn addresses(m: &mut Message, qname: &Name, qtype: RecordType, origin: &Name) {
    match qtype {
        RecordType::A => m.answers.push(Record::from_rdata(
            qname.clone(),
            TTL,
            RData::A(A(Ipv4Addr::LOCALHOST)),
        )),
        RecordType::AAAA => m.answers.push(Record::from_rdata(
            qname.clone(),
            TTL,
            RData::AAAA(AAAA(Ipv6Addr::LOCALHOST)),
        )),
        _ => m.authorities.push(soa(origin)),
    }
}

#[async_trait::async_trait]
impl Handler for Local {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
        let lower = lowercase_ascii(req.qname());
        let qname = req.qname().clone();
        let qtype = req.qtype();
        let mut m = req.reply();
        // `localhost.<domain>`: what a search path makes of `localhost`.
        if self.localhost_prefix && lower.len() > "localhost.".len() && lower.starts_with("localhost.") {
            clusterdns_plugin::clog::debug(
                Some("local"),
                format_args!(
                    "Intercepting localhost query for {lower:?} {qtype}, from {}",
                    req.client.ip().to_canonical()
                ),
            );
            if let Some(c) = metrics::LOCALHOST.as_ref() {
                c.inc();
            }
            addresses(&mut m, &qname, qtype, &qname);
            return Ok(Reply::Answer(m));
        }
        let Some(zone) = ZONES
            .iter()
            .filter(|z| text_in_zone(&lower, z))
            .max_by_key(|z| z.len())
        else {
            return next.run(req).await;
        };
        // The zone in the query's case.
        let zone = qname.trim_to(zone.matches('.').count());
        match lower.as_str() {
            "localhost." => match qtype {
                RecordType::SOA => m.answers.push(soa(&qname)),
                RecordType::NS => {
                    m.answers
                        .push(Record::from_rdata(qname.clone(), TTL, RData::NS(NS(localhost()))))
                }
                _ => addresses(&mut m, &qname, qtype, &qname),
            },
            "0.in-addr.arpa." | "127.in-addr.arpa." | "255.in-addr.arpa." => match qtype {
                RecordType::SOA => m.answers.push(soa(&qname)),
                RecordType::NS => {
                    m.answers
                        .push(Record::from_rdata(qname.clone(), TTL, RData::NS(NS(localhost()))))
                }
                _ => m.authorities.push(soa(&qname)),
            },
            "1.0.0.127.in-addr.arpa." => match qtype {
                RecordType::PTR => m.answers.push(Record::from_rdata(
                    qname.clone(),
                    TTL,
                    RData::PTR(PTR(localhost())),
                )),
                _ => m.authorities.push(soa(&zone)),
            },
            _ => {}
        }
        if m.answers.is_empty() && m.authorities.is_empty() {
            m.authorities.push(soa(&zone));
            m.metadata.response_code = ResponseCode::NXDomain;
        }
        Ok(Reply::Answer(m))
    }
}
