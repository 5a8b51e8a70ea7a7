//! `transfer [ZONES...] { to ADDRESS... | * }`: parsed into a [`Config`].

use std::net::SocketAddr;
use std::sync::Arc;

use clusterdns_plugin::proto::rr::Name;
use clusterdns_plugin::{Dispenser, Notifier, Setup, SetupError, Transferer, host_port};

use crate::transfer::Transfer;

/// Where transfers of some zones may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Xfr {
    pub zones: Vec<Name>,
    /// `*`: every client may transfer the zones.
    pub anyone: bool,
    /// The addresses that may, and that NOTIFY is sent to (port 53 unless given).
    pub to: Vec<SocketAddr>,
}

/// The `transfer` lines of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub xfrs: Vec<Xfr>,
}

/// The plugins whose zones can be transferred, in the chain's order.
const HOLDERS: [&str; 3] = ["kubernetes", "file", "secondary"];

pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let zones = s.block.zones.clone();
    let config = parse(s.dispenser(), &zones)?;
    let holders = HOLDERS
        .iter()
        .map(|d| s.link::<dyn Transferer>(d, "Transferer", false))
        .collect();
    let handler = Arc::new(Transfer::new(config, holders));
    s.provide::<dyn Notifier>(handler.clone());
    s.add_handler(handler);
    Ok(())
}

pub fn parse(d: &mut Dispenser, block_zones: &[String]) -> Result<Config, SetupError> {
    let mut xfrs = Vec::new();
    while d.next() {
        let args = d.remaining_args();
        let zones = clusterdns_plugin::origins(&args, block_zones).map_err(|e| d.err(e))?;
        let mut xfr = Xfr {
            zones,
            anyone: false,
            to: Vec::new(),
        };
        while d.next_block() {
            match d.val() {
                "to" => {
                    let hosts = d.remaining_args();
                    if hosts.is_empty() {
                        return Err(d.arg_err().into());
                    }
                    for host in hosts {
                        if host == "*" {
                            xfr.anyone = true;
                            continue;
                        }
                        xfr.to.push(host_port(&host, 53).map_err(|e| d.err(e))?);
                    }
                }
                other => {
                    return Err(d.err(format!("unknown property \"{other}\"")).into());
                }
            }
        }
        if !xfr.anyone && xfr.to.is_empty() {
            return Err(d.err("'to' is required").into());
        }
        xfrs.push(xfr);
    }
    Ok(Config { xfrs })
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
        let addr = |s: &str| s.parse::<SocketAddr>().expect("addr");
        let ok = |input: &str| parsed(input).unwrap_or_else(|e| panic!("{input}: {e}"));

        let c = ok("transfer {\n to *\n}");
        assert_eq!(c.xfrs[0].zones, [name("example.org.")]);
        assert!(c.xfrs[0].anyone && c.xfrs[0].to.is_empty());

        let c = ok("transfer a.org b.org {\n to 10.0.0.1 [::1]:5300 10.0.0.2:5301\n to *\n}");
        assert_eq!(c.xfrs[0].zones, [name("a.org."), name("b.org.")]);
        assert_eq!(
            c.xfrs[0].to,
            [addr("10.0.0.1:53"), addr("[::1]:5300"), addr("10.0.0.2:5301")]
        );
        assert!(c.xfrs[0].anyone);

        let c = ok("transfer a.org {\n to *\n}\ntransfer b.org {\n to ::1\n}");
        assert_eq!(c.xfrs.len(), 2);
        assert_eq!(c.xfrs[1].to, [addr("[::1]:53")]);

        for (input, want) in [
            ("transfer", "'to' is required"),
            ("transfer {\n}", "'to' is required"),
            ("transfer {\n to\n}", "Wrong argument count"),
            (
                "transfer {\n to example.net\n}",
                "must specify an IP address: `example.net'",
            ),
            ("transfer {\n from 10.0.0.1\n}", "unknown property \"from\""),
        ] {
            let e = parsed(input).expect_err(input);
            assert!(e.contains(want), "{input}: {e}");
        }
    }
}
