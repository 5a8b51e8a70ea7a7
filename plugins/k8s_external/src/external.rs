//! The handler: CoreDNS's plugin/k8s_external (external.go, apex.go, msg_to_dns.go). The
//! records come from the kubernetes plugin's index through [`Externaler`]; this builds the
//! answers, the apex SOA/NS and the `ns1.<apex>` addresses.

use std::collections::HashSet;
use std::net::IpAddr;

use clusterdns_plugin::proto::op::{Message, ResponseCode};
use clusterdns_plugin::proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV};
use clusterdns_plugin::proto::rr::{Name, RData, Record, RecordType};
use clusterdns_plugin::{
    ExternalHost, ExternalService, Externaler, Fallthrough, Handler, Linked, Next, PluginError, Reply,
    Request, Zones, lowercase_ascii, normalize_zone, text_in_zone,
};

use crate::setup::Config;

/// The handler.
pub struct External {
    zones: Zones,
    /// The zones as lower-case text, in the configured order.
    zone_texts: Vec<String>,
    apex: String,
    ttl: u32,
    headless: bool,
    fallthrough: Fallthrough,
    source: Linked<dyn Externaler>,
}

/// A name from text made of parts that are already names, or the root if it cannot be one.
fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap_or_else(|_| Name::root())
}

/// `labels` joined in front of `zone` (CoreDNS's `dnsutil.Join`).
fn join(labels: &str, zone: &str) -> String {
    if zone == "." {
        format!("{labels}.")
    } else {
        format!("{labels}.{zone}")
    }
}

fn address(owner: Name, ttl: u32, ip: IpAddr) -> Record {
    let rdata = match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    };
    Record::from_rdata(owner, ttl, rdata)
}

impl External {
    pub fn new(config: Config, source: Linked<dyn Externaler>) -> Self {
        Self {
            zone_texts: config.zones.iter().map(lowercase_ascii).collect(),
            zones: config.zones,
            apex: config.apex,
            ttl: config.ttl,
            headless: config.headless,
            fallthrough: config.fallthrough,
            source,
        }
    }

    fn reply(&self, req: &Request) -> Message {
        let mut m = req.reply();
        m.metadata.authoritative = true;
        m
    }

    fn soa(&self, source: &dyn Externaler, zone: &str) -> Record {
        let soa = SOA::new(
            name(&join(&format!("ns1.{}", self.apex), zone)),
            name(&join(&format!("hostmaster.{}", self.apex), zone)),
            source.external_serial(),
            7200,
            1800,
            86400,
            self.ttl,
        );
        Record::from_rdata(name(zone), self.ttl, RData::SOA(soa))
    }

    /// The zone's own addresses (`ns1.<apex>.<zone>`) with `owner` and our TTL.
    fn ns_addresses(&self, source: &dyn Externaler, owner: &Name) -> Vec<Record> {
        source
            .external_addresses(self.headless)
            .into_iter()
            .map(|ip| address(owner.clone(), self.ttl, ip))
            .collect()
    }

    /// CoreDNS's `serveApex`: SOA and NS (with the addresses as glue), NODATA otherwise.
    fn apex_reply(&self, req: &Request, source: &dyn Externaler, zone: &str) -> Message {
        let mut m = self.reply(req);
        match req.qtype() {
            RecordType::SOA => m.answers.push(self.soa(source, zone)),
            RecordType::NS => {
                let ns = name(&join(&format!("ns1.{}", self.apex), zone));
                m.answers
                    .push(Record::from_rdata(name(zone), self.ttl, RData::NS(NS(ns))));
                // The glue is named under the query name, in the query's case (apex.go).
                let owner = name(&join(&format!("ns1.{}", self.apex), &req.qname().to_ascii()));
                m.additionals = self.ns_addresses(source, &owner);
            }
            _ => m.authorities.push(self.soa(source, zone)),
        }
        m
    }

    /// CoreDNS's `serveSubApex`: `ns1.<apex>` has the addresses, `<apex>` is an empty
    /// non-terminal, anything else under it does not exist.
    fn sub_apex_reply(&self, req: &Request, source: &dyn Externaler, lower: &str, zone: &str) -> Message {
        let mut m = self.reply(req);
        let base = if zone == "." {
            lower.strip_suffix('.').unwrap_or(lower)
        } else {
            lower
                .strip_suffix(zone)
                .and_then(|b| b.strip_suffix('.'))
                .unwrap_or("")
        };
        match base.split('.').count() {
            2 if base.starts_with("ns1.") => {
                let want = req.qtype();
                m.answers = self
                    .ns_addresses(source, req.qname())
                    .into_iter()
                    .filter(|r| r.record_type() == want)
                    .collect();
                if m.answers.is_empty() {
                    m.authorities.push(self.soa(source, zone));
                }
            }
            1 => m.authorities.push(self.soa(source, zone)),
            _ => {
                m.metadata.response_code = ResponseCode::NXDomain;
                m.authorities.push(self.soa(source, zone));
            }
        }
        m
    }

