//! Corefile glue for `whoami` (no arguments).

use std::sync::Arc;

use clusterdns_plugin::{Dispenser, Setup, SetupError};

use crate::whoami::Whoami;

/// Sets up `whoami` in its server block.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    parse(s.dispenser())?;
    s.add_handler(Arc::new(Whoami));
    Ok(())
}

/// `whoami` takes no arguments and no block.
pub fn parse(d: &mut Dispenser) -> Result<(), SetupError> {
    clusterdns_plugin::parse_no_args(d, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        assert!(parse(&mut Dispenser::from_text("whoami")).is_ok());
        let e = parse(&mut Dispenser::from_text("whoami example.org")).expect_err("argument");
        assert_eq!(
            e.to_string(),
            "Corefile:1 - Error during parsing: Wrong argument count or unexpected line ending after \
             'example.org' (column 8)"
        );
    }
}
