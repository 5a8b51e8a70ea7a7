//! `log [NAMES...] [FORMAT] { class success|denial|error|all... }`, as CoreDNS's.

use std::collections::HashSet;
use std::sync::Arc;

use clusterdns_plugin::proto::rr::Name;
use clusterdns_plugin::response::ReplyClass;
use clusterdns_plugin::{Dispenser, Setup, SetupError, normalize_zone};

use crate::format::{COMMON_FORMAT, Format};
use crate::log::{Log, Rule};

/// Sets up `log` in its server block.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let rules = parse(s.dispenser())?;
    s.add_handler(Arc::new(Log::new(rules)));
    Ok(())
}

/// Parses every `log` line of a block into rules, in order.
pub fn parse(d: &mut Dispenser) -> Result<Vec<Rule>, SetupError> {
    let mut rules = Vec::new();
    while d.next() {
        let mut args = d.remaining_args();
        let first_of_line = rules.len();
        let mut format = COMMON_FORMAT.to_string();
        // Two or more arguments: the last is a format if it has a placeholder (CoreDNS's rule).
        if args.len() > 1 && args.last().is_some_and(|a| a.contains('{')) {
            format = args.pop().unwrap_or_default();
        }
        if args.is_empty() {
            args.push(".".into());
        }
        let format = Format::compile(&format);
        for scope in args {
            let scope = Name::from_ascii(normalize_zone(&scope))
                .map_err(|e| d.err(format!("invalid name '{scope}': {e}")))?;
            rules.push(Rule {
                scope,
                format: format.clone(),
                classes: None,
            });
        }
        let mut classes = HashSet::new();
        let mut all = false;
        while d.next_block() {
            if d.val() != "class" {
                return Err(d.arg_err().into());
            }
            let names = d.remaining_args();
            if names.is_empty() {
                return Err(d.arg_err().into());
            }
            for name in names {
                match name.as_str() {
                    "all" => all = true,
                    "success" => _ = classes.insert(ReplyClass::Success),
                    "denial" => _ = classes.insert(ReplyClass::Denial),
                    "error" => _ = classes.insert(ReplyClass::Error),
                    other => return Err(SetupError::Other(format!("invalid Class: {other}"))),
                }
            }
        }
        let filter = (!all && !classes.is_empty()).then_some(classes);
        for rule in &mut rules[first_of_line..] {
            rule.classes = filter.clone();
        }
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::COMBINED_FORMAT;

    fn rules(input: &str) -> Vec<(String, Format, Option<Vec<ReplyClass>>)> {
        parse(&mut Dispenser::from_text(input))
            .expect(input)
            .into_iter()
            .map(|r| {
                let mut classes: Option<Vec<_>> = r.classes.map(|c| c.into_iter().collect());
                if let Some(c) = classes.as_mut() {
                    c.sort_by_key(|c| *c as u8);
                }
                (r.scope.to_string(), r.format, classes)
            })
            .collect()
    }

    #[test]
    fn parse_table() {
        let common = Format::compile(COMMON_FORMAT);
        assert_eq!(rules("log"), vec![(".".into(), common.clone(), None)]);
        assert_eq!(
            rules("log example.org"),
            vec![("example.org.".into(), common.clone(), None)]
        );
        assert_eq!(
            rules("log a.org b.org {combined}"),
            vec![
                ("a.org.".into(), Format::compile(COMBINED_FORMAT), None),
                ("b.org.".into(), Format::compile(COMBINED_FORMAT), None),
            ]
        );
        assert_eq!(
            rules("log . \"{proto} Request: {name} {type} {>id}\""),
            vec![(
                ".".into(),
                Format::compile("{proto} Request: {name} {type} {>id}"),
                None
            )]
        );
        assert_eq!(
            rules("log {\n class denial error\n}"),
            vec![(
                ".".into(),
                common.clone(),
                Some(vec![ReplyClass::Denial, ReplyClass::Error])
            )]
        );
        assert_eq!(
            rules("log {\n class all denial\n}"),
            vec![(".".into(), common, None)]
        );
    }

    #[test]
    fn errors_table() {
        let cases = [
            (
                "log {\n class\n}",
                "Corefile:2 - Error during parsing: Wrong argument count or unexpected line ending after 'class'",
            ),
            ("log {\n class nope\n}", "invalid Class: nope"),
            (
                "log {\n format x\n}",
                "Corefile:2 - Error during parsing: Wrong argument count",
            ),
        ];
        testkit::assert_parse_errors(parse, &cases);
    }
}
