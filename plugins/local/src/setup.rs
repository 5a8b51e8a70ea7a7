//! `local [{ localhost_prefix on|off }]`. Arguments are ignored, as CoreDNS 1.11.3 ignores them
//! (1.14.4 refuses them); `localhost_prefix` is CoreDNS 1.14.5's.

use std::sync::Arc;

use clusterdns_plugin::{Dispenser, Setup, SetupError};

use crate::local::Local;

/// Sets up `local`.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let localhost_prefix = parse(s.dispenser())?;
    s.add_handler(Arc::new(Local::new(localhost_prefix)));
    Ok(())
}

/// Whether `localhost.<domain>` names are answered (`localhost_prefix`, on by default).
pub fn parse(d: &mut Dispenser) -> Result<bool, SetupError> {
    let mut prefix = true;
    while d.next() {
        let _ignored = d.remaining_args();
        while d.next_block() {
            match d.val() {
                "localhost_prefix" => {
                    let args = d.remaining_args();
                    prefix = match args.as_slice() {
                        [on] if on == "on" => true,
                        [off] if off == "off" => false,
                        [other] => {
                            return Err(d
                                .err(format!("localhost_prefix expects 'on' or 'off', got {other:?}"))
                                .into());
                        }
                        _ => return Err(d.arg_err().into()),
                    };
                }
                other => {
                    let other = other.to_string();
                    return Err(d.err(format!("unknown property '{other}'")).into());
                }
            }
        }
    }
    Ok(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let parsed = |text: &str| parse(&mut Dispenser::from_text(text)).expect(text);
        assert!(parsed("local"));
        assert!(parsed("local ignored"));
        assert!(parsed("local {\n localhost_prefix on\n}"));
        assert!(!parsed("local {\n localhost_prefix off\n}"));
        testkit::assert_parse_errors(
            parse,
            &[
                ("local {\n localhost_prefix\n}", "Wrong argument count"),
                (
                    "local {\n localhost_prefix maybe\n}",
                    "Corefile:2 - Error during parsing: localhost_prefix expects 'on' or 'off', got \"maybe\"",
                ),
                ("local {\n other\n}", "unknown property 'other'"),
            ],
        );
    }
}
