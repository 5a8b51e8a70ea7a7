//! The `kubernetes` handler: the Kubernetes DNS spec answered from the index as CoreDNS 1.11.3
//! answers it (its `ServeDNS`, `Services`, `Records`, `findServices`, `findPods`, reverse and
//! the A/SRV/PTR/NS/SOA builders), quirks included.

use std::collections::{BTreeSet, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use clusterdns_plugin::proto::op::ResponseCode;
use clusterdns_plugin::proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV, TXT};
use clusterdns_plugin::proto::rr::{Name, RData, Record, RecordType};
use clusterdns_plugin::{
    Fallthrough, Handler, Next, PluginError, Reply, Request, address_from_reverse, lowercase_ascii,
    name_ascii, text_in_zone,
};

use crate::index::{Published, Snapshot};
use crate::names::{Grammar, RecordRequest, parse_request};
use crate::objects::ServiceKind;
use crate::setup::{Config, PodMode};

/// The schema version `dns-version.<zone>` TXT answers, with its TTL.
const DNS_SCHEMA_VERSION: &str = "1.1.0";
const DNS_VERSION_TTL: u32 = 28800;

/// What an entry resolves to: an address, or a name (an ExternalName: a CNAME).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Host {
    Ip(IpAddr),
    Name(String),
    Text(&'static str),
}

/// CoreDNS's `msg.Service`: one answer candidate, named by its key.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The domain the entry lives at (`web.default.svc.cluster.local.`): SRV target, NS name.
    pub(crate) key: String,
    pub(crate) host: Host,
    port: i32,
    pub(crate) ttl: u32,
}

/// A name error (NXDOMAIN, or the next plugin with `fallthrough`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NameError;

type Answer = Result<(Vec<Record>, Vec<Record>), NameError>;

/// Why an address lookup has no records to give.
#[derive(Debug)]
enum Unanswered {
    Name(NameError),
    /// A lookup through the server failed (a CNAME loop past its bound): SERVFAIL.
    Failed(PluginError),
}

impl From<NameError> for Unanswered {
    fn from(e: NameError) -> Self {
        Unanswered::Name(e)
    }
}

/// The handler.
pub struct Kubernetes {
    /// Each zone with its lower-case text, made once rather than per query.
    zones: Vec<(Name, String)>,
    primary: String,
    pub(crate) pods: PodMode,
    pub(crate) endpoint_pod_names: bool,
    pub(crate) ttl: u32,
    ignore_empty_service: bool,
    fallthrough: Fallthrough,
    pub(crate) namespaces: BTreeSet<String>,
    pub(crate) index: Published,
    /// The imported services of `multicluster` zones.
    clusterset: Published,
    /// The `multicluster` zones, lower case.
    multicluster: Vec<String>,
    /// `zonal`: zone-scoped names of headless services.
    zonal: bool,
    synced: Arc<AtomicBool>,
    /// The server's own non-loopback addresses, for NS records.
    pub(crate) local_ips: Vec<IpAddr>,
    /// The search list of the server's own /etc/resolv.conf, which autopath tries after the
    /// cluster's (CoreDNS's `autoPathSearch`).
    pub(crate) autopath_search: Vec<String>,
}

impl Kubernetes {
    pub fn new(config: &Config, index: Published, synced: Arc<AtomicBool>, local_ips: Vec<IpAddr>) -> Self {
        Self {
            zones: config
                .zones
                .iter()
                .map(|z| (z.clone(), lowercase_ascii(z)))
                .collect(),
            primary: config.primary_zone().to_ascii(),
            pods: config.pods,
            endpoint_pod_names: config.endpoint_pod_names,
            ttl: config.ttl,
            ignore_empty_service: config.ignore_empty_service,
            fallthrough: config.fallthrough.clone(),
            namespaces: config.namespaces.clone(),
            index,
            clusterset: Published::default(),
            multicluster: config.multicluster.iter().map(lowercase_ascii).collect(),
            zonal: config.zonal,
            synced,
            local_ips,
            autopath_search: Vec::new(),
        }
    }

