//! Forward destinations: `IP[:port]`, `dns://...`, `tls://IP[%name][:port]`,
//! `https://IP[%name][:port]`, a resolv.conf-style file (CoreDNS's `parse.HostPortOrFile`), or
//! a host name resolved at start (CoreDNS 1.14.6's `classifyToAddrs`).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

/// How an upstream is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamTransport {
    /// Plain DNS over UDP or TCP.
    Dns,
    /// DNS over TLS; the name to verify, if given with `%name`.
    Tls { server_name: Option<String> },
    /// DNS over HTTPS (RFC 8484, `/dns-query`); the name to verify, if given with `%name`.
    Https { server_name: Option<String> },
}

impl UpstreamTransport {
    /// The name `%name` gave, for TLS and HTTPS.
    pub fn server_name(&self) -> Option<&str> {
        match self {
            UpstreamTransport::Dns => None,
            UpstreamTransport::Tls { server_name } | UpstreamTransport::Https { server_name } => {
                server_name.as_deref()
            }
        }
    }

    /// The same transport verifying `name` when none was given.
    fn named(self, name: &str) -> Self {
        match self {
            UpstreamTransport::Tls { server_name: None } => UpstreamTransport::Tls {
                server_name: Some(name.to_string()),
            },
            UpstreamTransport::Https { server_name: None } => UpstreamTransport::Https {
                server_name: Some(name.to_string()),
            },
            t => t,
        }
    }
}

/// One upstream resolver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub addr: SocketAddr,
    pub transport: UpstreamTransport,
}

impl Upstream {
    /// `to` as metrics label it (`127.0.0.1:53`, `tls://1.1.1.1:853`, `https://1.1.1.1:443`).
    pub fn label(&self) -> String {
        match self.transport {
            UpstreamTransport::Dns => self.addr.to_string(),
            UpstreamTransport::Tls { .. } => format!("tls://{}", self.addr),
            UpstreamTransport::Https { .. } => format!("https://{}", self.addr),
        }
    }
}

/// A destination named by host: resolved to its addresses when the server starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTarget {
    pub name: String,
    pub port: u16,
    pub transport: UpstreamTransport,
}

impl HostTarget {
    /// The upstream at one of the name's addresses; TLS and HTTPS verify the name itself
    /// unless `%name` or `tls_servername` says otherwise (CoreDNS verifies the address).
    pub fn at(&self, ip: IpAddr) -> Upstream {
        Upstream {
            addr: SocketAddr::new(ip, self.port),
            transport: self.transport.clone().named(&self.name),
        }
    }
}

/// One `TO` of a forward line, in Corefile order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Addr(Upstream),
    Host(HostTarget),
}

/// Parses forward destinations; files contribute each of their `nameserver` lines.
pub fn parse_destinations(args: &[String]) -> Result<Vec<Destination>, String> {
    let mut out: Vec<Destination> = Vec::new();
    for arg in args {
        let (scheme, rest) = match arg.split_once("://") {
            Some((s, r)) => (s.to_ascii_lowercase(), r),
            None => ("dns".to_string(), arg.as_str()),
        };
        let (default_port, https) = match scheme.as_str() {
            "dns" => (53, false),
            "tls" => (853, false),
            "https" => (443, true),
            other => {
                return Err(format!(
                    "'{other}' is not supported as a destination protocol in forward: {arg}"
                ));
            }
        };
        if https && rest.contains('/') {
            return Err(format!(
                "paths are not allowed in HTTPS upstream addresses (the /dns-query path is used by default): {arg}"
            ));
        }
        // IP%servername[:port] for TLS and HTTPS.
        let (rest, server_name) = match rest.split_once('%') {
            Some((ip, name_port)) if scheme != "dns" => {
                let (name, port) = match name_port.rsplit_once(':') {
                    Some((n, p)) if p.parse::<u16>().is_ok() => (n, Some(p)),
                    _ => (name_port, None),
                };
                (
                    port.map_or_else(|| ip.to_string(), |p| format!("{ip}:{p}")),
                    Some(name.to_string()),
                )
            }
            _ => (rest.to_string(), None),
        };
        let transport = match scheme.as_str() {
            "tls" => UpstreamTransport::Tls { server_name },
            "https" => UpstreamTransport::Https { server_name },
            _ => UpstreamTransport::Dns,
        };
        if let Some(addr) = socket_addr(&rest, default_port) {
            push(&mut out, Destination::Addr(Upstream { addr, transport }));
            continue;
        }
        if transport == UpstreamTransport::Dns && Path::new(&rest).is_file() {
            let text = corefile::read_text(&rest).map_err(|e| format!("{rest}: {e}"))?;
            let (config, _) =
                hickory_resolver::system_conf::parse_resolv_conf(text).map_err(|e| format!("{rest}: {e}"))?;
            for ns in config.name_servers() {
                let addr = SocketAddr::new(ns.ip, 53);
                push(
                    &mut out,
                    Destination::Addr(Upstream {
                        addr,
                        transport: UpstreamTransport::Dns,
                    }),
                );
            }
            continue;
        }
        let (name, port) = match rest.rsplit_once(':') {
            Some((n, p)) => (
                n,
                p.parse::<u16>().map_err(|_| format!("invalid port in {arg:?}"))?,
            ),
            None => (rest.as_str(), default_port),
        };
        let name = name.trim_start_matches('[').trim_end_matches(']');
        if !is_domain_name(name) || name.parse::<IpAddr>().is_ok() {
            return Err(format!("not an IP address, file, or valid domain: {arg:?}"));
        }
        push(
            &mut out,
            Destination::Host(HostTarget {
                name: name.trim_end_matches('.').to_ascii_lowercase(),
                port,
                transport,
            }),
        );
    }
    Ok(out)
}

