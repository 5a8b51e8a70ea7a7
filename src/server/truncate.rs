//! Fitting a UDP reply to the client's size the way CoreDNS does (miekg/dns `Msg.Truncate`):
//! records are kept in order until the first one that does not fit, and nothing after it, so a
//! truncated answer carries no authority or glue. hickory's encoder would go on filling the
//! later sections, which CoreDNS does not.

use clusterdns_plugin::proto::op::{Edns, Message, Query};
use clusterdns_plugin::proto::rr::Record;
use clusterdns_plugin::proto::serialize::binary::{BinEncodable, BinEncoder};
use clusterdns_plugin::size::{HEADER, opt_len, records_len};

/// How many records of each section fit, and whether any were left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    pub answers: usize,
    pub authorities: usize,
    pub additionals: usize,
    pub truncated: bool,
}

/// An upper bound of the reply's size without name compression, computed without encoding:
/// when it is within the limit, the reply fits and no fitting is needed.
pub fn upper_bound(question: &[u8], m: &Message, edns: Option<&Edns>) -> usize {
    HEADER + question.len() + records_len(m) + edns.map_or(0, opt_len)
}

/// Which records fit in `limit` bytes, miekg's way: the OPT record's room is kept first, then
/// answers, authorities and additionals are added in order until one does not fit, names
/// compressed against the question and every name before them (as miekg compresses a reply it
/// truncates). The dispatcher's encoder lays the reply out the same way, so the count is what
/// it sends.
pub fn fit<'q>(
    queries: impl Iterator<Item = &'q Query>,
    m: &Message,
    edns: Option<&Edns>,
    limit: u16,
) -> Fit {
    let room = usize::from(limit.max(512)).saturating_sub(edns.map_or(0, opt_len));
    // No maximum on the encoder: hickory writes a name out in full before it finds the pointer
    // that replaces it, so a record that fits once compressed could fail to go in. Each record
    // is measured after it is written instead.
    let mut buf = Vec::with_capacity(room + 256);
    let mut enc = BinEncoder::new(&mut buf);
    let all = Fit {
        answers: m.answers.len(),
        authorities: m.authorities.len(),
        additionals: m.additionals.len(),
        truncated: false,
    };
    let question = enc.emit_vec(&[0; HEADER]).and_then(|_| enc.emit_all(queries));
    if question.is_err() || enc.offset() > room {
        return Fit {
            answers: 0,
            authorities: 0,
            additionals: 0,
            truncated: true,
        };
    }
    let mut fit = all;
    let sections: [(&[Record], &mut usize); 3] = [
        (&m.answers, &mut fit.answers),
        (&m.authorities, &mut fit.authorities),
        (&m.additionals, &mut fit.additionals),
    ];
    let mut full = false;
    for (records, kept) in sections {
        if full {
            *kept = 0;
            continue;
        }
        for (i, record) in records.iter().enumerate() {
            // Any encoding error counts as not fitting; the encoder will report it.
            if record.emit(&mut enc).is_err() || enc.offset() > room {
                *kept = i;
                full = true;
                break;
            }
        }
    }
    fit.truncated = full;
    fit
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusterdns_plugin::proto::op::{MessageType, OpCode};
    use clusterdns_plugin::proto::rr::RData;
    use clusterdns_plugin::proto::rr::rdata::{A, SRV};
    use clusterdns_plugin::proto::rr::{Name, RecordType};
    use clusterdns_plugin::proto::serialize::binary::BinEncodable;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).expect("name")
    }

    fn question(q: &Query) -> Vec<u8> {
        q.to_bytes().expect("question")
    }

    #[test]
    fn small_replies_need_no_fitting() {
        let q = Query::query(name("a.example."), RecordType::A);
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        m.answers.push(Record::from_rdata(
            name("a.example."),
            5,
            RData::A(A::new(10, 0, 0, 1)),
        ));
        assert!(upper_bound(&question(&q), &m, None) <= 512);
    }

    /// 60 A records for one 36-byte name: each owner points to the question's name, 16 bytes a
    /// record, 28 fit in 512 bytes, as miekg/dns fits them (hickory-server's responder, which
    /// registers the question's name and type as one compression candidate, fitted 25).
    #[test]
    fn many_addresses_fill_512_without_edns() {
        let owner = name("headless.default.svc.cluster.local.");
        let q = Query::query(owner.clone(), RecordType::A);
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        for i in 0..60u8 {
            m.answers.push(Record::from_rdata(
                owner.clone(),
                5,
                RData::A(A::new(10, 0, 1, i)),
            ));
        }
        let qb = question(&q);
        assert!(upper_bound(&qb, &m, None) > 512);
        let f = fit([&q].into_iter(), &m, None, 512);
        assert_eq!(
            f,
            Fit {
                answers: 28,
                authorities: 0,
                additionals: 0,
                truncated: true
            }
        );
    }

    /// When answers overflow, no glue is kept even if some would fit (CoreDNS: "no glue").
    #[test]
    fn overflowing_answers_leave_out_glue() {
        let owner = name("_http._tcp.web.default.svc.cluster.local.");
        let q = Query::query(owner.clone(), RecordType::SRV);
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        for i in 0..60u8 {
            let target = name(&format!("pod-{i}.web.default.svc.cluster.local."));
            m.answers.push(Record::from_rdata(
                owner.clone(),
                5,
                RData::SRV(SRV::new(0, 1, 80, target.clone())),
            ));
            m.additionals
                .push(Record::from_rdata(target, 5, RData::A(A::new(10, 0, 2, i))));
        }
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        let f = fit([&q].into_iter(), &m, Some(&edns), 1232);
        assert!(f.truncated);
        assert!(f.answers > 0 && f.answers < 60);
        assert_eq!((f.authorities, f.additionals), (0, 0));
    }

    #[test]
    fn everything_fits_when_under_the_limit() {
        let owner = name("x.example.");
        let q = Query::query(owner.clone(), RecordType::A);
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        for i in 0..10u8 {
            m.answers.push(Record::from_rdata(
                owner.clone(),
                5,
                RData::A(A::new(10, 0, 0, i)),
            ));
        }
        let f = fit([&q].into_iter(), &m, None, 512);
        assert_eq!(
            f,
            Fit {
                answers: 10,
                authorities: 0,
                additionals: 0,
                truncated: false
            }
        );
    }
}
