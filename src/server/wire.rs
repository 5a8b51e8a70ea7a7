//! Replies written as CoreDNS writes the ones that fit: without name compression.
//!
//! miekg/dns's `Msg.Truncate`, which CoreDNS runs on every reply, turns compression off when the
//! uncompressed message fits the client's size ("don't waste effort compressing this message"),
//! and CoreDNS's `Scrub` turns it back on only for UDP replies over 1480 bytes (IPv4) or 1220
//! (IPv6). So a reply that fits goes out uncompressed, byte for byte as CoreDNS sends it, and
//! writing it is a straight copy: no compression table, no allocation per label.

use clusterdns_plugin::proto::op::{Edns, HeaderCounts, Message, MessageType, Metadata};
use clusterdns_plugin::proto::rr::{Name, RData, Record};
use clusterdns_plugin::proto::serialize::binary::{BinEncodable, BinEncoder};

/// The reply in wire form, uncompressed: `question` is the request's question section as the
/// client sent it. `None` when a record's type is not one written here (hickory's encoder
/// takes those) or the extended rcode needs the OPT record's upper bits.
pub fn uncompressed(
    metadata: &Metadata,
    question: &[u8],
    queries: u16,
    m: &Message,
    edns: Option<&Edns>,
    size: usize,
) -> Option<Vec<u8>> {
    if metadata.response_code.high() > 0 {
        return None;
    }
    let count = |n: usize| u16::try_from(n).ok();
    let counts = HeaderCounts {
        queries,
        answers: count(m.answers.len())?,
        authorities: count(m.authorities.len())?,
        additionals: count(m.additionals.len() + usize::from(edns.is_some()))?,
    };
    // hickory's encoder grows a buffer to 512 bytes before writing the OPT record.
    let mut buf = Vec::with_capacity(size.max(512));
    header(&mut buf, metadata, &counts);
    buf.extend_from_slice(question);
    for r in m.answers.iter().chain(&m.authorities).chain(&m.additionals) {
        record(&mut buf, r)?;
    }
    if let Some(edns) = edns {
        let at = u32::try_from(buf.len()).ok()?;
        edns.emit(&mut BinEncoder::with_offset(&mut buf, at)).ok()?;
    }
    Some(buf)
}

/// The 12-byte header, laid out as hickory's `Header::emit` lays it out (a test holds them
/// equal); written by hand because the encoder's bounds-checked writes cost 40 instructions a
/// byte here.
fn header(buf: &mut Vec<u8>, md: &Metadata, counts: &HeaderCounts) {
    let bit = |on: bool, mask: u8| if on { mask } else { 0 };
    buf.extend_from_slice(&md.id.to_be_bytes());
    buf.push(
        bit(md.message_type == MessageType::Response, 0x80)
            | (u8::from(md.op_code) << 3)
            | bit(md.authoritative, 0x04)
            | bit(md.truncation, 0x02)
            | bit(md.recursion_desired, 0x01),
    );
    buf.push(
        bit(md.recursion_available, 0x80)
            | bit(md.authentic_data, 0x20)
            | bit(md.checking_disabled, 0x10)
            | md.response_code.low(),
    );
    for n in [
        counts.queries,
        counts.answers,
        counts.authorities,
        counts.additionals,
    ] {
        buf.extend_from_slice(&n.to_be_bytes());
    }
}

fn name(buf: &mut Vec<u8>, name: &Name) {
    for label in name.iter() {
        // hickory's labels are at most 63 bytes.
        buf.push(label.len() as u8);
        buf.extend_from_slice(label);
    }
    buf.push(0);
}

