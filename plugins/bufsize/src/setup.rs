//! `bufsize [SIZE]`: 512 to 4096, default 1232 (DNS Flag Day 2020), CoreDNS 1.11.3's texts.

use std::sync::Arc;

use clusterdns_plugin::{Dispenser, Setup, SetupError};

use crate::bufsize::Bufsize;

/// Sets up `bufsize`.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let size = parse(s.dispenser())?;
    s.add_handler(Arc::new(Bufsize { size }));
    Ok(())
}

/// The size; only the first `bufsize` line of a block counts, as in CoreDNS.
pub fn parse(d: &mut Dispenser) -> Result<u16, SetupError> {
    const DEFAULT: u16 = 1232;
    // CoreDNS wraps the argument error in its plugin prefix twice.
    let arg_err = |d: &Dispenser| SetupError::Other(format!("plugin/bufsize: {}", d.arg_err()));
    if !d.next() {
        return Err(arg_err(d));
    }
    let args = d.remaining_args();
    match args.as_slice() {
        [] => Ok(DEFAULT),
        [size] => match clusterdns_plugin::atoi(size) {
            Ok(n) if (512..=4096).contains(&n) => Ok(u16::try_from(n).unwrap_or(DEFAULT)),
            _ => Err(arg_err(d)),
        },
        _ => Err(arg_err(d)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let ok = |input: &str| parse(&mut Dispenser::from_text(input)).expect(input);
        assert_eq!(ok("bufsize"), 1232);
        assert_eq!(ok("bufsize 512"), 512);
        assert_eq!(ok("bufsize 4096"), 4096);
        assert_eq!(ok("bufsize 1400\nbufsize 600"), 1400);
        for input in ["bufsize 511", "bufsize 4097", "bufsize x", "bufsize 1232 1400"] {
            let e = parse(&mut Dispenser::from_text(input))
                .expect_err(input)
                .to_string();
            assert!(
                e.starts_with("plugin/bufsize: Corefile:1 - Error during parsing: Wrong argument count"),
                "{input}: {e}"
            );
        }
    }
}
