//! Server block keys: `[SCHEME://]ZONE[:PORT]`, reverse-zone CIDRs, as CoreDNS's `normalizeZone`.

use std::net::IpAddr;

/// The transport a server block key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Dns,
    Tls,
    Grpc,
    Https,
    Quic,
    Https3,
}

impl Transport {
    /// The scheme as written in a key (`dns`, `tls`, ...).
    pub fn scheme(self) -> &'static str {
        match self {
            Transport::Dns => "dns",
            Transport::Tls => "tls",
            Transport::Grpc => "grpc",
            Transport::Https => "https",
            Transport::Quic => "quic",
            Transport::Https3 => "https3",
        }
    }
}

/// A parsed server block key: the zones it stands for (a CIDR may give several) and its port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub transport: Transport,
    /// Lower-case, fully qualified zones (`example.org.`, `0.0.10.in-addr.arpa.`, `.`).
    pub zones: Vec<String>,
    /// The port written in the key, if any (the server's default applies otherwise).
    pub port: Option<u16>,
}

/// Parses one server block key. The error text is the message only (the caller adds file:line).
pub fn parse_key(key: &str) -> Result<Key, String> {
    let (transport, rest) = match key.split_once("://") {
        None => (Transport::Dns, key),
        Some((scheme, rest)) => {
            let t = match scheme.to_ascii_lowercase().as_str() {
                "dns" => Transport::Dns,
                "tls" => Transport::Tls,
                "grpc" => Transport::Grpc,
                "https" => Transport::Https,
                "quic" => Transport::Quic,
                "https3" => Transport::Https3,
                other => return Err(format!("unknown transport scheme '{other}://' in '{key}'")),
            };
            (t, rest)
        }
    };
    // CoreDNS's plugin.SplitHostPort: a trailing `:NUMBER` is the port; a CIDR puts `/mask`
    // before it, so IPv6 CIDRs are not mistaken for a port.
    let (host, port) = match rest.rfind(':') {
        Some(colon) if colon + 1 == rest.len() => {
            return Err(format!("expecting data after last colon: \"{rest}\""));
        }
        Some(colon) => match rest[colon + 1..].parse::<u32>() {
            Ok(p) => {
                let p = u16::try_from(p).map_err(|_| format!("invalid port in '{key}': {p}"))?;
                (&rest[..colon], Some(p))
            }
            Err(_) => (rest, None),
        },
        None => (rest, None),
    };
    if host.len() > 255 {
        return Err(format!("specified zone is too long: {} > 255", host.len()));
    }
    let zones = match host.split_once('/') {
        Some((ip, mask)) => {
            let ip: IpAddr = ip.parse().map_err(|_| format!("invalid CIDR {host}"))?;
            let mask: u8 = mask.parse().map_err(|_| format!("invalid CIDR {host}"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            if mask > max {
                return Err(format!("invalid CIDR {host}"));
            }
            reverse_zones_of_cidr(ip, mask)
        }
        None => vec![fqdn_lower(host)?],
    };
    Ok(Key {
        transport,
        zones,
        port,
    })
}

fn fqdn_lower(host: &str) -> Result<String, String> {
    let host = host.to_ascii_lowercase();
    if host.is_empty() || host == "." {
        return Ok(".".into());
    }
    let name = host.trim_end_matches('.');
    if name.split('.').any(|label| label.is_empty() || label.len() > 63) {
        return Err(format!("zone is not a valid domain name: {host}"));
    }
    Ok(format!("{name}."))
}

/// The reverse zones covering `ip/mask`. A mask that is not on an octet (IPv4) or nibble (IPv6)
/// boundary expands to every zone of the next boundary, as CoreDNS's `cidr.Split`.
pub fn reverse_zones_of_cidr(ip: IpAddr, mask: u8) -> Vec<String> {
    let (digits, unit, suffix): (Vec<u8>, u8, &str) = match ip {
        // Octets, 8 bits each.
        IpAddr::V4(v4) => (v4.octets().to_vec(), 8, "in-addr.arpa."),
        // Nibbles, 4 bits each.
        IpAddr::V6(v6) => (
            v6.octets().iter().flat_map(|b| [b >> 4, b & 0xf]).collect(),
            4,
            "ip6.arpa.",
        ),
    };
    let rounded = mask.div_ceil(unit) * unit;
    let count = usize::from(rounded / unit);
    let spread = 1u32 << (rounded - mask);
    // The significant digits of the network address, with the bits past the mask cleared.
    let mut net: Vec<u8> = digits[..count].to_vec();
    if let Some(last) = net.last_mut() {
        let keep = unit - (rounded - mask);
        let clear = unit - keep;
        *last = (*last >> clear) << clear;
    }
    (0..spread)
        .map(|i| {
            let mut d = net.clone();
            if let Some(last) = d.last_mut() {
                *last += u8::try_from(i).unwrap_or(0);
            }
            let mut zone = String::new();
            for digit in d.iter().rev() {
                if unit == 8 {
                    zone.push_str(&digit.to_string());
                } else {
                    zone.push(char::from_digit(u32::from(*digit), 16).unwrap_or('0'));
                }
                zone.push('.');
            }
            zone.push_str(suffix);
            zone
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones(key: &str) -> (Vec<String>, Option<u16>) {
        let k = parse_key(key).expect(key);
        (k.zones, k.port)
    }

    #[test]
    fn keys_table() {
        let cases: &[(&str, &[&str], Option<u16>)] = &[
            (".", &["."], None),
            (".:53", &["."], Some(53)),
            ("Example.ORG", &["example.org."], None),
            ("example.org.:1053", &["example.org."], Some(1053)),
            ("dns://cluster.local:53", &["cluster.local."], Some(53)),
            ("10.0.0.0/24", &["0.0.10.in-addr.arpa."], None),
            ("10.0.0.0/8:53", &["10.in-addr.arpa."], Some(53)),
            (
                "10.0.0.0/22",
                &[
                    "0.0.10.in-addr.arpa.",
                    "1.0.10.in-addr.arpa.",
                    "2.0.10.in-addr.arpa.",
                    "3.0.10.in-addr.arpa.",
                ],
                None,
            ),
            (
                "10.96.0.0/12",
                &[
                    "96.10.in-addr.arpa.",
                    "97.10.in-addr.arpa.",
                    "98.10.in-addr.arpa.",
                    "99.10.in-addr.arpa.",
                    "100.10.in-addr.arpa.",
                    "101.10.in-addr.arpa.",
                    "102.10.in-addr.arpa.",
                    "103.10.in-addr.arpa.",
                    "104.10.in-addr.arpa.",
                    "105.10.in-addr.arpa.",
                    "106.10.in-addr.arpa.",
                    "107.10.in-addr.arpa.",
                    "108.10.in-addr.arpa.",
                    "109.10.in-addr.arpa.",
                    "110.10.in-addr.arpa.",
                    "111.10.in-addr.arpa.",
                ],
                None,
            ),
            ("fd00::/8", &["d.f.ip6.arpa."], None),
            ("fd00::/7", &["c.f.ip6.arpa.", "d.f.ip6.arpa."], None),
            ("2001:db8::/32:5353", &["8.b.d.0.1.0.0.2.ip6.arpa."], Some(5353)),
            ("0.0.0.0/0", &["in-addr.arpa."], None),
        ];
        for (key, want, port) in cases {
            assert_eq!(
                zones(key),
                (want.iter().map(|s| s.to_string()).collect(), *port),
                "{key}"
            );
        }
    }

    #[test]
    fn schemes() {
        assert_eq!(parse_key("tls://.:853").map(|k| k.transport), Ok(Transport::Tls));
        assert_eq!(parse_key("https://.").map(|k| k.transport), Ok(Transport::Https));
        assert!(
            parse_key("ftp://.")
                .unwrap_err()
                .contains("unknown transport scheme 'ftp://'")
        );
    }

    #[test]
    fn bad_keys() {
        assert!(
            parse_key(".:")
                .unwrap_err()
                .contains("expecting data after last colon")
        );
        assert!(parse_key(".:70000").unwrap_err().contains("invalid port"));
        assert!(parse_key("a..b").unwrap_err().contains("not a valid domain name"));
        assert!(parse_key("10.0.0.0/33").unwrap_err().contains("invalid CIDR"));
        assert!(parse_key("10.0.0/8").unwrap_err().contains("invalid CIDR"));
    }
}
