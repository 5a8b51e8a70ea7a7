//! Keeping secondary zones: transferred in at start (retried until it works), then refreshed by
//! the SOA's refresh, retry and expire timers and on a primary's NOTIFY (CoreDNS's
//! `TransferIn`, `shouldTransfer` and `Update`).

use std::sync::Arc;
use std::time::Duration;

use clusterdns_plugin::proto::rr::RData;
use clusterdns_plugin::{Phase, Service, ServiceContext, clog};
use plugin_file::{Zone, ZoneSource};
use tokio::sync::watch;

use crate::axfr;

/// The first transfer's retries: 250 ms, doubled up to 10 s (CoreDNS).
const FIRST_RETRY: Duration = Duration::from_millis(250);
const MAX_RETRY: Duration = Duration::from_secs(10);

/// Runs one refresher per zone with primaries.
pub struct Refresher {
    sources: Vec<Arc<ZoneSource>>,
}

impl Refresher {
    pub fn new(sources: Vec<Arc<ZoneSource>>) -> Self {
        Self { sources }
    }
}

#[async_trait::async_trait]
impl Service for Refresher {
    fn key(&self) -> String {
        format!("secondary {:p}", self as *const Self)
    }

    async fn start(self: Arc<Self>, ctx: ServiceContext) -> Result<(), String> {
        for source in self.sources.iter().filter(|s| !s.primaries().is_empty()) {
            let (source, phase) = (source.clone(), ctx.phase.clone());
            tokio::spawn(async move {
                tokio::select! {
                    () = keep(&source) => {}
                    () = stopped(phase) => {}
                }
            });
        }
        Ok(())
    }
}

async fn stopped(mut phase: watch::Receiver<Phase>) {
    while phase.changed().await.is_ok() {
        if *phase.borrow() == Phase::Stopped {
            return;
        }
    }
}

/// The zone's life: the first transfer, then refreshes for as long as the server runs.
async fn keep(source: &ZoneSource) {
    let mut pause = FIRST_RETRY;
    while let Err(e) = transfer_in(source).await {
        clog::warning(
            Some("secondary"),
            format_args!(
                "All '{}' masters failed to transfer, retrying in {}: {e}",
                source.origin(),
                clusterdns_plugin::format_duration(pause)
            ),
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_RETRY);
    }
    update(source).await;
}

/// CoreDNS's `Update`: every refresh interval the primaries' serial is checked and a newer
/// zone transferred; after a failure, checked every retry interval; past expire without
/// success, the zone is expired (SERVFAIL) until a transfer works. A NOTIFY checks at once.
async fn update(source: &ZoneSource) {
    let mut failing = false;
    let mut refreshed = tokio::time::Instant::now();
    loop {
        let Some((refresh, retry, expire)) = timers(source) else {
            return;
        };
        let wait = if failing { retry } else { refresh };
        let notified = tokio::select! {
            () = tokio::time::sleep(wait) => false,
            () = source.notified() => true,
        };
        if !notified {
            // CoreDNS's jitter: up to 5 s before a refresh, 2 s before a retry.
            let jitter = if failing { 2000 } else { 5000 };
            tokio::time::sleep(Duration::from_millis(rand::random_range(0..jitter))).await;
        }
        match check(source).await {
            Ok(()) => {
                failing = false;
                refreshed = tokio::time::Instant::now();
            }
            Err(e) => {
                clog::warning(
                    Some("secondary"),
                    format_args!("Failed {} check {e}", if failing { "retry" } else { "refresh" }),
                );
                failing = true;
                if refreshed.elapsed() >= expire {
                    source.set_expired();
                }
            }
        }
    }
}

/// Transfers the zone in if a primary has a newer serial.
async fn check(source: &ZoneSource) -> Result<(), String> {
    let ours = source.zone().map(|z| z.serial());
    let mut last = String::from("no primary answered");
    for &primary in source.primaries() {
        match axfr::serial(source.origin(), primary).await {
            Ok(theirs) if ours.is_none_or(|ours| less(ours, theirs)) => return transfer_in(source).await,
            Ok(_) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The zone from the first primary that transfers it whole (CoreDNS's `TransferIn`).
async fn transfer_in(source: &ZoneSource) -> Result<(), String> {
    let mut last = String::from("no primaries");
    for &primary in source.primaries() {
        let records = match axfr::axfr(source.origin(), primary).await {
            Ok(records) => records,
            Err(e) => {
                clog::error(
                    Some("secondary"),
                    format_args!(
                        "Failed to transfer `{}' from {:?}: {e}",
                        source.origin(),
                        primary.to_string()
                    ),
                );
                last = e;
                continue;
            }
        };
        let Some(zone) = Zone::from_records(source.origin(), records) else {
            last = format!("no SOA for {} from {primary}", source.origin());
            continue;
        };
        source.set(zone);
        clog::info(
            Some("secondary"),
            format_args!("Transferred: {} from {primary}", source.origin()),
        );
        return Ok(());
    }
    Err(last)
}

/// The SOA's refresh, retry and expire, in seconds as durations.
fn timers(source: &ZoneSource) -> Option<(Duration, Duration, Duration)> {
    let zone = source.zone()?;
    let soa = zone.soa();
    let RData::SOA(soa) = &soa.data else {
        return None;
    };
    let secs = |s: i32| Duration::from_secs(u64::try_from(s).unwrap_or(0).max(1));
    Some((secs(soa.refresh), secs(soa.retry), secs(soa.expire)))
}

/// RFC 1982: whether serial `a` is older than `b`.
fn less(a: u32, b: u32) -> bool {
    const MAX_INCREMENT: u32 = 2_147_483_647;
    if a < b {
        b - a <= MAX_INCREMENT
    } else {
        a - b > MAX_INCREMENT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_compare_as_rfc_1982_says() {
        assert!(less(1, 2));
        assert!(!less(2, 1));
        assert!(!less(5, 5));
        assert!(less(u32::MAX, 3), "wrapped around");
        assert!(!less(3, u32::MAX));
    }
}
