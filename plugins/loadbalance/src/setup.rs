//! `loadbalance [round_robin | weighted WEIGHTFILE] { reload DURATION; prefer CIDR... }`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clusterdns_plugin::{Dispenser, Setup, SetupError, parse_duration};
use ipnet::IpNet;

use crate::loadbalance::LoadBalance;
use crate::weighted::WeightFile;

/// How the first address is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    /// Shuffle A, AAAA and MX records (CoreDNS's `round_robin`, the default).
    RoundRobin,
    /// Put one address first, drawn by the weights in the file; re-read every `reload`.
    Weighted { file: PathBuf, reload: Duration },
}

/// The parsed directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub policy: Policy,
    /// Addresses in these subnets go first, in this order of preference.
    pub prefer: Vec<IpNet>,
}

/// Sets up `loadbalance`; with `weighted`, reads the weight file now so a bad one fails start.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let config = parse(s.dispenser())?;
    let weights = match &config.policy {
        Policy::RoundRobin => None,
        Policy::Weighted { file, reload } => {
            let text = corefile::read_text(file).map_err(|e| {
                SetupError::Other(format!("could not read weight file {}: {e}", file.display()))
            })?;
            let weights = crate::weighted::parse_weights(&text, &file.display().to_string())
                .map_err(SetupError::Other)?;
            let source = Arc::new(WeightFile::new(file.clone(), weights, text));
            if !reload.is_zero() {
                s.add_service(Arc::new(crate::weighted::Reloader::new(source.clone(), *reload)));
            }
            Some(source)
        }
    };
    s.add_handler(Arc::new(LoadBalance::new(weights, config.prefer)));
    Ok(())
}

/// Parses the directive.
pub fn parse(d: &mut Dispenser) -> Result<Config, SetupError> {
    let mut config = Config {
        policy: Policy::RoundRobin,
        prefer: Vec::new(),
    };
    while d.next() {
        let args = d.remaining_args();
        config.policy = match args.as_slice() {
            [] => Policy::RoundRobin,
            [p] if p == "round_robin" => Policy::RoundRobin,
            [p, ..] if p == "round_robin" => return Err(d.err(format!("unknown property for {p}")).into()),
            [p] if p == "weighted" => return Err(d.err("missing weight file argument").into()),
            [p, file] if p == "weighted" => Policy::Weighted {
                file: PathBuf::from(file),
                reload: Duration::from_secs(30),
            },
            [p, ..] if p == "weighted" => return Err(d.err("unexpected argument(s)").into()),
            [other, ..] => return Err(SetupError::Other(format!("unknown policy: {other}"))),
        };
        while d.next_block() {
            match d.val() {
                "reload" => {
                    let Policy::Weighted { reload, .. } = &mut config.policy else {
                        return Err(d.err("unknown property 'reload'").into());
                    };
                    let t = d.remaining_args();
                    match t.as_slice() {
                        [] => return Err(d.err("reload duration value is missing").into()),
                        [value] => {
                            *reload = parse_duration(value)
                                .map_err(|_| d.err(format!("invalid reload duration '{value}'")))?;
                        }
                        _ => return Err(d.err("unexpected argument").into()),
                    }
                }
                "prefer" => {
                    let cidrs = d.remaining_args();
                    if cidrs.is_empty() {
                        return Err(d.arg_err().into());
                    }
                    for cidr in cidrs {
                        let net: IpNet = cidr
                            .parse()
                            .map_err(|_| d.err(format!("invalid CIDR '{cidr}'")))?;
                        config.prefer.push(net.trunc());
                    }
                }
                other => return Err(d.err(format!("unknown property '{other}'")).into()),
            }
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(input: &str) -> Config {
        parse(&mut Dispenser::from_text(input)).expect(input)
    }

    #[test]
    fn parse_table() {
        assert_eq!(
            parsed("loadbalance"),
            Config {
                policy: Policy::RoundRobin,
                prefer: vec![]
            }
        );
        assert_eq!(
            parsed("loadbalance round_robin"),
            Config {
                policy: Policy::RoundRobin,
                prefer: vec![]
            }
        );
        assert_eq!(
            parsed("loadbalance weighted /etc/w.txt {\n reload 10s\n}"),
            Config {
                policy: Policy::Weighted {
                    file: "/etc/w.txt".into(),
                    reload: Duration::from_secs(10)
                },
                prefer: vec![]
            }
        );
        assert_eq!(
            parsed("loadbalance {\n prefer 10.0.0.0/8 fd00::1/64\n}").prefer,
            vec![
                "10.0.0.0/8".parse::<IpNet>().expect("net"),
                "fd00::/64".parse().expect("net")
            ]
        );
        assert_eq!(
            parsed("loadbalance weighted w.txt").policy,
            Policy::Weighted {
                file: "w.txt".into(),
                reload: Duration::from_secs(30)
            }
        );
    }

    #[test]
    fn errors_table() {
        testkit::assert_parse_errors(
            parse,
            &[
                ("loadbalance random", "unknown policy: random"),
                (
                    "loadbalance round_robin x",
                    "Corefile:1 - Error during parsing: unknown property for round_robin",
                ),
                ("loadbalance weighted", "missing weight file argument"),
                ("loadbalance weighted a b", "unexpected argument(s)"),
                (
                    "loadbalance weighted a {\n reload\n}",
                    "reload duration value is missing",
                ),
                (
                    "loadbalance weighted a {\n reload 1s 2s\n}",
                    "unexpected argument",
                ),
                (
                    "loadbalance weighted a {\n reload soon\n}",
                    "invalid reload duration 'soon'",
                ),
                ("loadbalance {\n reload 1s\n}", "unknown property 'reload'"),
                ("loadbalance {\n prefer\n}", "Wrong argument count"),
                (
                    "loadbalance {\n prefer 10.0.0.0/33\n}",
                    "invalid CIDR '10.0.0.0/33'",
                ),
                (
                    "loadbalance {\n spread\n}",
                    "Corefile:2 - Error during parsing: unknown property 'spread'",
                ),
            ],
        );
    }
}
