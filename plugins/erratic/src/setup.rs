//! `erratic { drop [AMOUNT]; truncate [AMOUNT]; delay [AMOUNT [DURATION]]; large }`, as
//! CoreDNS 1.11.3 parses it: by default every second query is dropped.

use std::sync::Arc;
use std::time::Duration;

use clusterdns_plugin::{AutoPather, Dispenser, Setup, SetupError, parse_duration};

use crate::erratic::Erratic;

/// The parsed directive: every `drop`th, `delay`th query... (0: never).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub drop: u64,
    pub delay: u64,
    pub duration: Duration,
    pub truncate: u64,
    /// 30 A records instead of one (to test truncation and compression).
    pub large: bool,
}

/// Sets up `erratic`, which also gives `autopath @erratic` a search path.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let config = parse(s.dispenser())?;
    let handler = Arc::new(Erratic::new(config));
    s.add_handler(handler.clone());
    s.provide::<dyn AutoPather>(handler);
    Ok(())
}

/// Go's `strconv.ParseInt(s, 10, 32)`, not negative.
fn amount(arg: &str) -> Result<u64, SetupError> {
    let n: i64 = arg
        .parse()
        .ok()
        .filter(|n| i32::try_from(*n).is_ok())
        .ok_or_else(|| SetupError::Other(format!("strconv.ParseInt: parsing {arg:?}: invalid syntax")))?;
    u64::try_from(n).map_err(|_| SetupError::Other(format!("illegal amount value given {arg:?}")))
}

/// The configuration.
pub fn parse(d: &mut Dispenser) -> Result<Config, SetupError> {
    let mut c = Config {
        drop: 2,
        delay: 0,
        duration: Duration::ZERO,
        truncate: 0,
        large: false,
    };
    let mut drop_seen = false;
    while d.next() {
        while d.next_block() {
            let property = d.val().to_string();
            let args = d.remaining_args();
            match property.as_str() {
                "drop" => {
                    if args.len() > 1 {
                        return Err(d.arg_err().into());
                    }
                    if let Some(a) = args.first() {
                        c.drop = amount(a)?;
                        drop_seen = true;
                    }
                }
                "delay" => {
                    if args.len() > 2 {
                        return Err(d.arg_err().into());
                    }
                    c.delay = 2;
                    c.duration = Duration::from_millis(100);
                    if let Some(a) = args.first() {
                        c.delay = amount(a)?;
                    }
                    if let Some(dur) = args.get(1) {
                        c.duration = parse_duration(dur).map_err(SetupError::Other)?;
                    }
                }
                "truncate" => {
                    if args.len() > 1 {
                        return Err(d.arg_err().into());
                    }
                    if let Some(a) = args.first() {
                        c.truncate = amount(a)?;
                    }
                }
                "large" => c.large = true,
                _ => return Err(d.err(format!("unknown property '{property}'")).into()),
            }
        }
    }
    // Delay or truncate without an explicit drop: nothing is dropped.
    if (c.delay > 0 || c.truncate > 0) && !drop_seen {
        c.drop = 0;
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(input: &str) -> Result<Config, String> {
        parse(&mut Dispenser::from_text(input)).map_err(|e| e.to_string())
    }

    #[test]
    fn parse_table() {
        assert_eq!(p("erratic").expect("ok").drop, 2);
        let c = p("erratic {\n drop 3\n delay 2 50ms\n truncate 4\n large\n}").expect("ok");
        assert_eq!(
            (c.drop, c.delay, c.duration, c.truncate, c.large),
            (3, 2, Duration::from_millis(50), 4, true)
        );
        let c = p("erratic {\n delay\n}").expect("ok");
        assert_eq!((c.drop, c.delay, c.duration), (0, 2, Duration::from_millis(100)));
        assert!(
            p("erratic {\n drop -1\n}")
                .expect_err("negative")
                .contains("illegal amount value given \"-1\"")
        );
        assert!(
            p("erratic {\n drop x\n}")
                .expect_err("x")
                .contains("invalid syntax")
        );
        assert!(
            p("erratic {\n drop 1 2\n}")
                .expect_err("two")
                .contains("Wrong argument count")
        );
        assert!(
            p("erratic {\n bogus\n}")
                .expect_err("bogus")
                .contains("unknown property 'bogus'")
        );
    }
}
