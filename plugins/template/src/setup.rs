//! `template CLASS TYPE [ZONE...] { match REGEX...; answer RR...; additional RR...; authority
//! RR...; rcode CODE; ederror CODE [REASON]; fallthrough [ZONE...]; upstream }`, as CoreDNS
//! 1.11.3 parses it, each `template` line one template, tried in order.

use std::str::FromStr;
use std::sync::Arc;

use clusterdns_plugin::proto::op::ResponseCode;
use clusterdns_plugin::proto::rr::{DNSClass, RecordType};
use clusterdns_plugin::response::rcode_from_str;
use clusterdns_plugin::{Dispenser, Fallthrough, Setup, SetupError, Zones};
use regex::Regex;

use crate::render::{RecordTemplate, compile};
use crate::template::Template;

/// One template.
#[derive(Debug)]
pub struct Config {
    pub class: DNSClass,
    pub rtype: RecordType,
    pub zones: Zones,
    /// At least one: `.*` when none is given.
    pub regex: Vec<Regex>,
    pub answer: Vec<RecordTemplate>,
    pub additional: Vec<RecordTemplate>,
    pub authority: Vec<RecordTemplate>,
    pub rcode: ResponseCode,
    /// An extended DNS error (RFC 8914) code and text for the reply.
    pub ederror: Option<(u16, String)>,
    pub fallthrough: Fallthrough,
}

/// Sets up `template`: every template of the block in one handler.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let zones = s.block.zones.clone();
    let templates = parse(s.dispenser(), &zones)?;
    s.add_handler(Arc::new(Template::new(templates)));
    Ok(())
}

