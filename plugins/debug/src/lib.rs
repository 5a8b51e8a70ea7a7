//! The `debug` directive: `[DEBUG]` log lines on.

use clusterdns_plugin::{Dispenser, Setup, SetupError, clog};

/// Sets up `debug`: turns on `[DEBUG]` lines for the process (CoreDNS's `log.D`). Panics in
/// plugins are still recovered (CoreDNS lets them crash the process with `debug`).
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    parse(s.dispenser())?;
    clog::enable_debug();
    Ok(())
}

/// `debug` takes no arguments.
pub fn parse(d: &mut Dispenser) -> Result<(), SetupError> {
    while d.next() {
        if d.next_arg() {
            return Err(SetupError::Other(format!("plugin/debug: {}", d.arg_err())));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        assert!(parse(&mut Dispenser::from_text("debug")).is_ok());
        let e = parse(&mut Dispenser::from_text("debug on")).expect_err("argument");
        assert!(
            e.to_string()
                .starts_with("plugin/debug: Corefile:1 - Error during parsing: Wrong argument count")
        );
    }
}
