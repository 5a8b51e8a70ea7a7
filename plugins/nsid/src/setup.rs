//! `nsid [DATA...]`, once per server block; the data defaults to the host name.

use std::sync::Arc;

use clusterdns_plugin::{Dispenser, Setup, SetupError};

use crate::nsid::Nsid;

/// Sets up `nsid`.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let data = parse(s.dispenser(), &clusterdns_plugin::hostname())?;
    s.add_handler(Arc::new(Nsid::new(&data)));
    Ok(())
}

/// The identifier: the arguments joined by spaces, else `hostname`.
pub fn parse(d: &mut Dispenser, hostname: &str) -> Result<String, SetupError> {
    let mut data = hostname.to_string();
    let mut seen = false;
    while d.next() {
        if seen {
            return Err(SetupError::once_per_block());
        }
        seen = true;
        let args = d.remaining_args();
        if !args.is_empty() {
            data = args.join(" ");
        }
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let p = |input: &str| parse(&mut Dispenser::from_text(input), "node-1");
        assert_eq!(p("nsid").expect("ok"), "node-1");
        assert_eq!(p("nsid Use The Force").expect("ok"), "Use The Force");
        assert_eq!(
            p("nsid a\nnsid b").expect_err("twice").to_string(),
            "this plugin can only be used once per Server Block"
        );
    }
}
