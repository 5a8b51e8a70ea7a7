//! The handler: CoreDNS's plugin/dns64. An AAAA query whose reply has no AAAA record (and is
//! not NXDOMAIN) is answered with the name's A records mapped into the prefix.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use clusterdns_plugin::proto::op::{Message, ResponseCode};
use clusterdns_plugin::proto::rr::rdata::AAAA;
use clusterdns_plugin::proto::rr::{DNSClass, RData, Record, RecordType};
use clusterdns_plugin::response::{ReplyType, typify};
use clusterdns_plugin::{Handler, Next, PluginError, Reply, Request};
use ipnet::Ipv6Net;

use crate::metrics;
use crate::setup::Config;

/// RFC 6052's mapping: the prefix, the IPv4 address around the reserved octet 8 (bits 64-71).
pub fn to_ipv6(prefix: &Ipv6Net, v4: Ipv4Addr) -> Ipv6Addr {
    let p = prefix.network().octets();
    let a = v4.octets();
    let n = usize::from(prefix.prefix_len() / 8);
    let mut v6 = [0u8; 16];
    v6[..n].copy_from_slice(&p[..n]);
    let (mut i, mut j) = (n, 0);
    while i < 8 && j < 4 {
        v6[i] = a[j];
        i += 1;
        j += 1;
    }
    if i == 8 {
        i += 1;
    }
    while j < 4 {
        v6[i] = a[j];
        i += 1;
        j += 1;
    }
    Ipv6Addr::from(v6)
}

/// The handler.
pub struct Dns64 {
    config: Config,
}

impl Dns64 {
    pub fn new(config: Config) -> Self {
        Self { config }
    }

    /// Whether the AAAA reply is to be replaced.
    fn should_translate(&self, m: &Message) -> bool {
        // A policy's refusal stays one (CoreDNS turns acl's REFUSED into an empty NOERROR).
        if m.metadata.response_code == ResponseCode::Refused || typify(m) == ReplyType::NameError {
            return false;
        }
        self.config.translate_all || !m.answers.iter().any(|r| r.record_type() == RecordType::AAAA)
    }

    /// CoreDNS's `Synthesize`: the A reply's records, A records made AAAA with the smaller of
    /// their TTL and the AAAA reply's SOA TTL (600 without one).
    fn synthesize(&self, req: &Request, aaaa: &Message, a: Message) -> Message {
        let mut m = req.reply();
        m.metadata.truncation = a.metadata.truncation;
        m.additionals = a.additionals;
        m.authorities = a.authorities;
        let soa_ttl = aaaa
            .authorities
            .iter()
            .rev()
            .find(|r| r.record_type() == RecordType::SOA)
            .map_or(600, |r| r.ttl);
        m.answers = a
            .answers
            .into_iter()
            .map(|r| match r.data {
                RData::A(v4) => {
                    let mut out = Record::from_rdata(
                        r.name,
                        r.ttl.min(soa_ttl),
                        RData::AAAA(AAAA(to_ipv6(&self.config.prefix, v4.0))),
                    );
                    out.dns_class = r.dns_class;
                    out
                }
                _ => r,
            })
            .collect();
        m
    }
}

#[async_trait::async_trait]
impl Handler for Dns64 {
    fn name(&self) -> &'static str {
        "dns64"
    }

    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
        let ipv4_client = matches!(req.client.ip().to_canonical(), IpAddr::V4(_));
        if (ipv4_client && !self.config.allow_ipv4)
            || req.qtype() != RecordType::AAAA
            || req.qclass() != DNSClass::IN
        {
            return next.run(req).await;
        }
        let reply = next.run(req).await?;
        let Reply::Answer(aaaa) = reply else {
            return Ok(reply);
        };
        if !self.should_translate(&aaaa) {
            return Ok(Reply::Answer(aaaa));
        }
        let Some(lookup) = req.server_lookup.clone() else {
            return Ok(Reply::Answer(aaaa));
        };
        let a = lookup.lookup(req, req.qname().clone(), RecordType::A).await?;
        // The A query refused by a policy: the AAAA reply as it was.
        if a.metadata.response_code == ResponseCode::Refused {
            return Ok(Reply::Answer(aaaa));
        }
        let m = self.synthesize(req, &aaaa, a);
        if let Some(c) = metrics::TRANSLATED.as_ref() {
            c.with_label_values(&[&*req.server]).inc();
        }
        Ok(Reply::Answer(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6052_mappings() {
        // RFC 6052 section 2.4's table, 192.0.2.33 under each prefix length.
        let v4 = Ipv4Addr::new(192, 0, 2, 33);
        let cases = [
            ("2001:db8::/32", "2001:db8:c000:221::"),
            ("2001:db8:100::/40", "2001:db8:1c0:2:21::"),
            ("2001:db8:122::/48", "2001:db8:122:c000:2:2100::"),
            ("2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"),
            ("2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0"),
            ("2001:db8:122:344::/96", "2001:db8:122:344::192.0.2.33"),
        ];
        for (prefix, want) in cases {
            let prefix: Ipv6Net = prefix.parse().expect("prefix");
            assert_eq!(
                to_ipv6(&prefix, v4),
                want.parse::<Ipv6Addr>().expect("want"),
                "{prefix}"
            );
        }
    }
}
