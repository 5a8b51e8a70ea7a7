//! `edns0 local|nsid|subnet set|append|replace|unset ... [revert]`: options added to, changed
//! in or removed from the query's OPT record before it goes on (to an upstream), as CoreDNS's
//! (`unset` and `revert` from 1.12.3).

use std::net::IpAddr;

use clusterdns_plugin::Request;
use clusterdns_plugin::Transport;
use clusterdns_plugin::proto::op::Edns;
use clusterdns_plugin::proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption, NSIDPayload};

use crate::rules::ResponseRule;

/// What to do with the option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Replace the option if present, else add it.
    Set,
    /// Add the option only if it is not there.
    Append,
    /// Change the option only if it is there.
    Replace,
    /// Remove the option (CoreDNS 1.12.3).
    Unset,
}

/// Per-query values a `local` option may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variable {
    Qname,
    Qtype,
    ClientIp,
    ClientPort,
    Protocol,
    ServerIp,
    ServerPort,
}

/// The option a rule writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Option_ {
    Local { code: u16, data: Vec<u8> },
    Variable { code: u16, variable: Variable },
    Nsid,
    Subnet { v4: u8, v6: u8 },
}

/// One `edns0` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edns0Rule {
    pub action: Action,
    pub option: Option_,
    /// `revert` (1.12.3): the reply's option goes back to what the query had (removed if the
    /// rule added it).
    pub revert: bool,
}

impl Edns0Rule {
    /// Parses `TYPE ACTION ARGS...` with CoreDNS's error texts.
    pub fn new(args: &[String]) -> Result<Self, String> {
        let [kind, action, rest @ ..] = args else {
            return Err("too few arguments for an EDNS0 rule".into());
        };
        let action = match action.to_ascii_lowercase().as_str() {
            "set" => Action::Set,
            "append" => Action::Append,
            "replace" => Action::Replace,
            "unset" => return Self::unset(kind, rest),
            _ => return Err(format!("invalid action: {action:?}")),
        };
        let (rest, revert) = match rest.split_last() {
            Some((last, before)) if last == "revert" => (before, true),
            _ => (rest, false),
        };
        let option = match kind.to_ascii_lowercase().as_str() {
            "local" => {
                let [code, data] = rest else {
                    return Err("EDNS0 local rules require exactly three args".into());
                };
                let code = parse_code(code)?;
                if data.starts_with('{') && data.ends_with('}') {
                    let variable = match data.as_str() {
                        "{qname}" => Variable::Qname,
                        "{qtype}" => Variable::Qtype,
                        "{client_ip}" => Variable::ClientIp,
                        "{client_port}" => Variable::ClientPort,
                        "{protocol}" => Variable::Protocol,
                        "{server_ip}" => Variable::ServerIp,
                        "{server_port}" => Variable::ServerPort,
                        _ => return Err(format!("unsupported variable name {data:?}")),
                    };
                    Option_::Variable { code, variable }
                } else {
                    Option_::Local {
                        code,
                        data: parse_data(data)?,
                    }
                }
            }
            "nsid" => {
                if !rest.is_empty() {
                    return Err("EDNS0 NSID rules do not accept args".into());
                }
                Option_::Nsid
            }
            "subnet" => {
                let [v4, v6] = rest else {
                    return Err("EDNS0 subnet rules require exactly three args".into());
                };
                let v4 = v4
                    .parse::<u8>()
                    .ok()
                    .filter(|m| *m <= 32)
                    .ok_or_else(|| format!("invalid IPv4 bit mask {v4:?}"))?;
                let v6 = v6
                    .parse::<u8>()
                    .ok()
                    .filter(|m| *m <= 128)
                    .ok_or_else(|| format!("invalid IPv6 bit mask {v6:?}"))?;
                Option_::Subnet { v4, v6 }
            }
            _ => return Err(format!("invalid rule type {kind:?}")),
        };
        Ok(Edns0Rule {
            action,
            option,
            revert,
        })
    }

