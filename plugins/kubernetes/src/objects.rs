//! Slim copies of the Kubernetes objects DNS needs, made from the API's objects: memory in big
//! clusters is where CoreDNS hurts, so nothing else is kept. Bad data is skipped with a warning.

use std::net::IpAddr;
use std::sync::Arc;

use crate::api::{
    EndpointSlice as K8sEndpointSlice, McsEndpointSlice, Namespace as K8sNamespace, Pod as K8sPod,
    Service as K8sService, ServiceImport,
};
use clusterdns_plugin::{ExternalHost, clog};

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The label that ties an EndpointSlice to its ServiceImport (Multi-Cluster Services API).
pub const MCS_SERVICE_NAME_LABEL: &str = "multicluster.kubernetes.io/service-name";

/// What slim copies keep beyond what every query reads: only what the configuration uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keep {
    /// Endpoints' pod names (`endpoint_pod_names`).
    pub pod_names: bool,
    /// Endpoints' topology zones (`zonal`).
    pub zones: bool,
    /// Pods' names and labels (a block with `metadata`, `pods verified`).
    pub pod_details: bool,
}

/// A named port (`name` may be empty).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Port {
    pub name: Arc<str>,
    /// Lower case: `tcp`, `udp`, `sctp`.
    pub protocol: Arc<str>,
    /// -1 for a slice without ports (CoreDNS's sentinel: no SRV).
    pub port: i32,
}

impl Port {
    /// A port as the API gives it: no name is `""`, no protocol is TCP.
    fn new(name: Option<&str>, protocol: Option<&str>, port: i32) -> Self {
        Port {
            name: Arc::from(name.unwrap_or("")),
            protocol: Arc::from(protocol.unwrap_or("TCP").to_ascii_lowercase()),
            port,
        }
    }

    /// A Service's (or ServiceImport's) ports.
    fn list(ports: Option<&[crate::api::ServicePort]>) -> Arc<[Port]> {
        ports
            .into_iter()
            .flatten()
            .map(|p| Port::new(p.name.as_deref(), p.protocol.as_deref(), p.port))
            .collect()
    }
}

/// What a Service resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceKind {
    /// Its cluster IPs (one per family).
    ClusterIp(Vec<IpAddr>),
    Headless,
    ExternalName(String),
}

/// A Service, slim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub namespace: Arc<str>,
    pub name: Arc<str>,
    pub kind: ServiceKind,
    /// Shared by every object with the same list (the store interns them).
    pub ports: Arc<[Port]>,
    /// Whether the service selects pods (for the programming-duration metric's label).
    pub has_selector: bool,
    /// `spec.externalIPs`, then each load balancer ingress's IP, else its host name, in
    /// CoreDNS's order (k8s_external answers them). Empty for nearly every service.
    pub external: Box<[ExternalHost]>,
}

impl Service {
    /// The `service_kind` label of `coredns_kubernetes_dns_programming_duration_seconds`.
    pub fn metric_kind(&self) -> &'static str {
        match (&self.kind, self.has_selector) {
            (ServiceKind::Headless, true) => "headless_with_selector",
            (ServiceKind::Headless, false) => "headless_without_selector",
            _ => "cluster_ip",
        }
    }
}

/// One ready address of an EndpointSlice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub ip: IpAddr,
    /// The endpoint's `hostname`, if it is a valid DNS label.
    pub hostname: Option<Arc<str>>,
    /// The pod's name (`targetRef`), for `endpoint_pod_names`, if shorter than 64 characters.
    pub pod_name: Option<Arc<str>>,
}

impl Address {
    /// The name of the endpoint under its service: its hostname, else with `endpoint_pod_names`
    /// the pod name, else the dashed IP (1.11.3: IPv6 `fd00::` gives `fd00--`, no `0` added).
    pub fn hostname(&self, pod_names: bool) -> String {
        if let Some(h) = &self.hostname {
            return h.to_string();
        }
        if pod_names && let Some(p) = &self.pod_name {
            return p.to_string();
        }
        match self.ip {
            IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
            IpAddr::V6(v6) => v6.to_string().replace(':', "-"),
        }
    }
}

/// An EndpointSlice, slim: its service, ready addresses and ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    pub namespace: Arc<str>,
    pub name: Arc<str>,
    /// The `kubernetes.io/service-name` label (`multicluster.kubernetes.io/service-name` for
    /// an imported service's slice).
    pub service: Arc<str>,
    pub addresses: Vec<Address>,
    /// Shared by every object with the same list (the store interns them).
    pub ports: Arc<[Port]>,
    /// What only `multicluster` and `zonal` slices have, boxed: 8 bytes in every other slice.
    pub extra: Option<Box<SliceExtra>>,
}

/// A slice's cluster id and its addresses' zones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceExtra {
    /// An imported service's slice: the `multicluster.kubernetes.io/source-cluster` label.
    pub cluster: Option<Arc<str>>,
    /// With `zonal`, each address's topology zone, lower case (CoreDNS), by the address's
    /// place in `addresses`; empty otherwise.
    pub zones: Box<[Option<Arc<str>>]>,
}