fn record(buf: &mut Vec<u8>, r: &Record) -> Option<()> {
    name(buf, &r.name);
    buf.extend_from_slice(&u16::from(r.record_type()).to_be_bytes());
    buf.extend_from_slice(&u16::from(r.dns_class).to_be_bytes());
    buf.extend_from_slice(&r.ttl.to_be_bytes());
    let length_at = buf.len();
    buf.extend_from_slice(&[0, 0]);
    match &r.data {
        RData::A(a) => buf.extend_from_slice(&a.0.octets()),
        RData::AAAA(aaaa) => buf.extend_from_slice(&aaaa.0.octets()),
        RData::CNAME(n) => name(buf, &n.0),
        RData::PTR(n) => name(buf, &n.0),
        RData::NS(n) => name(buf, &n.0),
        RData::SRV(srv) => {
            for v in [srv.priority, srv.weight, srv.port] {
                buf.extend_from_slice(&v.to_be_bytes());
            }
            name(buf, &srv.target);
        }
        RData::MX(mx) => {
            buf.extend_from_slice(&mx.preference.to_be_bytes());
            name(buf, &mx.exchange);
        }
        RData::SOA(soa) => {
            name(buf, &soa.mname);
            name(buf, &soa.rname);
            buf.extend_from_slice(&soa.serial.to_be_bytes());
            for v in [soa.refresh, soa.retry, soa.expire] {
                buf.extend_from_slice(&v.to_be_bytes());
            }
            buf.extend_from_slice(&soa.minimum.to_be_bytes());
        }
        RData::TXT(txt) => {
            for s in &txt.txt_data {
                buf.push(u8::try_from(s.len()).ok()?);
                buf.extend_from_slice(s);
            }
        }
        _ => return None,
    }
    let length = u16::try_from(buf.len() - length_at - 2).ok()?;
    buf[length_at..length_at + 2].copy_from_slice(&length.to_be_bytes());
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clusterdns_plugin::proto::op::{Edns, MessageType, OpCode, Query};
    use clusterdns_plugin::proto::rr::RecordType;
    use clusterdns_plugin::proto::rr::rdata::{A, AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT};
    use clusterdns_plugin::proto::serialize::binary::BinDecodable;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).expect("name")
    }

    /// Every type written here, read back by hickory's decoder into the same records; no
    /// compression pointer anywhere (each owner name is written in full).
    #[test]
    fn replies_decode_to_the_records_written_and_are_not_compressed() {
        let owner = n("Web.Default.svc.cluster.local.");
        let q = Query::query(owner.clone(), RecordType::A);
        let question = q.to_bytes().expect("question");
        let mut m = Message::new(7, MessageType::Response, OpCode::Query);
        m.metadata.authoritative = true;
        let data = [
            RData::A(A::new(10, 0, 0, 1)),
            RData::AAAA(AAAA::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
            RData::CNAME(CNAME(n("target.example."))),
            RData::PTR(PTR(n("web.default.svc.cluster.local."))),
            RData::NS(NS(n("ns.dns.cluster.local."))),
            RData::SRV(SRV::new(0, 100, 80, n("web.default.svc.cluster.local."))),
            RData::MX(MX::new(10, n("mail.example."))),
            RData::TXT(TXT::new(vec!["1.1.0".into(), String::new()])),
        ];
        m.answers = data
            .into_iter()
            .map(|d| Record::from_rdata(owner.clone(), 5, d))
            .collect();
        m.authorities.push(Record::from_rdata(
            n("cluster.local."),
            5,
            RData::SOA(SOA::new(
                n("ns.dns.cluster.local."),
                n("hostmaster.cluster.local."),
                1_700_000_000,
                7200,
                1800,
                86400,
                5,
            )),
        ));
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        edns.set_dnssec_ok(true);
        let bytes = uncompressed(&m.metadata, &question, 1, &m, Some(&edns), 512).expect("encoded");

        let back = Message::from_bytes(&bytes).expect("decodes");
        assert_eq!(back.metadata.id, 7);
        assert!(back.metadata.authoritative);
        assert_eq!(back.queries, vec![q]);
        assert_eq!(back.answers, m.answers);
        assert_eq!(back.authorities, m.authorities);
        let opt = back.edns.expect("OPT");
        assert_eq!((opt.max_payload(), opt.flags().dnssec_ok), (1232, true));
        // The owner name's case survives, and nothing is compressed: the message is exactly
        // the uncompressed size the truncation code computes.
        assert_eq!(back.answers[0].name.to_ascii(), "Web.Default.svc.cluster.local.");
        assert_eq!(
            bytes.len(),
            super::super::truncate::upper_bound(&question, &m, Some(&edns))
        );
    }

    #[test]
    fn headers_are_laid_out_as_hickory_lays_them_out() {
        use clusterdns_plugin::proto::op::{Header, ResponseCode};
        let counts = HeaderCounts {
            queries: 1,
            answers: 258,
            authorities: 3,
            additionals: 65535,
        };
        for bits in 0..64u8 {
            let mut md = Metadata::new(0xbeef, MessageType::Response, OpCode::Notify);
            md.authoritative = bits & 1 != 0;
            md.truncation = bits & 2 != 0;
            md.recursion_desired = bits & 4 != 0;
            md.recursion_available = bits & 8 != 0;
            md.authentic_data = bits & 16 != 0;
            md.checking_disabled = bits & 32 != 0;
            md.response_code = ResponseCode::NXDomain;
            let mut ours = Vec::new();
            header(&mut ours, &md, &counts);
            let theirs = Header { metadata: md, counts }.to_bytes().expect("header");
            assert_eq!(ours, theirs, "{bits:06b}");
        }
        let query = Metadata::new(1, MessageType::Query, OpCode::Query);
        let mut ours = Vec::new();
        header(&mut ours, &query, &counts);
        assert_eq!(
            ours,
            Header {
                metadata: query,
                counts
            }
            .to_bytes()
            .expect("header")
        );
    }

    #[test]
    fn types_not_written_here_are_left_to_hickory() {
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        m.answers.push(Record::from_rdata(
            n("x.example."),
            5,
            RData::CAA(clusterdns_plugin::proto::rr::rdata::CAA::new_issue(
                false,
                None,
                vec![],
            )),
        ));
        assert!(uncompressed(&m.metadata, &[], 0, &m, None, 512).is_none());
    }
}
