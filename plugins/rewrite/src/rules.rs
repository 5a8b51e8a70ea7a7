//! Rewrite rules from their Corefile arguments, as CoreDNS's `newRule` and friends.

use std::str::FromStr;

use clusterdns_plugin::proto::op::ResponseCode;
use clusterdns_plugin::proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use clusterdns_plugin::proto::rr::{DNSClass, RecordType};
use clusterdns_plugin::response::rcode_from_str;

use crate::edns0::Edns0Rule;
use crate::names::{Matcher, StringRewriter, check_groups, compile, normalize};

/// What happens after a rule matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No later rule is looked at (the default).
    Stop,
    /// Later rules see the rewritten query.
    Continue,
}

/// One rule: its mode and what it does.
#[derive(Debug, Clone)]
pub struct Rule {
    pub mode: Mode,
    pub kind: Kind,
}

/// A rule's effect.
#[derive(Debug, Clone)]
pub enum Kind {
    /// Rewrites the question name; `answers` rewrite the reply (`auto` derives them).
    Name {
        matcher: Matcher,
        to: String,
        auto: bool,
        answers: Vec<ResponseRule>,
    },
    Type {
        from: RecordType,
        to: RecordType,
    },
    Class {
        from: DNSClass,
        to: DNSClass,
    },
    /// Clamps the reply's TTLs for matching names.
    Ttl {
        matcher: Matcher,
        min: u32,
        max: u32,
    },
    /// Changes the reply's rcode for matching names.
    Rcode {
        matcher: Matcher,
        from: ResponseCode,
        to: ResponseCode,
    },
    Edns0(Edns0Rule),
    /// Retargets the reply's CNAMEs and answers for the new target (`cname`).
    Cname(StringRewriter),
}

/// A change to the reply, applied to each of its records (last matched rule first).
#[derive(Debug, Clone)]
pub enum ResponseRule {
    /// Owner names.
    Owner(StringRewriter),
    /// Names inside CNAME, DNAME, SRV, MX, NS, PTR, NAPTR and SOA (MNAME) data.
    Value(StringRewriter),
    Ttl {
        min: u32,
        max: u32,
    },
    Rcode {
        from: ResponseCode,
        to: ResponseCode,
    },
    /// A CNAME target matching the rewriter: every CNAME of the answer points to the new
    /// target, whose records are looked up through the server (CoreDNS's `cnameTargetRule`).
    Cname(StringRewriter),
    /// `edns0 ... revert` of an option the rule added: removed from the reply's OPT.
    EdnsRemove(EdnsCode),
    /// `edns0 ... revert` of an option the rule changed: the query's old value in the reply.
    EdnsRestore(EdnsCode, EdnsOption),
}

/// Builds a rule from a directive's arguments (`[continue|stop] FIELD ...`).
pub fn new_rule(args: &[String]) -> Result<Rule, String> {
    let Some(first) = args.first() else {
        return Err("no rule type specified for rewrite".into());
    };
    let (mode, rest) = match first.to_ascii_lowercase().as_str() {
        "continue" if args.len() < 2 => return Err("continue rule must begin with a rule type".into()),
        "stop" if args.len() < 2 => return Err("stop rule must begin with a rule type".into()),
        "continue" => (Mode::Continue, &args[1..]),
        "stop" => (Mode::Stop, &args[1..]),
        _ => (Mode::Stop, args),
    };
    let field = rest[0].to_ascii_lowercase();
    let params = &rest[1..];
    let kind = match field.as_str() {
        "answer" => return Err("response rewrites must begin with a name rule".into()),
        "name" => name_rule(params)?,
        "class" => {
            let [from, to] = params else {
                return Err("class rules must have exactly two arguments".into());
            };
            let class = |s: &String| {
                DNSClass::from_str(&s.to_ascii_uppercase()).map_err(|_| format!("invalid class {s:?}"))
            };
            Kind::Class {
                from: class(from)?,
                to: class(to)?,
            }
        }
        "type" => {
            let [from, to] = params else {
                return Err("type rules must have exactly two arguments".into());
            };
            let rtype = |s: &String| match RecordType::from_str(&s.to_ascii_uppercase()) {
                Ok(RecordType::Unknown(_)) | Err(_) => {
                    Err(format!("invalid type {:?}", s.to_ascii_uppercase()))
                }
                Ok(t) => Ok(t),
            };
            Kind::Type {
                from: rtype(from)?,
                to: rtype(to)?,
            }
        }
        "ttl" => ttl_rule(params)?,
        "rcode" => rcode_rule(params)?,
        "edns0" => Kind::Edns0(Edns0Rule::new(params)?),
        "cname" => Kind::Cname(cname_rule(params)?),
        _ => return Err(format!("invalid rule type {:?}", rest[0])),
    };
    Ok(Rule { mode, kind })
}

