//! Name matching and string rewriting: exact, prefix, suffix, substring and regex, on
//! lower-case fully qualified names as CoreDNS's `state.Name()`.

use regex::Regex;

/// How a rule matches the query name.
#[derive(Debug, Clone)]
pub enum Matcher {
    Exact(String),
    Prefix(String),
    /// Never matches the suffix itself (observed on 1.11.3: not the zone apex).
    Suffix(String),
    Substring(String),
    Regex(Regex),
}

impl Matcher {
    /// Builds a matcher; all but regex take a normalized name (lower case, trailing dot), which
    /// is why `prefix staging` matches `staging.x.` but not `staging-db.x.` (observed).
    pub fn new(kind: &str, from: &str) -> Result<Self, String> {
        Ok(match kind {
            "exact" => Matcher::Exact(normalize(from)),
            "prefix" => Matcher::Prefix(normalize(from)),
            "suffix" => Matcher::Suffix(normalize(from)),
            "substring" => Matcher::Substring(normalize(from)),
            "regex" => Matcher::Regex(compile(from)?),
            other => return Err(format!("unknown match type {other}")),
        })
    }

    /// True when `name` (lower case, fully qualified) matches.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Matcher::Exact(s) => name == s,
            Matcher::Prefix(s) => name.starts_with(s.as_str()),
            Matcher::Suffix(s) => name.len() > s.len() && name.ends_with(s.as_str()),
            Matcher::Substring(s) => name.contains(s.as_str()),
            Matcher::Regex(re) => re.is_match(name),
        }
    }

    /// The rewritten name if `name` matches: `to` in place of the matched part, or for regex
    /// `to` with `{N}` replaced by the groups.
    pub fn rewrite(&self, name: &str, to: &str) -> Option<String> {
        if !self.matches(name) {
            return None;
        }
        Some(match self {
            Matcher::Exact(_) => to.to_string(),
            Matcher::Prefix(s) => format!("{to}{}", &name[s.len()..]),
            Matcher::Suffix(s) => format!("{}{to}", &name[..name.len() - s.len()]),
            Matcher::Substring(s) => name.replace(s.as_str(), to),
            Matcher::Regex(re) => expand(re, name, to)?,
        })
    }
}

/// Rewrites names in replies (owners, or names inside RDATA).
#[derive(Debug, Clone)]
pub enum StringRewriter {
    Exact {
        from: String,
        to: String,
    },
    /// CoreDNS's `remapStringRewriter`: `from` itself, or a name under it, moved to `to`.
    Remap {
        from: String,
        to: String,
    },
    Prefix {
        from: String,
        to: String,
    },
    Suffix {
        from: String,
        to: String,
    },
    Substring {
        from: String,
        to: String,
    },
    Regex {
        from: Regex,
        to: String,
    },
}

impl StringRewriter {
    /// The rewritten string, or the string unchanged when it does not match.
    pub fn rewrite(&self, src: &str) -> String {
        self.rewrite_match(src).unwrap_or_else(|| src.to_string())
    }

    /// The rewritten string if `src` matches.
    pub fn rewrite_match(&self, src: &str) -> Option<String> {
        Some(match self {
            StringRewriter::Exact { from, to } if src == from => to.clone(),
            StringRewriter::Remap { from, to } if src == from => to.clone(),
            StringRewriter::Remap { from, to }
                if src.len() > from.len()
                    && src.ends_with(from.as_str())
                    && src.as_bytes()[src.len() - from.len() - 1] == b'.' =>
            {
                format!("{}{to}", &src[..src.len() - from.len()])
            }
            StringRewriter::Prefix { from, to } if src.starts_with(from.as_str()) => {
                format!("{to}{}", &src[from.len()..])
            }
            StringRewriter::Suffix { from, to } if src.ends_with(from.as_str()) => {
                format!("{}{to}", &src[..src.len() - from.len()])
            }
            StringRewriter::Substring { from, to } if src.contains(from.as_str()) => {
                src.replace(from.as_str(), to)
            }
            StringRewriter::Regex { from, to } => expand(from, src, to)?,
            _ => return None,
        })
    }
}

