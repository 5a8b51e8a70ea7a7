//! Hosts-file syntax and the lookup maps built from it.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use clusterdns_plugin::Zones;
use clusterdns_plugin::proto::rr::Name;

/// Entries of one source (the file, or the inline lines), ready for lookups. Names are
/// lower-case, fully qualified; `Name` compares without case, so queries look up as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostsMap {
    pub v4: HashMap<Name, Vec<Ipv4Addr>>,
    pub v6: HashMap<Name, Vec<Ipv6Addr>>,
    /// For PTRs: the names of each address, in file order.
    pub names: HashMap<IpAddr, Vec<Name>>,
}

impl HostsMap {
    /// Number of address entries, as CoreDNS's `coredns_hosts_entries` counts them.
    pub fn len(&self) -> usize {
        self.v4.values().map(Vec::len).sum::<usize>() + self.v6.values().map(Vec::len).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when the name has an address of either family.
    pub fn has_name(&self, name: &Name) -> bool {
        self.v4.contains_key(name) || self.v6.contains_key(name)
    }
}

/// Parses hosts-file text as CoreDNS does: `#` starts a comment, a line is an address and
/// names; lines that do not start with an address are skipped, names outside `origins` are
/// dropped, and with `reverse` every kept name also gets a PTR.
pub fn parse_hosts(text: &str, origins: &Zones, reverse: bool) -> HostsMap {
    let mut map = HostsMap::default();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let (Some(addr), rest) = (fields.next(), fields) else {
            continue;
        };
        // An IPv6 zone (`fe80::1%eth0`) is dropped, as Go's parseIP does here.
        let Ok(ip) = addr.split('%').next().unwrap_or(addr).parse::<IpAddr>() else {
            continue;
        };
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        for host in rest {
            let Ok(name) = Name::from_ascii(clusterdns_plugin::normalize_zone(host)) else {
                continue;
            };
            if origins.matches(&name).is_none() {
                continue;
            }
            match ip {
                IpAddr::V4(v4) => map.v4.entry(name.clone()).or_default().push(v4),
                IpAddr::V6(v6) => map.v6.entry(name.clone()).or_default().push(v6),
            }
            if reverse {
                map.names.entry(ip).or_default().push(name);
            }
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).expect("name")
    }

    #[test]
    fn parse_table() {
        let all = Zones::parse(&["."]).expect("zones");
        let text = "# comment\n127.0.0.1 localhost  Localhost.Localdomain # trailing\n\
                    ::1 localhost ip6-localhost\nfe80::1%eth0 link\nnot-an-ip host\n10.0.0.1\n\
                    ::ffff:10.0.0.2 mapped\n10.0.0.3 web web\n";
        let m = parse_hosts(text, &all, true);
        assert_eq!(m.v4[&n("localhost.")], vec![Ipv4Addr::new(127, 0, 0, 1)]);
        assert_eq!(
            m.v4[&n("LOCALHOST.LOCALDOMAIN.")],
            vec![Ipv4Addr::new(127, 0, 0, 1)]
        );
        assert_eq!(
            m.v6[&n("localhost.")],
            vec!["::1".parse::<Ipv6Addr>().expect("ip")]
        );
        assert!(m.v6.contains_key(&n("link.")));
        assert!(!m.has_name(&n("host.")));
        assert_eq!(m.v4[&n("mapped.")], vec![Ipv4Addr::new(10, 0, 0, 2)]);
        assert_eq!(m.v4[&n("web.")].len(), 2);
        let ptrs = &m.names[&"127.0.0.1".parse::<IpAddr>().expect("ip")];
        assert_eq!(
            ptrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["localhost.", "localhost.localdomain."]
        );
        assert_eq!(m.len(), 8);
    }

    #[test]
    fn origins_and_no_reverse() {
        let zones = Zones::parse(&["example.org"]).expect("zones");
        let m = parse_hosts("10.0.0.1 a.example.org b.example.net\n", &zones, false);
        assert!(m.has_name(&n("a.example.org.")));
        assert!(!m.has_name(&n("b.example.net.")));
        assert!(m.names.is_empty());
    }
}
