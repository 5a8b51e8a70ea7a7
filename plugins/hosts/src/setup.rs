//! `hosts [FILE [ZONES...]] { INLINE; ttl; no_reverse; reload; fallthrough [ZONES...] }`, once per
//! server block, with CoreDNS 1.11.3's options, defaults and error texts.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clusterdns_plugin::{Dispenser, Fallthrough, Setup, SetupError, Zones, clog, parse_duration};

use crate::hosts::{FileSource, Hosts, Reloader};
use crate::hostsfile::parse_hosts;

/// The parsed directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub path: PathBuf,
    /// Zones the plugin answers for: its arguments, else the server block's.
    pub origins: Zones,
    /// Inline lines, in hosts-file syntax.
    pub inline: Vec<String>,
    pub ttl: u32,
    pub reverse: bool,
    /// How often the file is checked for changes; zero: never.
    pub reload: Duration,
    pub fallthrough: Fallthrough,
    /// Types other than A, AAAA and PTR go to the next plugin (CoreDNS 1.14.7).
    pub fallthrough_unsupported: bool,
}

/// Sets up `hosts`: the handler, and a service that reads the file and re-reads it on change.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let zones = s.block.zones.clone();
    let config = parse(s.dispenser(), &zones)?;
    if !config.path.exists() {
        clog::warning(
            Some("hosts"),
            format_args!("File does not exist: {}", config.path.display()),
        );
    }
    let inline = parse_hosts(&config.inline.join("\n"), &config.origins, config.reverse);
    let source = Arc::new(FileSource::new(
        config.path.clone(),
        config.origins.clone(),
        config.reverse,
        inline.len(),
    ));
    s.add_service(Arc::new(Reloader::new(source.clone(), config.reload)));
    s.add_handler(Arc::new(Hosts::new(&config, inline, source)));
    Ok(())
}

