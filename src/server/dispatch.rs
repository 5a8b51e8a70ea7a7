//! Per listener: checks a query as CoreDNS (miekg/dns) does, routes it to the block with the
//! longest matching zone, runs the chain and writes the reply fitted to the client, in wire
//! form, for the UDP and TCP servers to send.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use clusterdns_plugin::proto::op::{
    Edns, Header, HeaderCounts, Message, MessageType, Metadata, OpCode, ResponseCode,
};
use clusterdns_plugin::proto::op::{LowerQuery, Query, emit_message_parts};
use clusterdns_plugin::proto::rr::Name;
use clusterdns_plugin::proto::rr::RecordType;
use clusterdns_plugin::proto::rr::{DNSClass, RData, Record};
use clusterdns_plugin::proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};
use clusterdns_plugin::{Lookup, Next, PluginError, Reply, Request, Transport, clog, metrics};
use futures::FutureExt;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::Request as WireRequest;
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder, Queries};

use super::assemble::ZoneTable;
use super::truncate;
use super::wire;

/// How many times one client query may go through the server again (an ExternalName's target,
/// and any later re-entry): CoreDNS follows at most 10 CNAMEs since 1.12.1. Two services naming
/// each other would otherwise recurse until the stack overflows (CoreDNS 1.11.3 dies on them
/// after ~1 GB of recursion).
pub const MAX_LOOKUPS: u8 = 10;

/// Queries of one listener waiting on the runtime (forward, a sub-lookup): the ones answered in
/// place cost nothing held, these hold their request and state until answered. Beyond this
/// many, a query that would wait is refused, as forward's `max_concurrent` refuses, whatever
/// forward's own settings.
pub const MAX_WAITING: usize = 4096;

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
    /// Queries waiting on the runtime, UDP and TCP: at most [`MAX_WAITING`].
    waiting: AtomicUsize,
    /// Client questions whose lookups went past [`MAX_LOOKUPS`], logged once each.
    too_deep: Mutex<HashSet<Name>>,
}

