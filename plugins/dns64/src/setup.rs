//! `dns64 [PREFIX]` or `dns64 { prefix PREFIX; translate_all; allow_ipv4 }`, CoreDNS 1.11.3's
//! syntax and texts.

use std::sync::Arc;

use clusterdns_plugin::{Dispenser, Setup, SetupError};
use ipnet::{IpNet, Ipv6Net};

use crate::dns64::Dns64;

/// The parsed directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The NAT64 prefix: /32, /40, /48, /56, /64 or /96; default 64:ff9b::/96.
    pub prefix: Ipv6Net,
    /// Translate even when the reply has AAAA records (not RFC 6147 5.1.1).
    pub translate_all: bool,
    /// Translate for IPv4 clients too.
    pub allow_ipv4: bool,
}

/// Sets up `dns64`.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let config = parse(s.dispenser())?;
    s.add_handler(Arc::new(Dns64::new(config)));
    Ok(())
}

fn prefix(d: &Dispenser, text: &str) -> Result<Ipv6Net, SetupError> {
    let net: IpNet = text
        .parse()
        .map_err(|_| SetupError::Other(format!("invalid CIDR address: {text}")))?;
    let IpNet::V6(net) = net.trunc() else {
        return Err(d
            .err(format!(
                "invalid netmask 32 IPv6 address: {:?}",
                net.trunc().to_string()
            ))
            .into());
    };
    let n = net.prefix_len();
    if n % 8 != 0 || !(32..=96).contains(&n) {
        return Err(d
            .err(format!("invalid prefix length {:?}", net.to_string()))
            .into());
    }
    Ok(net)
}

/// The configuration of every `dns64` line of the block (later ones change earlier ones).
pub fn parse(d: &mut Dispenser) -> Result<Config, SetupError> {
    let mut config = Config {
        prefix: "64:ff9b::/96"
            .parse()
            .map_err(|_| SetupError::Other("default prefix".into()))?,
        translate_all: false,
        allow_ipv4: false,
    };
    while d.next() {
        let args = d.remaining_args();
        match args.as_slice() {
            [one] => {
                config.prefix = prefix(d, one)?;
                continue;
            }
            [] => {}
            _ => return Err(d.arg_err().into()),
        }
        while d.next_block() {
            match d.val() {
                "prefix" => {
                    if !d.next_arg() {
                        return Err(d.arg_err().into());
                    }
                    let text = d.val().to_string();
                    config.prefix = prefix(d, &text)?;
                }
                "translate_all" => config.translate_all = true,
                "allow_ipv4" => config.allow_ipv4 = true,
                other => {
                    let other = other.to_string();
                    return Err(d.err(format!("unknown property '{other}'")).into());
                }
            }
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(input: &str) -> Result<Config, String> {
        parse(&mut Dispenser::from_text(input)).map_err(|e| e.to_string())
    }

    #[test]
    fn parse_table() {
        assert_eq!(p("dns64").expect("ok").prefix.to_string(), "64:ff9b::/96");
        assert_eq!(
            p("dns64 2001:db8::/32").expect("ok").prefix.to_string(),
            "2001:db8::/32"
        );
        let c = p("dns64 {\n prefix 2001:db8:122::/48\n translate_all\n allow_ipv4\n}").expect("ok");
        assert_eq!(c.prefix.to_string(), "2001:db8:122::/48");
        assert!(c.translate_all && c.allow_ipv4);
        let cases = [
            ("dns64 a b", "Wrong argument count"),
            ("dns64 2001:db8::/33", "invalid prefix length \"2001:db8::/33\""),
            ("dns64 2001:db8::/100", "invalid prefix length"),
            ("dns64 10.0.0.0/8", "invalid netmask 32 IPv6 address"),
            ("dns64 nope", "invalid CIDR address: nope"),
            ("dns64 {\n prefix\n}", "Wrong argument count"),
            ("dns64 {\n foo\n}", "unknown property 'foo'"),
        ];
        for (input, want) in cases {
            let e = p(input).expect_err(input);
            assert!(e.contains(want), "{input}: {e}");
        }
    }
}