/// CoreDNS's `newCNAMERule`: `[TYPE] FROM TO`, both lower-cased as given (not normalized: a
/// CNAME target is compared as written, trailing dot included). A regex is checked here, where
/// CoreDNS 1.11.3 compiles it on each reply and panics on a bad one.
fn cname_rule(args: &[String]) -> Result<StringRewriter, String> {
    let (kind, from, to) = match args {
        [from, to] => ("exact".to_string(), from, to),
        [kind, from, to] => (kind.to_ascii_lowercase(), from, to),
        _ => return Err(format!("too few ({}) arguments for a cname rule", args.len())),
    };
    let (from, to) = (from.to_ascii_lowercase(), to.to_ascii_lowercase());
    Ok(match kind.as_str() {
        "exact" => StringRewriter::Exact { from, to },
        "prefix" => StringRewriter::Prefix { from, to },
        "suffix" => StringRewriter::Suffix { from, to },
        "substring" => StringRewriter::Substring { from, to },
        "regex" => StringRewriter::Regex {
            from: compile(&from)?,
            to,
        },
        other => return Err(format!("unknown cname rewrite type: {other}")),
    })
}

fn name_rule(args: &[String]) -> Result<Kind, String> {
    let (kind, from, to) = match args {
        [] | [_] => return Err("too few arguments for a name rule".into()),
        [from, to] => ("exact".to_string(), from.as_str(), to.as_str()),
        [kind, from, to, ..] => (kind.to_ascii_lowercase(), from.as_str(), to.as_str()),
    };
    if !["exact", "prefix", "suffix", "substring", "regex"].contains(&kind.as_str()) {
        return Err(format!(
            "name rule supports only exact, prefix, suffix, substring, and regex name matching, received: {kind}"
        ));
    }
    let matcher = Matcher::new(&kind, from)?;
    if let Matcher::Regex(re) = &matcher {
        check_groups(re, to)?;
    }
    let to = normalize(to);
    let (auto, answers) = if args.len() > 3 {
        answer_rules(&kind, &args[3..])?
    } else {
        (false, Vec::new())
    };
    Ok(Kind::Name {
        matcher,
        to,
        auto,
        answers,
    })
}

/// CoreDNS's `parseAnswerRules`: `answer auto`, `answer name FROM TO`, `answer value FROM TO`.
fn answer_rules(rule: &str, args: &[String]) -> Result<(bool, Vec<ResponseRule>), String> {
    if args.len() < 2 {
        return Err(format!("invalid arguments for {rule} rule"));
    }
    let (mut auto, mut rules, mut names) = (false, Vec::new(), 0);
    let mut i = 0;
    while i < args.len() {
        if args[i] != "answer" {
            return Err(format!(
                "exceeded the number of arguments for a non-answer rule argument for {rule} rule"
            ));
        }
        i += 1;
        let Some(what) = args.get(i) else {
            return Err(format!("type missing for answer rule for {rule} rule"));
        };
        i += 1;
        match what.as_str() {
            "auto" => auto = true,
            "name" | "value" => {
                let (Some(from), Some(to)) = (args.get(i), args.get(i + 1)) else {
                    return Err(format!(
                        "{what} answer rule for {rule} rule: 2 arguments required"
                    ));
                };
                let re = compile(from).map_err(|e| format!("{what} answer rule for {rule} rule: {e}"))?;
                check_groups(&re, to).map_err(|e| format!("{what} answer rule for {rule} rule: {e}"))?;
                let rewriter = StringRewriter::Regex {
                    from: re,
                    to: normalize(to),
                };
                if what == "name" {
                    names += 1;
                    rules.push(ResponseRule::Owner(rewriter));
                } else {
                    rules.push(ResponseRule::Value(rewriter));
                }
                i += 2;
            }
            other => return Err(format!("invalid type {other:?} for answer rule for {rule} rule")),
        }
    }
    if auto && names > 0 {
        return Err("auto name answer rule cannot be combined with explicit name anwer rules".into());
    }
    Ok((auto, rules))
}

