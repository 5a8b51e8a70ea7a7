//! Host-name destinations resolved when the server starts (CoreDNS 1.14.6's `resolve.go`):
//! through the `resolver` servers, else the system's; a name that does not resolve stops the
//! start (or the reload, which keeps the configuration serving).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use clusterdns_plugin::{Service, ServiceContext};
use hickory_resolver::Resolver;
use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;

use crate::forward::Forward;
use crate::setup::check_count;
use crate::upstream::{Destination, Upstream};

/// CoreDNS's client waits 2 s per resolver; a start waits at most this long per name.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The service that resolves one forward line's host names and hands it its upstreams.
pub struct HostResolution {
    forward: Arc<Forward>,
}

impl HostResolution {
    pub fn new(forward: Arc<Forward>) -> Self {
        Self { forward }
    }
}

#[async_trait::async_trait]
impl Service for HostResolution {
    fn key(&self) -> String {
        format!("forward hosts {:p}", Arc::as_ptr(&self.forward))
    }

    async fn start(self: Arc<Self>, _ctx: ServiceContext) -> Result<(), String> {
        let upstreams = expand(self.forward.destinations(), self.forward.resolvers())
            .await
            .map_err(|e| format!("plugin/forward: {e}"))?;
        if upstreams.is_empty() {
            return Err("plugin/forward: no valid upstream addresses found".into());
        }
        check_count(upstreams.len()).map_err(|e| format!("plugin/forward: {e}"))?;
        self.forward.set_upstreams(upstreams);
        Ok(())
    }
}

/// The destinations with each host name replaced by its addresses, in order, each address
/// once (first seen wins).
pub async fn expand(to: &[Destination], resolvers: &[SocketAddr]) -> Result<Vec<Upstream>, String> {
    let resolver = resolver(resolvers)?;
    let mut out: Vec<Upstream> = Vec::new();
    for d in to {
        let found = match d {
            Destination::Addr(u) => vec![u.clone()],
            Destination::Host(h) => lookup(&resolver, &h.name, !resolvers.is_empty())
                .await
                .map_err(|e| format!("failed to resolve {:?}: {e}", h.name))?
                .into_iter()
                .map(|ip| h.at(ip))
                .collect(),
        };
        for u in found {
            if !out.iter().any(|o| o.addr == u.addr) {
                out.push(u);
            }
        }
    }
    Ok(out)
}

fn resolver(resolvers: &[SocketAddr]) -> Result<Resolver<TokioRuntimeProvider>, String> {
    let mut builder = if resolvers.is_empty() {
        Resolver::builder_tokio().map_err(|e| e.to_string())?
    } else {
        let servers = resolvers
            .iter()
            .map(|addr| {
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                for c in &mut ns.connections {
                    c.port = addr.port();
                }
                ns
            })
            .collect();
        Resolver::builder_with_config(
            ResolverConfig::from_parts(None, Vec::new(), servers),
            TokioRuntimeProvider::default(),
        )
    };
    let options = builder.options_mut();
    // Both families, as Go's LookupHost and CoreDNS's A-then-AAAA lookups.
    options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    options.timeout = Duration::from_secs(2);
    options.attempts = 1;
    options.cache_size = 0;
    builder.build().map_err(|e| e.to_string())
}

/// A name's addresses. With `resolver` servers the name is absolute (CoreDNS's `dns.Fqdn`);
/// the system resolver applies its search list, as Go's `LookupHost` does.
async fn lookup(
    resolver: &Resolver<TokioRuntimeProvider>,
    name: &str,
    absolute: bool,
) -> Result<Vec<IpAddr>, String> {
    let name = if absolute {
        format!("{name}.")
    } else {
        name.to_string()
    };
    let found = tokio::time::timeout(LOOKUP_TIMEOUT, resolver.lookup_ip(name.as_str()))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let ips: Vec<IpAddr> = found.iter().collect();
    if ips.is_empty() {
        return Err(format!("no addresses found for {name:?}"));
    }
    Ok(ips)
}
