//! Service addresses for k8s_external's zones (CoreDNS's `Kubernetes.External`,
//! `ExternalAddress` and `ExternalSerial`, plugin/kubernetes/external.go and ns.go).

use std::net::IpAddr;

use clusterdns_plugin::proto::op::ResponseCode;
use clusterdns_plugin::proto::rr::RecordType;
use clusterdns_plugin::{ExternalHost, ExternalService, Externaler, Request, address_from_reverse};

use crate::objects::{Port, ServiceKind};
use crate::{Kubernetes, Snapshot};

/// CoreDNS's sentinel port of a service without ports: answers addresses, never SRV.
fn no_port() -> Port {
    Port {
        name: "".into(),
        protocol: "".into(),
        port: -1,
    }
}

/// CoreDNS's `matchPortAndProtocol`: an empty query part matches anything; no wildcards here.
fn port_matches(port: &str, protocol: &str, p: &Port) -> bool {
    (port.is_empty() || port.eq_ignore_ascii_case(&p.name))
        && (protocol.is_empty() || protocol.eq_ignore_ascii_case(&p.protocol))
}

fn strip_underscore(s: &str) -> &str {
    s.strip_prefix('_').unwrap_or(s)
}

impl Kubernetes {
    /// The services holding a reverse name's address as an external one: `service.namespace`.
    fn external_reverse(&self, snap: &Snapshot, ip: &IpAddr) -> Vec<ExternalService> {
        snap.external_holders(ip)
            .iter()
            .filter(|(ns, _)| self.namespaces.is_empty() || self.exposed(snap, ns))
            .map(|(ns, name)| ExternalService {
                host: ExternalHost::Name(format!("{name}.{ns}")),
                port: 0,
                target: String::new(),
                ttl: self.ttl,
            })
            .collect()
    }
}

impl Externaler for Kubernetes {
    fn external(
        &self,
        req: &Request,
        qname: &str,
        zone: &str,
        headless: bool,
    ) -> (Vec<ExternalService>, ResponseCode) {
        let snap = self.index.load();
        let ptr = req.qtype() == RecordType::PTR;
        if ptr && let Some(ip) = address_from_reverse(req.qname()) {
            let found = self.external_reverse(&snap, &ip);
            let rcode = if found.is_empty() {
                ResponseCode::NXDomain
            } else {
                ResponseCode::NoError
            };
            return (found, rcode);
        }
        // Other names: service.namespace, endpoint.service.namespace or
        // _port._protocol.service.namespace under the zone.
        let base = if zone == "." {
            qname.strip_suffix('.').unwrap_or(qname)
        } else {
            qname
                .strip_suffix(zone)
                .and_then(|b| b.strip_suffix('.'))
                .unwrap_or("")
        };
        if base.is_empty() {
            return (Vec::new(), ResponseCode::ServFail);
        }
        let segs: Vec<&str> = base.split('.').collect();
        let (namespace, rest) = segs.split_last().map_or(("", &[][..]), |(ns, rest)| (*ns, rest));
        if !self.exposed(&snap, namespace) {
            return (Vec::new(), ResponseCode::NXDomain);
        }
        let Some((service, rest)) = rest.split_last() else {
            return (Vec::new(), ResponseCode::NoError);
        };
        let (endpoint, port, protocol) = match rest {
            [] => ("", "", ""),
            [endpoint] => (strip_underscore(endpoint), "", ""),
            [port, protocol] => ("", strip_underscore(port), strip_underscore(protocol)),
            _ => return (Vec::new(), ResponseCode::NXDomain),
        };
        let zone_text = if zone == "." { "" } else { zone };
        let mut found = Vec::new();
        let mut rcode = ResponseCode::NXDomain;
        if let Some(named) = snap.named(namespace, service)
            && let Some(svc) = &named.service
        {
            let headless_service = matches!(svc.kind, ServiceKind::Headless);
            if headless && svc.external.is_empty() && (headless_service || !endpoint.is_empty()) {
                for slice in named.slices.iter().flat_map(|s| s.iter()) {
                    for addr in &slice.addresses {
                        let host = addr.hostname(self.endpoint_pod_names);
                        if !endpoint.is_empty() && !endpoint.eq_ignore_ascii_case(&host) {
                            continue;
                        }
                        for p in slice.ports.iter().filter(|p| port_matches(port, protocol, p)) {
                            rcode = ResponseCode::NoError;
                            found.push(ExternalService {
                                host: ExternalHost::Ip(addr.ip),
                                port: p.port,
                                target: format!("{host}.{}.{}.{zone_text}", svc.name, svc.namespace),
                                ttl: self.ttl,
                            });
                        }
                    }
                }
            } else {
                let sentinel = [no_port()];
                let ports: &[Port] = if svc.ports.is_empty() {
                    &sentinel
                } else {
                    &svc.ports
                };
                for host in &svc.external {
                    for p in ports.iter().filter(|p| port_matches(port, protocol, p)) {
                        rcode = ResponseCode::NoError;
                        found.push(ExternalService {
                            host: host.clone(),
                            port: p.port,
                            target: format!("{}.{}.{zone_text}", svc.name, svc.namespace),
                            ttl: self.ttl,
                        });
                    }
                }
            }
        }
        if ptr {
            // A name that is not a reverse one: no records, but NODATA or NXDOMAIN as above.
            found.clear();
        }
        (found, rcode)
    }