    /// With the index of imported services `multicluster` zones answer from.
    pub fn with_clusterset(mut self, clusterset: Published) -> Self {
        self.clusterset = clusterset;
        self
    }

    /// The forms names take in the configured zone `zone` (lower case).
    pub(crate) fn grammar(&self, zone: &str) -> Grammar {
        Grammar {
            multicluster: self.multicluster.iter().any(|z| z == zone),
            zonal: self.zonal,
        }
    }

    /// With the search list autopath tries after the cluster's.
    pub fn with_autopath_search(mut self, search: Vec<String>) -> Self {
        self.autopath_search = search;
        self
    }

    /// The configured zone `lower` (a lower-case name) is in, the longest if several.
    pub(crate) fn zone_of(&self, lower: &str) -> Option<&(Name, String)> {
        self.zones
            .iter()
            .filter(|(_, z)| text_in_zone(lower, z))
            .max_by_key(|(z, _)| z.num_labels())
    }

    /// CoreDNS's `namespaceExposed`: allowed by `namespaces`, and existing.
    pub(crate) fn exposed(&self, snap: &Snapshot, namespace: &str) -> bool {
        (self.namespaces.is_empty() || self.namespaces.contains(namespace)) && snap.has_namespace(namespace)
    }

    /// CoreDNS's `Records`.
    fn records(&self, snap: &Snapshot, name: &str, zone: &Zone<'_>) -> Result<Vec<Entry>, NameError> {
        let r = parse_request(name, zone.lower, zone.grammar).map_err(|_| NameError)?;
        if r.pod_or_svc.is_empty() {
            return Ok(Vec::new());
        }
        if name.ends_with("in-addr.arpa.") || name.ends_with("ip6.arpa.") || !self.exposed(snap, r.namespace)
        {
            return Err(NameError);
        }
        if r.pod_or_svc == "pod" {
            self.find_pods(snap, &r, zone)
        } else if zone.grammar.multicluster {
            // CoreDNS's `findMultiClusterServices`: the same walk over ServiceImports and
            // their slices (namespaces are the cluster's own).
            self.find_services(&self.clusterset.load(), &r, zone)
        } else {
            self.find_services(snap, &r, zone)
        }
    }

    fn find_services(
        &self,
        snap: &Snapshot,
        r: &RecordRequest,
        zone: &Zone<'_>,
    ) -> Result<Vec<Entry>, NameError> {
        if r.service.is_empty() {
            // `<ns>.svc.<zone>`: NODATA for an exposed namespace.
            return Ok(Vec::new());
        }
        let Some((svc, slices)) = snap
            .named(r.namespace, r.service)
            .and_then(|n| Some((n.service.as_ref()?, n.slices.as_deref().unwrap_or(&[]))))
        else {
            return Err(NameError);
        };
        let ports_match = |port: &str, proto: &str| {
            (r.port.is_empty() || r.port.eq_ignore_ascii_case(port))
                && (r.protocol.is_empty() || r.protocol.eq_ignore_ascii_case(proto))
        };
        // Only SRV answers name the service; A lookups, most of the traffic, skip building it.
        let base = if zone.owner_names {
            [&*svc.name, ".", &*svc.namespace, ".svc.", zone.query()].concat()
        } else {
            String::new()
        };
        let mut out = Vec::new();
        // CoreDNS's `err = nil`: the name exists, even where it has no records (NODATA).
        let mut found = false;
        match &svc.kind {
            // Zone-scoped names are defined for headless services only (1.14.7): NXDOMAIN.
            ServiceKind::ExternalName(_) | ServiceKind::ClusterIp(_) if r.topology.is_some() => {}
            ServiceKind::ExternalName(target) => {
                // No endpoints or ports under an ExternalName (1.11.3: `_port._proto` is NXDOMAIN),
                // and an IP as its value gives no record.
                if r.endpoint.is_empty()
                    && r.port.is_empty()
                    && r.protocol.is_empty()
                    && target.parse::<IpAddr>().is_err()
                {
                    out.push(Entry {
                        key: base,
                        host: Host::Name(target.clone()),
                        port: 0,
                        ttl: self.ttl,
                    });
                }
            }
            kind if *kind == ServiceKind::Headless || !r.endpoint.is_empty() => {
                // A zone-scoped name of a headless service exists whatever its zone holds.
                found = r.topology.is_some();
                let topology = r.topology.map(|t| t.zone);
                self.endpoints(slices, r, zone, &base, topology, &mut out, &ports_match);
                if out.is_empty() && r.topology.is_some_and(|t| t.prefer) {
                    // `prefer`: the whole service when its zone holds nothing.
                    self.endpoints(slices, r, zone, &base, None, &mut out, &ports_match);
                }
            }
            ServiceKind::ClusterIp(ips) => {
                if self.ignore_empty_service && slices.iter().all(|s| s.addresses.is_empty()) {
                    return Err(NameError);
                }
                for p in svc.ports.iter().filter(|p| ports_match(&p.name, &p.protocol)) {
                    // An import with no IPs yet: NODATA.
                    found = true;
                    for ip in ips {
                        out.push(Entry {
                            key: base.clone(),
                            host: Host::Ip(*ip),
                            port: p.port,
                            ttl: self.ttl,
                        });
                    }
                }
            }
            ServiceKind::Headless => {}
        }
        if out.is_empty() && !found {
            Err(NameError)
        } else {
            Ok(out)
        }
    }

