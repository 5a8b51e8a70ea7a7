//! `loop` (no arguments, once per server block): probes the block's first zone.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use clusterdns_plugin::proto::rr::Name;
use clusterdns_plugin::{Dispenser, Setup, SetupError};

use crate::detector::{Loop, Probe};

/// Sets up `loop`: the handler that counts the probe, and the service that sends it.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    parse(s.dispenser())?;
    let zone = s.block.zones.first().cloned().unwrap_or_else(|| ".".into());
    let zone = Name::from_ascii(&zone).map_err(|e| SetupError::Other(e.to_string()))?;
    // The probe goes to the first listen address; every interface means this host.
    let ip = s
        .block
        .bind
        .first()
        .copied()
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let shown = match s.block.bind.first() {
        Some(ip) => SocketAddr::new(*ip, s.block.port).to_string(),
        None => format!(":{}", s.block.port),
    };
    let detector = Arc::new(Loop::new(zone, shown));
    s.add_service(Arc::new(Probe::new(
        detector.clone(),
        SocketAddr::new(ip, s.block.port),
    )));
    s.add_handler(detector);
    Ok(())
}

/// `loop` takes no arguments.
pub fn parse(d: &mut Dispenser) -> Result<(), SetupError> {
    clusterdns_plugin::parse_no_args(d, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        assert!(parse(&mut Dispenser::from_text("loop")).is_ok());
        testkit::assert_parse_errors(
            parse,
            &[
                (
                    "loop 1",
                    "Corefile:1 - Error during parsing: Wrong argument count or unexpected line ending after '1'",
                ),
                ("loop\nloop", "this plugin can only be used once per Server Block"),
            ],
        );
    }
}
