//! Per listener: checks a query as CoreDNS (miekg/dns) does, routes it to the block with the
//! longest matching zone, runs the chain and writes the reply fitted to the client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use clusterdns_plugin::proto::op::Query;
use clusterdns_plugin::proto::op::{
    Edns, Header, HeaderCounts, Message, MessageType, Metadata, OpCode, ResponseCode,
};
use clusterdns_plugin::proto::rr::Name;
use clusterdns_plugin::proto::rr::RecordType;
use clusterdns_plugin::proto::rr::{DNSClass, Record};
use clusterdns_plugin::proto::serialize::binary::BinDecoder;
use clusterdns_plugin::{Lookup, Next, Reply, Request, Transport, clog, metrics};
use futures::FutureExt;
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request as WireRequest, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponseBuilder, Queries};
use std::panic::AssertUnwindSafe;

use super::assemble::ZoneTable;
use super::truncate;
use super::udp::UdpReply;
use super::wire;

/// EDNS options CoreDNS echoes back when the reply has no OPT of its own
/// (NSID, EXPIRE, COOKIE, TCP-KEEPALIVE, PADDING: its `supportedOptions`).
const ECHOED_OPTIONS: [u16; 5] = [3, 9, 10, 11, 12];

/// A request's zone until routing picks its block: shared, so no query allocates it.
static NO_ZONE: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| Arc::from(""));

/// Routes queries arriving on one listener. The zone table is swapped whole on reload.
pub struct Dispatcher {
    zones: ArcSwap<ZoneTable>,
    /// `dns://:53` style, as CoreDNS labels its servers.
    server: Arc<str>,
    local: SocketAddr,
}

impl Dispatcher {
    /// Serves `zones` from now on; queries already running finish with the old table.
    pub fn swap(&self, zones: ZoneTable) {
        self.zones.store(Arc::new(zones));
    }

    pub fn new(zones: ZoneTable, server: Arc<str>, local: SocketAddr) -> Self {
        Self {
            zones: ArcSwap::from_pointee(zones),
            server,
            local,
        }
    }

    /// Checks the query, routes it and runs the chain: what to reply.
    async fn answer(self: &Arc<Self>, wire: &WireRequest) -> Answer {
        let md = &wire.metadata;
        // miekg/dns's default accept function, which CoreDNS serves behind.
        if !matches!(md.op_code, OpCode::Query | OpCode::Notify) {
            return Answer::Bare(ResponseCode::NotImp);
        }
        if wire.queries.len() != 1 || wire.answers.len() > 1 || wire.authorities.len() > 1 {
            return Answer::Bare(ResponseCode::FormErr);
        }
        if wire.edns.as_ref().is_some_and(|e| e.version() != 0) {
            return Answer::BadVersion;
        }
        let mut req = Request {
            metadata: wire.metadata,
            query: wire.queries.queries()[0].original().clone(),
            edns: wire.edns.clone(),
            client: wire.src(),
            local: self.local,
            transport: match wire.protocol() {
                Protocol::Tcp => Transport::Tcp,
                _ => Transport::Udp,
            },
            size: wire.as_slice().len(),
            server: self.server.clone(),
            zone: NO_ZONE.clone(),
            received: Instant::now(),
            responder: None,
            server_lookup: Some(self.clone()),
        };
        self.route(&mut req).await
    }

    /// Picks the block for the question and runs its chain.
    async fn route(&self, req: &mut Request) -> Answer {
        // CoreDNS routes every class; CH reaches plugins (observed: kubernetes answers a CH SOA),
        // other non-IN classes have no data anywhere and are refused here.
        if !matches!(req.qclass(), DNSClass::IN | DNSClass::CH) {
            return dropped(req);
        }
        let table = self.zones.load();
        let Some(chain) = table.find_name(req.qname(), req.qtype() == RecordType::DS) else {
            return dropped(req);
        };
        if chain.handlers.is_empty() {
            return dropped(req);
        }
        req.zone = chain.zone.clone();
        // A panic in a plugin answers SERVFAIL and is counted; the server goes on (CoreDNS
        // recovers the same way).
        let run = AssertUnwindSafe(Next::chain(&chain.handlers).run(req))
            .catch_unwind()
            .await;
        match run {
            Ok(Ok(Reply::Answer(m))) => Answer::Message(m),
            Ok(Ok(Reply::NoAnswer(rcode))) => Answer::Error(rcode),
            Ok(Err(e)) => Answer::Error(e.rcode),
            Err(panic) => {
                if let Some(c) = metrics::PANICS.as_ref() {
                    c.inc();
                }
                let what = panic
                    .downcast_ref::<&str>()
                    .map(ToString::to_string)
                    .or_else(|| panic.downcast_ref::<String>().cloned());
                clog::error(
                    None,
                    format_args!(
                        "Recovered from panic in server: {:?} {}",
                        &*self.server,
                        what.unwrap_or_default()
                    ),
                );
                Answer::Error(ResponseCode::ServFail)
            }
        }
    }
}

