//! Zone transfers of the cluster zone (CoreDNS's kubernetes/xfr.go): every exposed service's
//! records, for `transfer`.

use std::sync::OnceLock;

use clusterdns_plugin::proto::rr::rdata::{CNAME, NS, SRV};
use clusterdns_plugin::proto::rr::{Name, RData, Record};
use clusterdns_plugin::{Transfer, Transferer, name_ascii};

use crate::index::Snapshot;
use crate::kubernetes::{Host, Kubernetes, Zone, address};
use crate::objects::ServiceKind;

impl Transferer for Kubernetes {
    /// Any name in a cluster zone is transferred as a zone of its own, as CoreDNS's
    /// `Zones.Matches` lets it (names built under the name asked).
    fn transfer(&self, zone: &Name, serial: Option<u32>) -> Transfer {
        let lower = name_ascii(zone);
        let Some((_, configured_lower)) = self.zone_of(&lower) else {
            return Transfer::NotAuthoritative;
        };
        let snap = self.index.load_full();
        let apex = Zone {
            qname: zone,
            labels: usize::from(zone.num_labels()),
            lower: configured_lower,
            grammar: self.grammar(configured_lower),
            owner_names: true,
            name: OnceLock::new(),
            query: OnceLock::new(),
        };
        let soa = self.soa(&snap, &apex);
        if let (Some(serial), RData::SOA(ours)) = (serial, &soa.data)
            && serial != 0
            && serial == ours.serial
        {
            return Transfer::Records(vec![vec![soa]]);
        }
        let mut chunks = vec![vec![soa.clone()]];
        self.name_servers(&snap, &apex, zone, &mut chunks);
        self.transfer_services(&snap, &lower, &mut chunks);
        chunks.push(vec![soa]);
        Transfer::Records(chunks)
    }
}

impl Kubernetes {
    /// An NS record per name server, each followed by every name server address: CoreDNS sends
    /// the whole address list once per address (so twice with two addresses).
    fn name_servers(&self, snap: &Snapshot, apex: &Zone<'_>, zone: &Name, chunks: &mut Vec<Vec<Record>>) {
        let entries = self.ns_addrs(snap, apex);
        let addresses: Vec<Record> = entries
            .iter()
            .filter_map(|e| match (&e.host, Name::from_ascii(&e.key)) {
                (Host::Ip(ip), Ok(owner)) => Some(address(&owner, e.ttl, *ip)),
                _ => None,
            })
            .collect();
        let mut seen: Vec<&str> = Vec::new();
        for e in &entries {
            if !seen.contains(&e.key.as_str()) {
                seen.push(&e.key);
                if let Ok(host) = Name::from_ascii(&e.key) {
                    chunks.push(vec![Record::from_rdata(
                        zone.clone(),
                        self.ttl,
                        RData::NS(NS(host)),
                    )]);
                }
            }
            chunks.push(addresses.clone());
        }
    }

    /// The services by name (CoreDNS sorts by name alone; ties by namespace here).
    fn transfer_services(&self, snap: &Snapshot, zone: &str, chunks: &mut Vec<Vec<Record>>) {
        let mut services: Vec<_> = snap
            .services_iter()
            .filter(|s| self.exposed(snap, &s.namespace))
            .collect();
        services.sort_by(|a, b| (&a.name, &a.namespace).cmp(&(&b.name, &b.namespace)));
        let ttl = self.ttl;
        let name = |text: String| Name::from_ascii(text).ok();
        for svc in services {
            let base = format!("{}.{}.svc.{zone}", svc.name, svc.namespace);
            let Some(owner) = name(base.clone()) else {
                continue;
            };
            match &svc.kind {
                ServiceKind::ClusterIp(ips) => {
                    for ip in ips {
                        chunks.push(vec![address(&owner, ttl, *ip)]);
                    }
                    for p in svc.ports.iter() {
                        let Ok(port) = u16::try_from(p.port) else {
                            continue;
                        };
                        let srv = |at: &Name| {
                            Record::from_rdata(
                                at.clone(),
                                ttl,
                                RData::SRV(SRV::new(0, 100, port, owner.clone())),
                            )
                        };
                        // For peer-finder (coredns#823): an SRV at the service's own name.
                        chunks.push(vec![srv(&owner)]);
                        // Unnamed ports have no SRV name (the DNS specification).
                        if p.name.is_empty() {
                            continue;
                        }
                        if let Some(at) = name(format!("_{}._{}.{base}", p.name.to_lowercase(), p.protocol)) {
                            chunks.push(vec![srv(&at)]);
                        }
                    }
                }
                ServiceKind::Headless => {
                    for slice in snap.slices(&svc.namespace, &svc.name) {
                        // CoreDNS's calcSRVWeight: 100 shared by a subset's addresses.
                        let weight = u16::try_from(100 / slice.addresses.len().max(1))
                            .unwrap_or(1)
                            .max(1);
                        for addr in &slice.addresses {
                            chunks.push(vec![address(&owner, ttl, addr.ip)]);
                            let host = format!("{}.{base}", addr.hostname(self.endpoint_pod_names));
                            let Some(host) = name(host) else {
                                continue;
                            };
                            chunks.push(vec![address(&host, ttl, addr.ip)]);
                            for p in slice.ports.iter().filter(|p| !p.name.is_empty()) {
                                let (Ok(port), Some(at)) = (
                                    u16::try_from(p.port),
                                    name(format!("_{}._{}.{base}", p.name.to_lowercase(), p.protocol)),
                                ) else {
                                    continue;
                                };
                                chunks.push(vec![Record::from_rdata(
                                    at,
                                    ttl,
                                    RData::SRV(SRV::new(0, weight, port, host.clone())),
                                )]);
                            }
                        }
                    }
                }
                ServiceKind::ExternalName(target) => {
                    // Only a name becomes a CNAME (an address there makes none).
                    if target.parse::<std::net::IpAddr>().is_err()
                        && let Ok(target) = Name::from_ascii(clusterdns_plugin::normalize_zone(target))
                    {
                        chunks.push(vec![Record::from_rdata(
                            owner.clone(),
                            ttl,
                            RData::CNAME(CNAME(target)),
                        )]);
                    }
                }
            }
        }
    }
}