    /// CoreDNS's `nsAddrs(external)`: the external addresses of the services whose endpoints
    /// hold one of our addresses (endpoint addresses of a headless one, with `headless`), else
    /// our own addresses.
    fn external_addresses(&self, headless: bool) -> Vec<IpAddr> {
        let snap = self.index.load();
        let mut found_endpoint = false;
        let mut out = Vec::new();
        for local in &self.local_ips {
            for (ns, name) in snap.endpoint_holders(local) {
                found_endpoint = true;
                let Some(named) = snap.named(ns, name) else {
                    continue;
                };
                let Some(svc) = &named.service else {
                    continue;
                };
                if headless && matches!(svc.kind, ServiceKind::Headless) {
                    let holding = named.slices.iter().flat_map(|s| s.iter());
                    for slice in holding.filter(|s| s.addresses.iter().any(|a| a.ip == *local)) {
                        out.extend(slice.addresses.iter().map(|a| a.ip));
                    }
                } else {
                    out.extend(svc.external.iter().filter_map(|h| match h {
                        ExternalHost::Ip(ip) => Some(*ip),
                        ExternalHost::Name(_) => None,
                    }));
                }
            }
        }
        if found_endpoint {
            out
        } else {
            self.local_ips.clone()
        }
    }

    fn external_serial(&self) -> u32 {
        self.index.load().external_serial
    }
}

#[cfg(test)]
mod tests {
    use clusterdns_plugin::{ExternalHost, Externaler};

    use crate::index::Store;
    use crate::objects::{Address, Port, Service, ServiceKind, Slice};
    use crate::tests::handler_on as handler;

    fn service(name: &str, kind: ServiceKind, external: &[&str]) -> Service {
        Service {
            namespace: "kube-system".into(),
            name: name.into(),
            kind,
            ports: vec![Port {
                name: "dns".into(),
                protocol: "udp".into(),
                port: 53,
            }]
            .into(),
            has_selector: true,
            external: external
                .iter()
                .map(|e| match e.parse() {
                    Ok(ip) => ExternalHost::Ip(ip),
                    Err(_) => ExternalHost::Name(e.to_string()),
                })
                .collect(),
        }
    }

    fn slice(service: &str, ips: &[&str]) -> Slice {
        Slice {
            namespace: "kube-system".into(),
            name: format!("{service}-abc").into(),
            service: service.into(),
            addresses: ips
                .iter()
                .map(|ip| Address {
                    ip: ip.parse().expect("ip"),
                    hostname: None,
                    pod_name: None,
                })
                .collect(),
            ports: Vec::new().into(),
            extra: None,
        }
    }

    fn ips(v: &[&str]) -> Vec<std::net::IpAddr> {
        v.iter().map(|ip| ip.parse().expect("ip")).collect()
    }

    #[test]
    fn ns_addresses_are_our_services_external_ones_else_our_own() {
        let mut store = Store::default();
        store.apply_namespace("kube-system".into());
        store.apply_service(service(
            "kube-dns",
            ServiceKind::ClusterIp(ips(&["10.96.0.10"])),
            &["198.51.100.53", "lb.cloud.example"],
        ));
        store.apply_slice(slice("kube-dns", &["10.244.0.5", "10.244.0.6"]));
        store.apply_service(service("dns-headless", ServiceKind::Headless, &[]));
        store.apply_slice(slice("dns-headless", &["10.244.0.7", "10.244.0.8"]));

        // One of our addresses is an endpoint of kube-dns: its external IPs (host names skipped).
        let k = handler(&store, "", &["10.244.0.5"]);
        assert_eq!(k.external_addresses(false), ips(&["198.51.100.53"]));
        // An endpoint of a headless service: with `headless`, the addresses of its endpoints.
        let k = handler(&store, "", &["10.244.0.7"]);
        assert_eq!(k.external_addresses(true), ips(&["10.244.0.7", "10.244.0.8"]));
        assert!(k.external_addresses(false).is_empty());
        // Not an endpoint of anything: our own addresses.
        let k = handler(&store, "", &["192.0.2.1"]);
        assert_eq!(k.external_addresses(false), ips(&["192.0.2.1"]));
    }

    #[test]
    fn serial_moves_with_external_addresses_and_ports_only() {
        let mut store = Store::default();
        store.apply_namespace("kube-system".into());
        let plain = service("plain", ServiceKind::ClusterIp(ips(&["10.96.0.1"])), &[]);
        store.apply_service(plain.clone());
        assert_eq!(store.snapshot().external_serial, 0);
        store.apply_service(service(
            "lb",
            ServiceKind::ClusterIp(ips(&["10.96.0.2"])),
            &["198.51.100.1"],
        ));
        let first = store.snapshot().external_serial;
        assert!(first > 0);
        let lb = store
            .snapshot()
            .external_holders(&"198.51.100.1".parse().expect("ip"))
            .to_vec();
        assert_eq!(lb.len(), 1);
        assert_eq!(&*lb[0].1, "lb");
        // Moved to another address: the index follows.
        store.apply_service(service(
            "lb",
            ServiceKind::ClusterIp(ips(&["10.96.0.2"])),
            &["198.51.100.2"],
        ));
        let snap = store.snapshot();
        assert!(
            snap.external_holders(&"198.51.100.1".parse().expect("ip"))
                .is_empty()
        );
        assert_eq!(
            snap.external_holders(&"198.51.100.2".parse().expect("ip")).len(),
            1
        );
        store.delete_service("kube-system", "lb");
        assert!(
            store
                .snapshot()
                .external_holders(&"198.51.100.2".parse().expect("ip"))
                .is_empty()
        );
    }
}
