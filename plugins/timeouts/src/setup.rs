//! `timeouts { read DURATION; write DURATION; idle DURATION; maxtcpqueries MAXIMUM }`, each
//! timeout 1 s to 24 h, as CoreDNS 1.11.3 parses them (`maxtcpqueries` from 1.14.5). Listeners
//! shared by several blocks take the first block's.

use std::time::Duration;

use clusterdns_plugin::{Dispenser, Setup, SetupError, Timeouts, atoi, format_duration, parse_duration};

/// Sets up `timeouts`: no handler, only the listeners' settings.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let timeouts = parse(s.dispenser())?;
    s.set_timeouts(timeouts);
    Ok(())
}

/// CoreDNS's `durations.NewDurationFromArg`: whole seconds, or a Go duration.
fn duration(arg: &str) -> Result<Duration, String> {
    match atoi(arg) {
        Ok(secs) => u64::try_from(secs)
            .map(Duration::from_secs)
            .map_err(|_| format!("time: invalid duration \"{arg}\"")),
        Err(_) => parse_duration(arg),
    }
}

/// The timeouts, CoreDNS's defaults where not given.
pub fn parse(d: &mut Dispenser) -> Result<Timeouts, SetupError> {
    let mut t = Timeouts::default();
    while d.next() {
        if !d.remaining_args().is_empty() {
            return Err(SetupError::Other(format!("plugin/timeouts: {}", d.arg_err())));
        }
        let mut given = 0;
        while d.next_block() {
            let which = d.val().to_string();
            let args = d.remaining_args();
            let [arg] = args.as_slice() else {
                return Err(d.arg_err().into());
            };
            if which == "maxtcpqueries" {
                let n =
                    atoi(arg).map_err(|e| d.err(format!("invalid value for maxtcpqueries '{arg}': {e}")))?;
                t.max_queries = match n {
                    -1 => None,
                    n if n > 0 => Some(u32::try_from(n).unwrap_or(u32::MAX)),
                    n => {
                        return Err(d
                            .err(format!(
                                "maxtcpqueries provided '{n}' needs to be -1 (unlimited) or a positive integer"
                            ))
                            .into());
                    }
                };
                given += 1;
                continue;
            }
            let value = duration(arg).map_err(|e| d.err(e))?;
            if value < Duration::from_secs(1) || value > Duration::from_secs(24 * 3600) {
                return Err(d
                    .err(format!(
                        "timeout provided '{}' needs to be between 1 second and 24 hours",
                        format_duration(value)
                    ))
                    .into());
            }
            match which.as_str() {
                "read" => t.read = value,
                "write" => t.write = value,
                "idle" => t.idle = value,
                _ => return Err(d.err(format!("unknown option: '{which}'")).into()),
            }
            given += 1;
        }
        if given == 0 {
            return Err(SetupError::Other(format!(
                "plugin/timeouts: {}",
                d.err("timeouts block with no timeouts specified")
            )));
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(input: &str) -> Result<Timeouts, String> {
        parse(&mut Dispenser::from_text(input)).map_err(|e| e.to_string())
    }

    #[test]
    fn parse_table() {
        let t = p("timeouts {\n read 10s\n write 20\n idle 1m\n}").expect("ok");
        assert_eq!(
            (t.read, t.write, t.idle),
            (
                Duration::from_secs(10),
                Duration::from_secs(20),
                Duration::from_secs(60)
            )
        );
        assert_eq!(t.max_queries, None);
        // CoreDNS 1.14.5: queries per TCP connection, -1 for no limit (the default).
        assert_eq!(
            p("timeouts {\n maxtcpqueries 128\n}").expect("ok").max_queries,
            Some(128)
        );
        assert_eq!(
            p("timeouts {\n maxtcpqueries -1\n}").expect("ok").max_queries,
            None
        );
        let t = p("timeouts {\n idle 30s\n}").expect("ok");
        assert_eq!(
            (t.read, t.idle),
            (Duration::from_secs(3), Duration::from_secs(30))
        );
        let cases = [
            ("timeouts", "timeouts block with no timeouts specified"),
            ("timeouts 5s", "Wrong argument count"),
            ("timeouts {\n read\n}", "Wrong argument count"),
            (
                "timeouts {\n read 500ms\n}",
                "timeout provided '500ms' needs to be between 1 second and 24 hours",
            ),
            (
                "timeouts {\n read 25h\n}",
                "needs to be between 1 second and 24 hours",
            ),
            ("timeouts {\n read x\n}", "time: invalid duration \"x\""),
            ("timeouts {\n slow 5s\n}", "unknown option: 'slow'"),
            (
                "timeouts {\n maxtcpqueries 0\n}",
                "maxtcpqueries provided '0' needs to be -1 (unlimited) or a positive integer",
            ),
            (
                "timeouts {\n maxtcpqueries lots\n}",
                "invalid value for maxtcpqueries 'lots'",
            ),
        ];
        for (input, want) in cases {
            let e = p(input).expect_err(input);
            assert!(e.contains(want), "{input}: {e}");
        }
    }
}
