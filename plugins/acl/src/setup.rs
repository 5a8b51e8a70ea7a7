//! `acl [ZONES...] { ACTION [type QTYPE...|*] [net SOURCE...|*]; ... }`, as CoreDNS 1.11.3
//! parses it: each `acl` is a rule, each line in it a policy.

use std::str::FromStr;
use std::sync::Arc;

use clusterdns_plugin::proto::rr::RecordType;
use clusterdns_plugin::{Dispenser, Setup, SetupError, Zones};
use ipnet::IpNet;

use crate::acl::{Acl, Action, Policy, Rule};

/// Sets up `acl`.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let zones = s.block.zones.clone();
    let rules = parse(s.dispenser(), &zones)?;
    s.add_handler(Arc::new(Acl::new(rules)));
    Ok(())
}

/// Every network (`*`, and a policy without `net`).
fn everywhere() -> Vec<IpNet> {
    ["0.0.0.0/0", "::/0"]
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect()
}

fn is_section(token: &str) -> bool {
    matches!(token.to_ascii_lowercase().as_str(), "type" | "net")
}

/// The rules; `block_zones` are the default zones.
pub fn parse(d: &mut Dispenser, block_zones: &[String]) -> Result<Vec<Rule>, SetupError> {
    let mut rules = Vec::new();
    while d.next() {
        let args = d.remaining_args();
        let zones = if args.is_empty() {
            Zones::parse(block_zones)
        } else {
            Zones::parse(&args)
        }
        .map_err(SetupError::Other)?;
        let mut rule = Rule {
            zones,
            policies: Vec::new(),
        };
        while d.next_block() {
            let action = match d.val().to_ascii_lowercase().as_str() {
                "allow" => Action::Allow,
                "block" => Action::Block,
                "filter" => Action::Filter,
                "drop" => Action::Drop,
                _ => {
                    return Err(d
                        .err(format!(
                            "unexpected token {:?}; expect 'allow', 'block', 'filter' or 'drop'",
                            d.val()
                        ))
                        .into());
                }
            };
            let mut policy = Policy {
                action,
                types: Vec::new(),
                nets: Vec::new(),
            };
            let (mut any_type, mut any_net) = (false, false);
            let (mut has_types, mut has_nets) = (false, false);
            let tokens = d.remaining_args();
            let mut rest = tokens.as_slice();
            while let Some((section, after)) = rest.split_first() {
                if !is_section(section) {
                    return Err(d
                        .err(format!("unexpected token {section:?}; expect 'type | net'"))
                        .into());
                }
                let section = section.to_ascii_lowercase();
                let end = after.iter().position(|t| is_section(t)).unwrap_or(after.len());
                let (values, next) = after.split_at(end);
                rest = next;
                if values.is_empty() {
                    return Err(d.err(format!("no token specified in {section:?} section")).into());
                }
                if section == "type" {
                    has_types = true;
                    for v in values {
                        if v == "*" {
                            any_type = true;
                            break;
                        }
                        // miekg's StringToType: upper case names.
                        match RecordType::from_str(v) {
                            Ok(t)
                                if !matches!(t, RecordType::Unknown(_))
                                    && !v.bytes().any(|b| b.is_ascii_lowercase()) =>
                            {
                                policy.types.push(t);
                            }
                            _ => {
                                return Err(d
                                    .err(format!("unexpected token {v:?}; expect legal QTYPE"))
                                    .into());
                            }
                        }
                    }
                } else {
                    has_nets = true;
                    for v in values {
                        if v == "*" {
                            any_net = true;
                            break;
                        }
                        // A bare address is a /32 or /128 network.
                        let cidr = if v.contains('/') {
                            v.clone()
                        } else if v.contains(':') {
                            format!("{v}/128")
                        } else {
                            format!("{v}/32")
                        };
                        let net: IpNet = cidr
                            .parse()
                            .map_err(|_| d.err(format!("illegal CIDR notation {cidr:?}")))?;
                        policy.nets.push(net.trunc());
                    }
                }
            }
            if any_type || !has_types {
                policy.types.clear();
            }
            if any_net || !has_nets {
                policy.nets = everywhere();
            }
            rule.policies.push(policy);
        }
        rules.push(rule);
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(input: &str) -> Result<Vec<Rule>, String> {
        parse(&mut Dispenser::from_text(input), &[".".to_string()]).map_err(|e| e.to_string())
    }

    #[test]
    fn parse_table() {
        let rules = p("acl example.org {\n block type A net 192.168.0.0/16 10.0.0.1\n filter net 2001:db8::1\n allow net *\n drop\n}")
            .expect("ok");
        let policies = &rules[0].policies;
        assert_eq!(policies[0].action, Action::Block);
        assert_eq!(policies[0].types, [RecordType::A]);
        assert_eq!(
            policies[0].nets,
            [
                "192.168.0.0/16".parse::<IpNet>().expect("net"),
                "10.0.0.1/32".parse().expect("net")
            ]
        );
        assert_eq!(
            policies[1].nets,
            ["2001:db8::1/128".parse::<IpNet>().expect("net")]
        );
        assert!(policies[1].types.is_empty());
        assert_eq!(policies[2].nets, everywhere());
        assert_eq!((policies[3].action, policies[3].nets.len()), (Action::Drop, 2));
        let cases = [
            (
                "acl {\n deny net *\n}",
                "unexpected token \"deny\"; expect 'allow', 'block', 'filter' or 'drop'",
            ),
            (
                "acl {\n block foo\n}",
                "unexpected token \"foo\"; expect 'type | net'",
            ),
            ("acl {\n block type\n}", "no token specified in \"type\" section"),
            (
                "acl {\n block type XYZ\n}",
                "unexpected token \"XYZ\"; expect legal QTYPE",
            ),
            (
                "acl {\n block net 10.0.0.300\n}",
                "illegal CIDR notation \"10.0.0.300/32\"",
            ),
        ];
        for (input, want) in cases {
            let e = p(input).expect_err(input);
            assert!(e.contains(want), "{input}: {e}");
        }
    }
}
