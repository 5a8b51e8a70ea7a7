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

/// A name's text form in lower case, for matching as CoreDNS does on lower-cased strings: one
/// allocation, where `to_lowercase().to_ascii()` makes a lowered copy of the name first (escapes
/// such as `\065` are digits and survive lower-casing unchanged).
pub fn lowercase_ascii(name: &Name) -> String {
    let mut text = name.to_ascii();
    text.make_ascii_lowercase();
    text
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
    fn lowercase_ascii_matches_lowering_the_name() {
        for text in [
            "Web.Default.SVC.Cluster.Local.",
            "a\\.B.example.",
            "\\065BC.example.",
            ".",
        ] {
            let name = Name::from_ascii(text).expect(text);
            assert_eq!(lowercase_ascii(&name), name.to_lowercase().to_ascii(), "{text}");
        }
        let name = Name::from_ascii("Web.Default.svc.cluster.local.").expect("name");
        assert_eq!(lowercase_ascii(&name), "web.default.svc.cluster.local.");
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
