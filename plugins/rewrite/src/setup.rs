//! `rewrite [continue|stop] FIELD ...`, line and block forms; every `rewrite` of a block, in
//! Corefile order, makes one handler.

use std::sync::Arc;

use clusterdns_plugin::{Dispenser, Setup, SetupError};

use crate::rewrite::Rewrite;
use crate::rules::{Rule, new_rule};

/// Sets up `rewrite` in its server block.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let rules = parse(s.dispenser())?;
    s.add_handler(Arc::new(Rewrite::new(rules)));
    Ok(())
}

/// Parses every `rewrite` line of a block. A line with fewer than two arguments takes its
/// rule from the block that follows, all lines of it joined (CoreDNS's block form).
pub fn parse(d: &mut Dispenser) -> Result<Vec<Rule>, SetupError> {
    let mut rules = Vec::new();
    while d.next() {
        let mut args = d.remaining_args();
        if args.len() < 2 {
            while d.next_block() {
                args.push(d.val().to_string());
                args.extend(d.remaining_args());
            }
        }
        rules.push(new_rule(&args).map_err(|e| d.err(e))?);
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Kind, Mode};

    #[test]
    fn line_and_block_forms() {
        let rules = parse(&mut Dispenser::from_text(
            "rewrite name web-service.cluster.local webservice1.com\n\
             rewrite continue type ANY HINFO\n\
             rewrite stop {\n  name regex (.*)\\.my\\.domain\\.$ {1}.default.svc.cluster.local.\n  answer name (.*)\\.default\\.svc\\.cluster\\.local\\.$ {1}.my.domain.\n}",
        ))
        .expect("parses");
        assert_eq!(rules.len(), 3);
        assert!(matches!(rules[0].kind, Kind::Name { .. }) && rules[0].mode == Mode::Stop);
        assert!(matches!(rules[1].kind, Kind::Type { .. }) && rules[1].mode == Mode::Continue);
        let Kind::Name { answers, .. } = &rules[2].kind else {
            panic!("name rule")
        };
        assert_eq!(answers.len(), 1);
    }

    #[test]
    fn errors_carry_the_line() {
        testkit::assert_parse_errors(
            parse,
            &[
                (
                    "rewrite name a",
                    "Corefile:1 - Error during parsing: too few arguments for a name rule",
                ),
                (
                    "rewrite\nrewrite frob a b",
                    "Corefile:1 - Error during parsing: no rule type specified for rewrite",
                ),
                ("rewrite stop {\n}", "stop rule must begin with a rule type"),
            ],
        );
    }
}