impl Slice {
    /// An imported service's slice: its source cluster's id.
    pub fn cluster(&self) -> Option<&str> {
        self.extra.as_ref().and_then(|x| x.cluster.as_deref())
    }

    /// The topology zone of the address at `i`, if kept and known.
    pub fn zone(&self, i: usize) -> Option<&str> {
        self.extra.as_ref()?.zones.get(i).and_then(|z| z.as_deref())
    }
}

/// A pod's IP (only `status.podIP`, as CoreDNS indexes), for `pods verified`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    pub namespace: Arc<str>,
    pub name: Arc<str>,
    pub ip: Option<IpAddr>,
    /// Kept only when `metadata` reads them.
    pub details: Option<Arc<PodDetails>>,
}

/// What `metadata` tells of a client pod: `kubernetes/client-pod-name` and
/// `kubernetes/client-label/<key>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodDetails {
    pub name: Arc<str>,
    pub labels: Box<[(Arc<str>, Arc<str>)]>,
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() < 64
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn name_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> (Arc<str>, Arc<str>) {
    (
        Arc::from(meta.namespace.as_deref().unwrap_or("")),
        Arc::from(meta.name.as_deref().unwrap_or("")),
    )
}

impl Service {
    /// The slim Service, or None for one DNS cannot use.
    pub fn from_api(s: &K8sService) -> Option<Service> {
        let (namespace, name) = name_of(&s.metadata);
        let spec = s.spec.as_ref()?;
        let ports = Port::list(spec.ports.as_deref());
        let kind = if spec.type_.as_deref() == Some("ExternalName") {
            ServiceKind::ExternalName(spec.external_name.clone().unwrap_or_default())
        } else if spec.cluster_ip.as_deref() == Some("None") {
            ServiceKind::Headless
        } else {
            // Dual-stack services list both families in clusterIPs; older objects only clusterIP.
            let ips: Vec<IpAddr> = match &spec.cluster_ips {
                Some(ips) if !ips.is_empty() => ips
                    .iter()
                    .filter_map(|ip| parse_ip(ip, &namespace, &name))
                    .collect(),
                _ => spec
                    .cluster_ip
                    .iter()
                    .filter_map(|ip| parse_ip(ip, &namespace, &name))
                    .collect(),
            };
            if ips.is_empty() {
                return None;
            }
            ServiceKind::ClusterIp(ips)
        };
        let ingress = s
            .status
            .iter()
            .filter_map(|st| st.load_balancer.as_ref())
            .flat_map(|lb| lb.ingress.iter().flatten())
            .filter_map(|i| {
                i.ip.as_deref()
                    .filter(|ip| !ip.is_empty())
                    .or(i.hostname.as_deref())
            });
        let external = spec
            .external_ips
            .iter()
            .flatten()
            .map(String::as_str)
            .chain(ingress)
            .filter(|host| !host.is_empty())
            .map(|host| match host.parse() {
                Ok(ip) => ExternalHost::Ip(ip),
                Err(_) => ExternalHost::Name(host.to_string()),
            })
            .collect();
        Some(Service {
            namespace,
            name,
            kind,
            ports,
            has_selector: spec.has_selector,
            external,
        })
    }
}

fn parse_ip(ip: &str, namespace: &str, name: &str) -> Option<IpAddr> {
    match ip.parse() {
        Ok(ip) => Some(ip),
        Err(_) => {
            clog::warning(
                Some("kubernetes"),
                format_args!("skipping invalid IP {ip:?} of {namespace}/{name}"),
            );
            None
        }
    }
}

impl Slice {
    /// The slim slice, or None for one without the service-name label. Endpoints' pod names
    /// and zones are kept only as `keep` says: every endpoint has them, and only an option
    /// reads them.
    pub fn from_api(s: &K8sEndpointSlice, keep: Keep) -> Option<Slice> {
        let Some(service) = s.service_name.as_deref() else {
            // An imported service's slice has the multicluster label instead: not a mistake.
            if s.mcs_service_name.is_none() {
                let (namespace, name) = name_of(&s.metadata);
                clog::warning(
                    Some("kubernetes"),
                    format_args!(
                        "skipping EndpointSlice {namespace}/{name} without the {SERVICE_NAME_LABEL} label"
                    ),
                );
            }
            return None;
        };
        Some(Self::slim(s, service, None, keep))
    }

    /// An imported service's slice (CoreDNS's `EndpointSliceToMultiClusterEndpoints`), filed
    /// under its `multicluster.kubernetes.io/service-name`, with its source cluster's id.
    pub fn from_mcs(s: &McsEndpointSlice, keep: Keep) -> Option<Slice> {
        let s = &s.0;
        let service = s.mcs_service_name.as_deref()?;
        let cluster = Arc::from(s.source_cluster.as_deref().unwrap_or(""));
        Some(Self::slim(s, service, Some(cluster), keep))
    }