/// A place among a listener's waiting queries, given back on drop.
pub struct Waiting(Arc<Dispatcher>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Dispatcher {
    /// The listener as metrics label it (`https://:443`).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The listener's TCP timeouts, as the serving configuration sets them.
    pub fn timeouts(&self) -> clusterdns_plugin::Timeouts {
        self.zones.load().timeouts
    }

    /// Serves `zones` from now on; queries already running finish with the old table.
    pub fn swap(&self, zones: ZoneTable) {
        self.zones.store(Arc::new(zones));
    }

    pub fn new(zones: ZoneTable, server: Arc<str>, local: SocketAddr) -> Self {
        Self {
            zones: ArcSwap::from_pointee(zones),
            server,
            local,
            waiting: AtomicUsize::new(0),
            too_deep: Mutex::new(HashSet::new()),
        }
    }

    /// A place for a query that has to wait, or `None` when [`MAX_WAITING`] are waiting (the
    /// refusal is counted).
    pub fn admit(self: &Arc<Self>, transport: Transport) -> Option<Waiting> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            if let Some(c) = metrics::OVERLOAD_REFUSED.as_ref() {
                c.with_label_values(&[&*self.server, transport.as_str()]).inc();
            }
            return None;
        }
        Some(Waiting(self.clone()))
    }

    /// The reply to `wire`: checked, routed, answered, shaped and encoded as CoreDNS writes it
    /// for the query's transport; empty when nothing is to be sent (a dropped query).
    pub async fn reply(self: &Arc<Self>, wire: &WireRequest) -> Vec<u8> {
        let (answer, size) = self.answer(wire).await;
        encode(wire, answer, size)
    }

    /// The replies to `wire` over TCP: one, or a zone transfer's several, each shaped and
    /// encoded as [`Dispatcher::reply`] does.
    pub async fn replies(self: &Arc<Self>, wire: &WireRequest) -> Vec<Vec<u8>> {
        let (answer, size) = self.answer(wire).await;
        match answer {
            Answer::Stream(messages) => messages
                .into_iter()
                .map(|m| encode(wire, Answer::Message(m), size))
                .collect(),
            answer => vec![encode(wire, answer, size)],
        }
    }

    /// REFUSED for `wire`, as forward's `max_concurrent` answers (the question and the
    /// client's OPT).
    pub fn refused(wire: &WireRequest) -> Vec<u8> {
        encode(wire, Answer::Error(ResponseCode::Refused), None)
    }

    /// Checks the query, routes it and runs the chain: what to reply, and the client's UDP size
    /// if a plugin lowered it (`bufsize`: the reply is then shaped by the new size, as CoreDNS's
    /// writer reads the OPT the plugin changed).
    async fn answer(self: &Arc<Self>, wire: &WireRequest) -> (Answer, Option<u16>) {
        let md = &wire.metadata;
        // miekg/dns's default accept function, which CoreDNS serves behind.
        if !matches!(md.op_code, OpCode::Query | OpCode::Notify) {
            return (Answer::Bare(ResponseCode::NotImp), None);
        }
        if wire.queries.len() != 1 || wire.answers.len() > 1 || wire.authorities.len() > 1 {
            return (Answer::Bare(ResponseCode::FormErr), None);
        }
        if wire.edns.as_ref().is_some_and(|e| e.version() != 0) {
            return (Answer::BadVersion, None);
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
            lookups: None,
            meta: None,
            ixfr_serial: match wire.authorities.as_slice() {
                [soa] => match &soa.data {
                    RData::SOA(soa) => Some(soa.serial),
                    _ => None,
                },
                _ => None,
            },
        };
        let answer = self.route(&mut req).await;
        let size = req.edns.as_ref().map(Edns::max_payload);
        let changed = size.filter(|s| Some(*s) != wire.edns.as_ref().map(Edns::max_payload));
        (answer, changed)
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
            Ok(Ok(Reply::Dropped)) => Answer::Silent,
            Ok(Ok(Reply::Transfer(messages))) => Answer::Stream(messages),
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
    async fn lookup(&self, req: &Request, name: Name, qtype: RecordType) -> Result<Message, PluginError> {
        let count = req.lookups.clone().unwrap_or_default();
        let too_deep = || PluginError {
            rcode: ResponseCode::ServFail,
            message: format!("more than {MAX_LOOKUPS} lookups through the server (a CNAME loop?)"),
        };
        if count.made.fetch_add(1, Ordering::AcqRel) >= MAX_LOOKUPS {
            count.exhausted.store(true, Ordering::Release);
            self.log_loop(req);
            return Err(too_deep());
        }
        let mut sub = req.clone();
        sub.query = Query::query(name, qtype);
        sub.responder = None;
        sub.received = Instant::now();
        sub.lookups = Some(count.clone());
        let answer = self.route(&mut sub).await;
        // Past the bound somewhere below: every level fails, not only the last.
        if count.exhausted.load(Ordering::Acquire) {
            return Err(too_deep());
        }
        Ok(match answer {
            Answer::Message(m) => m,
            Answer::Error(rcode) | Answer::Bare(rcode) => {
                let mut m = sub.reply();
                m.metadata.response_code = rcode;
                m
            }
            // A dropped lookup found nothing.
            Answer::BadVersion | Answer::Silent => sub.reply(),
            Answer::Stream(messages) => messages.into_iter().next().unwrap_or_else(|| sub.reply()),
        })
    }
}

