//! A cached reply, and the TTL arithmetic CoreDNS's cache does.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use clusterdns_plugin::Request;
use clusterdns_plugin::proto::op::{Message, ResponseCode};
use clusterdns_plugin::proto::rr::{RData, Record};
use clusterdns_plugin::response::ReplyType;

/// CoreDNS's `MinimalDefaultTTL`: replies with nothing to take a TTL from.
const MINIMAL_DEFAULT_TTL: Duration = Duration::from_secs(5);
/// CoreDNS's `MaximumDefaulTTL`.
const MAXIMUM_DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// One stored reply: its sections and flags, and when it was stored with which TTL.
#[derive(Debug)]
pub struct Item {
    pub rcode: ResponseCode,
    pub recursion_available: bool,
    pub authentic_data: bool,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
    pub ttl: Duration,
    pub stored: Instant,
    /// Hits and the time of the last one, for prefetch (CoreDNS's `cache.Freq`).
    pub hits: Mutex<(u32, Instant)>,
}

impl Item {
    /// A positive reply that answers its question (serve_stale_policy prefer_positive): NOERROR
    /// with records in the answer section (of the type asked, or a CNAME to follow), under the
    /// key of that question.
    pub fn answers_question(&self) -> bool {
        self.rcode == ResponseCode::NoError && !self.answers.is_empty()
    }

    pub fn new(m: &Message, ttl: Duration, now: Instant) -> Self {
        Item {
            rcode: m.metadata.response_code,
            recursion_available: m.metadata.recursion_available,
            authentic_data: m.metadata.authentic_data,
            answers: m.answers.clone(),
            authorities: m.authorities.clone(),
            additionals: m.additionals.clone(),
            ttl,
            stored: now,
            hits: Mutex::new((0, now)),
        }
    }

    /// Seconds of TTL left; negative once expired (serve_stale still uses it then).
    pub fn remaining(&self, now: Instant) -> i64 {
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let age = i64::try_from(now.saturating_duration_since(self.stored).as_secs()).unwrap_or(i64::MAX);
        ttl - age
    }

    /// Counts a hit; hits separated by more than `window` start counting again. Returns the count.
    pub fn hit(&self, window: Duration, now: Instant) -> u32 {
        let mut hits = self
            .hits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        hits.0 = if now.saturating_duration_since(hits.1) > window {
            1
        } else {
            hits.0 + 1
        };
        hits.1 = now;
        hits.0
    }

    /// The reply for `req` from this item: AA set (CoreDNS: some clients drop non-AA replies),
    /// every record with the TTL left (`ttl`), AD only if the client asked with DO or AD.
    pub fn to_reply(&self, req: &Request, ttl: u32) -> Message {
        let mut m = req.reply();
        m.metadata.authoritative = true;
        m.metadata.recursion_available = self.recursion_available;
        m.metadata.authentic_data = self.authentic_data && (req.do_bit() || req.metadata.authentic_data);
        m.metadata.response_code = self.rcode;
        let with_ttl = |records: &[Record]| -> Vec<Record> {
            records
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    r.ttl = ttl;
                    r
                })
                .collect()
        };
        m.answers = with_ttl(&self.answers);
        m.authorities = with_ttl(&self.authorities);
        m.additionals = with_ttl(&self.additionals);
        m
    }
}

/// CoreDNS's `dnsutil.MinimalTTL`: the smallest TTL in the reply (at most an hour); for denials
/// the SOA's minimum if smaller (RFC 2308); 5 s for errors, empty replies and referrals (a
/// delegation is not among the types it reads TTLs from, so the success bounds clamp 5 s).
pub fn minimal_ttl(m: &Message, kind: ReplyType) -> Duration {
    if !matches!(
        kind,
        ReplyType::NoError | ReplyType::NameError | ReplyType::NoData
    ) {
        return MINIMAL_DEFAULT_TTL;
    }
    if m.answers.is_empty() && m.authorities.is_empty() && m.additionals.is_empty() {
        return MINIMAL_DEFAULT_TTL;
    }
    let records = m.answers.iter().chain(&m.authorities).chain(&m.additionals);
    let mut min = records
        .map(|r| Duration::from_secs(u64::from(r.ttl)))
        .fold(MAXIMUM_DEFAULT_TTL, Duration::min);
    if matches!(kind, ReplyType::NameError | ReplyType::NoData)
        && let Some(soa_min) = m.authorities.iter().find_map(|r| match &r.data {
            RData::SOA(soa) => Some(Duration::from_secs(u64::from(soa.minimum))),
            _ => None,
        })
    {
        min = min.min(soa_min);
    }
    min
}

#[cfg(test)]
mod tests {
    use clusterdns_plugin::proto::op::{MessageType, OpCode};
    use clusterdns_plugin::response::typify;
    use testkit::rr;

    use super::*;

    fn msg(rcode: ResponseCode, answers: &[&str], authorities: &[&str]) -> Message {
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        m.queries.push(
            testkit::query("a.example.", clusterdns_plugin::proto::rr::RecordType::A, None).queries[0]
                .clone(),
        );
        m.metadata.response_code = rcode;
        m.answers = answers.iter().map(|s| rr(s)).collect();
        m.authorities = authorities.iter().map(|s| rr(s)).collect();
        m
    }

    #[test]
    fn minimal_ttl_table() {
        let soa = "example. 900 SOA ns.example. h.example. 1 7200 1800 86400 60";
        let cases = [
            (
                msg(
                    ResponseCode::NoError,
                    &["a.example. 300 A 10.0.0.1", "a.example. 30 A 10.0.0.2"],
                    &[],
                ),
                30,
            ),
            (
                msg(ResponseCode::NoError, &["a.example. 86400 A 10.0.0.1"], &[]),
                3600,
            ),
            (msg(ResponseCode::NXDomain, &[], &[soa]), 60),
            (msg(ResponseCode::NoError, &[], &[soa]), 60),
            (msg(ResponseCode::ServFail, &[], &[]), 5),
            // A referral: NS in the authority section, whatever their TTLs.
            (
                msg(ResponseCode::NoError, &[], &["example. 172800 NS ns1.example."]),
                5,
            ),
            (msg(ResponseCode::NoError, &[], &[]), 5),
        ];
        for (m, want) in cases {
            assert_eq!(
                minimal_ttl(&m, typify(&m)),
                Duration::from_secs(want),
                "{:?}",
                m.metadata.response_code
            );
        }
    }

    #[test]
    fn remaining_and_hits() {
        let start = Instant::now();
        let item = Item::new(
            &msg(ResponseCode::NoError, &["a.example. 30 A 10.0.0.1"], &[]),
            Duration::from_secs(30),
            start,
        );
        assert_eq!(item.remaining(start + Duration::from_secs(12)), 18);
        assert_eq!(item.remaining(start + Duration::from_secs(40)), -10);
        assert_eq!(
            item.hit(Duration::from_secs(60), start + Duration::from_secs(1)),
            1
        );
        assert_eq!(
            item.hit(Duration::from_secs(60), start + Duration::from_secs(2)),
            2
        );
        assert_eq!(
            item.hit(Duration::from_secs(60), start + Duration::from_secs(100)),
            1
        );
    }
}
