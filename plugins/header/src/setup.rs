//! `header { query|response set|clear FLAGS...; ... }`, with CoreDNS 1.11.3's texts: a rule
//! without a selector applies to responses, with a deprecation warning.

use std::sync::Arc;

use clusterdns_plugin::{Dispenser, Setup, SetupError, clog};

use crate::header::{Flag, Header, Rule};

/// Sets up `header`.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let (query, response) = parse(s.dispenser())?;
    s.add_handler(Arc::new(Header { query, response }));
    Ok(())
}

fn rules(action: &str, flags: &[String]) -> Result<Vec<Rule>, String> {
    if action.is_empty() {
        return Err("no flag action provided".into());
    }
    if flags.is_empty() {
        return Err("invalid length for flags, at least one should be provided".into());
    }
    let set = match action.to_ascii_lowercase().as_str() {
        "set" => true,
        "clear" => false,
        other => return Err(format!("unknown flag action={other}, should be set or clear")),
    };
    flags
        .iter()
        .map(|f| {
            let flag = match f.to_ascii_lowercase().as_str() {
                "aa" => Flag::Authoritative,
                "ra" => Flag::RecursionAvailable,
                "rd" => Flag::RecursionDesired,
                other => return Err(format!("unknown/unsupported flag={other}")),
            };
            Ok(Rule { flag, set })
        })
        .collect()
}

/// The query rules and the response rules of the first `header` with any.
pub fn parse(d: &mut Dispenser) -> Result<(Vec<Rule>, Vec<Rule>), SetupError> {
    let err = |e: String| SetupError::Other(format!("setting up rule: {e}"));
    while d.next() {
        let (mut query, mut response) = (Vec::new(), Vec::new());
        while d.next_block() {
            let selector = d.val().to_ascii_lowercase();
            let (selector, action) = match selector.as_str() {
                "set" | "clear" => {
                    clog::warning(
                        Some("header"),
                        format_args!(
                            "The selector for header rule in line {} isn't explicit defined. Assume rule applies for selector 'response'. This syntax is deprecated. In future versions of CoreDNS the selector must be explicit defined.",
                            d.line()
                        ),
                    );
                    ("response".to_string(), selector.clone())
                }
                "query" | "response" => {
                    let action = if d.next_arg() {
                        d.val().to_string()
                    } else {
                        String::new()
                    };
                    (selector.clone(), action)
                }
                other => {
                    return Err(SetupError::Other(format!(
                        "setting up rule: invalid selector={other} should be query or response"
                    )));
                }
            };
            let made = rules(&action, &d.remaining_args()).map_err(err)?;
            if selector == "response" {
                response.extend(made);
            } else {
                query.extend(made);
            }
        }
        if !query.is_empty() || !response.is_empty() {
            return Ok((query, response));
        }
    }
    Err(d.arg_err().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(input: &str) -> Result<(Vec<Rule>, Vec<Rule>), String> {
        parse(&mut Dispenser::from_text(input)).map_err(|e| e.to_string())
    }

    #[test]
    fn parse_table() {
        let (q, r) = p("header {\n query set rd\n response clear ra aa\n}").expect("ok");
        assert_eq!(
            q,
            [Rule {
                flag: Flag::RecursionDesired,
                set: true
            }]
        );
        assert_eq!(
            r,
            [
                Rule {
                    flag: Flag::RecursionAvailable,
                    set: false
                },
                Rule {
                    flag: Flag::Authoritative,
                    set: false
                }
            ]
        );
        let (q, r) = p("header {\n set aa\n}").expect("deprecated form");
        assert!(q.is_empty());
        assert_eq!(
            r,
            [Rule {
                flag: Flag::Authoritative,
                set: true
            }]
        );
        let cases = [
            (
                "header {\n query set\n}",
                "setting up rule: invalid length for flags, at least one should be provided",
            ),
            ("header {\n query\n}", "setting up rule: no flag action provided"),
            (
                "header {\n query flip aa\n}",
                "setting up rule: unknown flag action=flip, should be set or clear",
            ),
            (
                "header {\n query set ad\n}",
                "setting up rule: unknown/unsupported flag=ad",
            ),
            (
                "header {\n other set aa\n}",
                "setting up rule: invalid selector=other should be query or response",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(p(input).expect_err(input), want);
        }
        assert!(
            p("header")
                .expect_err("no rules")
                .contains("Wrong argument count")
        );
    }
}
