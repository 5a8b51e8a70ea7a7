//! `chaos [VERSION] [AUTHORS...]`, as CoreDNS 1.11.3 parses it.

use std::sync::Arc;

use clusterdns_plugin::{Dispenser, Setup, SetupError};

use crate::chaos::Chaos;

/// What the CH records say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub version: String,
    /// Sorted and without duplicates when given; the project's by default.
    pub authors: Vec<String>,
}

/// Who `authors.bind` names when the Corefile names nobody.
const OWNERS: &[&str] = &["clusterdns contributors"];

/// Sets up `chaos`.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let config = parse(s.dispenser())?;
    s.add_handler(Arc::new(Chaos::new(config)));
    Ok(())
}

/// At most 255 bytes, what one TXT string holds (cut at a character boundary).
pub fn trim(s: &str) -> &str {
    if s.len() < 256 {
        return s;
    }
    let mut end = 255;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Only the first `chaos` line of a block counts, as in CoreDNS.
pub fn parse(d: &mut Dispenser) -> Result<Config, SetupError> {
    let owners = || OWNERS.iter().map(ToString::to_string).collect();
    let version = format!("clusterdns-{}", env!("CARGO_PKG_VERSION"));
    if !d.next() {
        return Ok(Config {
            version: String::new(),
            authors: owners(),
        });
    }
    let args = d.remaining_args();
    Ok(match args.as_slice() {
        [] => Config {
            version: trim(&version).to_string(),
            authors: owners(),
        },
        [v] => Config {
            version: trim(v).to_string(),
            authors: owners(),
        },
        [v, rest @ ..] => {
            let mut authors: Vec<String> = rest.iter().map(|a| trim(a).to_string()).collect();
            authors.sort();
            authors.dedup();
            // CoreDNS does not trim a version given with authors.
            Config {
                version: v.clone(),
                authors,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let p = |input: &str| parse(&mut Dispenser::from_text(input)).expect(input);
        assert_eq!(
            p("chaos").version,
            format!("clusterdns-{}", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(p("chaos").authors, ["clusterdns contributors"]);
        assert_eq!(p("chaos OpenShift").version, "OpenShift");
        let c = p("chaos CoreDNS-001 miek@miek.nl bob@example.org miek@miek.nl");
        assert_eq!(c.version, "CoreDNS-001");
        assert_eq!(c.authors, ["bob@example.org", "miek@miek.nl"]);
        assert_eq!(p(&format!("chaos {}", "v".repeat(300))).version.len(), 255);
    }
}
