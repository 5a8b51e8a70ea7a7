//! `ready [ADDRESS] { monitor until-ready|continuously }` (default `:8181`), once per block.
//! `monitor` is CoreDNS 1.14's; 1.11.3 behaves as `until-ready`, the default here too.

use std::sync::Arc;

use clusterdns_plugin::http::optional_listen_addr;
use clusterdns_plugin::{Dispenser, Setup, SetupError};

use crate::ready::Ready;

/// When readiness is re-checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Monitor {
    /// Once a plugin has been ready, it stays counted as ready (CoreDNS 1.11.3).
    UntilReady,
    /// Every request asks every plugin.
    Continuously,
}

/// The parsed directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub addr: String,
    pub monitor: Monitor,
}

/// Sets up `/ready` and makes this block's plugins count toward it.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let config = parse(s.dispenser())?;
    s.report_readiness();
    s.add_service(Arc::new(Ready::new(config)));
    Ok(())
}

/// Parses the directive.
pub fn parse(d: &mut Dispenser) -> Result<Config, SetupError> {
    let mut config = Config {
        addr: ":8181".into(),
        monitor: Monitor::UntilReady,
    };
    let mut seen = false;
    while d.next() {
        if seen {
            return Err(SetupError::once_per_block());
        }
        seen = true;
        if let Some(addr) = optional_listen_addr(d)? {
            config.addr = addr;
        }
        while d.next_block() {
            if d.val() != "monitor" {
                return Err(d.err(format!("unknown property '{}'", d.val())).into());
            }
            let args = d.remaining_args();
            config.monitor = match args.as_slice() {
                [m] if m == "until-ready" => Monitor::UntilReady,
                [m] if m == "continuously" => Monitor::Continuously,
                [m] => return Err(d.err(format!("invalid monitor mode '{m}'")).into()),
                _ => return Err(d.arg_err().into()),
            };
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let ok = [
            ("ready", ":8181", Monitor::UntilReady),
            ("ready 127.0.0.1:9191", "127.0.0.1:9191", Monitor::UntilReady),
            (
                "ready {\n monitor continuously\n}",
                ":8181",
                Monitor::Continuously,
            ),
        ];
        for (input, addr, monitor) in ok {
            let c = parse(&mut Dispenser::from_text(input)).expect(input);
            assert_eq!(
                c,
                Config {
                    addr: addr.into(),
                    monitor
                },
                "{input}"
            );
        }
        let errors = [
            (
                "ready\nready",
                "this plugin can only be used once per Server Block",
            ),
            ("ready 8181", "address 8181: missing port in address"),
            ("ready a b", "Wrong argument count"),
            (
                "ready {\n monitor sometimes\n}",
                "invalid monitor mode 'sometimes'",
            ),
            (
                "ready {\n check 1s\n}",
                "Corefile:2 - Error during parsing: unknown property 'check'",
            ),
        ];
        testkit::assert_parse_errors(parse, &errors);
    }
}
