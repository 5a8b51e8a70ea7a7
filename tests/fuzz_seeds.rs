//! The fuzz targets' harness and seeds, in the ordinary test run: the harness answers as the
//! server does, and every committed seed goes through it (a crash a long fuzz run found, once
//! fixed, stays fixed as a seed).

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use testkit::query;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/").to_string() + target;
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("seeds")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).expect("seed")).collect()
}

#[test]
fn the_query_harness_answers_as_the_server_does() {
    let path = clusterdns::harness::QueryPath::new().expect("harness");
    let ask = |name: &str, t: RecordType| {
        let bytes = query(name, t, None).to_vec().expect("encode");
        Message::from_vec(&path.udp(&bytes).expect("reply")).expect("decodes")
    };
    let r = ask("web.default.svc.cluster.local.", RecordType::A);
    assert_eq!(r.answers.len(), 1, "{r:?}");
    assert_eq!(r.answers[0].data.to_string(), "10.96.0.20");
    let r = ask("steady.example.", RecordType::A);
    assert_eq!(r.answers[0].data.to_string(), "10.5.0.1");
    assert_eq!(
        ask("nope.default.svc.cluster.local.", RecordType::A)
            .metadata
            .response_code,
        ResponseCode::NXDomain
    );
    assert_eq!(
        ask("a.default.svc.cluster.local.", RecordType::A)
            .metadata
            .response_code,
        ResponseCode::ServFail
    );
    // The harness's client is a pod of `default`: autopath (in corp.internal) finds a service
    // under another search domain.
    let r = ask("web.default.default.svc.corp.internal.", RecordType::A);
    assert_eq!(r.answers.len(), 2, "{r:?}");
    assert_eq!(r.answers[1].data.to_string(), "10.96.0.20");
    // k8s_external: a load balancer's address, and the zone's SOA.
    let r = ask("lb.default.example.org.", RecordType::A);
    assert!(
        r.answers.iter().any(|a| a.data.to_string() == "198.51.100.10"),
        "{r:?}"
    );
    assert_eq!(ask("example.org.", RecordType::SOA).answers.len(), 1);
    // multicluster: an import's cluster-set IP, an endpoint by its cluster id; zonal names.
    let r = ask("web.default.svc.clusterset.local.", RecordType::A);
    assert_eq!(r.answers[0].data.to_string(), "10.110.0.5", "{r:?}");
    let r = ask("db-0.west.db.default.svc.clusterset.local.", RecordType::A);
    assert_eq!(r.answers[0].data.to_string(), "10.9.0.11", "{r:?}");
    let r = ask(
        "corp.example.com.pin._zone.zoned.default.svc.cluster.local.",
        RecordType::A,
    );
    assert_eq!(r.answers[0].data.to_string(), "10.244.0.15", "{r:?}");
    // rewrite cname: an ExternalName's target retargeted to a name hosts answers.
    let r = ask("retargeted.default.svc.cluster.local.", RecordType::A);
    assert_eq!(
        r.answers.last().map(|a| a.data.to_string()).as_deref(),
        Some("10.5.0.1"),
        "{r:?}"
    );
    // template: query data through Go templates (printf included).
    let r = ask("abc.tmpl.example.", RecordType::TXT);
    assert_eq!(r.answers.len(), 1, "{r:?}");
    // Two messages on one TCP stream, two replies.
    let one = query("db.default.svc.cluster.local.", RecordType::A, None)
        .to_vec()
        .expect("encode");
    let mut stream = Vec::new();
    for _ in 0..2 {
        stream.extend_from_slice(&u16::try_from(one.len()).expect("len").to_be_bytes());
        stream.extend_from_slice(&one);
    }
    let replies = path.tcp(&stream);
    assert_eq!(replies.len(), 2);
    assert_eq!(Message::from_vec(&replies[1]).expect("decodes").answers.len(), 2);
}

#[test]
fn every_seed_goes_through() {
    let path = clusterdns::harness::QueryPath::new().expect("harness");
    let queries = seeds("query");
    assert!(queries.len() > 50);
    for seed in &queries {
        if let Some((&transport, message)) = seed.split_first() {
            if transport % 2 == 0 {
                let _ = path.udp(message);
            } else {
                let _ = path.tcp(message);
            }
        }
    }
    for seed in seeds("corefile") {
        clusterdns::harness::corefile(&seed);
    }
}
