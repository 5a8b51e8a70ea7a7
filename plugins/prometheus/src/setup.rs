//! `prometheus [ADDRESS] { runtime_metrics; tls CONFIG }` (default `localhost:9153`), once per
//! server block.

use std::sync::Arc;

use std::path::PathBuf;

use clusterdns_plugin::http::{Access, optional_listen_addr};
use clusterdns_plugin::proto::rr::Name;
use clusterdns_plugin::{Dispenser, Setup, SetupError};

use crate::prometheus::{Endpoint, Metrics};

/// The parsed directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub addr: String,
    /// `tls CONFIG` (CoreDNS 1.14.3): a Prometheus web configuration file.
    pub web_config: Option<PathBuf>,
}

/// Sets up the handler that reports every query and the `/metrics` endpoint.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let config = parse(s.dispenser())?;
    let access = match &config.web_config {
        Some(path) => crate::web_config::load(path).map_err(SetupError::Other)?,
        None => Access::default(),
    };
    let zones = s
        .block
        .zones
        .iter()
        .filter_map(|z| Name::from_ascii(z).ok())
        .collect();
    s.add_service(Arc::new(Endpoint::new(config.addr, access)));
    s.add_handler(Arc::new(Metrics::new(zones)));
    Ok(())
}

/// Parses the directive.
pub fn parse(d: &mut Dispenser) -> Result<Config, SetupError> {
    let mut addr = "localhost:9153".to_string();
    let mut web_config = None;
    let mut seen = false;
    while d.next() {
        if seen {
            return Err(SetupError::once_per_block());
        }
        seen = true;
        if let Some(a) = optional_listen_addr(d)? {
            addr = a;
        }
        while d.next_block() {
            match d.val() {
                // CoreDNS 1.14.3: Go's runtime metrics; there is no Go runtime here to report.
                "runtime_metrics" => {
                    if !d.remaining_args().is_empty() {
                        return Err(d.arg_err().into());
                    }
                }
                "tls" => {
                    if web_config.is_some() {
                        return Err(d.err("tls block already specified").into());
                    }
                    let [path] = d.remaining_args().try_into().map_err(|_| d.arg_err())?;
                    web_config = Some(PathBuf::from(path));
                }
                other => {
                    let other = other.to_string();
                    return Err(d.err(format!("unknown property '{other}'")).into());
                }
            }
        }
    }
    Ok(Config { addr, web_config })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_metrics_is_accepted() {
        assert_eq!(
            parse(&mut Dispenser::from_text(
                "prometheus :9153 {\n runtime_metrics\n}"
            ))
            .expect("ok")
            .addr,
            ":9153"
        );
        assert!(parse(&mut Dispenser::from_text("prometheus {\n runtime_metrics x\n}")).is_err());
    }

    #[test]
    fn parse_table() {
        assert_eq!(
            parse(&mut Dispenser::from_text("prometheus")).expect("ok").addr,
            "localhost:9153"
        );
        assert_eq!(
            parse(&mut Dispenser::from_text("prometheus :9153"))
                .expect("ok")
                .addr,
            ":9153"
        );
        assert_eq!(
            parse(&mut Dispenser::from_text(
                "prometheus :9153 {\n tls /etc/coredns/web.yml\n}"
            ))
            .expect("ok")
            .web_config,
            Some(PathBuf::from("/etc/coredns/web.yml"))
        );
        testkit::assert_parse_errors(
            parse,
            &[
                (
                    "prometheus\nprometheus",
                    "this plugin can only be used once per Server Block",
                ),
                ("prometheus a b", "Wrong argument count"),
                ("prometheus 9153", "address 9153: missing port in address"),
                (
                    "prometheus :9153 {\n histograms\n}",
                    "Corefile:2 - Error during parsing: unknown property 'histograms'",
                ),
                ("prometheus {\n tls\n}", "Wrong argument count"),
                ("prometheus {\n tls a b\n}", "Wrong argument count"),
                (
                    "prometheus {\n tls a\n tls b\n}",
                    "Corefile:3 - Error during parsing: tls block already specified",
                ),
            ],
        );
    }
}
