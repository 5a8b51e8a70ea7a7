//! `cancel [TIMEOUT]`: default 5001 ms (just above forward's 5 s), CoreDNS 1.11.3's texts.

use std::sync::Arc;
use std::time::Duration;

use clusterdns_plugin::{Dispenser, Setup, SetupError, parse_duration};

use crate::cancel::Cancel;

/// Sets up `cancel`.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let timeout = parse(s.dispenser())?;
    s.add_handler(Arc::new(Cancel { timeout }));
    Ok(())
}

/// The deadline (the last `cancel` line of the block counts).
pub fn parse(d: &mut Dispenser) -> Result<Duration, SetupError> {
    let mut timeout = Duration::from_millis(5001);
    while d.next() {
        let args = d.remaining_args();
        match args.as_slice() {
            [] => timeout = Duration::from_millis(5001),
            [arg] => {
                // Go's ParseDuration takes "-1s"; ours refuses negatives outright.
                if arg.starts_with('-') {
                    return Err(SetupError::Other(format!("invalid negative duration: {arg:?}")));
                }
                let dur = parse_duration(arg)
                    .map_err(|_| SetupError::Other(format!("invalid duration: {arg:?}")))?;
                if dur.is_zero() {
                    return Err(SetupError::Other(format!("invalid negative duration: {arg:?}")));
                }
                timeout = dur;
            }
            _ => return Err(d.arg_err().into()),
        }
    }
    Ok(timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let p = |input: &str| parse(&mut Dispenser::from_text(input)).map_err(|e| e.to_string());
        assert_eq!(p("cancel"), Ok(Duration::from_millis(5001)));
        assert_eq!(p("cancel 2s"), Ok(Duration::from_secs(2)));
        assert_eq!(p("cancel x").expect_err("x"), "invalid duration: \"x\"");
        assert_eq!(
            p("cancel 0s").expect_err("zero"),
            "invalid negative duration: \"0s\""
        );
        assert_eq!(
            p("cancel -1s").expect_err("negative"),
            "invalid negative duration: \"-1s\""
        );
        assert!(
            p("cancel 1s 2s")
                .expect_err("two")
                .contains("Wrong argument count")
        );
    }
}
