//! An address a Corefile gives as `IP` or `IP:PORT` (`[IPv6]:PORT`), as CoreDNS's
//! `parse.HostPort`.

use std::net::{IpAddr, SocketAddr};

/// `host` with `default_port` unless it names one; CoreDNS's error for anything but an IP.
pub fn host_port(host: &str, default_port: u16) -> Result<SocketAddr, String> {
    if let Ok(addr) = host.parse::<SocketAddr>() {
        return Ok(addr);
    }
    host.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, default_port))
        .map_err(|_| {
            let addr = host.rsplit_once(':').map_or(host, |(a, _)| a);
            format!("must specify an IP address: `{addr}'")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let ok = |s: &str| host_port(s, 53).map(|a| a.to_string());
        assert_eq!(ok("10.0.0.1"), Ok("10.0.0.1:53".into()));
        assert_eq!(ok("10.0.0.1:5300"), Ok("10.0.0.1:5300".into()));
        assert_eq!(ok("::1"), Ok("[::1]:53".into()));
        assert_eq!(ok("[::1]:5300"), Ok("[::1]:5300".into()));
        assert_eq!(
            ok("ns.example"),
            Err("must specify an IP address: `ns.example'".into())
        );
        assert_eq!(
            ok("ns.example:53"),
            Err("must specify an IP address: `ns.example'".into())
        );
    }
}
