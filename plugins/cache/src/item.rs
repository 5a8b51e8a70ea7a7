//! A cached reply, and the TTL arithmetic CoreDNS's cache does.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clusterdns_plugin::Request;
use clusterdns_plugin::proto::op::{Message, ResponseCode};
use clusterdns_plugin::proto::rr::Record;
use clusterdns_plugin::proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};

/// The instant items count their storing time from.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// One stored reply: its sections and flags, and when it was stored with which TTL.
///
/// The records are kept in wire form, one buffer for all three sections: a parsed record is
/// 272 bytes before its name's and data's heap parts, where an A record's wire form is about
/// 50; with moka's own ~300 bytes per entry, a node cache's 10,000 names took 9 MB parsed. A
/// hit parses them again, which costs about what cloning the parsed records did.
#[derive(Debug)]
pub struct Item {
    pub rcode: ResponseCode,
    pub recursion_available: bool,
    pub authentic_data: bool,
    /// How many records are answers, and how many authorities; the rest are additionals.
    sections: [u16; 2],
    records: Box<[u8]>,
    /// Seconds (a DNS TTL is 32 bits) and milliseconds after [`EPOCH`]: with them an item
    /// is 64 bytes with its reference counts rather than 88 (allocated as 96).
    ttl: u32,
    stored: u64,
    /// Hits and the time of the last one, for prefetch (CoreDNS's `cache.Freq`).
    /// Hits (low 32 bits) and the last hit's time, in milliseconds after `stored` (high 32):
    /// one word rather than a lock beside each of 10,000s of entries.
    hits: AtomicU64,
}

impl Item {
    /// A positive reply that answers its question (serve_stale_policy prefer_positive): NOERROR
    /// with records in the answer section (of the type asked, or a CNAME to follow), under the
    /// key of that question.
    pub fn answers_question(&self) -> bool {
        self.rcode == ResponseCode::NoError && self.sections[0] > 0
    }

    /// The reply's flags and records, stored at `now` for `ttl`; `None` when its records do not
    /// encode (nothing a server answered with is refused by the encoder, but nothing is stored
    /// that could not be read back).
    pub fn new(m: &Message, ttl: Duration, now: Instant) -> Option<Self> {
        let count = |records: &[Record]| u16::try_from(records.len()).ok();
        let sections = [count(&m.answers)?, count(&m.authorities)?];
        let mut records = Vec::new();
        let mut encoder = BinEncoder::new(&mut records);
        for r in m.answers.iter().chain(&m.authorities).chain(&m.additionals) {
            r.emit(&mut encoder).ok()?;
        }
        Some(Item {
            rcode: m.metadata.response_code,
            recursion_available: m.metadata.recursion_available,
            authentic_data: m.metadata.authentic_data,
            sections,
            records: records.into_boxed_slice(),
            ttl: u32::try_from(ttl.as_secs()).unwrap_or(u32::MAX),
            stored: u64::try_from(now.saturating_duration_since(*EPOCH).as_millis()).unwrap_or(u64::MAX),
            hits: AtomicU64::new(0),
        })
    }

