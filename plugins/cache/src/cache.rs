//! The `cache` handler: answers from stored replies, stores what comes back up the chain, and
//! caps the TTLs of every reply it passes (as CoreDNS's cache does, stored or not).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use clusterdns_plugin::proto::op::{Message, ResponseCode};
use clusterdns_plugin::proto::rr::Name;
use clusterdns_plugin::response::{ReplyType, minimal_ttl, typify};
use clusterdns_plugin::{DetachedNext, Handler, Next, PluginError, Reply, Request};
use moka::Expiry;
use moka::notification::RemovalCause;

use crate::item::Item;
use crate::metrics;
use crate::setup::{Config, Kind};

/// Name (compared without case), type, class, DO, CD.
type Key = (KeyName, u16, u16, bool, bool);

/// A query name in a cache key: its labels lower-cased in wire form, so names equal as hickory
/// compares them (without case, both or neither fully qualified) are equal bytes, hashed and
/// compared in one go. (hickory's `Hash` for `Name` feeds the hasher a byte at a time and its
/// equality walks both names label by label: together a third of a cache hit.)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct KeyName(Vec<u8>);

impl KeyName {
    fn new(name: &Name) -> Self {
        // The text's length plus one is the wire length of a name without escapes.
        let mut wire = Vec::with_capacity(name.len() + 1);
        for label in name.iter() {
            // hickory's labels are at most 63 bytes.
            wire.push(label.len() as u8);
            wire.extend(label.iter().map(u8::to_ascii_lowercase));
        }
        // The root label: a fully qualified name ends with it, a relative one does not.
        if name.is_fqdn() {
            wire.push(0);
        }
        KeyName(wire)
    }
}

/// The series every query of one server label counts into: looked up once, not through
/// `with_label_values` (a hash of every label and the family's lock) on each query. The miss
/// series and the hit series of a kind are made at their first count, as CoreDNS's `With`
/// makes them.
struct ServerSeries {
    server: Arc<str>,
    requests: Option<prometheus::Counter>,
    misses: OnceLock<Option<prometheus::Counter>>,
    /// By [`Kind`]: success, denial.
    hits: [OnceLock<Option<prometheus::Counter>>; 2],
}

/// Entries live for their TTL plus the serve_stale window.
struct ItemExpiry {
    stale: Duration,
}

impl Expiry<Key, Arc<Item>> for ItemExpiry {
    fn expire_after_create(&self, _key: &Key, item: &Arc<Item>, _at: Instant) -> Option<Duration> {
        Some(item.ttl() + self.stale)
    }

    fn expire_after_update(
        &self,
        _key: &Key,
        item: &Arc<Item>,
        _at: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(item.ttl() + self.stale)
    }
}

/// The `cache` handler: a success cache and a denial cache, shared with background refreshes.
pub struct Cache(Arc<Inner>);

struct Inner {
    config: Config,
    /// The `zones` metric label: the cached zones, comma-separated.
    zones: String,
    /// The request and hit series of each server label seen, made on first use.
    series: ArcSwap<Vec<Arc<ServerSeries>>>,
    success: Items,
    denial: Items,
    /// Keys being refreshed in the background (prefetch, serve_stale): one refresh per key at a
    /// time, however many hits ask for it.
    refreshing: std::sync::Mutex<std::collections::HashSet<Key, foldhash::quality::RandomState>>,
    /// When each key's last refresh failed (serve_stale's FAILURE_RECHECK); cleared whole past
    /// [`MAX_FAILED`] keys.
    failed: std::sync::Mutex<std::collections::HashMap<Key, Instant, foldhash::quality::RandomState>>,
}

/// Keys whose failed refresh is remembered, at most.
const MAX_FAILED: usize = 10_000;

/// Keys are client names, so the hasher is randomly seeded; foldhash's quality variant costs a
/// fraction of SipHash on these short keys (callgrind: hashing was 15 % of a cache hit).
type Items = moka::sync::Cache<Key, Arc<Item>, foldhash::quality::RandomState>;

impl Cache {
    pub fn new(config: Config) -> Self {
        Cache(Arc::new(Inner::new(config)))
    }
}