impl Dispatcher {
    /// Logs a lookup loop once per client question (the set is bounded: a flood of distinct
    /// loops cannot grow it).
    fn log_loop(&self, req: &Request) {
        let first = self.too_deep.lock().is_ok_and(|mut seen| {
            if seen.len() >= 1024 {
                seen.clear();
            }
            seen.insert(req.qname().clone())
        });
        if first {
            clog::error(
                None,
                format_args!(
                    "{} {}: more than {MAX_LOOKUPS} lookups through the server (a CNAME loop?), answering SERVFAIL",
                    req.qname(),
                    req.qtype()
                ),
            );
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
    /// Nothing at all (acl's `drop`).
    Silent,
    /// A zone transfer's messages.
    Stream(Vec<Message>),
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
    fn new(wire: &WireRequest, mut m: Message, lowered: Option<u16>) -> Self {
        let edns = reply_edns(wire.edns.as_ref(), m.edns.as_ref(), lowered);
        let mut metadata = m.metadata;
        metadata.id = wire.metadata.id;
        metadata.message_type = MessageType::Response;
        metadata.op_code = wire.metadata.op_code;
        m.additionals.retain(|r| !is_opt(r));
        let question = wire.queries.as_bytes();
        let size = truncate::upper_bound(question, &m, edns.as_ref());
        let udp = wire.protocol() == Protocol::Udp;
        let limit = if udp {
            usize::from(udp_limit(wire, lowered))
        } else {
            usize::from(u16::MAX)
        };
        let mut uncompressed = size <= limit;
        if !uncompressed && udp {
            let queries = wire.queries.queries().iter().map(LowerQuery::original);
            let fit = truncate::fit(queries, &m, edns.as_ref(), udp_limit(wire, lowered));
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

/// An answer in wire form: a shaped reply CoreDNS sends uncompressed is written in one pass;
/// anything else goes through hickory's encoder (which compresses names).
fn encode(wire: &WireRequest, answer: Answer, size: Option<u16>) -> Vec<u8> {
    let limit = match wire.protocol() {
        Protocol::Udp => udp_limit(wire, size),
        _ => u16::MAX,
    };
    match answer {
        // Transfers are TCP's, written by `replies` (the transfer plugin refuses them over
        // UDP): here the first message only.
        Answer::Stream(messages) => messages
            .into_iter()
            .next()
            .map(|m| encode(wire, Answer::Message(m), size))
            .unwrap_or_default(),
        Answer::Message(m) => {
            let shaped = Shaped::new(wire, m, size);
            if shaped.uncompressed
                && let Some(bytes) = wire::uncompressed(
                    &shaped.metadata,
                    wire.queries.as_bytes(),
                    u16::try_from(wire.queries.len()).unwrap_or(1),
                    &shaped.m,
                    shaped.edns.as_ref(),
                    shaped.size,
                )
            {
                return bytes;
            }
            // The question written from its parsed form, so that names compress against it as
            // miekg compresses them (hickory-server's responder copies its bytes and registers
            // name and type together, which no owner name matches).
            // The records were fitted to `limit` (`truncate::fit`, the same layout); the encoder
            // gets room to spare, since hickory writes a name in full before it compresses it.
            // Should the reply still come out too big, it is encoded again within the limit.
            let m = &shaped.m;
            let mut bytes = Vec::with_capacity(512);
            for max in [u16::MAX, limit] {
                bytes.clear();
                let mut encoder = BinEncoder::new(&mut bytes);
                encoder.set_max_size(max);
                let emitted = emit_message_parts(
                    &shaped.metadata,
                    &mut wire.queries.queries().iter().map(LowerQuery::original),
                    &mut m.answers.iter(),
                    &mut m.authorities.iter(),
                    &mut m.additionals.iter(),
                    shaped.edns.as_ref(),
                    None,
                    &mut encoder,
                );
                if let Err(e) = emitted {
                    return unencodable(shaped.metadata.id, &e);
                }
                if bytes.len() <= usize::from(limit) {
                    break;
                }
            }
            bytes
        }
        Answer::Error(rcode) => {
            let edns = reply_edns(wire.edns.as_ref(), None, size);
            let mut builder = MessageResponseBuilder::from_message_request(wire);
            if let Some(e) = edns.as_ref() {
                builder.edns(e);
            }
            let mut md = Metadata::response_from_request(&wire.metadata);
            md.response_code = rcode;
            emit(builder.build_no_records(md), limit)
        }
        Answer::Bare(rcode) => {
            let mut md = Metadata::response_from_request(&wire.metadata);
            md.response_code = rcode;
            let no_queries = empty_queries();
            emit(
                MessageResponseBuilder::new(&no_queries, None).build_no_records(md),
                limit,
            )
        }
        Answer::Silent => Vec::new(),
        Answer::BadVersion => {
            let mut edns = Edns::new();
            edns.set_version(0);
            let mut md = Metadata::response_from_request(&wire.metadata);
            md.response_code = ResponseCode::BADVERS;
            let no_queries = empty_queries();
            emit(
                MessageResponseBuilder::new(&no_queries, Some(&edns)).build_no_records(md),
                limit,
            )
        }
    }
}

/// Encodes a response of at most `limit` bytes (records that do not fit are left out, TC set);
/// one that cannot be encoded becomes a bare SERVFAIL.
fn emit<'a>(
    response: MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
    limit: u16,
) -> Vec<u8> {
    let id = response.metadata().id;
    let mut bytes = Vec::with_capacity(512);
    let mut encoder = BinEncoder::new(&mut bytes);
    encoder.set_max_size(limit);
    match response.destructive_emit(&mut encoder) {
        Ok(_) => bytes,
        Err(e) => unencodable(id, &e),
    }
}

/// A bare SERVFAIL for reply `id`, which could not be encoded (logged).
fn unencodable(id: u16, e: &dyn std::fmt::Display) -> Vec<u8> {
    clog::error(None, format_args!("encoding reply {id}: {e}"));
    let mut bytes = Vec::with_capacity(clusterdns_plugin::size::HEADER);
    let mut metadata = Metadata::new(id, MessageType::Response, OpCode::Query);
    metadata.response_code = ResponseCode::ServFail;
    let header = Header {
        metadata,
        counts: HeaderCounts::default(),
    };
    let _ = header.emit(&mut BinEncoder::new(&mut bytes));
    bytes
}

/// A message as it arrived, sorted as miekg/dns and hickory sort them before any answering.
/// Not boxed: it is taken apart at once, and a box would cost an allocation per query.
#[allow(clippy::large_enum_variant)]
pub enum Incoming {
    /// Shorter than a header, or a response (never answered: no reflection): dropped.
    Ignored,
    /// A header that reads and a body that does not: this FORMERR goes back.
    Malformed(Vec<u8>),
    Query(WireRequest),
}

impl Incoming {
    pub fn sort(bytes: Vec<u8>, src: SocketAddr, protocol: Protocol) -> Incoming {
        let Some(header) = bytes.get(..12) else {
            return Incoming::Ignored;
        };
        if header[2] & 0x80 != 0 {
            return Incoming::Ignored;
        }
        let mut head = [0u8; 12];
        head.copy_from_slice(header);
        match WireRequest::from_bytes(bytes, src, protocol) {
            Ok(request) => Incoming::Query(request),
            Err(_) => format_error(&head).map_or(Incoming::Ignored, Incoming::Malformed),
        }
    }
}

/// The reply to a query whose header reads but whose body does not: FORMERR with the client's
/// ID and no question (hickory's answer, which the tests pin). `None` without a header.
fn format_error(bytes: &[u8]) -> Option<Vec<u8>> {
    let header = Header::read(&mut BinDecoder::new(bytes)).ok()?;
    let queries = empty_queries();
    Some(emit(
        MessageResponseBuilder::new(&queries, None).error_msg(&header.metadata, ResponseCode::FormErr),
        512,
    ))
}

/// CoreDNS's `SizeAndDo`: a reply to an EDNS query carries OPT version 0 with the client's UDP
/// size (`size` if a plugin lowered it; it also sets where the reply is truncated) and DO bit;
/// a reply without its own OPT echoes the client's supported options. No OPT for a query
/// without one.
fn reply_edns(client: Option<&Edns>, own: Option<&Edns>, size: Option<u16>) -> Option<Edns> {
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
    edns.set_max_payload(size.unwrap_or_else(|| client.max_payload()));
    edns.set_dnssec_ok(client.flags().dnssec_ok);
    Some(edns)
}

/// The largest UDP reply the client takes: its EDNS size, at least 512 (512 without EDNS).
fn udp_limit(wire: &WireRequest, size: Option<u16>) -> u16 {
    wire.edns
        .as_ref()
        .map_or(512, |e| size.unwrap_or_else(|| e.max_payload()).max(512))
}

fn is_opt(r: &Record) -> bool {
    r.record_type() == clusterdns_plugin::proto::rr::RecordType::OPT
}

/// A question section with no questions (hickory keeps its own constructor private).
fn empty_queries() -> Queries {
    let mut decoder = BinDecoder::new(&[]);
    Queries::read(&mut decoder, 0).unwrap_or_else(|_| unreachable!("reading zero queries cannot fail"))
}