#[async_trait::async_trait]
impl Lookup for Dispatcher {
    async fn lookup(&self, req: &Request, name: Name, qtype: RecordType) -> Message {
        let mut sub = req.clone();
        sub.query = Query::query(name, qtype);
        sub.responder = None;
        sub.received = Instant::now();
        match self.route(&mut sub).await {
            Answer::Message(m) => m,
            Answer::Error(rcode) | Answer::Bare(rcode) => {
                let mut m = sub.reply();
                m.metadata.response_code = rcode;
                m
            }
            Answer::BadVersion => sub.reply(),
        }
    }
}

/// A query no server block takes: REFUSED, counted under the zone `dropped` (CoreDNS's
/// `errorAndMetricsFunc`).
fn dropped(req: &Request) -> Answer {
    // The reply is the header, the question and the client's OPT, if any.
    let size = 12 + req.qname().len() + 1 + 4 + if req.edns.is_some() { 11 } else { 0 };
    metrics::report(req, "dropped", ResponseCode::Refused, "", size, req.received);
    Answer::Error(ResponseCode::Refused)
}

enum Answer {
    Message(Message),
    /// CoreDNS's `DefaultErrorFunc`: the question, the rcode, the client's OPT.
    Error(ResponseCode),
    /// Header only, no question, no OPT (miekg's reject path).
    Bare(ResponseCode),
    /// EDNS version not 0: BADVERS with an OPT of version 0 and no question.
    BadVersion,
}

/// The dispatcher as hickory's server holds it: shared, so a reload can swap its zone table.
pub struct Shared(pub Arc<Dispatcher>);

#[async_trait::async_trait]
impl RequestHandler for Shared {
    async fn handle_request<R: ResponseHandler, T: Time>(&self, wire: &WireRequest, rh: R) -> ResponseInfo {
        let answer = self.0.answer(wire).await;
        respond(wire, answer, rh).await
    }
}

impl Shared {
    /// Answers a UDP query: a reply CoreDNS would send uncompressed is written here in one
    /// piece; anything else goes through hickory's encoder.
    pub async fn handle_udp(&self, wire: &WireRequest, reply: UdpReply) {
        match self.0.answer(wire).await {
            Answer::Message(m) => {
                let shaped = Shaped::new(wire, m);
                let bytes = shaped
                    .uncompressed
                    .then(|| {
                        wire::uncompressed(
                            &shaped.metadata,
                            wire.queries.as_bytes(),
                            u16::try_from(wire.queries.len()).unwrap_or(1),
                            &shaped.m,
                            shaped.edns.as_ref(),
                            shaped.size,
                        )
                    })
                    .flatten();
                match bytes {
                    Some(bytes) => reply.send_bytes(&bytes),
                    None => {
                        let _ = send_shaped(wire, shaped, reply).await;
                    }
                }
            }
            other => {
                let _ = respond(wire, other, reply).await;
            }
        }
    }
}

/// A chain's reply shaped as CoreDNS shapes it: the client's ID and opcode, EDNS as
/// `SizeAndDo`, and for UDP fitted to the client's size (miekg's `Truncate`).
struct Shaped {
    metadata: Metadata,
    m: Message,
    edns: Option<Edns>,
    /// The reply's size without compression.
    size: usize,
    /// Whether CoreDNS would send it uncompressed: it fits whole, and over UDP it is within
    /// 1480 bytes (IPv4) or 1220 (IPv6), above which `Scrub` compresses.
    uncompressed: bool,
}

impl Shaped {
    fn new(wire: &WireRequest, mut m: Message) -> Self {
        let edns = reply_edns(wire.edns.as_ref(), m.edns.as_ref());
        let mut metadata = m.metadata;
        metadata.id = wire.metadata.id;
        metadata.message_type = MessageType::Response;
        metadata.op_code = wire.metadata.op_code;
        m.additionals.retain(|r| !is_opt(r));
        let question = wire.queries.as_bytes();
        let size = truncate::upper_bound(question, &m, edns.as_ref());
        let udp = wire.protocol() == Protocol::Udp;
        let limit = if udp {
            usize::from(udp_limit(wire))
        } else {
            usize::from(u16::MAX)
        };
        let mut uncompressed = size <= limit;
        if !uncompressed && udp {
            let fit = truncate::fit(question, &m, edns.as_ref(), udp_limit(wire));
            m.answers.truncate(fit.answers);
            m.authorities.truncate(fit.authorities);
            m.additionals.truncate(fit.additionals);
            metadata.truncation |= fit.truncated;
        }
        let scrub = if clusterdns_plugin::is_ipv4_family(wire.src().ip()) {
            1480
        } else {
            1220
        };
        if udp && size > scrub {
            uncompressed = false;
        }
        Shaped {
            metadata,
            m,
            edns,
            size,
            uncompressed,
        }
    }
}

