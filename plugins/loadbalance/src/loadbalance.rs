//! The `loadbalance` handler: reorders the records of NOERROR replies coming back up the chain.

use std::sync::Arc;

use clusterdns_plugin::proto::op::ResponseCode;
use clusterdns_plugin::proto::rr::{RData, Record, RecordType};
use clusterdns_plugin::{Handler, Next, PluginError, Reply, Request};
use ipnet::IpNet;
use rand::RngExt;
use rand::seq::SliceRandom;

use crate::weighted::{WeightFile, Weights};

/// Reorders replies: round robin (shuffle) or weighted, then preferred subnets first.
pub struct LoadBalance {
    weights: Option<Arc<WeightFile>>,
    prefer: Vec<IpNet>,
}

impl LoadBalance {
    pub fn new(weights: Option<Arc<WeightFile>>, prefer: Vec<IpNet>) -> Self {
        Self { weights, prefer }
    }
}

#[async_trait::async_trait]
impl Handler for LoadBalance {
    fn name(&self) -> &'static str {
        "loadbalance"
    }

    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
        let mut reply = next.run(req).await?;
        if let Reply::Answer(m) = &mut reply
            && m.metadata.response_code == ResponseCode::NoError
            && !matches!(req.qtype(), RecordType::AXFR | RecordType::IXFR)
        {
            let weights = self.weights.as_ref().map(|w| w.weights.load_full());
            for section in [&mut m.answers, &mut m.authorities, &mut m.additionals] {
                reorder(section, weights.as_deref(), &self.prefer);
            }
        }
        Ok(reply)
    }
}

/// CoreDNS's order: CNAMEs, then other records (PTR, SRV, ... never moved), then the addresses,
/// then MX. Addresses and MX are shuffled (round robin), or with weights one address is drawn
/// to go first; addresses in `prefer` subnets then move to the front, in the order listed.
pub fn reorder(records: &mut Vec<Record>, weights: Option<&Weights>, prefer: &[IpNet]) {
    if records.len() < 2 {
        return;
    }
    let (mut cname, mut address, mut mx, mut rest) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for r in records.drain(..) {
        match r.record_type() {
            RecordType::CNAME => cname.push(r),
            RecordType::A | RecordType::AAAA => address.push(r),
            RecordType::MX => mx.push(r),
            _ => rest.push(r),
        }
    }
    let mut rng = rand::rng();
    match weights {
        None => {
            address.shuffle(&mut rng);
            mx.shuffle(&mut rng);
        }
        Some(w) => {
            if let Some(top) = weighted_top(&address, w, &mut rng) {
                address.swap(0, top);
            }
        }
    }
    if !prefer.is_empty() {
        address.sort_by_key(|r| rank(r, prefer));
    }
    records.extend(cname);
    records.extend(rest);
    records.extend(address);
    records.extend(mx);
}

/// Index of the address drawn to go first: each weighs what the file says for its owner name
/// (1 if unlisted), as CoreDNS's `topAddressIndex`.
fn weighted_top(address: &[Record], weights: &Weights, rng: &mut impl rand::Rng) -> Option<usize> {
    let weight_of = |r: &Record| -> u32 {
        let ip = ip_of(r);
        weights
            .get(&r.name)
            .and_then(|ws| ws.iter().find(|(a, _)| Some(*a) == ip))
            .map_or(1, |(_, w)| u32::from(*w))
    };
    let mut indexed: Vec<(usize, u32)> = address
        .iter()
        .enumerate()
        .map(|(i, r)| (i, weight_of(r)))
        .collect();
    let total: u32 = indexed.iter().map(|(_, w)| w).sum();
    if total == 0 {
        return None;
    }
    // Heaviest first, as CoreDNS sorts before drawing.
    indexed.sort_by_key(|(_, w)| std::cmp::Reverse(*w));
    let mut v = rng.random_range(0..total);
    for (i, w) in indexed {
        if v < w {
            return Some(i);
        }
        v -= w;
    }
    None
}

fn ip_of(r: &Record) -> Option<std::net::IpAddr> {
    match &r.data {
        RData::A(a) => Some(a.0.into()),
        RData::AAAA(a) => Some(a.0.into()),
        _ => None,
    }
}

