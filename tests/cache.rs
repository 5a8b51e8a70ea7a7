//! End to end: cache in front of forward, with a test upstream.

use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use testkit::{Behaviour, FakeUpstream, Server, free_port, local, query, rr, udp};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

fn server(cache: &str, up: &FakeUpstream) -> (Server, u16) {
    let port = free_port();
    let corefile = format!(
        ".:{port} {{\n bind 127.0.0.1\n {cache}\n forward . {}\n}}\n",
        up.addr
    );
    (Server::start(BIN, &corefile, port), port)
}

fn ttls(m: &hickory_proto::op::Message) -> Vec<u32> {
    m.answers.iter().chain(&m.authorities).map(|r| r.ttl).collect()
}

#[test]
fn hits_count_ttls_down_with_aa() {
    let up = FakeUpstream::start();
    up.add(rr("www.example. 300 A 192.0.2.1"));
    up.add(rr("www.example. 100 A 192.0.2.2"));
    let (_s, port) = server("cache 30", &up);
    // First reply: every TTL set to the reply's minimum capped at 30, no AA (the upstream's flags).
    let r = udp(local(port), &query("www.example.", RecordType::A, None));
    assert_eq!(ttls(&r), [30, 30]);
    assert!(!r.metadata.authoritative);
    std::thread::sleep(Duration::from_millis(2100));
    let r = udp(local(port), &query("WWW.example.", RecordType::A, None));
    assert!(r.metadata.authoritative, "cached copies have AA");
    assert!(r.metadata.recursion_available);
    let t = ttls(&r);
    assert!(t[0] <= 28 && t[0] >= 26 && t[0] == t[1], "{t:?}");
    assert_eq!(r.queries[0].name().to_string(), "WWW.example.");
    assert_eq!(up.count("www.example."), 1, "the second query was a hit");
}

#[test]
fn denials_are_cached_by_the_soa_and_servfail_briefly() {
    let up = FakeUpstream::start();
    let (_s, port) = server("cache 3600", &up);
    // The upstream's NXDOMAIN carries an SOA with minimum 30 (RFC 2308): TTL 30.
    let r = udp(local(port), &query("gone.example.", RecordType::A, None));
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(ttls(&r), [30]);
    let r = udp(local(port), &query("gone.example.", RecordType::A, None));
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert!(r.metadata.authoritative);
    assert_eq!(up.count("gone.example."), 1);

    up.set(Behaviour::Rcode(ResponseCode::ServFail));
    for _ in 0..3 {
        let r = udp(local(port), &query("broken.example.", RecordType::A, None));
        assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    }
    assert_eq!(up.count("broken.example."), 1, "SERVFAIL kept for 5 s");
}

#[test]
fn disable_stores_nothing_for_the_zone_but_still_caps_ttls() {
    let up = FakeUpstream::start();
    up.add(rr("svc.cluster.local. 300 A 10.96.0.1"));
    up.add(rr("other.example. 300 A 192.0.2.3"));
    let (_s, port) = server(
        "cache 30 {\n  disable success cluster.local\n  disable denial cluster.local\n }",
        &up,
    );
    for _ in 0..2 {
        let r = udp(local(port), &query("svc.cluster.local.", RecordType::A, None));
        assert_eq!(ttls(&r), [30]);
        udp(local(port), &query("gone.cluster.local.", RecordType::A, None));
        udp(local(port), &query("other.example.", RecordType::A, None));
    }
    assert_eq!(up.count("svc.cluster.local."), 2);
    assert_eq!(up.count("gone.cluster.local."), 2);
    assert_eq!(up.count("other.example."), 1);
}

#[test]
fn truncated_replies_are_not_cached_and_the_key_ignores_edns() {
    let up = FakeUpstream::start();
    up.add(rr("tc.example. 60 A 192.0.2.4"));
    up.set(Behaviour::Truncate);
    let (_s, port) = server("cache", &up);
    for _ in 0..2 {
        assert!(
            udp(local(port), &query("tc.example.", RecordType::A, None))
                .metadata
                .truncation
        );
    }
    assert_eq!(up.count("tc.example."), 2);
    // Once stored from an EDNS query, a plain query is served from the cache too.
    up.set(Behaviour::Answer);
    udp(local(port), &query("tc.example.", RecordType::A, Some(1232)));
    let r = udp(local(port), &query("tc.example.", RecordType::A, None));
    assert_eq!(r.answers.len(), 1);
    assert_eq!(up.count("tc.example."), 3);
}

