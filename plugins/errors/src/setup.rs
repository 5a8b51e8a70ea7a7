//! `errors [stdout] { stacktrace; consolidate DURATION REGEXP [LEVEL] [show_first] }`, once per
//! server block, as CoreDNS's.

use std::sync::Arc;

use clusterdns_plugin::{Dispenser, Setup, SetupError, parse_duration};
use regex::Regex;

use crate::errors::{Errors, Level, Pattern};

/// Sets up `errors` in its server block.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let patterns = parse(s.dispenser())?;
    s.add_handler(Arc::new(Errors::new(patterns)));
    Ok(())
}

/// Parses the directive into its consolidation patterns.
pub fn parse(d: &mut Dispenser) -> Result<Vec<Pattern>, SetupError> {
    let mut patterns = Vec::new();
    let mut seen = false;
    while d.next() {
        if seen {
            return Err(SetupError::once_per_block());
        }
        seen = true;
        match d.remaining_args().as_slice() {
            [] => {}
            [out] if out == "stdout" => {}
            [out] => return Err(d.err(format!("invalid log file: {out}")).into()),
            _ => return Err(d.arg_err().into()),
        }
        while d.next_block() {
            match d.val() {
                // Go stack traces have no Rust counterpart; a panic is logged with its message.
                "stacktrace" => {}
                "consolidate" => patterns.push(parse_consolidate(d)?),
                other => return Err(d.syntax_err(&format!("Unknown field {other}")).into()),
            }
        }
    }
    Ok(patterns)
}

fn parse_consolidate(d: &mut Dispenser) -> Result<Pattern, SetupError> {
    let args = d.remaining_args();
    if !(2..=4).contains(&args.len()) {
        return Err(d.arg_err().into());
    }
    let period = parse_duration(&args[0]).map_err(|e| d.err(e))?;
    let regex = Regex::new(&args[1]).map_err(|e| d.err(e.to_string()))?;
    let (mut level, mut show_first) = (None, false);
    for arg in &args[2..] {
        match arg.as_str() {
            "show_first" if !show_first => show_first = true,
            "warning" | "error" | "info" | "debug" if level.is_none() => {
                level = Some(match arg.as_str() {
                    "warning" => Level::Warning,
                    "info" => Level::Info,
                    "debug" => Level::Debug,
                    _ => Level::Error,
                });
            }
            other => {
                return Err(d
                    .err(format!("unknown log level argument in consolidate: {other}"))
                    .into());
            }
        }
    }
    Ok(Pattern::new(
        period,
        regex,
        level.unwrap_or(Level::Error),
        show_first,
    ))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn parsed(input: &str) -> Vec<(Duration, String, Level, bool)> {
        parse(&mut Dispenser::from_text(input))
            .expect(input)
            .iter()
            .map(|p| (p.period, p.regex.as_str().to_string(), p.level, p.show_first))
            .collect()
    }

    #[test]
    fn parse_table() {
        assert!(parsed("errors").is_empty());
        assert!(parsed("errors stdout {\n stacktrace\n}").is_empty());
        assert_eq!(
            parsed(
                "errors {\n consolidate 5m \".* i/o timeout$\" warning show_first\n consolidate 30s ^Failed\n}"
            ),
            vec![
                (
                    Duration::from_secs(300),
                    ".* i/o timeout$".into(),
                    Level::Warning,
                    true
                ),
                (Duration::from_secs(30), "^Failed".into(), Level::Error, false),
            ]
        );
    }

    #[test]
    fn errors_table() {
        let cases = [
            (
                "errors\nerrors",
                "this plugin can only be used once per Server Block",
            ),
            (
                "errors stderr",
                "Corefile:1 - Error during parsing: invalid log file: stderr",
            ),
            (
                "errors a b",
                "Wrong argument count or unexpected line ending after 'b'",
            ),
            (
                "errors {\n consolidate 5m\n}",
                "Corefile:2 - Error during parsing: Wrong argument count",
            ),
            (
                "errors {\n consolidate 5x x\n}",
                "time: unknown unit \"x\" in duration \"5x\"",
            ),
            ("errors {\n consolidate 5m (\n}", "regex parse error"),
            (
                "errors {\n consolidate 5m x fatal\n}",
                "unknown log level argument in consolidate: fatal",
            ),
            (
                "errors {\n consolidate 5m x info info\n}",
                "unknown log level argument in consolidate: info",
            ),
            (
                "errors {\n verbose\n}",
                "Corefile:2 - Syntax error: Unexpected token 'verbose', expecting 'Unknown field verbose'",
            ),
        ];
        testkit::assert_parse_errors(parse, &cases);
    }
}
