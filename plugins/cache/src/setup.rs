//! `cache [TTL] [ZONES...] { success; denial; prefetch; serve_stale; servfail; disable; keepttl }`,
//! once per server block, with CoreDNS 1.11.3's defaults and error texts.

use std::sync::Arc;
use std::time::Duration;

use clusterdns_plugin::{Dispenser, Setup, SetupError, Zones, parse_duration};

use crate::cache::Cache;

/// A cache kind: positive answers, or denials (NXDOMAIN, NODATA, SERVFAIL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Success,
    Denial,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Success => "success",
            Kind::Denial => "denial",
        }
    }
}

/// The capacity and TTL bounds of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounds {
    /// Entries at most: CoreDNS rounds to 256 shards of at least 4 entries.
    pub capacity: u64,
    pub max_ttl: Duration,
    pub min_ttl: Duration,
    /// Names under these zones are not stored (`disable`).
    pub disabled: Zones,
}

/// The parsed directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Zones cached (its arguments, else the server block's).
    pub zones: Zones,
    pub success: Bounds,
    pub denial: Bounds,
    /// Refresh an entry hit this many times (0: off) ...
    pub prefetch: u32,
    /// ... with no gap longer than this between hits ...
    pub prefetch_window: Duration,
    /// ... once this percentage of its TTL is left.
    pub prefetch_percentage: u32,
    /// Serve expired entries for this long (zero: off).
    pub serve_stale: Duration,
    /// With serve_stale: ask upstream first and serve stale only on failure.
    pub verify_stale: bool,
    /// verify: how long to wait for the upstream before serving stale (zero: its own timeout).
    pub verify_timeout: Duration,
    /// The TTL stale replies carry (RFC 8767 recommends 30 s; CoreDNS's default is 0).
    pub stale_ttl: u32,
    /// After a failed refresh, how long the stale entry is served without trying again.
    pub stale_recheck: Duration,
    /// `serve_stale_policy prefer_positive`: a positive answer before a cached denial.
    pub prefer_positive: bool,
    /// How long SERVFAIL replies are kept (zero: not at all).
    pub servfail: Duration,
    /// Serve cached replies with the TTL they were stored with.
    pub keepttl: bool,
}

/// Sets up `cache` in its server block.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let zones = s.block.zones.clone();
    let config = parse(s.dispenser(), &zones)?;
    s.add_handler(Arc::new(Cache::new(config)));
    Ok(())
}

/// CoreDNS's sharded capacity: 256 shards, each `size / 256` entries but at least 4.
fn capacity(size: u64) -> u64 {
    (size / 256).max(4) * 256
}