    /// CoreDNS's `a`/`aaaa`: each address once; a host name as a CNAME with the server's
    /// answer for it appended (as ExternalName targets are resolved).
    async fn addresses(
        &self,
        req: &Request,
        services: &[ExternalService],
        m: &mut Message,
    ) -> Result<(), PluginError> {
        let want = req.qtype();
        let mut seen: HashSet<&ExternalHost> = HashSet::new();
        for s in services {
            // CoreDNS repeats a host name's CNAME (and its lookup) once per port; once is
            // enough (RFC 2181: no duplicate records in a set).
            if !seen.insert(&s.host) {
                continue;
            }
            match &s.host {
                ExternalHost::Ip(ip) if (ip.is_ipv4()) == (want == RecordType::A) => {
                    m.answers.push(address(req.qname().clone(), self.ttl, *ip));
                }
                ExternalHost::Ip(_) => {}
                ExternalHost::Name(host) => {
                    let target = name(&normalize_zone(host));
                    m.answers.push(Record::from_rdata(
                        req.qname().clone(),
                        s.ttl,
                        RData::CNAME(CNAME(target.clone())),
                    ));
                    if let Some(lookup) = &req.server_lookup {
                        let reply = lookup.lookup(req, target, want).await?;
                        m.metadata.truncation |= reply.metadata.truncation;
                        m.answers.extend(reply.answers);
                    }
                }
            }
        }
        Ok(())
    }

    /// CoreDNS's `srv`: weights shared out per priority (all 0 here), one record per target
    /// and port, the targets' addresses in the additional section.
    async fn srv(
        &self,
        req: &Request,
        services: &[ExternalService],
        m: &mut Message,
    ) -> Result<(), PluginError> {
        let weight = {
            let share = 100.0 / (100.0 * services.len() as f64) * 100.0;
            (share.floor() as u16).max(1)
        };
        let mut seen_srv: HashSet<(String, u16)> = HashSet::new();
        let mut seen_target: HashSet<(String, String)> = HashSet::new();
        for s in services {
            let Ok(port) = u16::try_from(s.port) else {
                continue;
            };
            let (target, key) = match &s.host {
                ExternalHost::Name(host) => (normalize_zone(host), normalize_zone(host)),
                ExternalHost::Ip(ip) => (s.target.clone(), ip.to_string()),
            };
            let target_name = name(&target);
            if seen_srv.insert((target.clone(), port)) {
                let srv = SRV::new(0, weight, port, target_name.clone());
                m.answers
                    .push(Record::from_rdata(req.qname().clone(), s.ttl, RData::SRV(srv)));
            }
            if !seen_target.insert((target, key)) {
                continue;
            }
            match &s.host {
                ExternalHost::Ip(ip) => m.additionals.push(address(target_name, self.ttl, *ip)),
                ExternalHost::Name(_) => {
                    if let Some(lookup) = &req.server_lookup {
                        for qtype in [RecordType::A, RecordType::AAAA] {
                            let reply = lookup.lookup(req, target_name.clone(), qtype).await?;
                            m.additionals.extend(reply.answers);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// CoreDNS's `ptr`: `service.namespace` under the first zone, each once.
    fn ptr(&self, req: &Request, services: &[ExternalService], m: &mut Message) {
        let first = self.zone_texts.first().map_or(".", String::as_str);
        let mut seen = HashSet::new();
        for s in services {
            if let ExternalHost::Name(host) = &s.host
                && seen.insert(host)
            {
                let target = name(&join(host, first));
                m.answers.push(Record::from_rdata(
                    req.qname().clone(),
                    self.ttl,
                    RData::PTR(PTR(target)),
                ));
            }
        }
    }
}

#[async_trait::async_trait]
impl Handler for External {
    fn name(&self) -> &'static str {
        "k8s_external"
    }

    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
        let Some(zone) = self.zones.matches(req.qname()) else {
            return next.run(req).await;
        };
        let Some(source) = self.source.get() else {
            return next.run(req).await;
        };
        let zone = lowercase_ascii(zone);
        let lower = lowercase_ascii(req.qname());
        for z in &self.zone_texts {
            if lower == *z {
                return Ok(Reply::Answer(self.apex_reply(req, source, &zone)));
            }
            if text_in_zone(&lower, &join(&self.apex, z)) {
                return Ok(Reply::Answer(self.sub_apex_reply(req, source, &lower, &zone)));
            }
        }
        let (services, rcode) = source.external(req, &lower, &zone, self.headless);
        let mut m = self.reply(req);
        if services.is_empty() {
            if self.fallthrough.through(req.qname()) && rcode == ResponseCode::NXDomain {
                return next.run(req).await;
            }
            m.metadata.response_code = rcode;
            m.authorities.push(self.soa(source, &zone));
            return Ok(Reply::Answer(m));
        }
        match req.qtype() {
            RecordType::A | RecordType::AAAA => self.addresses(req, &services, &mut m).await?,
            RecordType::SRV => self.srv(req, &services, &mut m).await?,
            RecordType::PTR => self.ptr(req, &services, &mut m),
            _ => {}
        }
        // Records, but not of the type asked: NODATA.
        if m.answers.is_empty() {
            m.authorities.push(self.soa(source, &zone));
        }
        Ok(Reply::Answer(m))
    }
}