    fn slim(s: &K8sEndpointSlice, service: &str, cluster: Option<Arc<str>>, keep: Keep) -> Slice {
        let (namespace, name) = name_of(&s.metadata);
        let ports: Vec<Port> = s
            .ports
            .iter()
            .flatten()
            .map(|p| Port::new(p.name.as_deref(), p.protocol.as_deref(), p.port.unwrap_or(-1)))
            .collect();
        // No ports: CoreDNS's sentinel port -1, so addresses answer A but no SRV.
        let ports: Arc<[Port]> = if ports.is_empty() {
            Arc::new([Port {
                name: Arc::from(""),
                protocol: Arc::from(""),
                port: -1,
            }])
        } else {
            ports.into()
        };
        let mut addresses = Vec::new();
        let mut zones = Vec::new();
        for e in &s.endpoints {
            // Ready unless it says it is not (a nil condition counts as ready).
            if e.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
                continue;
            }
            let hostname = e.hostname.as_deref().and_then(|h| {
                if is_dns_label(h) {
                    Some(Arc::from(h))
                } else {
                    clog::warning(
                        Some("kubernetes"),
                        format_args!("ignoring hostname {h:?} in {namespace}/{name}: not a DNS label"),
                    );
                    None
                }
            });
            let pod_name = e
                .target_ref
                .as_ref()
                .and_then(|t| t.name.as_deref())
                .filter(|n| keep.pod_names && n.len() < 64)
                .map(Arc::from);
            let zone: Option<Arc<str>> = e
                .zone
                .as_deref()
                .filter(|_| keep.zones)
                .map(|z| Arc::from(z.to_ascii_lowercase()));
            for a in &e.addresses {
                if let Some(ip) = parse_ip(a, &namespace, &name) {
                    addresses.push(Address {
                        ip,
                        hostname: hostname.clone(),
                        pod_name: pod_name.clone(),
                    });
                    if keep.zones {
                        zones.push(zone.clone());
                    }
                }
            }
        }
        // Kept for the slice's lifetime: no spare capacity (a slice of 2 grew room for 4).
        addresses.shrink_to_fit();
        Slice {
            namespace,
            name,
            service: Arc::from(service),
            addresses,
            ports,
            extra: (cluster.is_some() || !zones.is_empty()).then(|| {
                Box::new(SliceExtra {
                    cluster,
                    zones: zones.into(),
                })
            }),
        }
    }
}

impl Service {
    /// An imported multi-cluster service (CoreDNS's `ToServiceImport`): a `ClusterSetIP`
    /// import answers its IPs (none: NODATA), a `Headless` one its endpoints.
    pub fn from_import(s: &ServiceImport) -> Option<Service> {
        let (namespace, name) = name_of(&s.metadata);
        let spec = s.spec.as_ref()?;
        let kind = if spec.type_.as_deref() == Some("Headless") {
            ServiceKind::Headless
        } else {
            ServiceKind::ClusterIp(
                spec.ips
                    .iter()
                    .flatten()
                    .filter_map(|ip| parse_ip(ip, &namespace, &name))
                    .collect(),
            )
        };
        Some(Service {
            namespace,
            name,
            kind,
            ports: Port::list(spec.ports.as_deref()),
            has_selector: false,
            external: Box::default(),
        })
    }
}

impl Pod {
    /// The slim pod; pods that finished or are being deleted have no IP for DNS (CoreDNS).
    /// Its name and labels are kept as `keep` says.
    pub fn from_api(p: &K8sPod, keep: Keep) -> Pod {
        let (namespace, name) = name_of(&p.metadata);
        let status = p.status.as_ref();
        let phase = status.and_then(|s| s.phase.as_deref());
        let live = p.metadata.deletion_timestamp.is_none()
            && !matches!(phase, Some("Succeeded" | "Failed" | "Unknown"));
        let ip = status
            .and_then(|s| s.pod_ip.as_deref())
            .filter(|_| live)
            .and_then(|ip| ip.parse().ok());
        let details = keep.pod_details.then(|| {
            Arc::new(PodDetails {
                name: name.clone(),
                labels: p
                    .metadata
                    .labels
                    .iter()
                    .flatten()
                    .map(|(k, v)| (Arc::from(k.as_str()), Arc::from(v.as_str())))
                    .collect(),
            })
        });
        Pod {
            namespace,
            name,
            ip,
            details,
        }
    }
}

/// A namespace's name.
pub fn namespace_name(n: &K8sNamespace) -> Arc<str> {
    Arc::from(n.metadata.name.as_deref().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashed_hostnames() {
        let a = |ip: &str| Address {
            ip: ip.parse().expect("ip"),
            hostname: None,
            pod_name: Some(Arc::from("web-0")),
        };
        assert_eq!(a("10.244.0.20").hostname(false), "10-244-0-20");
        assert_eq!(a("fd00:10:244:3::").hostname(false), "fd00-10-244-3--");
        assert_eq!(a("5678:abcd::1").hostname(false), "5678-abcd--1");
        assert_eq!(a("10.244.0.20").hostname(true), "web-0");
    }

    #[test]
    fn labels() {
        assert!(is_dns_label("web-0"));
        assert!(
            !is_dns_label("Web_0")
                && !is_dns_label("-a")
                && !is_dns_label(&"a".repeat(64))
                && !is_dns_label("")
        );
    }
}