/// Parses the directive; `block_zones` are the server block's zones (the default).
pub fn parse(d: &mut Dispenser, block_zones: &[String]) -> Result<Config, SetupError> {
    let other = |m: String| SetupError::Other(m);
    let bounds = |max: u64| Bounds {
        capacity: capacity(9984),
        max_ttl: Duration::from_secs(max),
        min_ttl: Duration::from_secs(5),
        disabled: Zones::default(),
    };
    let mut c = Config {
        zones: Zones::parse(block_zones).map_err(other)?,
        success: bounds(3600),
        denial: bounds(1800),
        prefetch: 0,
        prefetch_window: Duration::from_secs(60),
        prefetch_percentage: 10,
        serve_stale: Duration::ZERO,
        verify_stale: false,
        verify_timeout: Duration::ZERO,
        stale_ttl: 0,
        stale_recheck: Duration::ZERO,
        prefer_positive: false,
        servfail: Duration::from_secs(5),
        keepttl: false,
    };
    let mut seen = false;
    while d.next() {
        if seen {
            return Err(SetupError::once_per_block());
        }
        seen = true;
        let mut args = d.remaining_args();
        if let Some(Ok(ttl)) = args.first().map(|a| a.parse::<i64>()) {
            if ttl <= 0 {
                return Err(other(format!("cache TTL can not be zero or negative: {ttl}")));
            }
            c.success.max_ttl = Duration::from_secs(ttl.unsigned_abs());
            c.denial.max_ttl = Duration::from_secs(ttl.unsigned_abs());
            args.remove(0);
        }
        if !args.is_empty() {
            let mut zones = Vec::new();
            for z in &args {
                zones.extend(corefile::parse_key(z).map_err(|e| d.err(e))?.zones);
            }
            c.zones = Zones::parse(&zones).map_err(other)?;
        }
        while d.next_block() {
            let option = d.val().to_string();
            let args = d.remaining_args();
            match option.as_str() {
                "success" | "denial" => {
                    let b = if option == "success" {
                        &mut c.success
                    } else {
                        &mut c.denial
                    };
                    let Some(cap) = args.first() else {
                        return Err(d.arg_err().into());
                    };
                    b.capacity = capacity(atoi(cap)?.max(0).unsigned_abs());
                    if let Some(ttl) = args.get(1) {
                        let ttl = atoi(ttl)?;
                        if ttl <= 0 {
                            return Err(other(format!("cache TTL can not be zero or negative: {ttl}")));
                        }
                        b.max_ttl = Duration::from_secs(ttl.unsigned_abs());
                    }
                    if let Some(min) = args.get(2) {
                        let min = atoi(min)?;
                        if min < 0 {
                            return Err(other(format!("cache min TTL can not be negative: {min}")));
                        }
                        b.min_ttl = Duration::from_secs(min.unsigned_abs());
                    }
                }
                "prefetch" => {
                    if args.is_empty() || args.len() > 3 {
                        return Err(d.arg_err().into());
                    }
                    let amount = atoi(&args[0])?;
                    if amount < 0 {
                        return Err(other(format!("prefetch amount should be positive: {amount}")));
                    }
                    c.prefetch = u32::try_from(amount).unwrap_or(u32::MAX);
                    if let Some(window) = args.get(1) {
                        c.prefetch_window = parse_duration(window).map_err(other)?;
                    }
                    if let Some(pct) = args.get(2) {
                        let Some(num) = pct.strip_suffix('%') else {
                            let last = pct.chars().last().unwrap_or(' ');
                            return Err(other(format!(
                                "last character of percentage should be `%`, but is: '{last}'"
                            )));
                        };
                        let num = atoi(num)?;
                        if !(10..=90).contains(&num) {
                            return Err(other(format!("percentage should fall in range [10, 90]: {num}")));
                        }
                        c.prefetch_percentage = u32::try_from(num).unwrap_or(10);
                    }
                }
                "serve_stale" => {
                    // CoreDNS 1.14.7: DURATION, then `immediate [RESPONSE_TTL [RECHECK]]` or
                    // `verify [TIMEOUT [RESPONSE_TTL [RECHECK]]]`.
                    if args.len() > 5 {
                        return Err(d.arg_err().into());
                    }
                    c.serve_stale = Duration::from_secs(3600);
                    (c.stale_ttl, c.stale_recheck, c.verify_timeout) = (0, Duration::ZERO, Duration::ZERO);
                    if let Some(dur) = args.first() {
                        if dur.starts_with('-') {
                            return Err(other("invalid negative duration for serve_stale".into()));
                        }
                        c.serve_stale = parse_duration(dur).map_err(other)?;
                    }
                    c.verify_stale = match args.get(1).map(|m| m.to_ascii_lowercase()) {
                        None => false,
                        Some(m) if m == "immediate" => false,
                        Some(m) if m == "verify" => true,
                        Some(m) => {
                            return Err(other(format!("invalid value for serve_stale refresh mode: {m}")));
                        }
                    };
                    let mut rest = args.iter().skip(2);
                    if c.verify_stale
                        && let Some(t) = rest.next()
                    {
                        if t.starts_with('-') {
                            return Err(other("invalid negative timeout for serve_stale verify".into()));
                        }
                        c.verify_timeout = parse_duration(t)
                            .map_err(|e| other(format!("invalid serve_stale verify timeout: {e}")))?;
                    }
                    if let Some(ttl) = rest.next() {
                        let d = parse_duration(ttl)
                            .ok()
                            .filter(|d| d.subsec_nanos() == 0)
                            .ok_or_else(|| other(format!("invalid serve_stale response TTL: {ttl}")))?;
                        c.stale_ttl = u32::try_from(d.as_secs())
                            .map_err(|_| other(format!("invalid serve_stale response TTL: {ttl}")))?;
                    }
                    if let Some(recheck) = rest.next() {
                        c.stale_recheck = parse_duration(recheck)
                            .map_err(|_| other(format!("invalid serve_stale failure recheck: {recheck}")))?;
                    }
                    if rest.next().is_some() {
                        return Err(d.arg_err().into());
                    }
                }
                "serve_stale_policy" => match args.as_slice() {
                    [p] if p.eq_ignore_ascii_case("prefer_positive") => c.prefer_positive = true,
                    [p] => return Err(other(format!("invalid serve_stale_policy: {p}"))),
                    _ => return Err(d.arg_err().into()),
                },
                "servfail" => {
                    let [dur] = args.as_slice() else {
                        return Err(d.arg_err().into());
                    };
                    if dur.starts_with('-') {
                        return Err(other("invalid negative ttl for servfail".into()));
                    }
                    let dur = parse_duration(dur).map_err(other)?;
                    if dur > Duration::from_secs(300) {
                        return Err(other(
                            "caching SERVFAIL responses over 5 minutes is not permitted".into(),
                        ));
                    }
                    c.servfail = dur;
                }
                "disable" => {
                    let Some((kind, zones)) = args.split_first() else {
                        return Err(d.arg_err().into());
                    };
                    let zones: Vec<String> = if zones.is_empty() {
                        vec![".".into()]
                    } else {
                        zones.to_vec()
                    };
                    let zones = Zones::parse(&zones)
                        .map_err(|_| other(format!("invalid disabled zone: {}", zones.join(" "))))?;
                    match kind.as_str() {
                        "success" => c.success.disabled = zones,
                        "denial" => c.denial.disabled = zones,
                        _ => {
                            return Err(other(
                                "cache type for disable must be \"success\" or \"denial\"".into(),
                            ));
                        }
                    }
                }
                "keepttl" => {
                    if !args.is_empty() {
                        return Err(d.arg_err().into());
                    }
                    c.keepttl = true;
                }
                _ => return Err(d.arg_err().into()),
            }
        }
    }
    Ok(c)
}