    /// The entries of a service's endpoints matching `r` (its endpoint, and in a multicluster
    /// zone its cluster id) and, with `topology`, in that zone.
    #[allow(clippy::too_many_arguments)]
    fn endpoints(
        &self,
        slices: &[Arc<crate::objects::Slice>],
        r: &RecordRequest,
        zone: &Zone<'_>,
        base: &str,
        topology: Option<&str>,
        out: &mut Vec<Entry>,
        ports_match: &dyn Fn(&str, &str) -> bool,
    ) {
        for slice in slices {
            let cluster = slice.cluster();
            if !r.endpoint.is_empty() && cluster.is_some_and(|c| !r.cluster.eq_ignore_ascii_case(c)) {
                continue;
            }
            for (i, addr) in slice.addresses.iter().enumerate() {
                if topology.is_some_and(|t| slice.zone(i) != Some(t)) {
                    continue;
                }
                let hostname = addr.hostname(self.endpoint_pod_names);
                if !r.endpoint.is_empty() && !r.endpoint.eq_ignore_ascii_case(&hostname) {
                    continue;
                }
                for p in slice.ports.iter().filter(|p| ports_match(&p.name, &p.protocol)) {
                    out.push(Entry {
                        key: match (zone.owner_names, cluster) {
                            (false, _) => String::new(),
                            (true, None) => format!("{hostname}.{base}"),
                            (true, Some(c)) => format!("{hostname}.{c}.{base}"),
                        },
                        host: Host::Ip(addr.ip),
                        port: p.port,
                        ttl: self.ttl,
                    });
                }
            }
        }
    }

    /// CoreDNS's `findPods`: `a-b-c-d.<ns>.pod.<zone>` (IPv6 with dashes for colons).
    fn find_pods(
        &self,
        snap: &Snapshot,
        r: &RecordRequest,
        zone: &Zone<'_>,
    ) -> Result<Vec<Entry>, NameError> {
        if self.pods == PodMode::Disabled {
            return Err(NameError);
        }
        if r.service.is_empty() {
            return Ok(Vec::new());
        }
        let label = &r.service;
        let text = if label.matches('-').count() == 3 && !label.contains("--") {
            label.replace('-', ".")
        } else {
            label.replace('-', ":")
        };
        let Ok(ip) = text.parse::<IpAddr>() else {
            return Err(NameError);
        };
        let entry = Entry {
            key: format!("{label}.{}.pod.{}", r.namespace, zone.query()),
            host: Host::Ip(ip),
            port: 0,
            ttl: self.ttl,
        };
        match self.pods {
            PodMode::Insecure => Ok(vec![entry]),
            _ if snap.has_pod(&ip, r.namespace) => Ok(vec![entry]),
            _ => Err(NameError),
        }
    }

