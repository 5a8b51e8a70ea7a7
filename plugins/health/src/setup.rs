//! `health [ADDRESS] { lameduck DURATION }`, as CoreDNS's (default `:8080`).

use std::sync::Arc;
use std::time::Duration;

use clusterdns_plugin::http::optional_listen_addr;
use clusterdns_plugin::{Dispenser, Setup, SetupError, parse_duration};

use crate::health::Health;

/// The parsed directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub addr: String,
    pub lameduck: Duration,
}

/// Sets up the `/health` endpoint and the lameduck period.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let config = parse(s.dispenser())?;
    if !config.lameduck.is_zero() {
        s.set_lameduck(config.lameduck);
    }
    s.add_service(Arc::new(Health::new(config.addr)));
    Ok(())
}

/// Parses the directive.
pub fn parse(d: &mut Dispenser) -> Result<Config, SetupError> {
    let mut config = Config {
        addr: ":8080".into(),
        lameduck: Duration::ZERO,
    };
    while d.next() {
        if let Some(addr) = optional_listen_addr(d)? {
            config.addr = addr;
        }
        while d.next_block() {
            if d.val() != "lameduck" {
                return Err(d.arg_err().into());
            }
            let args = d.remaining_args();
            let [value] = args.as_slice() else {
                return Err(d.arg_err().into());
            };
            config.lameduck = parse_duration(value).map_err(|e| {
                SetupError::Other(format!(
                    "unable to parse lameduck duration value: '{value}' : {e}"
                ))
            })?;
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
            ("health", ":8080", 0),
            ("health :8081", ":8081", 0),
            ("health 127.0.0.1:9000 {\n lameduck 5s\n}", "127.0.0.1:9000", 5),
            ("health {\n lameduck 1m\n}", ":8080", 60),
        ];
        for (input, addr, secs) in ok {
            let c = parse(&mut Dispenser::from_text(input)).expect(input);
            assert_eq!(
                c,
                Config {
                    addr: addr.into(),
                    lameduck: Duration::from_secs(secs)
                },
                "{input}"
            );
        }
        let errors = [
            ("health 8080", "address 8080: missing port in address"),
            (
                "health a b",
                "Wrong argument count or unexpected line ending after 'b'",
            ),
            (
                "health {\n lameduck\n}",
                "Wrong argument count or unexpected line ending after 'lameduck'",
            ),
            (
                "health {\n lameduck 5\n}",
                "unable to parse lameduck duration value: '5' : time: missing unit",
            ),
            (
                "health {\n other 5s\n}",
                "Corefile:2 - Error during parsing: Wrong argument count",
            ),
        ];
        testkit::assert_parse_errors(parse, &errors);
    }
}