impl Inner {
    /// The series of `server`, made the first time it is seen (a block has one per listener).
    fn series(&self, server: &Arc<str>) -> Arc<ServerSeries> {
        if let Some(s) = self.series.load().iter().find(|s| s.server == *server) {
            return s.clone();
        }
        let made = Arc::new(ServerSeries {
            server: server.clone(),
            requests: metrics::REQUESTS
                .as_ref()
                .map(|c| c.with_label_values(&[&**server, self.zones.as_str(), ""])),
            misses: OnceLock::new(),
            hits: Default::default(),
        });
        self.series.rcu(|list| {
            let mut list = Vec::clone(list);
            if !list.iter().any(|s| s.server == *server) {
                list.push(made.clone());
            }
            list
        });
        made
    }

    fn new(config: Config) -> Self {
        let zones = config
            .zones
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let build = |kind: Kind, capacity: u64| {
            let zones = zones.clone();
            moka::sync::Cache::builder()
                .max_capacity(capacity)
                .expire_after(ItemExpiry {
                    stale: config.serve_stale,
                })
                .eviction_listener(move |_k, _v, cause| {
                    if cause == RemovalCause::Size
                        && let Some(c) = metrics::EVICTIONS.as_ref()
                    {
                        c.with_label_values(&["", kind.as_str(), &zones, ""]).inc();
                    }
                })
                .build_with_hasher(foldhash::quality::RandomState::default())
        };
        let success = build(Kind::Success, config.success.capacity);
        let denial = build(Kind::Denial, config.denial.capacity);
        Self {
            config,
            zones,
            success,
            denial,
            series: ArcSwap::default(),
            refreshing: std::sync::Mutex::default(),
            failed: std::sync::Mutex::default(),
        }
    }

    /// A stored reply still servable (fresh, or stale within the serve_stale window).
    fn lookup(&self, key: &Key, now: Instant) -> Option<(Arc<Item>, Kind)> {
        let servable = |item: &Arc<Item>| {
            let left = item.remaining(now);
            left > 0
                || (!self.config.serve_stale.is_zero()
                    && u64::try_from(-left).unwrap_or(0) < self.config.serve_stale.as_secs())
        };
        // serve_stale_policy prefer_positive: an answer to the question before a denial.
        if self.config.prefer_positive
            && !self.config.serve_stale.is_zero()
            && let Some(item) = self
                .success
                .get(key)
                .filter(servable)
                .filter(|i| i.answers_question())
        {
            return Some((item, Kind::Success));
        }
        if let Some(item) = self.denial.get(key).filter(servable) {
            return Some((item, Kind::Denial));
        }
        self.success
            .get(key)
            .filter(servable)
            .map(|item| (item, Kind::Success))
    }

    /// Whether a refresh of `key` failed within the FAILURE_RECHECK period.
    fn recently_failed(&self, key: &Key, now: Instant) -> bool {
        if self.config.stale_recheck.is_zero() {
            return false;
        }
        self.failed.lock().is_ok_and(|f| {
            f.get(key)
                .is_some_and(|at| now.duration_since(*at) < self.config.stale_recheck)
        })
    }

    /// Records how a refresh of `key` went (only with a FAILURE_RECHECK period).
    fn refreshed(&self, key: &Key, ok: bool) {
        if self.config.stale_recheck.is_zero() {
            return;
        }
        if let Ok(mut failed) = self.failed.lock() {
            if ok {
                failed.remove(key);
            } else {
                if failed.len() >= MAX_FAILED {
                    failed.clear();
                }
                failed.insert(key.clone(), Instant::now());
            }
        }
    }

    /// Stores what may be stored and caps the TTLs of the reply going out to what was stored
    /// (CoreDNS: "to avoid jarring TTL experience 1799 -> 8").
    fn store(&self, key: Key, req: &Request, m: &mut Message) {
        let kind = typify(m);
        let bounds = |b: &crate::setup::Bounds| clamp(minimal_ttl(m, kind), b.min_ttl, b.max_ttl);
        let duration = match kind {
            ReplyType::NameError | ReplyType::NoData => bounds(&self.config.denial),
            ReplyType::ServerError => self.config.servfail,
            _ => bounds(&self.config.success),
        };
        let cacheable = !m.metadata.truncation
            && !matches!(kind, ReplyType::OtherError | ReplyType::Meta | ReplyType::Update);
        if cacheable && !duration.is_zero() {
            if question_matches(req, m) {
                self.insert(key, req, m, kind, duration);
            } else if let Some(c) = metrics::DROPS.as_ref() {
                c.with_label_values(&[&*req.server, &self.zones, ""]).inc();
            }
        }
        let ttl = u32::try_from(duration.as_secs()).unwrap_or(u32::MAX);
        for r in m
            .answers
            .iter_mut()
            .chain(m.authorities.iter_mut())
            .chain(m.additionals.iter_mut())
        {
            r.ttl = ttl;
        }
        if !req.do_bit() && !req.metadata.authentic_data {
            m.metadata.authentic_data = false;
        }
    }