    /// `TYPE unset ARGS`: which option to remove, with CoreDNS's `newEdns0UnsetRule` texts.
    fn unset(kind: &str, rest: &[String]) -> Result<Self, String> {
        let option = match (kind.to_ascii_lowercase().as_str(), rest) {
            ("local", [code]) => Option_::Local {
                code: parse_code(code)?,
                data: Vec::new(),
            },
            ("local", _) => return Err("local unset action requires exactly two arguments".into()),
            ("nsid", []) => Option_::Nsid,
            ("nsid", _) => return Err("nsid unset action requires exactly one argument".into()),
            ("subnet", []) => Option_::Subnet { v4: 0, v6: 0 },
            ("subnet", _) => return Err("subnet unset action requires exactly one argument".into()),
            _ => return Err(format!("invalid rule type {kind:?}")),
        };
        Ok(Edns0Rule {
            action: Action::Unset,
            option,
            revert: false,
        })
    }

    /// The option code the rule acts on.
    fn code(&self) -> EdnsCode {
        match &self.option {
            Option_::Local { code, .. } | Option_::Variable { code, .. } => EdnsCode::from(*code),
            Option_::Nsid => EdnsCode::NSID,
            Option_::Subnet { .. } => EdnsCode::Subnet,
        }
    }

    /// Applies the rule to the query's OPT (added, 4096 bytes, if the query had none, as
    /// CoreDNS's `setupEdns0Opt`). `Some` when the rule "matched" (an unset always does), with
    /// what `revert` does to the reply.
    pub fn apply(&self, req: &mut Request) -> Option<Vec<ResponseRule>> {
        let code = self.code();
        let option = (self.action != Action::Unset).then(|| self.value(req));
        let edns = req.edns.get_or_insert_with(|| {
            let mut e = Edns::new();
            e.set_max_payload(4096);
            e
        });
        let options = &mut edns.options_mut().options;
        let Some(option) = option else {
            options.retain(|(c, _)| *c != code);
            return Some(Vec::new());
        };
        if let Some(existing) = options.iter_mut().find(|(c, _)| *c == code) {
            if self.action == Action::Append {
                return None;
            }
            let old = std::mem::replace(&mut existing.1, option);
            return Some(if self.revert {
                vec![ResponseRule::EdnsRestore(code, old)]
            } else {
                Vec::new()
            });
        }
        if self.action == Action::Replace {
            return None;
        }
        options.push((code, option));
        Some(if self.revert {
            vec![ResponseRule::EdnsRemove(code)]
        } else {
            Vec::new()
        })
    }

    fn value(&self, req: &Request) -> EdnsOption {
        match &self.option {
            Option_::Local { code, data } => EdnsOption::Unknown(*code, data.clone()),
            Option_::Variable { code, variable } => {
                EdnsOption::Unknown(*code, variable_bytes(*variable, req))
            }
            Option_::Nsid => {
                EdnsOption::NSID(NSIDPayload::new(Vec::new()).unwrap_or_else(|_| unreachable!("empty NSID")))
            }
            Option_::Subnet { v4, v6 } => {
                let ip = req.client.ip();
                let prefix = if ip.is_ipv4() { *v4 } else { *v6 };
                let net = ipnet_of(ip, prefix);
                EdnsOption::Subnet(ClientSubnet::new(net, prefix, 0))
            }
        }
    }
}

/// The client address with the bits past `prefix` cleared.
fn ipnet_of(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4) & u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(bits.into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(bits.into())
        }
    }
}

fn variable_bytes(variable: Variable, req: &Request) -> Vec<u8> {
    let ip_bytes = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    match variable {
        Variable::Qname => req.qname().to_ascii().into_bytes(),
        Variable::Qtype => u16::from(req.qtype()).to_be_bytes().to_vec(),
        Variable::ClientIp => ip_bytes(req.client.ip()),
        Variable::ClientPort => req.client.port().to_be_bytes().to_vec(),
        Variable::Protocol => match req.transport {
            Transport::Udp => b"udp".to_vec(),
            Transport::Tcp => b"tcp".to_vec(),
        },
        Variable::ServerIp => ip_bytes(req.local.ip()),
        Variable::ServerPort => req.local.port().to_be_bytes().to_vec(),
    }
}

