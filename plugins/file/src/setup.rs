//! `file DBFILE [ZONES...] { reload DURATION }`: parsed into a [`Config`], then the zones read.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clusterdns_plugin::proto::rr::Name;
use clusterdns_plugin::{Dispenser, Notifier, Setup, SetupError, Transferer, clog, parse_duration};

use crate::file::{File, Reloader, ZoneSource};
use crate::zone::Zone;

/// One `file` line: a zone file and the zones it is read for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneFile {
    pub path: PathBuf,
    pub origins: Vec<Name>,
}

/// The `file` lines of a server block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub files: Vec<ZoneFile>,
    /// How often each file is checked for a new SOA serial; zero never (CoreDNS: 1m).
    pub reload: Duration,
}

pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let zones = s.block.zones.clone();
    let config = parse(s.dispenser(), &zones)?;
    let mut sources = Vec::new();
    for file in &config.files {
        let text = match corefile::read_text(&file.path) {
            Ok(text) => Some(text),
            // CoreDNS: fatal without reload, else retried every reload period.
            Err(e) if config.reload.is_zero() => {
                return Err(SetupError::Other(format!("open {}: {e}", file.path.display())));
            }
            Err(e) => {
                let e = format!("open {}: {e}", file.path.display());
                clog::warning(
                    Some("file"),
                    format_args!(
                        "Failed to open {e:?}: trying again in {}",
                        clusterdns_plugin::format_duration(config.reload)
                    ),
                );
                None
            }
        };
        for origin in &file.origins {
            let zone = match &text {
                Some(text) => Some(
                    Zone::parse(text, origin, &file.path).map_err(|e| SetupError::Other(e.to_string()))?,
                ),
                None => None,
            };
            sources.push(Arc::new(ZoneSource::new(origin.clone(), file.path.clone(), zone)));
        }
    }
    let notifier = s.link::<dyn Notifier>("transfer", "Notifier", false);
    s.add_service(Arc::new(Reloader::new(sources.clone(), config.reload, notifier)));
    let handler = Arc::new(File::new(sources));
    s.provide::<dyn Transferer>(handler.clone());
    s.add_handler(handler);
    Ok(())
}

pub fn parse(d: &mut Dispenser, block_zones: &[String]) -> Result<Config, SetupError> {
    let mut config = Config {
        files: Vec::new(),
        reload: Duration::from_secs(60),
    };
    while d.next() {
        let args = d.remaining_args();
        let Some((path, zones)) = args.split_first() else {
            return Err(d.arg_err().into());
        };
        let origins = clusterdns_plugin::origins(zones, block_zones).map_err(|e| d.err(e))?;
        config.files.push(ZoneFile {
            path: PathBuf::from(path),
            origins,
        });
        while d.next_block() {
            match d.val() {
                "reload" => {
                    let args = d.remaining_args();
                    let Some(value) = args.first() else {
                        return Err(d.err("reload duration value is expected").into());
                    };
                    config.reload = parse_duration(value)
                        .map_err(|e| d.err(format!("time: invalid duration {value:?}: {e}")))?;
                }
                // Accepted and ignored, as CoreDNS ("remove soon").
                "upstream" => {
                    d.remaining_args();
                }
                other => return Err(d.err(format!("unknown property '{other}'")).into()),
            }
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(input: &str) -> Result<Config, String> {
        parse(&mut Dispenser::from_text(input), &["example.org.".into()]).map_err(|e| e.to_string())
    }

    #[test]
    fn table() {
        let name = |s: &str| Name::from_ascii(s).expect("name");
        let cases: &[(&str, Result<(&str, &[&str], u64), &str>)] = &[
            (
                "file db.example.org",
                Ok(("db.example.org", &["example.org."], 60)),
            ),
            ("file db.x a.org b.org", Ok(("db.x", &["a.org.", "b.org."], 60))),
            ("file db.x {\n reload 5s\n}", Ok(("db.x", &["example.org."], 5))),
            ("file db.x {\n reload 0\n}", Ok(("db.x", &["example.org."], 0))),
            (
                "file db.x {\n upstream 10.0.0.1\n}",
                Ok(("db.x", &["example.org."], 60)),
            ),
            ("file", Err("Wrong argument count")),
            (
                "file db.x {\n reload\n}",
                Err("reload duration value is expected"),
            ),
            ("file db.x {\n reload soon\n}", Err("invalid duration")),
            ("file db.x {\n notify\n}", Err("unknown property 'notify'")),
        ];
        for (input, want) in cases {
            match (parsed(input), want) {
                (Ok(c), Ok((path, origins, reload))) => {
                    assert_eq!(c.files[0].path, PathBuf::from(path), "{input}");
                    let want: Vec<Name> = origins.iter().map(|o| name(o)).collect();
                    assert_eq!(c.files[0].origins, want, "{input}");
                    assert_eq!(c.reload, Duration::from_secs(*reload), "{input}");
                }
                (Err(e), Err(want)) => assert!(e.contains(want), "{input}: {e}"),
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
    }
}