    fn insert(&self, key: Key, req: &Request, m: &Message, kind: ReplyType, duration: Duration) {
        let Some(item) = Item::new(m, duration, Instant::now()) else {
            return;
        };
        let item = Arc::new(item);
        let disabled = |b: &crate::setup::Bounds| b.disabled.matches(req.qname()).is_some();
        match kind {
            ReplyType::NoError | ReplyType::Delegation if !disabled(&self.config.success) => {
                self.denial.invalidate(&key);
                self.success.insert(key, item);
            }
            ReplyType::NameError | ReplyType::NoData | ReplyType::ServerError
                if !disabled(&self.config.denial) =>
            {
                self.denial.insert(key, item);
            }
            _ => {}
        }
        if let Some(g) = metrics::ENTRIES.as_ref() {
            g.with_label_values(&[&req.server, "success", &self.zones, ""])
                .set(self.success.entry_count() as f64);
            g.with_label_values(&[&req.server, "denial", &self.zones, ""])
                .set(self.denial.entry_count() as f64);
        }
    }

    /// Runs the rest of the chain again in the background and stores the result (prefetch,
    /// and serve_stale's refresh).
    fn refresh(self: &Arc<Self>, key: Key, req: &Request, next: DetachedNext) {
        let started = self
            .refreshing
            .lock()
            .is_ok_and(|mut keys| keys.insert(key.clone()));
        if !started {
            return;
        }
        let (cache, mut req) = (self.clone(), req.clone());
        tokio::spawn(async move {
            // Leaves the set however the refresh ends (an upstream error, a panic).
            let _done = Refreshing {
                cache: &cache,
                key: key.clone(),
            };
            match next.run(&mut req).await {
                Ok(Reply::Answer(mut m)) if m.metadata.response_code != ResponseCode::ServFail => {
                    cache.refreshed(&key, true);
                    cache.store(key, &req, &mut m);
                }
                Ok(Reply::Answer(mut m)) => {
                    cache.refreshed(&key, false);
                    cache.store(key, &req, &mut m);
                }
                _ => cache.refreshed(&key, false),
            }
        });
    }
}

/// A key's place among the refreshes running.
struct Refreshing<'a> {
    cache: &'a Inner,
    key: Key,
}

impl Drop for Refreshing<'_> {
    fn drop(&mut self) {
        if let Ok(mut keys) = self.cache.refreshing.lock() {
            keys.remove(&self.key);
        }
    }
}

fn clamp(ttl: Duration, min: Duration, max: Duration) -> Duration {
    ttl.max(min).min(max)
}

/// CoreDNS's `state.Match`: the reply is for the question asked.
fn question_matches(req: &Request, m: &Message) -> bool {
    m.queries
        .first()
        .is_some_and(|q| q.name() == req.qname() && q.query_type() == req.qtype())
}