#[test]
fn serve_stale_while_the_upstream_is_down() {
    let up = FakeUpstream::start();
    up.add(rr("stale.example. 2 A 192.0.2.5"));
    let (_s, port) = server("cache {\n  success 1000 2 1\n  serve_stale 1h\n }\n errors", &up);
    assert_eq!(
        udp(local(port), &query("stale.example.", RecordType::A, None))
            .answers
            .len(),
        1
    );
    up.set(Behaviour::Drop);
    std::thread::sleep(Duration::from_millis(3100));
    // Expired and the upstream gone: the stale copy, TTL 0, at once.
    let r = udp(local(port), &query("stale.example.", RecordType::A, None));
    assert_eq!(r.metadata.response_code, ResponseCode::NoError);
    assert_eq!(ttls(&r), [0]);
}

#[test]
fn prefetch_refreshes_popular_entries_before_they_expire() {
    let up = FakeUpstream::start();
    up.add(rr("hot.example. 10 A 192.0.2.6"));
    let (_s, port) = server("cache {\n  prefetch 2 1m 90%\n }", &up);
    udp(local(port), &query("hot.example.", RecordType::A, None));
    // Two hits once 90% of the TTL may have passed: the second triggers a refresh upstream.
    std::thread::sleep(Duration::from_millis(1100));
    udp(local(port), &query("hot.example.", RecordType::A, None));
    udp(local(port), &query("hot.example.", RecordType::A, None));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(up.count("hot.example."), 2, "one prefetch");
    // The refreshed entry starts again from the full TTL.
    let r = udp(local(port), &query("hot.example.", RecordType::A, None));
    assert!(ttls(&r)[0] >= 9, "{:?}", ttls(&r));
}

#[test]
fn referrals_are_cached_for_the_minimal_ttl_clamped_by_success_bounds() {
    let up = FakeUpstream::start();
    up.refer(
        "sub.example.",
        vec![rr("sub.example. 172800 NS ns1.sub.example.")],
        vec![rr("ns1.sub.example. 172800 A 192.0.2.53")],
    );
    // CoreDNS 1.11.3: a delegation takes the 5 s minimal TTL, clamped by the success bounds,
    // on every record of the authority and additional sections.
    let (_s, port) = server("cache 30", &up);
    let r = udp(local(port), &query("www.sub.example.", RecordType::A, None));
    assert!(r.answers.is_empty() && r.metadata.response_code == ResponseCode::NoError);
    assert_eq!(r.authorities.len(), 1);
    assert_eq!((r.authorities[0].ttl, r.additionals[0].ttl), (5, 5));
    // Cached: the upstream is asked once.
    let r = udp(local(port), &query("www.sub.example.", RecordType::A, None));
    assert_eq!(r.authorities.len(), 1);
    assert_eq!(up.count("www.sub.example."), 1);
    // A success MINTTL above 5 s raises it.
    let (_s, port) = server("cache {\n  success 100 30 10\n }", &up);
    let r = udp(local(port), &query("www.sub.example.", RecordType::A, None));
    assert_eq!((r.authorities[0].ttl, r.additionals[0].ttl), (10, 10));
}

/// CoreDNS 1.14's serve_stale RESPONSE_TTL and serve_stale_policy prefer_positive: a stale
/// positive answer, with the configured TTL, rather than a SERVFAIL cached since.
#[test]
fn stale_replies_carry_their_ttl_and_positive_ones_win_with_prefer_positive() {
    for prefer_positive in [false, true] {
        let up = FakeUpstream::start();
        up.add(rr("flaky.example. 1 A 192.0.2.9"));
        let policy = if prefer_positive {
            "\n  serve_stale_policy prefer_positive"
        } else {
            ""
        };
        let (_s, port) = server(
            &format!("cache {{\n  success 1000 1 1\n  serve_stale 1h immediate 30s{policy}\n }}"),
            &up,
        );
        let r = udp(local(port), &query("flaky.example.", RecordType::A, None));
        assert_eq!(r.answers.len(), 1);
        std::thread::sleep(Duration::from_millis(2100));
        up.set(Behaviour::Rcode(ResponseCode::ServFail));
        // Expired: served stale with the response TTL; the refresh gets SERVFAIL, cached.
        let r = udp(local(port), &query("flaky.example.", RecordType::A, None));
        assert_eq!(ttls(&r), [30]);
        std::thread::sleep(Duration::from_millis(300));
        let r = udp(local(port), &query("flaky.example.", RecordType::A, None));
        if prefer_positive {
            assert_eq!(r.answers.len(), 1, "the stale positive answer");
        } else {
            assert_eq!(
                r.metadata.response_code,
                ResponseCode::ServFail,
                "the cached SERVFAIL"
            );
        }
    }
}