/// Writes a shaped reply with hickory's encoder (which compresses names).
async fn send_shaped<R: ResponseHandler>(
    wire: &WireRequest,
    shaped: Shaped,
    mut rh: R,
) -> Result<ResponseInfo, hickory_server::net::NetError> {
    let mut builder = MessageResponseBuilder::from_message_request(wire);
    if let Some(e) = shaped.edns.as_ref() {
        builder.edns(e);
    }
    let m = &shaped.m;
    rh.send_response(builder.build(
        shaped.metadata,
        m.answers.iter(),
        m.authorities.iter(),
        [].iter(),
        m.additionals.iter(),
    ))
    .await
}

/// Writes any answer through `rh` (hickory's encoder).
async fn respond<R: ResponseHandler>(wire: &WireRequest, answer: Answer, mut rh: R) -> ResponseInfo {
    let sent = match answer {
        Answer::Message(m) => send_shaped(wire, Shaped::new(wire, m), rh).await,
        Answer::Error(rcode) => {
            let edns = reply_edns(wire.edns.as_ref(), None);
            let mut builder = MessageResponseBuilder::from_message_request(wire);
            if let Some(e) = edns.as_ref() {
                builder.edns(e);
            }
            let mut md = Metadata::response_from_request(&wire.metadata);
            md.response_code = rcode;
            rh.send_response(builder.build_no_records(md)).await
        }
        Answer::Bare(rcode) => {
            let mut md = Metadata::response_from_request(&wire.metadata);
            md.response_code = rcode;
            let no_queries = empty_queries();
            let builder = MessageResponseBuilder::new(&no_queries, None);
            rh.send_response(builder.build_no_records(md)).await
        }
        Answer::BadVersion => {
            let mut edns = Edns::new();
            edns.set_version(0);
            let mut md = Metadata::response_from_request(&wire.metadata);
            md.response_code = ResponseCode::BADVERS;
            let no_queries = empty_queries();
            let builder = MessageResponseBuilder::new(&no_queries, Some(&edns));
            rh.send_response(builder.build_no_records(md)).await
        }
    };
    sent.unwrap_or_else(|_| {
        let mut md = Metadata::response_from_request(&wire.metadata);
        md.response_code = ResponseCode::ServFail;
        ResponseInfo::from(Header {
            metadata: md,
            counts: HeaderCounts::default(),
        })
    })
}

/// CoreDNS's `SizeAndDo`: a reply to an EDNS query carries OPT version 0 with the client's UDP
/// size (which also sets where the reply is truncated) and DO bit; a reply without its own OPT
/// echoes the client's supported options. No OPT for a query without one.
fn reply_edns(client: Option<&Edns>, own: Option<&Edns>) -> Option<Edns> {
    let client = client?;
    let mut edns = match own {
        Some(own) => own.clone(),
        None => {
            let mut e = Edns::new();
            for (code, option) in &client.options().options {
                if ECHOED_OPTIONS.contains(&u16::from(*code)) {
                    e.options_mut().options.push((*code, option.clone()));
                }
            }
            e
        }
    };
    edns.set_version(0);
    edns.set_max_payload(client.max_payload());
    edns.set_dnssec_ok(client.flags().dnssec_ok);
    Some(edns)
}

/// The largest UDP reply the client takes: its EDNS size, at least 512 (512 without EDNS).
fn udp_limit(wire: &WireRequest) -> u16 {
    wire.edns.as_ref().map_or(512, |e| e.max_payload().max(512))
}

fn is_opt(r: &Record) -> bool {
    r.record_type() == clusterdns_plugin::proto::rr::RecordType::OPT
}

/// A question section with no questions (hickory keeps its own constructor private).
pub(super) fn empty_queries() -> Queries {
    let mut decoder = BinDecoder::new(&[]);
    Queries::read(&mut decoder, 0).unwrap_or_else(|_| unreachable!("reading zero queries cannot fail"))
}