    /// CoreDNS's `Services`: TXT and NS specials, then `Records` (SRV without ExternalNames).
    fn services(
        &self,
        snap: &Snapshot,
        name: &str,
        qtype: RecordType,
        zone: &Zone<'_>,
    ) -> Result<Vec<Entry>, NameError> {
        match qtype {
            RecordType::TXT => {
                if name.strip_suffix(zone.lower) == Some("dns-version.") {
                    return Ok(vec![Entry {
                        key: name.into(),
                        host: Host::Text(DNS_SCHEMA_VERSION),
                        port: 0,
                        ttl: DNS_VERSION_TTL,
                    }]);
                }
                // Another type's record here: NODATA; else NXDOMAIN (the apex included: 1.11.3),
                // but a zone-scoped name that exists with nothing in its zone is NODATA.
                return match self.records(snap, name, zone) {
                    Ok(r) if !r.is_empty() => Ok(Vec::new()),
                    Ok(_)
                        if self.zonal
                            && parse_request(name, zone.lower, zone.grammar)
                                .is_ok_and(|r| r.topology.is_some()) =>
                    {
                        Ok(Vec::new())
                    }
                    _ => Err(NameError),
                };
            }
            RecordType::NS => return Ok(self.ns_addrs(snap, zone)),
            _ => {}
        }
        if name.strip_prefix("ns.dns.") == Some(zone.lower) {
            let want_v4 = qtype == RecordType::A;
            return Ok(self
                .ns_addrs(snap, zone)
                .into_iter()
                .filter(|e| matches!(e.host, Host::Ip(ip) if ip.is_ipv4() == want_v4 && matches!(qtype, RecordType::A | RecordType::AAAA)))
                .collect());
        }
        let entries = self.records(snap, name, zone)?;
        if qtype == RecordType::SRV {
            return Ok(entries
                .into_iter()
                .filter(|e| !matches!(e.host, Host::Name(_)))
                .collect());
        }
        Ok(entries)
    }

    /// CoreDNS's `nsAddrs`: the services whose endpoints hold one of our addresses, else
    /// `ns.dns.<zone>` with our addresses.
    pub(crate) fn ns_addrs(&self, snap: &Snapshot, zone: &Zone<'_>) -> Vec<Entry> {
        let mut out = Vec::new();
        for local in &self.local_ips {
            for key in snap.endpoint_holders(local) {
                let Some(svc) = snap.service(&key.0, &key.1) else {
                    continue;
                };
                if let ServiceKind::ClusterIp(ips) = &svc.kind {
                    let name = format!("{}.{}.svc.{}", svc.name, svc.namespace, zone.query());
                    out.extend(ips.iter().map(|ip| Entry {
                        key: name.clone(),
                        host: Host::Ip(*ip),
                        port: 0,
                        ttl: self.ttl,
                    }));
                }
            }
        }
        if out.is_empty() {
            let name = format!("ns.dns.{}", zone.query());
            out.extend(self.local_ips.iter().map(|ip| Entry {
                key: name.clone(),
                host: Host::Ip(*ip),
                port: 0,
                ttl: self.ttl,
            }));
        }
        out
    }