fn ttl_rule(args: &[String]) -> Result<Kind, String> {
    let (kind, name, value) = match args {
        [name, value] => ("exact".to_string(), name, value),
        [kind, name, value] => (kind.to_ascii_lowercase(), name, value),
        [] | [_] => {
            return Err(format!(
                "invalid TTL '{}' for a ttl rule",
                args.get(1).map_or("", String::as_str)
            ));
        }
        _ => return Err("many few arguments for a ttl rule".into()),
    };
    let (min, max) = parse_ttl(value).ok_or_else(|| format!("invalid TTL '{value}' for a ttl rule"))?;
    let matcher = match Matcher::new(&kind, name) {
        Ok(m) => m,
        Err(_) if kind == "regex" => return Err(format!("invalid regex pattern in a ttl rule: {name}")),
        Err(_) => {
            return Err(
                "ttl rule supports only exact, prefix, suffix, substring, and regex name matching".into(),
            );
        }
    };
    Ok(Kind::Ttl { matcher, min, max })
}

/// `S`, `MIN-MAX`, `-MAX` or `MIN-` (CoreDNS's `isValidTTL`).
fn parse_ttl(v: &str) -> Option<(u32, u32)> {
    match v.split_once('-') {
        None => v.parse().ok().map(|t| (t, t)),
        Some(("", "")) => None,
        Some((min, max)) => {
            let min = if min.is_empty() { 0 } else { min.parse().ok()? };
            let max = if max.is_empty() {
                u32::MAX
            } else {
                max.parse().ok()?
            };
            (min <= max).then_some((min, max))
        }
    }
}

