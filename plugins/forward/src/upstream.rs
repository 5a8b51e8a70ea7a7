//! Forward destinations: `IP[:port]`, `dns://...`, `tls://IP[%name][:port]`, or a
//! resolv.conf-style file, as CoreDNS's `parse.HostPortOrFile`.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

/// How an upstream is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamTransport {
    /// Plain DNS over UDP or TCP.
    Dns,
    /// DNS over TLS; the name to verify, if given with `%name`.
    Tls { server_name: Option<String> },
}

/// One upstream resolver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub addr: SocketAddr,
    pub transport: UpstreamTransport,
}

impl Upstream {
    /// `to` as metrics label it (`127.0.0.1:53`, `tls://1.1.1.1:853`).
    pub fn label(&self) -> String {
        match self.transport {
            UpstreamTransport::Dns => self.addr.to_string(),
            UpstreamTransport::Tls { .. } => format!("tls://{}", self.addr),
        }
    }
}

/// Parses forward destinations; files contribute each of their `nameserver` lines.
pub fn parse_upstreams(args: &[String]) -> Result<Vec<Upstream>, String> {
    let mut out = Vec::new();
    for arg in args {
        let (scheme, rest) = match arg.split_once("://") {
            Some((s, r)) => (s.to_ascii_lowercase(), r),
            None => ("dns".to_string(), arg.as_str()),
        };
        let transport = match scheme.as_str() {
            "dns" => UpstreamTransport::Dns,
            "tls" => UpstreamTransport::Tls { server_name: None },
            other => {
                return Err(format!(
                    "'{other}' is not supported as a destination protocol in forward: {arg}"
                ));
            }
        };
        let default_port = if transport == UpstreamTransport::Dns {
            53
        } else {
            853
        };
        // tls://IP%servername[:port]
        let (rest, server_name) = match (&transport, rest.split_once('%')) {
            (UpstreamTransport::Tls { .. }, Some((ip, name_port))) => {
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
        let transport = match transport {
            UpstreamTransport::Tls { .. } => UpstreamTransport::Tls { server_name },
            t => t,
        };
        if let Some(addr) = socket_addr(&rest, default_port) {
            out.push(Upstream { addr, transport });
            continue;
        }
        if transport == UpstreamTransport::Dns && Path::new(&rest).is_file() {
            let text = corefile::read_text(&rest).map_err(|e| format!("{rest}: {e}"))?;
            let (config, _) =
                hickory_resolver::system_conf::parse_resolv_conf(text).map_err(|e| format!("{rest}: {e}"))?;
            for ns in config.name_servers() {
                let upstream = Upstream {
                    addr: SocketAddr::new(ns.ip, 53),
                    transport: UpstreamTransport::Dns,
                };
                if !out.contains(&upstream) {
                    out.push(upstream);
                }
            }
            continue;
        }
        return Err(format!("not an IP address or file: {rest:?}"));
    }
    Ok(out)
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

    #[test]
    fn destinations_table() {
        let got = parse_upstreams(&args(&[
            "8.8.8.8",
            "1.1.1.1:5353",
            "dns://9.9.9.9",
            "[::1]:53",
            "2001:db8::1",
        ]))
        .expect("parses");
        let addrs: Vec<String> = got.iter().map(|u| u.addr.to_string()).collect();
        assert_eq!(
            addrs,
            [
                "8.8.8.8:53",
                "1.1.1.1:5353",
                "9.9.9.9:53",
                "[::1]:53",
                "[2001:db8::1]:53"
            ]
        );
        let tls =
            parse_upstreams(&args(&["tls://1.1.1.1%cloudflare-dns.com", "tls://9.9.9.9:8853"])).expect("tls");
        assert_eq!(
            tls,
            vec![
                Upstream {
                    addr: "1.1.1.1:853".parse().expect("addr"),
                    transport: UpstreamTransport::Tls {
                        server_name: Some("cloudflare-dns.com".into())
                    }
                },
                Upstream {
                    addr: "9.9.9.9:8853".parse().expect("addr"),
                    transport: UpstreamTransport::Tls { server_name: None }
                },
            ]
        );
        assert_eq!(tls[0].label(), "tls://1.1.1.1:853");
    }

    #[test]
    fn resolv_conf_files() {
        let dir = testkit::TempDir::new("forward-resolv");
        let path = dir.write(
            "resolv.conf",
            "search default.svc.cluster.local\nnameserver 10.0.0.2\nnameserver 10.0.0.3\noptions ndots:5\n",
        );
        let got = parse_upstreams(&[path.display().to_string()]).expect("parses");
        let addrs: Vec<String> = got.iter().map(|u| u.addr.to_string()).collect();
        assert_eq!(addrs, ["10.0.0.2:53", "10.0.0.3:53"]);
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_upstreams(&args(&["nope"])),
            Err("not an IP address or file: \"nope\"".into())
        );
        assert_eq!(
            parse_upstreams(&args(&["https://1.1.1.1"])),
            Err("'https' is not supported as a destination protocol in forward: https://1.1.1.1".into())
        );
    }
}