    /// CoreDNS's `plugin.A`/`AAAA`: addresses, and ExternalName CNAMEs followed inside the
    /// zone or resolved through the server (its answer appended as it came).
    fn addresses<'a>(
        &'a self,
        req: &'a Request,
        snap: &'a Snapshot,
        zone: &'a Zone<'a>,
        name: Name,
        lower: &'a str,
        depth: usize,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Vec<Record>, Unanswered>> + Send + 'a>> {
        Box::pin(async move {
            // A or AAAA, also for the targets of the CNAMEs followed.
            let qtype = req.qtype();
            let entries = self.services(snap, lower, qtype, zone)?;
            let single = entries.len() == 1;
            let mut records = Vec::new();
            let mut seen = HashSet::new();
            for e in entries {
                match e.host {
                    // Each address once (CoreDNS dedups them).
                    Host::Ip(ip)
                        if ip.is_ipv4() == (qtype == RecordType::A) && (single || seen.insert(ip)) =>
                    {
                        records.push(address(&name, e.ttl, ip));
                    }
                    Host::Name(target) => {
                        let Ok(target) = Name::from_ascii(clusterdns_plugin::normalize_zone(&target)) else {
                            continue;
                        };
                        // x CNAME x, or a chain longer than CoreDNS follows: nothing.
                        if name.zone_of(&target) || depth > 7 {
                            continue;
                        }
                        let cname =
                            Record::from_rdata(name.clone(), e.ttl, RData::CNAME(CNAME(target.clone())));
                        if zone.name().zone_of(&target) {
                            let target_lower = lowercase_ascii(&target);
                            match self
                                .addresses(req, snap, zone, target, &target_lower, depth + 1)
                                .await
                            {
                                Ok(next) if !next.is_empty() => {
                                    records.push(cname);
                                    records.extend(next);
                                }
                                Err(Unanswered::Failed(e)) => return Err(Unanswered::Failed(e)),
                                _ => {}
                            }
                            continue;
                        }
                        records.push(cname);
                        if let Some(lookup) = &req.server_lookup {
                            let reply = lookup
                                .lookup(req, target, qtype)
                                .await
                                .map_err(Unanswered::Failed)?;
                            records.extend(reply.answers);
                        }
                    }
                    _ => {}
                }
            }
            Ok(records)
        })
    }

    /// CoreDNS's `plugin.SRV`: weights over every entry before duplicates are dropped.
    fn srv(&self, snap: &Snapshot, name: &Name, zone: &Zone<'_>) -> Answer {
        let entries = self.services(snap, &lowercase_ascii(name), RecordType::SRV, zone)?;
        let weight = if entries.is_empty() {
            0
        } else {
            (100 / entries.len()).max(1)
        };
        let weight = u16::try_from(weight).unwrap_or(1);
        let (mut records, mut extra) = (Vec::new(), Vec::new());
        let mut seen_srv = HashSet::new();
        let mut seen_addr = HashSet::new();
        for e in entries {
            let Host::Ip(ip) = e.host else { continue };
            if e.port < 0 {
                continue;
            }
            let Ok(target) = Name::from_ascii(&e.key) else {
                continue;
            };
            let port = u16::try_from(e.port).unwrap_or(0);
            if seen_srv.insert((e.key.clone(), port)) {
                records.push(Record::from_rdata(
                    name.clone(),
                    e.ttl,
                    RData::SRV(SRV::new(0, weight, port, target.clone())),
                ));
            }
            if seen_addr.insert((e.key, ip)) {
                extra.push(address(&target, e.ttl, ip));
            }
        }
        Ok((records, extra))
    }

    /// CoreDNS's `Reverse`: a cluster IP's service, else every endpoint with the address.
    fn ptr(&self, snap: &Snapshot, name: &Name, zone: &Zone<'_>) -> Answer {
        let Some(ip) = address_from_reverse(name) else {
            self.records(snap, &lowercase_ascii(name), zone)?;
            return Ok((Vec::new(), Vec::new()));
        };
        let filtered = |ns: &str| !self.namespaces.is_empty() && !self.exposed(snap, ns);
        let mut targets: Vec<String> = Vec::new();
        if let Some((ns, svc)) = snap.cluster_ip(&ip).filter(|(ns, _)| !filtered(ns)) {
            targets.push(format!("{svc}.{ns}.svc.{}", self.primary));
        } else {
            for (ns, svc) in snap.endpoint_holders(&ip) {
                if filtered(ns) {
                    continue;
                }
                for slice in snap.slices(ns, svc) {
                    for a in slice.addresses.iter().filter(|a| a.ip == ip) {
                        targets.push(format!(
                            "{}.{svc}.{ns}.svc.{}",
                            a.hostname(self.endpoint_pod_names),
                            self.primary
                        ));
                    }
                }
            }
        }
        if targets.is_empty() {
            return Err(NameError);
        }
        let mut seen = HashSet::new();
        let records = targets
            .into_iter()
            .filter(|t| seen.insert(t.clone()))
            .filter_map(|t| Name::from_ascii(&t).ok())
            .map(|t| Record::from_rdata(name.clone(), self.ttl, RData::PTR(PTR(t))))
            .collect();
        Ok((records, Vec::new()))
    }

    /// The apex NS records with their addresses as glue.
    fn ns(&self, snap: &Snapshot, name: &Name, zone: &Zone<'_>) -> Answer {
        let (mut records, mut extra) = (Vec::new(), Vec::new());
        let mut seen = HashSet::new();
        for e in self.ns_addrs(snap, zone) {
            let (Host::Ip(ip), Ok(target)) = (e.host, Name::from_ascii(&e.key)) else {
                continue;
            };
            extra.push(address(&target, e.ttl, ip));
            if seen.insert(e.key.clone()) {
                records.push(Record::from_rdata(name.clone(), e.ttl, RData::NS(NS(target))));
            }
        }
        Ok((records, extra))
    }

    /// `<zone> SOA`: `ns.dns.<zone> hostmaster.<zone> <serial> 7200 1800 86400 <ttl>`, TTL at most 300.
    pub(crate) fn soa(&self, snap: &Snapshot, zone: &Zone<'_>) -> Record {
        let join = |label: &str| {
            Name::from_ascii(format!("{label}.{}", zone.query())).unwrap_or_else(|_| zone.name().clone())
        };
        // A multicluster zone's serial moves with the imported services (CoreDNS's
        // `ModifiedMultiCluster`).
        let serial = if zone.grammar.multicluster {
            self.clusterset.load().serial
        } else {
            snap.serial
        };
        let soa = SOA::new(
            join("ns.dns"),
            join("hostmaster"),
            serial,
            7200,
            1800,
            86400,
            self.ttl,
        );
        Record::from_rdata(zone.name().clone(), self.ttl.min(300), RData::SOA(soa))
    }

    fn negative(&self, req: &Request, snap: &Snapshot, zone: &Zone<'_>, rcode: ResponseCode) -> Reply {
        let mut m = req.reply();
        m.metadata.response_code = rcode;
        m.metadata.authoritative = true;
        m.authorities.push(self.soa(snap, zone));
        Reply::Answer(m)
    }
}