fn rcode_rule(args: &[String]) -> Result<Kind, String> {
    let (kind, name, from, to) = match args {
        [name, from, to] => ("exact".to_string(), name, from, to),
        [kind, name, from, to] => (kind.to_ascii_lowercase(), name, from, to),
        _ => return Err("rcode rules must have exactly three or four arguments".into()),
    };
    let rcode = |s: &String| rcode_from_str(s).ok_or_else(|| format!("invalid rcode {s:?}"));
    let matcher = Matcher::new(&kind, name).map_err(|_| {
        "rcode rule supports only exact, prefix, suffix, substring, and regex name matching".to_string()
    })?;
    Ok(Kind::Rcode {
        matcher,
        from: rcode(from)?,
        to: rcode(to)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> Result<Rule, String> {
        new_rule(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn rules_table() {
        assert!(matches!(
            rule("name a.example. b.example.").map(|r| r.mode),
            Ok(Mode::Stop)
        ));
        assert!(matches!(
            rule("continue name a. b.").map(|r| r.mode),
            Ok(Mode::Continue)
        ));
        assert!(matches!(
            rule("type ANY HINFO").map(|r| r.kind),
            Ok(Kind::Type {
                from: RecordType::ANY,
                to: RecordType::HINFO
            })
        ));
        assert!(matches!(
            rule("class CH IN").map(|r| r.kind),
            Ok(Kind::Class {
                from: DNSClass::CH,
                to: DNSClass::IN
            })
        ));
        assert!(matches!(
            rule("ttl example.org. 10-60").map(|r| r.kind),
            Ok(Kind::Ttl { min: 10, max: 60, .. })
        ));
        assert!(matches!(
            rule("ttl regex .* -60").map(|r| r.kind),
            Ok(Kind::Ttl { min: 0, max: 60, .. })
        ));
        assert!(matches!(
            rule("ttl a. 5-").map(|r| r.kind),
            Ok(Kind::Ttl {
                min: 5,
                max: u32::MAX,
                ..
            })
        ));
        assert!(matches!(
            rule("rcode suffix example.org. REFUSED NXDOMAIN").map(|r| r.kind),
            Ok(Kind::Rcode {
                from: ResponseCode::Refused,
                to: ResponseCode::NXDomain,
                ..
            })
        ));
        let Ok(Rule {
            kind: Kind::Name { auto, answers, .. },
            ..
        }) = rule(
            r"name regex (.*)\.my\.domain\. {1}.svc. answer name (.*)\.svc\. {1}.my.domain. answer value (.*)\.svc\. {1}.my.domain.",
        )
        else {
            panic!("name rule with answers")
        };
        assert!(!auto);
        assert!(matches!(
            answers.as_slice(),
            [ResponseRule::Owner(_), ResponseRule::Value(_)]
        ));
        assert!(matches!(
            rule("name suffix a. b. answer auto").map(|r| r.kind),
            Ok(Kind::Name { auto: true, .. })
        ));
    }

    #[test]
    fn errors_table() {
        let cases = [
            ("", "no rule type specified for rewrite"),
            ("continue", "continue rule must begin with a rule type"),
            ("stop", "stop rule must begin with a rule type"),
            ("answer name a b", "response rewrites must begin with a name rule"),
            ("name a", "too few arguments for a name rule"),
            (
                "name fuzzy a b",
                "name rule supports only exact, prefix, suffix, substring, and regex name matching, received: fuzzy",
            ),
            ("name regex ( b", "invalid regex matching pattern: ("),
            ("name regex (a) {2}", "references group 2 which does not exist"),
            ("name suffix a b answer", "invalid arguments for suffix rule"),
            (
                "name suffix a b extra x",
                "exceeded the number of arguments for a non-answer rule argument for suffix rule",
            ),
            (
                "name suffix a b answer other x",
                "invalid type \"other\" for answer rule for suffix rule",
            ),
            (
                "name suffix a b answer name x",
                "name answer rule for suffix rule: 2 arguments required",
            ),
            (
                "name suffix a b answer auto answer name x y",
                "auto name answer rule cannot be combined with explicit name anwer rules",
            ),
            ("type ANY", "type rules must have exactly two arguments"),
            ("type ANY BOGUS", "invalid type \"BOGUS\""),
            ("class IN", "class rules must have exactly two arguments"),
            ("class IN XX", "invalid class \"XX\""),
            ("ttl a. 5-1", "invalid TTL '5-1' for a ttl rule"),
            ("ttl a. x", "invalid TTL 'x' for a ttl rule"),
            ("ttl a.", "invalid TTL '' for a ttl rule"),
            (
                "ttl fuzzy a. 5",
                "ttl rule supports only exact, prefix, suffix, substring, and regex name matching",
            ),
            (
                "rcode a. REFUSED",
                "rcode rules must have exactly three or four arguments",
            ),
            ("rcode a. REFUSED NOPE", "invalid rcode \"NOPE\""),
            ("frobnicate a b", "invalid rule type \"frobnicate\""),
            ("cname a.", "too few (1) arguments for a cname rule"),
            ("cname exact a. b. c.", "too few (4) arguments for a cname rule"),
            ("cname fuzzy a. b.", "unknown cname rewrite type: fuzzy"),
            ("cname regex ( b.", "invalid regex matching pattern: ("),
        ];
        for (input, want) in cases {
            let got = rule(input).map(|_| ()).expect_err(input);
            assert!(got.contains(want), "{input:?}\n got: {got}\nwant: {want}");
        }
    }

    #[test]
    fn cname_rules() {
        let target = |input: &str, cname: &str| match rule(input).expect(input).kind {
            Kind::Cname(rw) => rw.rewrite_match(cname),
            _ => None,
        };
        // Lower-cased as given, compared as written.
        assert_eq!(
            target("cname A.Example.NET. b.example.", "a.example.net."),
            Some("b.example.".into())
        );
        assert_eq!(
            target("cname a.example.net. b.example.", "x.a.example.net."),
            None
        );
        assert_eq!(
            target("cname suffix .cdn.net. .other.net.", "app.cdn.net."),
            Some("app.other.net.".into())
        );
        assert_eq!(
            target("cname regex (.*).cdn.net. {1}.other.net.", "app.cdn.net."),
            Some("app.other.net.".into())
        );
        assert!(matches!(
            rule("continue cname a. b.").expect("rule").mode,
            Mode::Continue
        ));
    }

    #[test]
    fn ttl_values() {
        assert_eq!(parse_ttl("30"), Some((30, 30)));
        assert_eq!(parse_ttl("10-20"), Some((10, 20)));
        assert_eq!(parse_ttl("-20"), Some((0, 20)));
        assert_eq!(parse_ttl("10-"), Some((10, u32::MAX)));
        assert_eq!(parse_ttl("-"), None);
        assert_eq!(parse_ttl("20-10"), None);
    }
}
