//! The `multisocket` directive (CoreDNS 1.12): how many sockets a listener opens.

use clusterdns_plugin::{Dispenser, Setup, SetupError, atoi};

/// The most sockets CoreDNS allows.
const MAX_SOCKETS: i64 = 1024;

/// Sets up `multisocket`. The number is validated as CoreDNS validates it; clusterdns's
/// listeners already read with one thread per core, so it changes nothing here.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    parse(s.dispenser())?;
    Ok(())
}

/// `multisocket [NUM_SOCKETS]`: 1 to 1024, default the number of cores; once per block.
pub fn parse(d: &mut Dispenser) -> Result<Option<u16>, SetupError> {
    d.next();
    let args = d.remaining_args();
    if args.len() > 1 || d.next() {
        return Err(d.arg_err().into());
    }
    let Some(arg) = args.first() else {
        return Ok(None);
    };
    let n = atoi(arg).map_err(|e| SetupError::Other(format!("invalid num sockets: {e}")))?;
    if n < 1 {
        return Err(SetupError::Other(format!(
            "num sockets can not be zero or negative: {n}"
        )));
    }
    if n > MAX_SOCKETS {
        return Err(SetupError::Other(format!(
            "num sockets exceeds maximum ({MAX_SOCKETS}): {n}"
        )));
    }
    Ok(u16::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let p = |input: &str| parse(&mut Dispenser::from_text(input)).map_err(|e| e.to_string());
        assert_eq!(p("multisocket"), Ok(None));
        assert_eq!(p("multisocket 8"), Ok(Some(8)));
        assert_eq!(
            p("multisocket 0").expect_err("zero"),
            "num sockets can not be zero or negative: 0"
        );
        assert_eq!(
            p("multisocket 1025").expect_err("big"),
            "num sockets exceeds maximum (1024): 1025"
        );
        assert_eq!(
            p("multisocket x").expect_err("x"),
            "invalid num sockets: strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert!(
            p("multisocket 1 2")
                .expect_err("two")
                .contains("Wrong argument count")
        );
        assert!(
            p("multisocket 2\nmultisocket 3")
                .expect_err("twice")
                .contains("Wrong argument count")
        );
    }
}