/// The configured zone a query fell in. The query-case forms are made only when an answer
/// uses them: most queries are A lookups that never name the zone.
pub(crate) struct Zone<'a> {
    pub(crate) qname: &'a Name,
    pub(crate) labels: usize,
    pub(crate) lower: &'a str,
    /// The forms names take in it.
    pub(crate) grammar: Grammar,
    /// Whether entries need their owner names: only SRV answers name their targets.
    pub(crate) owner_names: bool,
    pub(crate) name: OnceLock<Name>,
    pub(crate) query: OnceLock<String>,
}

impl Zone<'_> {
    /// The zone in the query's case (CoreDNS answers with the case it was asked in).
    fn name(&self) -> &Name {
        self.name.get_or_init(|| self.qname.trim_to(self.labels))
    }

    /// [`Zone::name`] as text.
    pub(crate) fn query(&self) -> &str {
        self.query.get_or_init(|| name_ascii(self.name()))
    }
}

pub(crate) fn address(owner: &Name, ttl: u32, ip: IpAddr) -> Record {
    let data = match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    };
    Record::from_rdata(owner.clone(), ttl, data)
}

#[async_trait::async_trait]
impl Handler for Kubernetes {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn ready(&self) -> Option<bool> {
        Some(self.synced.load(Ordering::Acquire))
    }

    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
        let qname = req.qname().clone();
        // Matched on the lower-cased text every query needs anyway (a label walk per zone costs
        // more than the suffix compare).
        let lower = lowercase_ascii(&qname);
        let Some((configured, configured_lower)) = self.zone_of(&lower) else {
            return next.run(req).await;
        };
        // The zone keeps the query's case in what is answered (CoreDNS: "maintain case").
        let zone = Zone {
            qname: &qname,
            labels: usize::from(configured.num_labels()),
            lower: configured_lower,
            grammar: self.grammar(configured_lower),
            owner_names: req.qtype() == RecordType::SRV,
            name: OnceLock::new(),
            query: OnceLock::new(),
        };
        let snap = self.index.load_full();
        let qtype = req.qtype();
        let answer: Answer = match qtype {
            RecordType::A | RecordType::AAAA => {
                match self.addresses(req, &snap, &zone, qname.clone(), &lower, 0).await {
                    Ok(r) => Ok((r, Vec::new())),
                    Err(Unanswered::Name(e)) => Err(e),
                    Err(Unanswered::Failed(e)) => return Err(e),
                }
            }
            RecordType::TXT => self.services(&snap, &lower, qtype, &zone).map(|entries| {
                let txt = entries.into_iter().filter_map(|e| match e.host {
                    Host::Text(t) => Some(Record::from_rdata(
                        qname.clone(),
                        e.ttl,
                        RData::TXT(TXT::new(vec![t.to_string()])),
                    )),
                    _ => None,
                });
                (txt.collect(), Vec::new())
            }),
            RecordType::CNAME => self.services(&snap, &lower, qtype, &zone).map(|entries| {
                let cname = entries.into_iter().next().and_then(|e| match e.host {
                    Host::Name(t) => Name::from_ascii(clusterdns_plugin::normalize_zone(&t))
                        .ok()
                        .map(|t| Record::from_rdata(qname.clone(), e.ttl, RData::CNAME(CNAME(t)))),
                    _ => None,
                });
                (cname.into_iter().collect(), Vec::new())
            }),
            RecordType::PTR => self.ptr(&snap, &qname, &zone),
            RecordType::SRV => self.srv(&snap, &qname, &zone),
            RecordType::SOA if lower == zone.lower => Ok((vec![self.soa(&snap, &zone)], Vec::new())),
            // SOA below the apex: NODATA, even for names that do not exist (1.11.3).
            RecordType::SOA => Ok((Vec::new(), Vec::new())),
            RecordType::AXFR | RecordType::IXFR => return Ok(Reply::NoAnswer(ResponseCode::Refused)),
            RecordType::NS if lower == zone.lower => self.ns(&snap, &qname, &zone),
            // Everything else (MX, HTTPS, NS below the apex...): NODATA if the name exists as
            // an A would, else NXDOMAIN (CoreDNS's "fake A lookup").
            _ => self
                .services(&snap, &lower, RecordType::A, &zone)
                .map(|_| (Vec::new(), Vec::new())),
        };
        match answer {
            Err(NameError) => {
                if self.fallthrough.through(&qname) {
                    return next.run(req).await;
                }
                // Until the first sync, what would be NXDOMAIN may just not be known yet.
                let rcode = if self.synced.load(Ordering::Acquire) {
                    ResponseCode::NXDomain
                } else {
                    ResponseCode::ServFail
                };
                Ok(self.negative(req, &snap, &zone, rcode))
            }
            Ok((answers, _)) if answers.is_empty() => {
                Ok(self.negative(req, &snap, &zone, ResponseCode::NoError))
            }
            Ok((answers, extra)) => {
                let mut m = req.reply();
                m.metadata.authoritative = true;
                m.answers = answers;
                m.additionals = extra;
                Ok(Reply::Answer(m))
            }
        }
    }
}
