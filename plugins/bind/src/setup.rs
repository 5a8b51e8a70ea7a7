//! `bind ADDRESS|IFACE... { except ADDRESS|IFACE... }`, as CoreDNS's: every `bind` line of a
//! block adds to the block's listen addresses; interface names stand for their addresses.

use std::net::IpAddr;

use clusterdns_plugin::{Dispenser, Setup, SetupError};

/// One `bind` line: what to listen on and what to leave out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bind {
    pub addrs: Vec<String>,
    pub except: Vec<String>,
}

/// Resolves every `bind` line of the block into listen addresses.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let lines = parse(s.dispenser())?;
    let interfaces = if_addrs::get_if_addrs().unwrap_or_default();
    let mut all = Vec::new();
    for line in lines {
        let ips = resolve(&line.addrs, &interfaces)?;
        let except = resolve(&line.except, &interfaces)?;
        all.extend(ips.into_iter().filter(|ip| !except.contains(ip)));
    }
    s.add_bind(all);
    Ok(())
}

/// Parses every `bind` line of a block.
pub fn parse(d: &mut Dispenser) -> Result<Vec<Bind>, SetupError> {
    let mut lines = Vec::new();
    while d.next() {
        let mut b = Bind {
            addrs: d.remaining_args(),
            except: Vec::new(),
        };
        if b.addrs.is_empty() {
            return Err(other("at least one address or interface name is expected"));
        }
        while d.next_block() {
            match d.val() {
                "except" => {
                    b.except = d.remaining_args();
                    if b.except.is_empty() {
                        return Err(other(
                            "at least one address or interface must be given to except subdirective",
                        ));
                    }
                }
                v => return Err(other(&format!("invalid option \"{v}\""))),
            }
        }
        lines.push(b);
    }
    Ok(lines)
}

/// Interface names become their addresses (IPv6 link-local ones need a zone, which a bare
/// address cannot carry, so they are left out); anything else must be an IP address.
fn resolve(args: &[String], interfaces: &[if_addrs::Interface]) -> Result<Vec<IpAddr>, SetupError> {
    let mut out = Vec::new();
    for a in args {
        let of_iface: Vec<IpAddr> = interfaces
            .iter()
            .filter(|i| i.name == *a)
            .map(if_addrs::Interface::ip)
            .filter(|ip| !matches!(ip, IpAddr::V6(v6) if v6.is_unicast_link_local()))
            .collect();
        if interfaces.iter().any(|i| i.name == *a) {
            out.extend(of_iface);
            continue;
        }
        let ip: IpAddr = a
            .parse()
            .map_err(|_| other(&format!("not a valid IP address or interface name: \"{a}\"")))?;
        out.push(ip);
    }
    Ok(out)
}

fn other(message: &str) -> SetupError {
    SetupError::Other(message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parse_table() {
        let got = parse(&mut Dispenser::from_text(
            "bind 127.0.0.1 ::1\nbind lo {\n except 127.0.0.2\n}",
        ))
        .expect("parses");
        assert_eq!(
            got,
            vec![
                Bind {
                    addrs: strs(&["127.0.0.1", "::1"]),
                    except: vec![]
                },
                Bind {
                    addrs: strs(&["lo"]),
                    except: strs(&["127.0.0.2"])
                },
            ]
        );
        let errors = [
            ("bind", "at least one address or interface name is expected"),
            (
                "bind lo {\n except\n}",
                "at least one address or interface must be given to except subdirective",
            ),
            ("bind lo {\n only x\n}", "invalid option \"only\""),
        ];
        testkit::assert_parse_errors(parse, &errors);
    }

    #[test]
    fn interfaces_and_addresses_resolve() {
        let lo = if_addrs::get_if_addrs().unwrap_or_default();
        let got = resolve(&strs(&["lo", "10.0.0.1"]), &lo).expect("resolves");
        assert!(got.contains(&"127.0.0.1".parse().expect("ip")));
        assert!(got.contains(&"10.0.0.1".parse().expect("ip")));
        let e = resolve(&strs(&["nosuchiface0"]), &lo).expect_err("unknown");
        assert!(
            e.to_string()
                .contains("not a valid IP address or interface name: \"nosuchiface0\"")
        );
    }
}
