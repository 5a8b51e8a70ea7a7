//! The interfaces one plugin offers others of its block through a [`crate::Link`], as CoreDNS's
//! `autopath.AutoPather` and `external.Externaler`, which only its kubernetes plugin implements.

use std::net::IpAddr;

use hickory_proto::op::ResponseCode;

use crate::request::{MetadataValues, Request};

/// A per-client search path (CoreDNS's `AutoPather`).
pub trait AutoPather: Send + Sync + 'static {
    /// The search list of `req`'s client, each element a lower-case fully qualified suffix and
    /// the last one `""` (the name as asked); `None` when the query is not to be searched.
    /// `qname` is the query name in lower case.
    fn search_path(&self, req: &Request, qname: &str) -> Option<Vec<String>>;
}

/// Where an external name points.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExternalHost {
    Ip(IpAddr),
    /// A host name (a load balancer's `hostname`), answered with a CNAME; for PTR queries, the
    /// `service.namespace` the address belongs to.
    Name(String),
}

/// One answer of an external zone (CoreDNS's `msg.Service` as `External` returns it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalService {
    pub host: ExternalHost,
    /// -1 for a service without ports (CoreDNS's sentinel: no SRV).
    pub port: i32,
    /// The SRV target of an address: `service.namespace.<zone>` or, for an endpoint of a
    /// headless service, `endpoint.service.namespace.<zone>`.
    pub target: String,
    /// The kubernetes plugin's TTL (SRV and CNAME records keep it).
    pub ttl: u32,
}

/// Service addresses for a zone outside the cluster (CoreDNS's `Externaler`).
pub trait Externaler: Send + Sync + 'static {
    /// The services `qname` (lower case, fully qualified) names under `zone`, and the rcode
    /// when there are none: NXDOMAIN, or NOERROR for a name that exists.
    fn external(
        &self,
        req: &Request,
        qname: &str,
        zone: &str,
        headless: bool,
    ) -> (Vec<ExternalService>, ResponseCode);

    /// The addresses of this DNS server's own service, for the apex NS records: its external
    /// addresses (endpoint addresses for a headless one), or this machine's own.
    fn external_addresses(&self, headless: bool) -> Vec<IpAddr>;

    /// The SOA serial: the time external addresses last changed.
    fn external_serial(&self) -> u32;
}

/// A plugin with metadata about each query (CoreDNS's `metadata.Provider`): collected before
/// the chain runs, when the `metadata` plugin takes the query.
pub trait MetadataProvider: Send + Sync + 'static {
    /// Records this plugin's labels for `req` (`qname` in lower case) into `values`.
    fn metadata(&self, req: &Request, qname: &str, values: &mut MetadataValues);
}
