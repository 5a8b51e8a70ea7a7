//! `weighted`: the weight file (a domain line, then `IP WEIGHT` lines) and its reloading.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use clusterdns_plugin::proto::rr::Name;
use clusterdns_plugin::{Service, ServiceContext, clog, spawn_every};

/// Per domain, the weight (1-255) of each listed address; unlisted addresses weigh 1.
pub type Weights = HashMap<Name, Vec<(IpAddr, u8)>>;

/// Parses a weight file as CoreDNS's `parseWeights`, with its error texts.
pub fn parse_weights(text: &str, file: &str) -> Result<Weights, String> {
    let mut weights = Weights::new();
    let mut domain: Option<Name> = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [name] => {
                if name.parse::<IpAddr>().is_ok() {
                    return Err(format!(
                        "Wrong domain name:\"{name}\" in weight file {file}. (Maybe a missing weight value?)"
                    ));
                }
                let name = Name::from_ascii(clusterdns_plugin::normalize_zone(name))
                    .map_err(|_| format!("Wrong domain name:\"{name}\" in weight file {file}"))?;
                weights.entry(name.clone()).or_default();
                domain = Some(name);
            }
            [ip, weight] => {
                let ip: IpAddr = ip
                    .parse()
                    .map_err(|_| format!("Wrong IP address:\"{ip}\" in weight file {file}"))?;
                let weight = weight
                    .parse::<u8>()
                    .ok()
                    .filter(|w| *w > 0)
                    .ok_or_else(|| format!("Wrong weight value:\"{weight}\" in weight file {file}"))?;
                let Some(d) = &domain else {
                    return Err(format!("Missing domain name in weight file {file}"));
                };
                weights.entry(d.clone()).or_default().push((ip, weight));
            }
            _ => {
                return Err(format!(
                    "Could not parse weight line:\"{line}\" in weight file {file}"
                ));
            }
        }
    }
    Ok(weights)
}

/// The weight file and its current weights, shared by the handler and the reloader.
pub struct WeightFile {
    path: PathBuf,
    pub(crate) weights: ArcSwap<Weights>,
    /// The text last read, to skip unchanged files (CoreDNS compares a digest).
    last: Mutex<String>,
}

impl WeightFile {
    pub fn new(path: PathBuf, weights: Weights, text: String) -> Self {
        Self {
            path,
            weights: ArcSwap::from_pointee(weights),
            last: Mutex::new(text),
        }
    }

    /// Re-reads the file; a file that cannot be read or parsed keeps the weights in use.
    fn refresh(&self) {
        let text = match corefile::read_text(&self.path) {
            Ok(t) => t,
            Err(e) => {
                clog::error(
                    Some("loadbalance"),
                    format_args!("Failed to reload weight file: {e}"),
                );
                return;
            }
        };
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *last == text {
            return;
        }
        match parse_weights(&text, &self.path.display().to_string()) {
            Ok(w) => {
                self.weights.store(Arc::new(w));
                *last = text;
            }
            Err(e) => clog::error(
                Some("loadbalance"),
                format_args!("Failed to reload weight file: {e}"),
            ),
        }
    }
}

/// Re-reads the weight file every `period`.
pub struct Reloader {
    file: Arc<WeightFile>,
    period: Duration,
}

impl Reloader {
    pub fn new(file: Arc<WeightFile>, period: Duration) -> Self {
        Self { file, period }
    }
}

#[async_trait::async_trait]
impl Service for Reloader {
    fn key(&self) -> String {
        format!("loadbalance {:p}", Arc::as_ptr(&self.file))
    }

    async fn start(self: Arc<Self>, ctx: ServiceContext) -> Result<(), String> {
        let this = self.clone();
        spawn_every(self.period, ctx.phase, move || this.file.refresh());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let w = parse_weights(
            "# weights\nwww.example.com\n100.64.1.1 3\n100.64.1.2 1\n\nOther.Example.com.\nfd00::1 255\n",
            "w",
        )
        .expect("parses");
        let www = &w[&Name::from_ascii("www.example.com.").expect("n")];
        assert_eq!(
            www,
            &vec![
                ("100.64.1.1".parse().expect("ip"), 3),
                ("100.64.1.2".parse().expect("ip"), 1)
            ]
        );
        assert_eq!(w[&Name::from_ascii("other.example.com.").expect("n")].len(), 1);
        let errors = [
            (
                "10.0.0.1\n",
                "Wrong domain name:\"10.0.0.1\" in weight file w. (Maybe a missing weight value?)",
            ),
            ("a.com\nx 1\n", "Wrong IP address:\"x\" in weight file w"),
            ("a.com\n10.0.0.1 0\n", "Wrong weight value:\"0\" in weight file w"),
            (
                "a.com\n10.0.0.1 256\n",
                "Wrong weight value:\"256\" in weight file w",
            ),
            ("10.0.0.1 1\n", "Missing domain name in weight file w"),
            (
                "a b c\n",
                "Could not parse weight line:\"a b c\" in weight file w",
            ),
        ];
        for (text, want) in errors {
            assert_eq!(parse_weights(text, "w").expect_err(text), want);
        }
    }
}