    /// The TTL it was stored with.
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(u64::from(self.ttl))
    }

    /// How long ago it was stored.
    fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(*EPOCH)
            .saturating_sub(Duration::from_millis(self.stored))
    }

    /// Seconds of TTL left; negative once expired (serve_stale still uses it then).
    pub fn remaining(&self, now: Instant) -> i64 {
        let age = i64::try_from(self.age(now).as_secs()).unwrap_or(i64::MAX);
        i64::from(self.ttl) - age
    }

    /// Counts a hit; hits separated by more than `window` start counting again. Returns the count.
    pub fn hit(&self, window: Duration, now: Instant) -> u32 {
        let at = u32::try_from(self.age(now).as_millis()).unwrap_or(u32::MAX);
        let window = window.as_millis();
        let mut current = self.hits.load(Ordering::Relaxed);
        loop {
            let (count, last) = (current as u32, (current >> 32) as u32);
            let count = if u128::from(at.saturating_sub(last)) > window {
                1
            } else {
                count.saturating_add(1)
            };
            let next = (u64::from(at) << 32) | u64::from(count);
            match self
                .hits
                .compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return count,
                Err(seen) => current = seen,
            }
        }
    }

    /// The reply for `req` from this item: AA set (CoreDNS: some clients drop non-AA replies),
    /// every record with the TTL left (`ttl`), AD only if the client asked with DO or AD.
    pub fn to_reply(&self, req: &Request, ttl: u32) -> Message {
        let mut m = req.reply();
        m.metadata.authoritative = true;
        m.metadata.recursion_available = self.recursion_available;
        m.metadata.authentic_data = self.authentic_data && (req.do_bit() || req.metadata.authentic_data);
        m.metadata.response_code = self.rcode;
        let mut decoder = BinDecoder::new(&self.records);
        let [answers, authorities] = self.sections.map(usize::from);
        let mut index = 0;
        // Written by `new` from parsed records: reading them back does not fail.
        while let Ok(mut r) = Record::read(&mut decoder) {
            r.ttl = ttl;
            match index {
                i if i < answers => m.answers.push(r),
                i if i < answers + authorities => m.authorities.push(r),
                _ => m.additionals.push(r),
            }
            index += 1;
            if decoder.is_empty() {
                break;
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use clusterdns_plugin::proto::op::{MessageType, OpCode};
    use clusterdns_plugin::response::{minimal_ttl, typify};
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
    fn an_item_takes_64_bytes_with_its_reference_counts() {
        // 10,000s of them in a node cache: every 16 bytes here is 160 kB per 10,000 entries.
        assert!(
            std::mem::size_of::<Item>() + 16 <= 64,
            "{}",
            std::mem::size_of::<Item>()
        );
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
    fn records_come_back_as_stored_with_the_ttl_left() {
        let mut m = msg(
            ResponseCode::NoError,
            &[
                "WWW.Example. 300 CNAME a.example.",
                "a.example. 300 A 10.0.0.1",
                "a.example. 30 A 10.0.0.2",
            ],
            &["example. 900 SOA ns.example. h.example. 1 7200 1800 86400 60"],
        );
        m.additionals = vec![rr("ns.Example. 60 AAAA 2001:db8::1")];
        let item = Item::new(&m, Duration::from_secs(30), Instant::now()).expect("encodes");
        assert!(item.answers_question());
        let req = testkit::request("www.example.", clusterdns_plugin::proto::rr::RecordType::A);
        let reply = item.to_reply(&req, 7);
        let with_ttl = |records: &[Record]| -> Vec<Record> {
            records
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    r.ttl = 7;
                    r
                })
                .collect()
        };
        assert_eq!(reply.answers, with_ttl(&m.answers));
        assert_eq!(reply.authorities, with_ttl(&m.authorities));
        assert_eq!(reply.additionals, with_ttl(&m.additionals));
        // The names keep their case (compression matches exact bytes only).
        assert_eq!(reply.answers[0].name.to_string(), "WWW.Example.");
        assert_eq!(reply.additionals[0].name.to_string(), "ns.Example.");

        let empty = Item::new(
            &msg(ResponseCode::NXDomain, &[], &[]),
            Duration::from_secs(5),
            Instant::now(),
        )
        .expect("encodes");
        assert!(!empty.answers_question());
        let reply = empty.to_reply(&req, 5);
        assert!(reply.answers.is_empty() && reply.authorities.is_empty() && reply.additionals.is_empty());
        assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    }

    #[test]
    fn remaining_and_hits() {
        let start = Instant::now();
        let item = Item::new(
            &msg(ResponseCode::NoError, &["a.example. 30 A 10.0.0.1"], &[]),
            Duration::from_secs(30),
            start,
        )
        .expect("encodes");
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