/// `to` with `{0}`, `{1}`... replaced by the groups of `re` in `src`; None without a match.
fn expand(re: &Regex, src: &str, to: &str) -> Option<String> {
    let caps = re.captures(src)?;
    let mut out = to.to_string();
    for (i, group) in caps.iter().enumerate() {
        out = out.replace(&format!("{{{i}}}"), group.map_or("", |m| m.as_str()));
    }
    Some(out)
}

/// CoreDNS's `plugin.Name(s).Normalize()`: lower case, fully qualified.
pub fn normalize(s: &str) -> String {
    clusterdns_plugin::normalize_zone(s)
}

/// A regex of at most 10000 characters (CoreDNS's limit).
pub fn compile(pattern: &str) -> Result<Regex, String> {
    if pattern.len() > 10000 {
        return Err(format!("regex pattern too long: {} > 10000", pattern.len()));
    }
    Regex::new(pattern).map_err(|_| format!("invalid regex matching pattern: {pattern}"))
}

/// CoreDNS's `isValidRegexPattern`: the pattern compiles and `to` only names groups it has.
pub fn check_groups(re: &Regex, to: &str) -> Result<(), String> {
    let mut rest = to;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        if let Ok(group) = rest[open + 1..open + close].parse::<usize>()
            && group >= re.captures_len()
        {
            return Err(format!(
                "the rewrite replacement pattern {to} references group {group} which does not exist in the regex {}",
                re.as_str()
            ));
        }
        rest = &rest[open + close + 1..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_table() {
        let cases: &[(&str, &str, &str, &str, Option<&str>)] = &[
            (
                "exact",
                "web-service.cluster.local",
                "webservice1.com.",
                "web-service.cluster.local.",
                Some("webservice1.com."),
            ),
            ("exact", "a.example.org", "b.", "x.a.example.org.", None),
            (
                "prefix",
                "staging",
                "prod.",
                "staging.example.org.",
                Some("prod.example.org."),
            ),
            ("prefix", "staging", "prod.", "staging-db.example.org.", None),
            (
                "suffix",
                "example.org",
                "example.net.",
                "www.example.org.",
                Some("www.example.net."),
            ),
            ("suffix", "example.org", "example.net.", "example.org.", None),
            (
                "substring",
                "legacy",
                "current.",
                "mylegacy.example.org.",
                Some("mycurrent.example.org."),
            ),
            ("substring", "legacy", "current.", "legacy-api.example.org.", None),
            (
                "regex",
                r"^(.*)\.my\.domain\.$",
                "{1}.default.svc.cluster.local.",
                "web.my.domain.",
                Some("web.default.svc.cluster.local."),
            ),
        ];
        for (kind, from, to, name, want) in cases {
            let m = Matcher::new(kind, from).expect("matcher");
            assert_eq!(m.rewrite(name, to).as_deref(), *want, "{kind} {from} {name}");
        }
    }

    #[test]
    fn string_rewriters() {
        let re = StringRewriter::Regex {
            from: compile(r"(.*)\.svc\.").expect("re"),
            to: "{1}.my.".into(),
        };
        assert_eq!(re.rewrite("a.svc."), "a.my.");
        assert_eq!(re.rewrite("other."), "other.");
        let sfx = StringRewriter::Suffix {
            from: "example.net.".into(),
            to: "example.org.".into(),
        };
        assert_eq!(sfx.rewrite("www.example.net."), "www.example.org.");
    }

    #[test]
    fn group_checks() {
        let re = compile("(a)(b)").expect("re");
        assert!(check_groups(&re, "{1}{2}").is_ok());
        assert!(
            check_groups(&re, "{3}")
                .unwrap_err()
                .contains("references group 3")
        );
        assert_eq!(compile("(").unwrap_err(), "invalid regex matching pattern: (");
    }
}
