//! The `errors` handler: logs `[ERROR] plugin/errors: RCODE NAME TYPE: ERROR` for every error
//! coming back up the chain, or counts it under a `consolidate` pattern.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use clusterdns_plugin::{Handler, Next, PluginError, Reply, Request, clog, format_duration};
use regex::Regex;

/// The level a consolidated summary is logged at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Info,
    Debug,
}

/// A `consolidate` line: errors matching `regex` are counted and summarized every `period`.
#[derive(Debug)]
pub struct Pattern {
    pub period: Duration,
    pub regex: Regex,
    pub level: Level,
    pub show_first: bool,
    count: Arc<AtomicU32>,
}

impl Pattern {
    pub fn new(period: Duration, regex: Regex, level: Level, show_first: bool) -> Self {
        Self {
            period,
            regex,
            level,
            show_first,
            count: Arc::new(AtomicU32::new(0)),
        }
    }

    /// Counts one error; the first of a period starts the timer that logs the summary.
    /// Returns true if this was the first.
    fn count_one(&self) -> bool {
        if self.count.fetch_add(1, Ordering::AcqRel) != 0 {
            return false;
        }
        let (count, period, level) = (self.count.clone(), self.period, self.level);
        let regex = self.regex.as_str().to_string();
        tokio::spawn(async move {
            tokio::time::sleep(period).await;
            let n = count.swap(0, Ordering::AcqRel);
            let text = format!(
                "{n} errors like '{regex}' occurred in last {}",
                format_duration(period)
            );
            let log = match level {
                Level::Error => clog::error,
                Level::Warning => clog::warning,
                Level::Info => clog::info,
                Level::Debug => clog::debug,
            };
            log(Some("errors"), format_args!("{text}"));
        });
        true
    }
}

/// The `errors` handler.
pub struct Errors {
    patterns: Vec<Pattern>,
}

impl Errors {
    pub fn new(patterns: Vec<Pattern>) -> Self {
        Self { patterns }
    }

    /// True when the error is swallowed by a consolidation pattern (CoreDNS's
    /// `consolidateError`): the first match counts, `show_first` lets the first one through.
    fn consolidated(&self, message: &str) -> bool {
        match self.patterns.iter().find(|p| p.regex.is_match(message)) {
            Some(p) => !(p.count_one() && p.show_first),
            None => false,
        }
    }
}

#[async_trait::async_trait]
impl Handler for Errors {
    fn name(&self) -> &'static str {
        "errors"
    }

    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
        let result = next.run(req).await;
        if let Err(e) = &result
            && !self.consolidated(&e.message)
        {
            // CoreDNS prints the numeric rcode, the lower-cased name and the type.
            let name = req.qname().to_lowercase();
            clog::error(
                Some("errors"),
                format_args!("{} {} {}: {}", u16::from(e.rcode), name, req.qtype(), e.message),
            );
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn consolidation_counts_and_lets_first_through_with_show_first() {
        let quiet = Errors::new(vec![Pattern::new(
            Duration::from_secs(60),
            Regex::new("timeout").expect("re"),
            Level::Error,
            false,
        )]);
        assert!(quiet.consolidated("read udp: i/o timeout"));
        assert!(quiet.consolidated("read udp: i/o timeout"));
        assert!(!quiet.consolidated("connection refused"));
        assert_eq!(quiet.patterns[0].count.load(Ordering::Acquire), 2);

        let first = Errors::new(vec![Pattern::new(
            Duration::from_secs(60),
            Regex::new("timeout").expect("re"),
            Level::Warning,
            true,
        )]);
        assert!(!first.consolidated("timeout"));
        assert!(first.consolidated("timeout"));
    }
}
