//! Zone names: normalizing what a Corefile says and matching query names against zones.

use hickory_proto::rr::Name;

/// Lower-cases and fully qualifies a zone (`Example.org` → `example.org.`), as CoreDNS's
/// `plugin.Host(...).NormalizeExact`.
pub fn normalize_zone(zone: &str) -> String {
    let lower = zone.to_ascii_lowercase();
    if lower.is_empty() || lower == "." {
        return ".".into();
    }
    format!("{}.", lower.trim_end_matches('.'))
}

/// A directive's zones: those its arguments name (each a Corefile key: `example.org`,
/// `10.0.0.0/24`), else its server block's, normalized (CoreDNS's
/// `plugin.OriginsFromArgsOrServerBlock`).
pub fn origins(args: &[String], block_zones: &[String]) -> Result<Vec<Name>, String> {
    let mut zones = Vec::new();
    if args.is_empty() {
        zones.extend(block_zones.iter().cloned());
    } else {
        for arg in args {
            zones.extend(corefile::parse_key(arg)?.zones);
        }
    }
    zones
        .iter()
        .map(|z| {
            let z = normalize_zone(z);
            Name::from_ascii(&z).map_err(|e| format!("invalid zone '{z}': {e}"))
        })
        .collect()
}

/// A name's text form in lower case, for matching as CoreDNS does on lower-cased strings: the
/// same text as `to_lowercase().to_ascii()` (escapes such as `\065` are digits and survive
/// lower-casing unchanged), in one allocation. Every query lowers its name, so the common case —
/// labels of letters, digits, `-` and `_` — is copied byte by byte; anything that hickory would
/// escape takes its own writer.
pub fn lowercase_ascii(name: &Name) -> String {
    ascii_text(name, true)
}

/// `name.to_ascii()`, with [`lowercase_ascii`]'s fast path.
pub fn name_ascii(name: &Name) -> String {
    ascii_text(name, false)
}

fn ascii_text(name: &Name, lower: bool) -> String {
    let mut text = Vec::with_capacity(name.len().max(1));
    for label in name.iter() {
        // hickory's `is_safe_ascii` for these bytes: `-` only after the first byte.
        if label.first() == Some(&b'-') || !label.iter().all(|&b| PLAIN[usize::from(b)]) {
            let mut slow = name.to_ascii();
            if lower {
                slow.make_ascii_lowercase();
            }
            return slow;
        }
        if !text.is_empty() {
            text.push(b'.');
        }
        text.extend_from_slice(label);
    }
    if name.is_root() || name.is_fqdn() {
        text.push(b'.');
    }
    if lower {
        text.make_ascii_lowercase();
    }
    // Only ASCII was copied.
    String::from_utf8(text).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The bytes a name's text form writes unescaped: letters, digits, `-` and `_`. A table, because
/// every query's name goes through it byte by byte.
const PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        b += 1;
    }
    t
};

/// Whether `name` is `zone` or below it, both as [`lowercase_ascii`] writes them: CoreDNS's
/// `dns.IsSubDomain` on lower-cased names. A `.` counts as a label boundary only when it is not
/// escaped (`a\\.cluster.local.` is one label `a.cluster` under `local.`).
pub fn text_in_zone(name: &str, zone: &str) -> bool {
    if zone == "." {
        return true;
    }
    let Some(head) = name.strip_suffix(zone) else {
        return false;
    };
    let Some(head) = head.strip_suffix('.') else {
        return head.is_empty();
    };
    let escapes = head.bytes().rev().take_while(|&b| b == b'\\').count();
    escapes % 2 == 0
}

/// A set of zones, matched by longest suffix as CoreDNS's `plugin.Zones.Matches`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Zones(Vec<Name>);

