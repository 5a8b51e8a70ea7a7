//! `minimal` takes no arguments.

use std::sync::Arc;

use clusterdns_plugin::{Dispenser, Setup, SetupError};

use crate::minimal::Minimal;

/// Sets up `minimal`.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    parse(s.dispenser())?;
    s.add_handler(Arc::new(Minimal));
    Ok(())
}

/// CoreDNS reads the first line only: an argument there is an error.
pub fn parse(d: &mut Dispenser) -> Result<(), SetupError> {
    d.next();
    if d.next_arg() {
        return Err(d.arg_err().into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        assert!(parse(&mut Dispenser::from_text("minimal")).is_ok());
        assert!(parse(&mut Dispenser::from_text("minimal\nminimal")).is_ok());
        let e = parse(&mut Dispenser::from_text("minimal x")).expect_err("argument");
        assert!(e.to_string().contains("Wrong argument count"), "{e}");
    }
}
