//! `prometheus [ADDRESS]` (default `localhost:9153`), once per server block.

use std::sync::Arc;

use clusterdns_plugin::http::optional_listen_addr;
use clusterdns_plugin::proto::rr::Name;
use clusterdns_plugin::{Dispenser, Setup, SetupError};

use crate::prometheus::{Endpoint, Metrics};

/// Sets up the handler that reports every query and the `/metrics` endpoint.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let addr = parse(s.dispenser())?;
    let zones = s
        .block
        .zones
        .iter()
        .filter_map(|z| Name::from_ascii(z).ok())
        .collect();
    s.add_service(Arc::new(Endpoint::new(addr)));
    s.add_handler(Arc::new(Metrics::new(zones)));
    Ok(())
}

/// Parses the directive: its address.
pub fn parse(d: &mut Dispenser) -> Result<String, SetupError> {
    let mut addr = "localhost:9153".to_string();
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
                other => {
                    let other = other.to_string();
                    return Err(d.err(format!("unknown property '{other}'")).into());
                }
            }
        }
    }
    Ok(addr)
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
            .expect("ok"),
            ":9153"
        );
        assert!(parse(&mut Dispenser::from_text("prometheus {\n runtime_metrics x\n}")).is_err());
    }

    #[test]
    fn parse_table() {
        assert_eq!(
            parse(&mut Dispenser::from_text("prometheus")).expect("ok"),
            "localhost:9153"
        );
        assert_eq!(
            parse(&mut Dispenser::from_text("prometheus :9153")).expect("ok"),
            ":9153"
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
            ],
        );
    }
}