#[async_trait::async_trait]
impl Handler for Cache {
    fn name(&self) -> &'static str {
        "cache"
    }

    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
        let this = &self.0;
        if this.config.zones.matches(req.qname()).is_none() {
            return next.run(req).await;
        }
        let key: Key = (
            KeyName::new(req.qname()),
            u16::from(req.qtype()),
            u16::from(req.qclass()),
            req.do_bit(),
            req.metadata.checking_disabled,
        );
        let server = req.server.clone();
        let labels = [&*server, &this.zones, ""];
        let series = this.series(&server);
        if let Some(c) = &series.requests {
            c.inc();
        }
        let now = Instant::now();
        let Some((item, kind)) = this.lookup(&key, now) else {
            if let Some(c) = series
                .misses
                .get_or_init(|| metrics::MISSES.as_ref().map(|c| c.with_label_values(&labels)))
            {
                c.inc();
            }
            let mut reply = next.run(req).await?;
            if let Reply::Answer(m) = &mut reply {
                this.store(key, req, m);
            }
            return Ok(reply);
        };
        if let Some(c) = series.hits[kind as usize].get_or_init(|| {
            metrics::HITS
                .as_ref()
                .map(|c| c.with_label_values(&[&*server, kind.as_str(), &this.zones, ""]))
        }) {
            c.inc();
        }
        let left = item.remaining(now);
        if left < 0 {
            if this.recently_failed(&key, now) {
                // FAILURE_RECHECK: the last refresh failed a moment ago; serve stale as it is.
            } else if this.config.verify_stale {
                // verify: ask first, serve the stale copy only if that fails (or, with a verify
                // timeout, takes longer; the refresh then goes on in the background).
                let asked = if this.config.verify_timeout.is_zero() {
                    Some(next.run(req).await)
                } else {
                    tokio::time::timeout(this.config.verify_timeout, next.run(req))
                        .await
                        .ok()
                };
                match asked {
                    Some(Ok(Reply::Answer(mut m))) if m.metadata.response_code != ResponseCode::ServFail => {
                        this.refreshed(&key, true);
                        this.store(key, req, &mut m);
                        return Ok(Reply::Answer(m));
                    }
                    Some(_) => this.refreshed(&key, false),
                    None => this.refresh(key.clone(), req, next.detach()),
                }
            } else {
                this.refresh(key.clone(), req, next.detach());
            }
            if let Some(c) = metrics::SERVED_STALE.as_ref() {
                c.with_label_values(&labels).inc();
            }
        } else if this.config.prefetch > 0 {
            let threshold = (u64::from(this.config.prefetch_percentage) * item.ttl().as_secs()).div_ceil(100);
            let hits = item.hit(this.config.prefetch_window, now);
            if hits >= this.config.prefetch && u64::try_from(left).unwrap_or(0) <= threshold {
                if let Some(c) = metrics::PREFETCH.as_ref() {
                    c.with_label_values(&labels).inc();
                }
                this.refresh(key, req, next.detach());
            }
        }
        let ttl = if this.config.keepttl {
            item.ttl().as_secs()
        } else if left < 0 {
            // A stale reply: serve_stale's RESPONSE_TTL (0 by default, as CoreDNS).
            u64::from(this.config.stale_ttl)
        } else {
            u64::try_from(left).unwrap_or(0)
        };
        Ok(Reply::Answer(
            item.to_reply(req, u32::try_from(ttl).unwrap_or(u32::MAX)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn key_names_match_and_hash_without_case() {
        let name = |s: &str| KeyName::new(&Name::from_ascii(s).expect("name"));
        let hasher = foldhash::quality::RandomState::default();
        let (upper, lower) = (name("WWW.Example.ORG."), name("www.example.org."));
        assert_eq!(upper, lower);
        assert_eq!(hasher.hash_one(&upper), hasher.hash_one(&lower));
        // Same bytes, other label boundaries: different names, different hashes.
        let (a, b) = (name("ab.c.example."), name("a.bc.example."));
        assert_ne!(a, b);
        assert_ne!(name("www.example.org."), name("www.example.org"));
        assert_ne!(name("www.example.org."), name("example.org."));
        assert_ne!(hasher.hash_one(&a), hasher.hash_one(&b));
    }

    /// Answers every query with one A record after a delay, counting the queries.
    struct Slow(std::sync::atomic::AtomicUsize);

    #[async_trait::async_trait]
    impl Handler for Slow {
        fn name(&self) -> &'static str {
            "slow"
        }

        async fn serve(&self, req: &mut Request, _next: Next<'_>) -> Result<Reply, PluginError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut m = req.reply();
            m.answers.push(testkit::rr("stale.example. 60 A 192.0.2.1"));
            Ok(Reply::Answer(m))
        }
    }

    #[tokio::test]
    async fn stale_hits_share_one_background_refresh() {
        let config = crate::setup::parse(
            &mut clusterdns_plugin::Dispenser::from_text("cache {\n success 1000 1 1\n serve_stale 1h\n}"),
            &[".".into()],
        )
        .expect("config");
        let slow = Arc::new(Slow(std::sync::atomic::AtomicUsize::new(0)));
        let chain: Vec<Arc<dyn Handler>> = vec![Arc::new(Cache::new(config)), slow.clone()];
        let ask = || {
            let chain = chain.clone();
            async move {
                let mut req = testkit::request("stale.example.", clusterdns_plugin::proto::rr::RecordType::A);
                testkit::serve_chain(chain, &mut req).await.expect("answer")
            }
        };
        ask().await;
        // Expired: TTLs count down in whole seconds.
        tokio::time::sleep(Duration::from_millis(2100)).await;
        // Twenty stale hits while the first refresh is still on its way: served stale at once,
        // and refreshed once.
        for _ in 0..20 {
            assert!(matches!(ask().await, Reply::Answer(m) if m.answers.len() == 1));
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            slow.0.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "one miss, one refresh"
        );
    }
}
