//! Message sizes without encoding: the uncompressed wire length, which is what CoreDNS writes for
//! every reply that fits (miekg/dns's `Truncate` turns compression off then) and so what its size
//! metrics and `{rsize}` count.

use hickory_proto::op::{Edns, Message};
use hickory_proto::rr::{Name, RData, Record};
use hickory_proto::serialize::binary::BinEncodable;

/// The message header.
pub const HEADER: usize = 12;
/// Type, class, TTL and RDLENGTH.
const RR_FIXED: usize = 10;

/// The whole message uncompressed: header, questions, records and its own OPT, if any.
pub fn message_len(m: &Message) -> usize {
    let questions: usize = m.queries.iter().map(|q| name_len(q.name()) + 4).sum();
    HEADER + questions + records_len(m) + m.edns.as_ref().map_or(0, opt_len)
}

/// The answer, authority and additional records uncompressed (not the OPT record).
pub fn records_len(m: &Message) -> usize {
    let records = m.answers.iter().chain(&m.authorities).chain(&m.additionals);
    records.map(record_len).sum()
}

/// One record uncompressed.
pub fn record_len(r: &Record) -> usize {
    let rdata = match &r.data {
        RData::A(_) => 4,
        RData::AAAA(_) => 16,
        RData::CNAME(n) => name_len(&n.0),
        RData::PTR(n) => name_len(&n.0),
        RData::NS(n) => name_len(&n.0),
        RData::SRV(s) => 6 + name_len(&s.target),
        RData::MX(mx) => 2 + name_len(&mx.exchange),
        RData::SOA(soa) => name_len(&soa.mname) + name_len(&soa.rname) + 20,
        RData::TXT(txt) => txt.txt_data.iter().map(|s| 1 + s.len()).sum(),
        // Rare types: measure them exactly.
        _ => return r.to_bytes().map_or(usize::from(u16::MAX), |b| b.len()),
    };
    name_len(&r.name) + RR_FIXED + rdata
}

/// An OPT record with its options.
pub fn opt_len(edns: &Edns) -> usize {
    1 + RR_FIXED
        + edns
            .options()
            .options
            .iter()
            .map(|(_, o)| 4 + usize::from(o.len()))
            .sum::<usize>()
}

fn name_len(n: &Name) -> usize {
    // The text form's length plus one: each label's length byte, and the root.
    n.len() + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{MessageType, OpCode, Query};
    use hickory_proto::rr::RecordType;
    use hickory_proto::rr::rdata::{A, CNAME, SOA, SRV, TXT};

    fn n(s: &str) -> Name {
        Name::from_ascii(s).expect("name")
    }

    /// hickory compresses, so each record is measured alone (nothing to point back to) and the
    /// message is compared with the sum of its parts.
    #[test]
    fn lengths_match_what_an_uncompressed_encoder_writes() {
        let records = [
            Record::from_rdata(n("a.example."), 5, RData::A(A::new(10, 0, 0, 1))),
            Record::from_rdata(n("b.example."), 5, RData::CNAME(CNAME(n("c.other.")))),
            Record::from_rdata(
                n("_x._tcp.example."),
                5,
                RData::SRV(SRV::new(0, 100, 80, n("t.other."))),
            ),
            Record::from_rdata(
                n("example."),
                5,
                RData::TXT(TXT::new(vec!["ab".into(), "c".into()])),
            ),
            Record::from_rdata(
                n("example."),
                5,
                RData::SOA(SOA::new(n("ns.other."), n("h.another."), 1, 2, 3, 4, 5)),
            ),
        ];
        for r in &records {
            assert_eq!(record_len(r), r.to_bytes().expect("bytes").len(), "{r}");
        }
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        m.add_query(Query::query(n("q.example."), RecordType::A));
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        m.edns = Some(edns);
        let question = 11 + 4;
        assert_eq!(message_len(&m), 12 + question + 11);
        m.answers.extend(records.iter().cloned());
        let sum: usize = records.iter().map(record_len).sum();
        assert_eq!(message_len(&m), 12 + question + sum + 11);
    }
}