/// Adds `d` unless it is there already (first seen wins, as CoreDNS dedups).
fn push(out: &mut Vec<Destination>, d: Destination) {
    if !out.contains(&d) {
        out.push(d);
    }
}

/// A host name as CoreDNS checks one (miekg's `IsDomainName`: labels of 1 to 63 bytes, 255 in
/// all), but of host name characters only: a path to a missing file (`/etc/resolv.conf.x`) is
/// reported as such, not looked up.
fn is_domain_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() < 255
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// `IP`, `IP:port`, `[IPv6]:port`.
fn socket_addr(s: &str, default_port: u16) -> Option<SocketAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, default_port));
    }
    s.parse::<SocketAddr>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn addrs(got: &[Destination]) -> Vec<String> {
        got.iter()
            .map(|d| match d {
                Destination::Addr(u) => u.label(),
                Destination::Host(h) => format!("{}:{}", h.name, h.port),
            })
            .collect()
    }

    #[test]
    fn destinations_table() {
        let got = parse_destinations(&args(&[
            "8.8.8.8",
            "1.1.1.1:5353",
            "dns://9.9.9.9",
            "[::1]:53",
            "2001:db8::1",
            "8.8.8.8",
        ]))
        .expect("parses");
        assert_eq!(
            addrs(&got),
            [
                "8.8.8.8:53",
                "1.1.1.1:5353",
                "9.9.9.9:53",
                "[::1]:53",
                "[2001:db8::1]:53"
            ]
        );
        let tls = parse_destinations(&args(&["tls://1.1.1.1%cloudflare-dns.com", "tls://9.9.9.9:8853"]))
            .expect("tls");
        assert_eq!(
            tls,
            vec![
                Destination::Addr(Upstream {
                    addr: "1.1.1.1:853".parse().expect("addr"),
                    transport: UpstreamTransport::Tls {
                        server_name: Some("cloudflare-dns.com".into())
                    }
                }),
                Destination::Addr(Upstream {
                    addr: "9.9.9.9:8853".parse().expect("addr"),
                    transport: UpstreamTransport::Tls { server_name: None }
                }),
            ]
        );
        assert_eq!(addrs(&tls)[0], "tls://1.1.1.1:853");
        let doh =
            parse_destinations(&args(&["https://1.1.1.1", "https://[2606:4700::1111]:8443"])).expect("doh");
        assert_eq!(
            addrs(&doh),
            ["https://1.1.1.1:443", "https://[2606:4700::1111]:8443"]
        );
    }

    /// Host names (CoreDNS 1.14.6): resolved at start, with each transport's default port.
    #[test]
    fn host_names() {
        let got = parse_destinations(&args(&[
            "dns.example",
            "tls://dns.example",
            "https://dns.example:8443",
            "my-dns.svc.cluster.local:5353",
        ]))
        .expect("parses");
        assert_eq!(
            addrs(&got),
            [
                "dns.example:53",
                "dns.example:853",
                "dns.example:8443",
                "my-dns.svc.cluster.local:5353"
            ]
        );
        let Destination::Host(h) = &got[1] else {
            panic!("a host")
        };
        // TLS verifies the name the Corefile gave.
        assert_eq!(
            h.at("192.0.2.1".parse().expect("ip")).transport.server_name(),
            Some("dns.example")
        );
    }

    #[test]
    fn resolv_conf_files() {
        let dir = testkit::TempDir::new("forward-resolv");
        let path = dir.write(
            "resolv.conf",
            "search default.svc.cluster.local\nnameserver 10.0.0.2\nnameserver 10.0.0.3\noptions ndots:5\n",
        );
        let got = parse_destinations(&[path.display().to_string()]).expect("parses");
        assert_eq!(addrs(&got), ["10.0.0.2:53", "10.0.0.3:53"]);
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_destinations(&args(&["a..b"])),
            Err("not an IP address, file, or valid domain: \"a..b\"".into())
        );
        assert_eq!(
            parse_destinations(&args(&["/etc/no-such-resolv.conf"])),
            Err("not an IP address, file, or valid domain: \"/etc/no-such-resolv.conf\"".into())
        );
        assert_eq!(
            parse_destinations(&args(&["quic://1.1.1.1"])),
            Err("'quic' is not supported as a destination protocol in forward: quic://1.1.1.1".into())
        );
        assert_eq!(
            parse_destinations(&args(&["https://1.1.1.1/dns-query"])),
            Err("paths are not allowed in HTTPS upstream addresses (the /dns-query path is used by default): https://1.1.1.1/dns-query".into())
        );
    }
}
