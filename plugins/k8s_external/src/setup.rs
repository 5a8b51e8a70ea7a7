//! `k8s_external [ZONES...] { apex APEX; ttl TTL; headless; fallthrough [ZONES...] }`, with
//! CoreDNS 1.11.3's defaults and error texts.

use std::sync::Arc;

use clusterdns_plugin::{Dispenser, Externaler, Fallthrough, Setup, SetupError, Zones};

use crate::external::External;

/// The parsed directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The external zones: the arguments, else the server block's.
    pub zones: Zones,
    /// The label under which the zone's own records live (`ns1.<apex>.<zone>`).
    pub apex: String,
    /// TTL of addresses, PTR, SOA and NS records (SRV and CNAME take kubernetes's).
    pub ttl: u32,
    /// Answer a headless service's endpoint addresses.
    pub headless: bool,
    pub fallthrough: Fallthrough,
}

/// Sets up `k8s_external`, linked to the block's kubernetes plugin (required, as in CoreDNS).
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let zones = s.block.zones.clone();
    let config = parse(s.dispenser(), &zones)?;
    let source = s.link::<dyn Externaler>("kubernetes", "Externaler", true);
    s.add_handler(Arc::new(External::new(config, source)));
    Ok(())
}

/// Parses the directive; `block_zones` are the default zones.
pub fn parse(d: &mut Dispenser, block_zones: &[String]) -> Result<Config, SetupError> {
    let mut config = Config {
        zones: Zones::parse(block_zones).map_err(SetupError::Other)?,
        apex: "dns".into(),
        ttl: 5,
        headless: false,
        fallthrough: Fallthrough::default(),
    };
    while d.next() {
        let args = d.remaining_args();
        if !args.is_empty() {
            config.zones = Zones::parse(&args).map_err(SetupError::Other)?;
        }
        while d.next_block() {
            let property = d.val().to_string();
            match property.as_str() {
                "ttl" => {
                    let args = d.remaining_args();
                    let Some(t) = args.first() else {
                        return Err(d.arg_err().into());
                    };
                    let t = clusterdns_plugin::atoi(t).map_err(SetupError::Other)?;
                    if !(0..=3600).contains(&t) {
                        return Err(d.err(format!("ttl must be in range [0, 3600]: {t}")).into());
                    }
                    config.ttl = u32::try_from(t).unwrap_or(5);
                }
                "apex" => {
                    let args = d.remaining_args();
                    let Some(apex) = args.first() else {
                        return Err(d.arg_err().into());
                    };
                    // One or more labels under the zone; a name that cannot be one is refused
                    // here rather than making every answer fail.
                    let apex = apex.trim_end_matches('.').to_ascii_lowercase();
                    if apex.is_empty()
                        || clusterdns_plugin::proto::rr::Name::from_ascii(format!("{apex}.example.")).is_err()
                    {
                        return Err(d.err(format!("invalid apex '{apex}'")).into());
                    }
                    config.apex = apex;
                }
                "headless" => config.headless = true,
                "fallthrough" => {
                    config.fallthrough =
                        Fallthrough::from_args(&d.remaining_args()).map_err(SetupError::Other)?;
                }
                _ => return Err(d.err(format!("unknown property '{property}'")).into()),
            }
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(input: &str) -> Result<Config, String> {
        parse(&mut Dispenser::from_text(input), &["example.org.".to_string()]).map_err(|e| e.to_string())
    }

    #[test]
    fn parse_table() {
        let c = parsed("k8s_external").expect("ok");
        assert_eq!(c.zones, Zones::parse(&["example.org."]).expect("zones"));
        assert_eq!((c.apex.as_str(), c.ttl, c.headless), ("dns", 5, false));
        assert!(!c.fallthrough.is_on());

        let c = parsed("k8s_external Example.COM 0.51.198.in-addr.arpa {\n apex coredns\n ttl 300\n headless\n fallthrough\n}")
            .expect("ok");
        assert_eq!(
            c.zones,
            Zones::parse(&["example.com.", "0.51.198.in-addr.arpa."]).expect("zones")
        );
        assert_eq!((c.apex.as_str(), c.ttl, c.headless), ("coredns", 300, true));
        assert!(c.fallthrough.is_on());

        let cases = [
            (
                "k8s_external {\n ttl\n}",
                "Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after 'ttl' (column 2)",
            ),
            (
                "k8s_external {\n ttl x\n}",
                "strconv.Atoi: parsing \"x\": invalid syntax",
            ),
            (
                "k8s_external {\n ttl 3601\n}",
                "Corefile:2 - Error during parsing: ttl must be in range [0, 3600]: 3601 (column 6)",
            ),
            (
                "k8s_external {\n ttl -1\n}",
                "Corefile:2 - Error during parsing: ttl must be in range [0, 3600]: -1 (column 6)",
            ),
            (
                "k8s_external {\n apex\n}",
                "Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after 'apex' (column 2)",
            ),
            (
                "k8s_external {\n foo\n}",
                "Corefile:2 - Error during parsing: unknown property 'foo' (column 2)",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parsed(input).expect_err(input), want, "{input}");
        }
    }
}
