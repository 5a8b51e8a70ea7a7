//! `fallthrough [ZONES...]`: which names a plugin passes on instead of answering NXDOMAIN.

use hickory_proto::rr::Name;

use crate::zones::Zones;

/// CoreDNS's `fall.F`: off, or on for some zones (no zones given means every zone).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fallthrough(Option<Zones>);

impl Fallthrough {
    /// Fallthrough for the zones given as arguments; none means `.` (everything).
    pub fn from_args<S: AsRef<str>>(args: &[S]) -> Result<Self, String> {
        if args.is_empty() {
            return Ok(Fallthrough(Some(Zones::parse(&["."])?)));
        }
        Ok(Fallthrough(Some(Zones::parse(args)?)))
    }

    /// True when `name` should go to the next plugin.
    pub fn through(&self, name: &Name) -> bool {
        self.0.as_ref().is_some_and(|z| z.matches(name).is_some())
    }

    /// True when `fallthrough` was given at all.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }
}

/// The address a reverse name stands for: all 4 octets of `in-addr.arpa.` or all 32 nibbles of
/// `ip6.arpa.` (CoreDNS's `dnsutil.ExtractAddressFromReverse`); anything shorter is no address.
pub fn address_from_reverse(name: &Name) -> Option<std::net::IpAddr> {
    let net = name.parse_arpa_name().ok()?;
    let full = if net.addr().is_ipv4() { 32 } else { 128 };
    (net.prefix_len() == full).then(|| net.addr())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).expect("name")
    }

    #[test]
    fn fallthrough_zones() {
        let off = Fallthrough::default();
        assert!(!off.through(&n("a.example.")) && !off.is_on());
        let all = Fallthrough::from_args::<&str>(&[]).expect("ok");
        assert!(all.through(&n("a.example.")));
        let some = Fallthrough::from_args(&["in-addr.arpa", "ip6.arpa"]).expect("ok");
        assert!(some.through(&n("1.0.0.10.in-addr.arpa.")));
        assert!(!some.through(&n("a.example.")));
    }

    #[test]
    fn reverse_names() {
        assert_eq!(
            address_from_reverse(&n("4.3.2.1.in-addr.arpa.")),
            Some("1.2.3.4".parse().expect("ip"))
        );
        assert_eq!(address_from_reverse(&n("3.2.1.in-addr.arpa.")), None);
        let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.";
        assert_eq!(
            address_from_reverse(&n(v6)),
            Some("2001:db8::1".parse().expect("ip"))
        );
        assert_eq!(address_from_reverse(&n("example.org.")), None);
        assert_eq!(address_from_reverse(&n("x.4.3.2.1.in-addr.arpa.")), None);
    }
}
