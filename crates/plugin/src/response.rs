//! CoreDNS's classification of replies (`response.Typify`/`Classify`) and their minimal TTL,
//! for `log`, `cache` and DoH's Cache-Control.

use std::time::Duration;

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::{RData, RecordType};

/// CoreDNS's `MinimalDefaultTTL`: replies with nothing to take a TTL from.
const MINIMAL_DEFAULT_TTL: Duration = Duration::from_secs(5);
/// CoreDNS's `MaximumDefaulTTL`.
const MAXIMUM_DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// The kind of a reply, as CoreDNS's `response.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyType {
    NoError,
    NameError,
    NoData,
    Delegation,
    /// Transfers and NOTIFY.
    Meta,
    Update,
    ServerError,
    OtherError,
}

/// The class `log` filters on (`class success|denial|error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyClass {
    Success,
    Denial,
    Error,
}

/// Classifies a reply the way CoreDNS's `response.Typify` does (without DNSSEC expiry checks).
pub fn typify(m: &Message) -> ReplyType {
    match m.metadata.op_code {
        OpCode::Update => return ReplyType::Update,
        OpCode::Notify => return ReplyType::Meta,
        _ => {}
    }
    if m.queries
        .first()
        .is_some_and(|q| matches!(q.query_type(), RecordType::AXFR | RecordType::IXFR))
    {
        return ReplyType::Meta;
    }
    let rcode = m.metadata.response_code;
    if !m.answers.is_empty() && rcode == ResponseCode::NoError {
        return ReplyType::NoError;
    }
    let soa = m.authorities.iter().any(|r| r.record_type() == RecordType::SOA);
    let ns = m
        .authorities
        .iter()
        .filter(|r| r.record_type() == RecordType::NS)
        .count();
    match rcode {
        ResponseCode::NoError if soa => ReplyType::NoData,
        ResponseCode::NXDomain if soa => ReplyType::NameError,
        ResponseCode::ServFail | ResponseCode::NotImp => ReplyType::ServerError,
        ResponseCode::NoError if ns > 0 => ReplyType::Delegation,
        ResponseCode::NoError => ReplyType::NoError,
        _ => ReplyType::OtherError,
    }
}

impl ReplyType {
    /// CoreDNS's `response.Classify`.
    pub fn class(self) -> ReplyClass {
        match self {
            ReplyType::NoError | ReplyType::Delegation => ReplyClass::Success,
            ReplyType::NameError | ReplyType::NoData => ReplyClass::Denial,
            _ => ReplyClass::Error,
        }
    }
}

/// The rcode's name as miekg/dns writes it (`NOERROR`, `NXDOMAIN`, ...): CoreDNS logs and
/// metric labels use these.
pub fn rcode_name(rcode: ResponseCode) -> std::borrow::Cow<'static, str> {
    let name = match rcode {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::YXDomain => "YXDOMAIN",
        ResponseCode::YXRRSet => "YXRRSET",
        ResponseCode::NXRRSet => "NXRRSET",
        ResponseCode::NotAuth => "NOTAUTH",
        ResponseCode::NotZone => "NOTZONE",
        ResponseCode::BADVERS => "BADVERS",
        ResponseCode::BADKEY => "BADKEY",
        ResponseCode::BADTIME => "BADTIME",
        ResponseCode::BADMODE => "BADMODE",
        ResponseCode::BADNAME => "BADNAME",
        ResponseCode::BADALG => "BADALG",
        ResponseCode::BADTRUNC => "BADTRUNC",
        ResponseCode::BADCOOKIE => "BADCOOKIE",
        other => return u16::from(other).to_string().into(),
    };
    name.into()
}

/// Parses an rcode written as miekg/dns names it (`NXDOMAIN`, case-insensitive) or as a number.
pub fn rcode_from_str(s: &str) -> Option<ResponseCode> {
    if let Ok(n) = s.parse::<u16>() {
        return Some(<ResponseCode as From<u16>>::from(n));
    }
    let upper = s.to_ascii_uppercase();
    (0u16..=23)
        .map(<ResponseCode as From<u16>>::from)
        .find(|rc| rcode_name(*rc) == upper)
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
    use super::*;
    use hickory_proto::op::{MessageType, Query};
    use hickory_proto::rr::rdata::{A, SOA};
    use hickory_proto::rr::{Name, RData, Record};

    fn msg(rcode: ResponseCode, answer: bool, soa: bool) -> Message {
        let name = Name::from_ascii("example.org.").expect("name");
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        m.queries.push(Query::query(name.clone(), RecordType::A));
        m.metadata.response_code = rcode;
        if answer {
            m.answers
                .push(Record::from_rdata(name.clone(), 5, RData::A(A::new(1, 2, 3, 4))));
        }
        if soa {
            let rdata = SOA::new(name.clone(), name.clone(), 1, 2, 3, 4, 5);
            m.authorities.push(Record::from_rdata(name, 5, RData::SOA(rdata)));
        }
        m
    }

    #[test]
    fn typify_table() {
        let cases = [
            (
                msg(ResponseCode::NoError, true, false),
                ReplyType::NoError,
                ReplyClass::Success,
            ),
            (
                msg(ResponseCode::NoError, false, true),
                ReplyType::NoData,
                ReplyClass::Denial,
            ),
            (
                msg(ResponseCode::NXDomain, false, true),
                ReplyType::NameError,
                ReplyClass::Denial,
            ),
            (
                msg(ResponseCode::NXDomain, false, false),
                ReplyType::OtherError,
                ReplyClass::Error,
            ),
            (
                msg(ResponseCode::ServFail, false, false),
                ReplyType::ServerError,
                ReplyClass::Error,
            ),
            (
                msg(ResponseCode::NoError, false, false),
                ReplyType::NoError,
                ReplyClass::Success,
            ),
            (
                msg(ResponseCode::Refused, false, false),
                ReplyType::OtherError,
                ReplyClass::Error,
            ),
        ];
        for (m, t, c) in cases {
            assert_eq!(typify(&m), t);
            assert_eq!(t.class(), c);
        }
    }

    #[test]
    fn rcode_names() {
        assert_eq!(rcode_name(ResponseCode::NXDomain), "NXDOMAIN");
        assert_eq!(rcode_name(ResponseCode::ServFail), "SERVFAIL");
        assert_eq!(rcode_name(ResponseCode::Unknown(3841)), "3841");
        assert_eq!(rcode_from_str("nxdomain"), Some(ResponseCode::NXDomain));
        assert_eq!(rcode_from_str("REFUSED"), Some(ResponseCode::Refused));
        assert_eq!(rcode_from_str("2"), Some(ResponseCode::ServFail));
        assert_eq!(rcode_from_str("NOPE"), None);
    }
}