fn atoi(s: &str) -> Result<i64, SetupError> {
    clusterdns_plugin::atoi(s).map_err(SetupError::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// serve_stale's arguments and serve_stale_policy of CoreDNS 1.14.
    #[test]
    fn newer_serve_stale_arguments() {
        let p = |input: &str| {
            parse(&mut Dispenser::from_text(input), &[".".to_string()]).map_err(|e| e.to_string())
        };
        let c = p("cache {\n serve_stale 1h immediate 30s 10s\n serve_stale_policy prefer_positive\n}")
            .expect("ok");
        assert_eq!(
            (c.verify_stale, c.stale_ttl, c.stale_recheck),
            (false, 30, Duration::from_secs(10))
        );
        assert!(c.prefer_positive);
        let c = p("cache {\n serve_stale 1h verify 100ms 30s 30s\n}").expect("ok");
        assert_eq!(
            (c.verify_stale, c.verify_timeout, c.stale_ttl),
            (true, Duration::from_millis(100), 30)
        );
        let c = p("cache {\n serve_stale 1h verify 0 30s\n}").expect("ok");
        assert_eq!((c.verify_timeout, c.stale_ttl), (Duration::ZERO, 30));
        assert!(
            p("cache {\n serve_stale 1h immediate 1.5s\n}")
                .expect_err("ttl")
                .contains("invalid serve_stale response TTL: 1.5s")
        );
        assert!(
            p("cache {\n serve_stale 1h verify -1s\n}")
                .expect_err("neg")
                .contains("invalid negative timeout for serve_stale verify")
        );
        assert!(
            p("cache {\n serve_stale 1h immediate 30s 30s 1s\n}")
                .expect_err("too many")
                .contains("Wrong argument count")
        );
        assert!(
            p("cache {\n serve_stale_policy newest\n}")
                .expect_err("policy")
                .contains("invalid serve_stale_policy: newest")
        );
    }

    fn parsed(input: &str) -> Config {
        parse(
            &mut Dispenser::from_text(input),
            &["cluster.local.".into(), ".".into()],
        )
        .expect(input)
    }

    #[test]
    fn defaults_and_ttl_argument() {
        let c = parsed("cache");
        assert_eq!(
            (c.success.max_ttl.as_secs(), c.denial.max_ttl.as_secs()),
            (3600, 1800)
        );
        assert_eq!((c.success.min_ttl.as_secs(), c.denial.min_ttl.as_secs()), (5, 5));
        assert_eq!((c.success.capacity, c.denial.capacity), (9984, 9984));
        assert_eq!(
            (c.prefetch, c.servfail.as_secs(), c.serve_stale.as_secs()),
            (0, 5, 0)
        );
        assert_eq!(c.zones, Zones::parse(&["cluster.local.", "."]).expect("z"));
        let c = parsed("cache 30 example.org");
        assert_eq!(
            (c.success.max_ttl.as_secs(), c.denial.max_ttl.as_secs()),
            (30, 30)
        );
        assert_eq!(c.zones, Zones::parse(&["example.org."]).expect("z"));
    }

    #[test]
    fn options_table() {
        let c = parsed(
            "cache 30 {\n success 5000 60 10\n denial 100 5\n prefetch 10 1m 20%\n serve_stale 1h verify\n servfail 10s\n \
             disable success cluster.local\n disable denial cluster.local\n keepttl\n}",
        );
        assert_eq!(
            c.success,
            Bounds {
                capacity: 4864,
                max_ttl: Duration::from_secs(60),
                min_ttl: Duration::from_secs(10),
                disabled: Zones::parse(&["cluster.local"]).expect("z"),
            }
        );
        assert_eq!(
            (
                c.denial.capacity,
                c.denial.max_ttl.as_secs(),
                c.denial.min_ttl.as_secs()
            ),
            (1024, 5, 5)
        );
        assert_eq!(
            (c.prefetch, c.prefetch_window.as_secs(), c.prefetch_percentage),
            (10, 60, 20)
        );
        assert_eq!(
            (
                c.serve_stale.as_secs(),
                c.verify_stale,
                c.servfail.as_secs(),
                c.keepttl
            ),
            (3600, true, 10, true)
        );
        assert_eq!(
            parsed("cache {\n disable denial\n}").denial.disabled,
            Zones::parse(&["."]).expect("z")
        );
        assert_eq!(parsed("cache {\n serve_stale\n}").serve_stale.as_secs(), 3600);
    }

    #[test]
    fn errors_table() {
        let parse = |d: &mut Dispenser| parse(d, &[".".into()]);
        testkit::assert_parse_errors(
            parse,
            &[
                (
                    "cache\ncache",
                    "this plugin can only be used once per Server Block",
                ),
                ("cache 0", "cache TTL can not be zero or negative: 0"),
                (
                    "cache {\n success\n}",
                    "Corefile:2 - Error during parsing: Wrong argument count",
                ),
                (
                    "cache {\n success x\n}",
                    "strconv.Atoi: parsing \"x\": invalid syntax",
                ),
                (
                    "cache {\n denial 100 -1\n}",
                    "cache TTL can not be zero or negative: -1",
                ),
                (
                    "cache {\n success 100 10 -1\n}",
                    "cache min TTL can not be negative: -1",
                ),
                ("cache {\n prefetch\n}", "Wrong argument count"),
                (
                    "cache {\n prefetch -1\n}",
                    "prefetch amount should be positive: -1",
                ),
                (
                    "cache {\n prefetch 1 1m 20\n}",
                    "last character of percentage should be `%`, but is: '0'",
                ),
                (
                    "cache {\n prefetch 1 1m 95%\n}",
                    "percentage should fall in range [10, 90]: 95",
                ),
                (
                    "cache {\n serve_stale 1h lazy\n}",
                    "invalid value for serve_stale refresh mode: lazy",
                ),
                (
                    "cache {\n serve_stale -1h\n}",
                    "invalid negative duration for serve_stale",
                ),
                (
                    "cache {\n servfail 10m\n}",
                    "caching SERVFAIL responses over 5 minutes is not permitted",
                ),
                ("cache {\n servfail -1s\n}", "invalid negative ttl for servfail"),
                (
                    "cache {\n disable both\n}",
                    "cache type for disable must be \"success\" or \"denial\"",
                ),
                ("cache {\n keepttl 5\n}", "Wrong argument count"),
                (
                    "cache {\n size 5\n}",
                    "Corefile:2 - Error during parsing: Wrong argument count",
                ),
            ],
        );
    }
}