impl Zones {
    /// Zones from Corefile text; each is normalized. Invalid names are refused.
    pub fn parse<S: AsRef<str>>(zones: &[S]) -> Result<Self, String> {
        zones
            .iter()
            .map(|z| {
                let z = normalize_zone(z.as_ref());
                Name::from_ascii(&z).map_err(|e| format!("invalid zone '{z}': {e}"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Zones)
    }

    /// The longest zone that `name` is in (case-insensitively), if any.
    pub fn matches(&self, name: &Name) -> Option<&Name> {
        self.0
            .iter()
            .filter(|z| z.zone_of(name))
            .max_by_key(|z| z.num_labels())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Name> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_in_zone_agrees_with_zone_of() {
        let zones = [
            "cluster.local.",
            "local.",
            ".",
            "in-addr.arpa.",
            "a.cluster.local.",
        ];
        let names = [
            "cluster.local.",
            "web.default.svc.cluster.local.",
            "Web.Default.SVC.Cluster.Local.",
            "xcluster.local.",
            "a\\.cluster.local.",
            "b.a\\.cluster.local.",
            "\\065.cluster.local.",
            "local.",
            ".",
            "10.in-addr.arpa.",
            "in-addr.arpa.com.",
        ];
        let mut names: Vec<Name> = names.iter().map(|t| Name::from_ascii(t).expect(t)).collect();
        // A label ending in a backslash (`a\\.cluster.local.`): the dot after it separates.
        let mut escaped = Name::from_labels([&b"a\\"[..], b"cluster", b"local"]).expect("labels");
        escaped.set_fqdn(true);
        names.push(escaped);
        for zone in zones {
            let zone_name = Name::from_ascii(zone).expect(zone);
            for name in &names {
                assert_eq!(
                    text_in_zone(&lowercase_ascii(name), &lowercase_ascii(&zone_name)),
                    zone_name.zone_of(name),
                    "{name} in {zone}"
                );
            }
        }
    }

    #[test]
    fn lowercase_ascii_matches_lowering_the_name() {
        for text in [
            "Web.Default.SVC.Cluster.Local.",
            "a\\.B.example.",
            "\\065BC.example.",
            ".",
            "_HTTP._TCP.Svc.NS.svc.cluster.local.",
            "Dash-In.example.",
            "*.Wild.example.",
            "Not.Qualified",
        ] {
            let name = Name::from_ascii(text).expect(text);
            assert_eq!(lowercase_ascii(&name), name.to_lowercase().to_ascii(), "{text}");
            assert_eq!(name_ascii(&name), name.to_ascii(), "{text}");
        }
        let name = Name::from_ascii("Web.Default.svc.cluster.local.").expect("name");
        assert_eq!(lowercase_ascii(&name), "web.default.svc.cluster.local.");
        // A leading dash and a byte over 127 are escaped by hickory (a wire name may carry them).
        let mut name = Name::from_labels([&b"-Lead"[..], b"\x80X", b"Example"]).expect("labels");
        name.set_fqdn(true);
        assert_eq!(lowercase_ascii(&name), name.to_lowercase().to_ascii());
        assert_eq!(name_ascii(&name), name.to_ascii());
    }

    #[test]
    fn longest_zone_wins_case_insensitively() {
        let zones = Zones::parse(&[".", "Example.org", "sub.example.org."]).expect("zones");
        let q = |n: &str| Name::from_ascii(n).expect("name");
        assert_eq!(
            zones.matches(&q("a.SUB.example.org.")).map(ToString::to_string),
            Some("sub.example.org.".into())
        );
        assert_eq!(
            zones.matches(&q("x.example.ORG.")).map(ToString::to_string),
            Some("example.org.".into())
        );
        assert_eq!(
            zones.matches(&q("other.net.")).map(ToString::to_string),
            Some(".".into())
        );
        let only = Zones::parse(&["example.org"]).expect("zones");
        assert!(only.matches(&q("example.net.")).is_none());
        assert!(only.matches(&q("notexample.org.")).is_none());
    }

    #[test]
    fn normalize() {
        assert_eq!(normalize_zone("Example.Org"), "example.org.");
        assert_eq!(normalize_zone("."), ".");
        assert_eq!(normalize_zone("a.b."), "a.b.");
    }
}