/// Every template of the block; `block_zones` are the default zones.
pub fn parse(d: &mut Dispenser, block_zones: &[String]) -> Result<Vec<Config>, SetupError> {
    let mut templates = Vec::new();
    let any_name = Regex::new(".*").map_err(|e| SetupError::Other(e.to_string()))?;
    while d.next() {
        if !d.next_arg() {
            return Err(d.arg_err().into());
        }
        // miekg's StringToClass and StringToType: upper case names only.
        let class = match DNSClass::from_str(d.val()) {
            Ok(c) if d.val().bytes().all(|b| !b.is_ascii_lowercase()) => c,
            _ => return Err(d.err(format!("invalid query class {}", d.val())).into()),
        };
        if !d.next_arg() {
            return Err(d.arg_err().into());
        }
        let rtype = match RecordType::from_str(d.val()) {
            Ok(RecordType::Unknown(_)) | Err(_) => {
                return Err(d.err(format!("invalid RR class {}", d.val())).into());
            }
            Ok(_) if d.val().bytes().any(|b| b.is_ascii_lowercase()) => {
                return Err(d.err(format!("invalid RR class {}", d.val())).into());
            }
            Ok(t) => t,
        };
        let args = d.remaining_args();
        let zones = if args.is_empty() {
            Zones::parse(block_zones)
        } else {
            Zones::parse(&args)
        }
        .map_err(SetupError::Other)?;
        let mut t = Config {
            class,
            rtype,
            zones,
            regex: Vec::new(),
            answer: Vec::new(),
            additional: Vec::new(),
            authority: Vec::new(),
            rcode: ResponseCode::NoError,
            ederror: None,
            fallthrough: Fallthrough::default(),
        };
        while d.next_block() {
            let property = d.val().to_string();
            match property.as_str() {
                "match" => {
                    let args = d.remaining_args();
                    if args.is_empty() {
                        return Err(d.arg_err().into());
                    }
                    for pattern in args {
                        let re = Regex::new(&pattern)
                            .map_err(|e| d.err(format!("could not parse regex: {pattern}, {e}")))?;
                        t.regex.push(re);
                    }
                }
                "answer" | "additional" | "authority" => {
                    let args = d.remaining_args();
                    if args.is_empty() {
                        return Err(d.arg_err().into());
                    }
                    for text in args {
                        let compiled = compile(&text)
                            .map_err(|e| d.err(format!("could not compile template: {property}, {e}")))?;
                        match property.as_str() {
                            "answer" => t.answer.push(compiled),
                            "additional" => t.additional.push(compiled),
                            _ => t.authority.push(compiled),
                        }
                    }
                }
                "rcode" => {
                    if !d.next_arg() {
                        return Err(d.arg_err().into());
                    }
                    // miekg's StringToRcode: names only, upper case.
                    let name = d.val().to_string();
                    t.rcode = rcode_from_str(&name)
                        .filter(|_| {
                            name.parse::<u16>().is_err() && !name.bytes().any(|b| b.is_ascii_lowercase())
                        })
                        .ok_or_else(|| d.err(format!("unknown rcode {name}")))?;
                }
                "ederror" => {
                    let args = d.remaining_args();
                    if args.is_empty() || args.len() > 2 {
                        return Err(d.arg_err().into());
                    }
                    let code = args[0].parse::<u16>().map_err(|_| {
                        d.err(format!(
                            "error parsing extended DNS error code {}, strconv.ParseUint: parsing {:?}: invalid syntax",
                            args[0], args[0]
                        ))
                    })?;
                    t.ederror = Some((code, args.get(1).cloned().unwrap_or_default()));
                }
                "fallthrough" => {
                    t.fallthrough = Fallthrough::from_args(&d.remaining_args()).map_err(SetupError::Other)?;
                }
                // Always on: answers' CNAME targets are resolved through the server.
                "upstream" => {
                    d.remaining_args();
                }
                _ => return Err(d.arg_err().into()),
            }
        }
        if t.regex.is_empty() {
            t.regex.push(any_name.clone());
        }
        templates.push(t);
    }
    Ok(templates)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(input: &str) -> Result<Vec<Config>, String> {
        parse(&mut Dispenser::from_text(input), &[".".to_string()]).map_err(|e| e.to_string())
    }

    #[test]
    fn parse_table() {
        // AKS's default Corefile.
        let ts = p("template ANY ANY internal.cloudapp.net {\n match \"^(?:[^.]+\\.){4,}internal\\.cloudapp\\.net\\.$\"\n rcode NXDOMAIN\n fallthrough\n}\ntemplate ANY ANY reddog.microsoft.com {\n rcode NXDOMAIN\n}")
            .expect("ok");
        assert_eq!(ts.len(), 2);
        assert_eq!(
            (ts[0].class, ts[0].rtype, ts[0].rcode),
            (DNSClass::ANY, RecordType::ANY, ResponseCode::NXDomain)
        );
        assert!(ts[0].fallthrough.is_on() && !ts[1].fallthrough.is_on());
        assert_eq!(ts[1].regex[0].as_str(), ".*");
        let t = &p("template IN A example {\n match (?P<a>[0-9]+)\\.example\n answer \"{{ .Name }} 60 IN A 10.0.0.{{ .Group.a }}\"\n additional \"ns.example. 60 IN A 10.0.0.1\"\n authority \"example. 60 IN NS ns.example.\"\n ederror 15 \"blocked\"\n upstream\n}")
            .expect("ok")[0];
        assert_eq!((t.answer.len(), t.additional.len(), t.authority.len()), (1, 1, 1));
        assert_eq!(t.ederror, Some((15, "blocked".to_string())));
        let cases = [
            ("template", "Wrong argument count"),
            ("template IN", "Wrong argument count"),
            ("template in A", "invalid query class in"),
            ("template IN XYZ", "invalid RR class XYZ"),
            ("template IN A {\n match (\n}", "could not parse regex: ("),
            (
                "template IN A {\n answer \"{{ .Name \"\n}",
                "could not compile template: answer",
            ),
            ("template IN A {\n rcode nope\n}", "unknown rcode nope"),
            ("template IN A {\n ederror\n}", "Wrong argument count"),
            (
                "template IN A {\n ederror x\n}",
                "error parsing extended DNS error code x",
            ),
            ("template IN A {\n bogus\n}", "Wrong argument count"),
        ];
        for (input, want) in cases {
            let e = p(input).expect_err(input);
            assert!(e.contains(want), "{input}: {e}");
        }
    }
}