/// Position of the first preferred subnet holding the address; unmatched ones go last.
fn rank(r: &Record, prefer: &[IpNet]) -> usize {
    ip_of(r)
        .and_then(|ip| prefer.iter().position(|n| n.contains(&ip)))
        .unwrap_or(prefer.len())
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use clusterdns_plugin::proto::rr::Name;
    use clusterdns_plugin::proto::rr::rdata::{A, AAAA, CNAME, MX, PTR};

    use super::*;
    use crate::weighted::parse_weights;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).expect("name")
    }

    fn a(owner: &str, last: u8) -> Record {
        Record::from_rdata(n(owner), 30, RData::A(A::new(10, 0, 0, last)))
    }

    fn answer() -> Vec<Record> {
        vec![
            a("www.example.org.", 1),
            Record::from_rdata(
                n("www.example.org."),
                30,
                RData::MX(MX::new(10, n("mx1.example.org."))),
            ),
            a("www.example.org.", 2),
            Record::from_rdata(
                n("alias.example.org."),
                30,
                RData::CNAME(CNAME(n("www.example.org."))),
            ),
            Record::from_rdata(
                n("www.example.org."),
                30,
                RData::AAAA(AAAA::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
            ),
            a("www.example.org.", 3),
            Record::from_rdata(
                n("www.example.org."),
                30,
                RData::MX(MX::new(20, n("mx2.example.org."))),
            ),
        ]
    }

    #[test]
    fn round_robin_keeps_cname_first_and_shuffles_addresses_and_mx() {
        let mut orders = HashSet::new();
        for _ in 0..200 {
            let mut r = answer();
            reorder(&mut r, None, &[]);
            assert_eq!(r[0].record_type(), RecordType::CNAME);
            assert!(
                r[1..5]
                    .iter()
                    .all(|x| matches!(x.record_type(), RecordType::A | RecordType::AAAA))
            );
            assert!(r[5..].iter().all(|x| x.record_type() == RecordType::MX));
            orders.insert(r.iter().map(|x| x.data.to_string()).collect::<Vec<_>>());
        }
        // 4 addresses and 2 MX: 48 orders; 200 draws see many of them.
        assert!(orders.len() > 10, "only {} distinct orders", orders.len());
    }

    #[test]
    fn ptr_and_other_records_are_never_moved() {
        let ptrs: Vec<Record> = (1..=5)
            .map(|i| {
                Record::from_rdata(
                    n("1.0.0.10.in-addr.arpa."),
                    30,
                    RData::PTR(PTR(n(&format!("h{i}.example.")))),
                )
            })
            .collect();
        for _ in 0..20 {
            let mut r = ptrs.clone();
            reorder(&mut r, None, &[]);
            assert_eq!(r, ptrs);
        }
    }

    #[test]
    fn weighted_draws_by_weight() {
        let w = parse_weights("www.example.org\n10.0.0.1 3\n10.0.0.2 1\n", "w").expect("weights");
        let mut first: HashMap<String, u32> = HashMap::new();
        for _ in 0..4000 {
            let mut r = vec![
                a("www.example.org.", 1),
                a("www.example.org.", 2),
                a("www.example.org.", 3),
            ];
            reorder(&mut r, Some(&w), &[]);
            *first.entry(r[0].data.to_string()).or_default() += 1;
        }
        // Weights 3, 1 and 1 (unlisted): 60%, 20%, 20%.
        let share = |ip: &str| f64::from(first.get(ip).copied().unwrap_or(0)) / 4000.0;
        assert!((share("10.0.0.1") - 0.6).abs() < 0.05, "{first:?}");
        assert!((share("10.0.0.2") - 0.2).abs() < 0.05, "{first:?}");
        assert!((share("10.0.0.3") - 0.2).abs() < 0.05, "{first:?}");
    }

    #[test]
    fn prefer_puts_subnets_first_in_listed_order() {
        let prefer: Vec<IpNet> = vec![
            "10.0.0.3/32".parse().expect("net"),
            "10.0.0.0/31".parse().expect("net"),
        ];
        for _ in 0..50 {
            let mut r = vec![a("x.", 1), a("x.", 2), a("x.", 3), a("x.", 0)];
            reorder(&mut r, None, &prefer);
            assert_eq!(r[0].data.to_string(), "10.0.0.3");
            assert!(["10.0.0.0", "10.0.0.1"].contains(&r[1].data.to_string().as_str()));
            assert!(["10.0.0.0", "10.0.0.1"].contains(&r[2].data.to_string().as_str()));
            assert_eq!(r[3].data.to_string(), "10.0.0.2");
        }
    }
}

#[cfg(test)]
mod handler_tests {
    use clusterdns_plugin::proto::op::ResponseCode;
    use testkit::{Fixed, request, rr, serve_chain};

    use super::*;

    async fn first_after_loadbalance(rcode: ResponseCode) -> std::collections::HashSet<String> {
        let answers = vec![
            rr("x. 30 A 10.0.0.1"),
            rr("x. 30 A 10.0.0.2"),
            rr("x. 30 A 10.0.0.3"),
        ];
        let lb: Arc<dyn Handler> = Arc::new(LoadBalance::new(None, vec![]));
        let fixed: Arc<dyn Handler> = Arc::new(Fixed::new(rcode, answers));
        let mut firsts = std::collections::HashSet::new();
        for _ in 0..50 {
            let reply = serve_chain(vec![lb.clone(), fixed.clone()], &mut request("x.", RecordType::A)).await;
            let Ok(Reply::Answer(m)) = reply else {
                panic!("no answer")
            };
            firsts.insert(m.answers[0].data.to_string());
        }
        firsts
    }

    #[tokio::test]
    async fn only_noerror_replies_are_reordered() {
        assert!(first_after_loadbalance(ResponseCode::NoError).await.len() > 1);
        assert_eq!(first_after_loadbalance(ResponseCode::NXDomain).await.len(), 1);
    }
}