/// Parses the directive; `block_zones` are the server block's zones (the default origins).
pub fn parse(d: &mut Dispenser, block_zones: &[String]) -> Result<Config, SetupError> {
    let mut config = Config {
        path: PathBuf::from("/etc/hosts"),
        origins: Zones::parse(block_zones).map_err(SetupError::Other)?,
        inline: Vec::new(),
        ttl: 3600,
        reverse: true,
        reload: Duration::from_secs(5),
        fallthrough: Fallthrough::default(),
        fallthrough_unsupported: false,
    };
    let mut seen = false;
    while d.next() {
        if seen {
            return Err(SetupError::once_per_block());
        }
        seen = true;
        let args = d.remaining_args();
        if let Some((path, zones)) = args.split_first() {
            config.path = PathBuf::from(path);
            if !zones.is_empty() {
                let mut origins = Vec::new();
                for z in zones {
                    let key = corefile::parse_key(z).map_err(|e| d.err(e))?;
                    origins.extend(key.zones);
                }
                config.origins = Zones::parse(&origins).map_err(|e| d.err(e))?;
            }
        }
        while d.next_block() {
            match d.val() {
                "fallthrough" => {
                    config.fallthrough = Fallthrough::from_args(&d.remaining_args()).map_err(|e| d.err(e))?;
                }
                "fallthrough_unsupported" => {
                    if !d.remaining_args().is_empty() {
                        return Err(d.arg_err().into());
                    }
                    config.fallthrough_unsupported = true;
                }
                "no_reverse" => config.reverse = false,
                "ttl" => {
                    let args = d.remaining_args();
                    let Some(ttl) = args.first() else {
                        return Err(d.err("ttl needs a time in second").into());
                    };
                    let ttl: i64 = ttl.parse().map_err(|_| d.err("ttl needs a number of second"))?;
                    if !(1..=65535).contains(&ttl) {
                        return Err(d.err("ttl provided is invalid").into());
                    }
                    config.ttl = u32::try_from(ttl).unwrap_or(3600);
                }
                "reload" => {
                    let args = d.remaining_args();
                    let [value] = args.as_slice() else {
                        return Err(d.err("reload needs a duration (zero seconds to disable)").into());
                    };
                    if value.starts_with('-') {
                        return Err(d
                            .err(format!("invalid negative duration for reload '{value}'"))
                            .into());
                    }
                    config.reload = parse_duration(value)
                        .map_err(|_| d.err(format!("invalid duration for reload '{value}'")))?;
                }
                // Anything else is an inline entry, until `fallthrough` has been given
                // (CoreDNS's rule: after it, an unknown word is an error).
                other if !config.fallthrough.is_on() => {
                    let mut line = vec![other.to_string()];
                    line.extend(d.remaining_args());
                    config.inline.push(line.join(" "));
                }
                other => return Err(d.err(format!("unknown property '{other}'")).into()),
            }
        }
    }
    if config.fallthrough_unsupported && !config.fallthrough.is_on() {
        return Err(d.err("fallthrough_unsupported requires fallthrough").into());
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(input: &str) -> Config {
        parse(&mut Dispenser::from_text(input), &[".".into()]).expect(input)
    }

    #[test]
    fn defaults() {
        let c = parsed("hosts");
        assert_eq!(c.path, PathBuf::from("/etc/hosts"));
        assert_eq!(c.origins, Zones::parse(&["."]).expect("zones"));
        assert_eq!((c.ttl, c.reverse, c.reload), (3600, true, Duration::from_secs(5)));
        assert!(!c.fallthrough.is_on() && c.inline.is_empty());
    }

    #[test]
    fn fallthrough_unsupported() {
        let c = parsed("hosts {\n 10.0.0.1 a.example.org\n fallthrough_unsupported\n fallthrough\n}");
        assert!(c.fallthrough_unsupported && c.fallthrough.is_on());
        assert_eq!(c.inline, ["10.0.0.1 a.example.org"]);
        let e = parse(
            &mut Dispenser::from_text("hosts {\n fallthrough_unsupported\n}"),
            &[".".into()],
        )
        .expect_err("needs fallthrough");
        assert!(
            e.to_string()
                .contains("fallthrough_unsupported requires fallthrough"),
            "{e}"
        );
    }

    #[test]
    fn options_table() {
        let c = parsed(
            "hosts /tmp/hosts example.org 10.0.0.0/24 {\n 10.0.0.1 a.example.org\n ttl 60\n no_reverse\n reload 0\n fallthrough example.org\n}",
        );
        assert_eq!(c.path, PathBuf::from("/tmp/hosts"));
        assert_eq!(
            c.origins,
            Zones::parse(&["example.org.", "0.0.10.in-addr.arpa."]).expect("zones")
        );
        assert_eq!(c.inline, ["10.0.0.1 a.example.org"]);
        assert_eq!((c.ttl, c.reverse, c.reload), (60, false, Duration::ZERO));
        assert_eq!(
            c.fallthrough,
            Fallthrough::from_args(&["example.org"]).expect("ft")
        );
        // The seed's own edit: inline entry and fallthrough for everything.
        let c = parsed("hosts {\n 172.16.0.3 webservice1.com\n fallthrough\n}");
        assert_eq!(c.inline, ["172.16.0.3 webservice1.com"]);
        assert!(c.fallthrough.is_on());
    }

    #[test]
    fn errors_table() {
        let parse = |d: &mut Dispenser| parse(d, &[".".into()]);
        testkit::assert_parse_errors(
            parse,
            &[
                (
                    "hosts\nhosts",
                    "this plugin can only be used once per Server Block",
                ),
                (
                    "hosts {\n ttl\n}",
                    "Corefile:2 - Error during parsing: ttl needs a time in second",
                ),
                ("hosts {\n ttl x\n}", "ttl needs a number of second"),
                ("hosts {\n ttl 0\n}", "ttl provided is invalid"),
                ("hosts {\n ttl 65536\n}", "ttl provided is invalid"),
                (
                    "hosts {\n reload\n}",
                    "reload needs a duration (zero seconds to disable)",
                ),
                ("hosts {\n reload 5\n}", "invalid duration for reload '5'"),
                (
                    "hosts {\n reload -5s\n}",
                    "invalid negative duration for reload '-5s'",
                ),
                (
                    "hosts {\n fallthrough\n ttll 5\n}",
                    "Corefile:3 - Error during parsing: unknown property 'ttll'",
                ),
                ("hosts /etc/hosts a..b", "zone is not a valid domain name"),
            ],
        );
    }
}