/// An option code: decimal, or hex with `0x` (Go's `ParseUint(s, 0, 16)`).
fn parse_code(s: &str) -> Result<u16, String> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|_| format!("strconv.ParseUint: parsing {s:?}: invalid syntax"))
}

/// Option data: hex bytes after `0x`, else the text's bytes.
fn parse_data(s: &str) -> Result<Vec<u8>, String> {
    let Some(hex) = s.strip_prefix("0x") else {
        return Ok(s.as_bytes().to_vec());
    };
    if hex.len() % 2 != 0 {
        return Err(format!("encoding/hex: odd length hex string: {hex:?}"));
    }
    // By bytes: text after `0x` need not be ASCII (fuzzing found a slice inside a character).
    let digit = |b: u8| char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok());
    hex.as_bytes()
        .chunks(2)
        .map(|pair| {
            let byte = match pair {
                [hi, lo] => digit(*hi).zip(digit(*lo)).map(|(h, l)| h << 4 | l),
                _ => None,
            };
            byte.ok_or_else(|| format!("encoding/hex: invalid byte in {hex:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use clusterdns_plugin::proto::rr::RecordType;

    use super::*;

    fn rule(s: &str) -> Result<Edns0Rule, String> {
        Edns0Rule::new(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    fn options(req: &Request) -> Vec<(u16, EdnsOption)> {
        req.edns.as_ref().map_or(vec![], |e| {
            e.options()
                .options
                .iter()
                .map(|(c, o)| (u16::from(*c), o.clone()))
                .collect()
        })
    }

    /// Found by fuzzing: text after `0x` with a multi-byte character made a slice panic.
    #[test]
    fn hex_data_is_read_by_bytes() {
        assert_eq!(parse_data("0x616263"), Ok(b"abc".to_vec()));
        assert_eq!(parse_data("plain"), Ok(b"plain".to_vec()));
        assert!(parse_data("0x61\u{b1}6").is_err());
        assert!(parse_data("0x6\u{e9}").is_err());
        assert!(parse_data("0x616").is_err());
    }

    #[test]
    fn parse_table() {
        assert_eq!(
            rule("local set 0xffee 0xabcd"),
            Ok(Edns0Rule {
                action: Action::Set,
                revert: false,
                option: Option_::Local {
                    code: 0xffee,
                    data: vec![0xab, 0xcd]
                }
            })
        );
        assert_eq!(
            rule("local append 65500 hello"),
            Ok(Edns0Rule {
                action: Action::Append,
                revert: false,
                option: Option_::Local {
                    code: 65500,
                    data: b"hello".to_vec()
                }
            })
        );
        assert_eq!(
            rule("local replace 0xffee {client_ip}"),
            Ok(Edns0Rule {
                action: Action::Replace,
                revert: false,
                option: Option_::Variable {
                    code: 0xffee,
                    variable: Variable::ClientIp
                }
            })
        );
        assert_eq!(
            rule("nsid set"),
            Ok(Edns0Rule {
                action: Action::Set,
                revert: false,
                option: Option_::Nsid
            })
        );
        assert_eq!(
            rule("subnet set 24 56"),
            Ok(Edns0Rule {
                action: Action::Set,
                revert: false,
                option: Option_::Subnet { v4: 24, v6: 56 }
            })
        );
        let errors = [
            ("local", "too few arguments for an EDNS0 rule"),
            ("local delete 1 x", "invalid action: \"delete\""),
            ("local set 1", "EDNS0 local rules require exactly three args"),
            (
                "local set x y",
                "strconv.ParseUint: parsing \"x\": invalid syntax",
            ),
            ("local set 1 0xabc", "odd length hex string"),
            ("local set 1 {nope}", "unsupported variable name \"{nope}\""),
            ("nsid set x", "EDNS0 NSID rules do not accept args"),
            ("subnet set 24", "EDNS0 subnet rules require exactly three args"),
            ("subnet set 33 56", "invalid IPv4 bit mask \"33\""),
            ("subnet set 24 129", "invalid IPv6 bit mask \"129\""),
            ("cookie set 1 2", "invalid rule type \"cookie\""),
            ("local unset", "local unset action requires exactly two arguments"),
            ("nsid unset x", "nsid unset action requires exactly one argument"),
            (
                "subnet unset 24 56",
                "subnet unset action requires exactly one argument",
            ),
            (
                "local set 1 x y revert",
                "EDNS0 local rules require exactly three args",
            ),
        ];
        // `revert` after the arguments (1.12.3), `unset` with the option's identity only.
        assert_eq!(rule("local set 0xffee abcd revert").map(|r| r.revert), Ok(true));
        assert_eq!(rule("nsid append revert").map(|r| r.revert), Ok(true));
        assert_eq!(
            rule("subnet unset").map(|r| (r.action, r.option)),
            Ok((Action::Unset, Option_::Subnet { v4: 0, v6: 0 }))
        );
        assert_eq!(rule("local unset 0xffee").map(|r| r.action), Ok(Action::Unset));
        for (input, want) in errors {
            assert!(rule(input).expect_err(input).contains(want), "{input}");
        }
    }

    #[test]
    fn actions_on_the_query() {
        let mut req = testkit::request("a.example.", RecordType::A);
        // Set on a query without OPT adds one (4096) with the option.
        assert!(
            rule("local set 0xffee 0x01")
                .expect("rule")
                .apply(&mut req)
                .is_some()
        );
        assert_eq!(req.edns.as_ref().map(Edns::max_payload), Some(4096));
        assert_eq!(
            options(&req),
            vec![(0xffee, EdnsOption::Unknown(0xffee, vec![1]))]
        );
        // Append leaves an existing option alone; replace changes it.
        assert!(
            rule("local append 0xffee 0x02")
                .expect("rule")
                .apply(&mut req)
                .is_none()
        );
        assert!(
            rule("local replace 0xffee 0x03")
                .expect("rule")
                .apply(&mut req)
                .is_some()
        );
        assert_eq!(
            options(&req),
            vec![(0xffee, EdnsOption::Unknown(0xffee, vec![3]))]
        );
        // Replace does nothing when the option is missing.
        assert!(
            rule("local replace 0x1 0x03")
                .expect("rule")
                .apply(&mut req)
                .is_none()
        );
        // Variables: the client is 10.0.0.99:40000 in testkit's requests.
        assert!(
            rule("local set 0xfff0 {client_ip}")
                .expect("rule")
                .apply(&mut req)
                .is_some()
        );
        assert!(
            rule("local set 0xfff1 {client_port}")
                .expect("rule")
                .apply(&mut req)
                .is_some()
        );
        assert!(
            rule("local set 0xfff2 {qname}")
                .expect("rule")
                .apply(&mut req)
                .is_some()
        );
        let opts = options(&req);
        assert!(opts.contains(&(0xfff0, EdnsOption::Unknown(0xfff0, vec![10, 0, 0, 99]))));
        assert!(opts.contains(&(
            0xfff1,
            EdnsOption::Unknown(0xfff1, 40000u16.to_be_bytes().to_vec())
        )));
        assert!(opts.contains(&(0xfff2, EdnsOption::Unknown(0xfff2, b"a.example.".to_vec()))));
        // Subnet from the client address, masked.
        assert!(rule("subnet set 24 56").expect("rule").apply(&mut req).is_some());
        let subnet = options(&req).into_iter().find(|(c, _)| *c == 8).map(|(_, o)| o);
        assert_eq!(
            subnet,
            Some(EdnsOption::Subnet(ClientSubnet::new(
                "10.0.0.0".parse().expect("ip"),
                24,
                0
            )))
        );
    }
}
