//! `reload [INTERVAL] [JITTER]` (30s and 15s by default, at least 2s and 1s), as CoreDNS's.

use std::sync::Arc;
use std::time::Duration;

use clusterdns_plugin::{Dispenser, Service, ServiceContext, Setup, SetupError, parse_duration, spawn_every};
use rand::RngExt;

/// The parsed directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    pub interval: Duration,
    /// Up to half of it is added to or taken from the interval, once, at random.
    pub jitter: Duration,
}

const MIN_INTERVAL: Duration = Duration::from_secs(2);
const MIN_JITTER: Duration = Duration::from_secs(1);

/// Sets up the timer that asks the server to check its Corefile.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let config = parse(s.dispenser())?;
    s.add_service(Arc::new(Ticker::new(config)));
    Ok(())
}

/// Parses the directive.
pub fn parse(d: &mut Dispenser) -> Result<Config, SetupError> {
    let mut config = Config {
        interval: Duration::from_secs(30),
        jitter: Duration::from_secs(15),
    };
    while d.next() {
        let args = d.remaining_args();
        if args.len() > 2 {
            return Err(d.arg_err().into());
        }
        if let Some(i) = args.first() {
            config.interval = parse_duration(i).map_err(SetupError::Other)?;
        }
        if config.interval < MIN_INTERVAL {
            return Err(SetupError::Other(
                "interval value must be greater or equal to 2s".into(),
            ));
        }
        if let Some(j) = args.get(1) {
            config.jitter = parse_duration(j).map_err(SetupError::Other)?;
        }
        if config.jitter < MIN_JITTER {
            return Err(SetupError::Other(
                "jitter value must be greater or equal to 1s".into(),
            ));
        }
        config.jitter = config.jitter.min(config.interval / 2);
    }
    Ok(config)
}

/// Ticks every interval (plus or minus the jitter, drawn once).
pub struct Ticker {
    config: Config,
    period: Duration,
}

impl Ticker {
    pub fn new(config: Config) -> Self {
        let jitter = i128::try_from(config.jitter.as_nanos()).unwrap_or(0);
        let offset = if jitter > 0 {
            rand::rng().random_range(-jitter / 2..jitter / 2)
        } else {
            0
        };
        let period = i128::try_from(config.interval.as_nanos()).unwrap_or(0) + offset;
        Self {
            config,
            period: Duration::from_nanos(u64::try_from(period).unwrap_or(0)),
        }
    }
}

#[async_trait::async_trait]
impl Service for Ticker {
    fn key(&self) -> String {
        // One reload timer for the whole process, however many blocks have `reload`; a new one
        // when a reload changes its settings.
        format!("reload {:?} {:?}", self.config.interval, self.config.jitter)
    }

    async fn start(self: Arc<Self>, ctx: ServiceContext) -> Result<(), String> {
        let reload = ctx.reload.clone();
        spawn_every(self.period, ctx.phase, move || {
            let _ = reload.send(());
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let secs = |c: Config| (c.interval.as_secs(), c.jitter.as_secs());
        assert_eq!(
            secs(parse(&mut Dispenser::from_text("reload")).expect("ok")),
            (30, 15)
        );
        assert_eq!(
            secs(parse(&mut Dispenser::from_text("reload 10s")).expect("ok")),
            (10, 5)
        );
        assert_eq!(
            secs(parse(&mut Dispenser::from_text("reload 10s 2s")).expect("ok")),
            (10, 2)
        );
        testkit::assert_parse_errors(
            parse,
            &[
                ("reload 1s", "interval value must be greater or equal to 2s"),
                ("reload 5s 500ms", "jitter value must be greater or equal to 1s"),
                ("reload 5s 1s 1s", "Wrong argument count"),
                ("reload soon", "time: invalid duration \"soon\""),
            ],
        );
    }

    #[test]
    fn jitter_stays_within_half_of_itself() {
        for _ in 0..50 {
            let t = Ticker::new(Config {
                interval: Duration::from_secs(30),
                jitter: Duration::from_secs(15),
            });
            assert!(
                t.period >= Duration::from_millis(22_500) && t.period <= Duration::from_millis(37_500),
                "{:?}",
                t.period
            );
        }
    }
}
