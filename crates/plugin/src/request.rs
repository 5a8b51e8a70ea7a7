//! The query as plugins see it: one question, the client, the transport, EDNS.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use hickory_proto::op::{Edns, Message, MessageType, Metadata, Query};
use hickory_proto::rr::{DNSClass, Name, RecordType};

/// Runs a query through the server that received a request, from zone routing on, as
/// CoreDNS's `upstream.Lookup` does (kubernetes resolves ExternalName targets this way).
#[async_trait::async_trait]
pub trait Lookup: Send + Sync {
    /// The reply for `name`/`qtype` asked as part of `req` (same client, transport, EDNS);
    /// error rcodes come back as replies with no records. An error when `req` has already
    /// gone through the server too many times (a loop): the whole query fails.
    async fn lookup(
        &self,
        req: &Request,
        name: Name,
        qtype: RecordType,
    ) -> Result<Message, crate::PluginError>;
}

/// The transport a query came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    /// `udp` or `tcp`, as CoreDNS's `{proto}` and metric labels write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// One query on its way down the chain. Plugins may change `query` (rewrite does); the server
/// always answers with the question the client sent.
#[derive(Clone)]
pub struct Request {
    /// Header of the query (ID, opcode, RD, CD, ...).
    pub metadata: Metadata,
    /// The single question, in the client's case.
    pub query: Query,
    /// The client's OPT record, if it sent one.
    pub edns: Option<Edns>,
    pub client: SocketAddr,
    pub local: SocketAddr,
    pub transport: Transport,
    /// Size of the query on the wire, in bytes.
    pub size: usize,
    /// The listener, as CoreDNS names it in metrics (`dns://:53`).
    pub server: Arc<str>,
    /// The server block zone that took the query (`.`, `cluster.local.`).
    pub zone: Arc<str>,
    pub received: Instant,
    /// The plugin that wrote the reply, set by [`crate::Next`] as the answer comes back up
    /// (the `plugin` label of `coredns_dns_responses_total`).
    pub responder: Option<&'static str>,
    /// The server, for plugins that resolve names through it again.
    pub server_lookup: Option<std::sync::Arc<dyn Lookup>>,
    /// The lookups through the server made for one client query, shared by every lookup it
    /// leads to (`None` until the first).
    pub lookups: Option<std::sync::Arc<LookupCount>>,
    /// Metadata (`kubernetes/namespace`, `forward/upstream`, ...), collected only when the
    /// `metadata` plugin takes the query (`None` otherwise: nothing is recorded).
    pub meta: Option<Box<MetadataValues>>,
    /// The serial of the SOA an IXFR query carries in its authority section (CoreDNS's
    /// transfer reads `r.Ns[0]`); `None` for other queries.
    pub ixfr_serial: Option<u32>,
}

/// Labels and their values for one query, in the order set (a label set again is replaced).
#[derive(Debug, Clone, Default)]
pub struct MetadataValues(Vec<(String, String)>);

impl MetadataValues {
    pub fn set(&mut self, label: impl Into<String>, value: impl Into<String>) {
        let (label, value) = (label.into(), value.into());
        match self.0.iter_mut().find(|(l, _)| *l == label) {
            Some(entry) => entry.1 = value,
            None => self.0.push((label, value)),
        }
    }

    pub fn get(&self, label: &str) -> Option<&str> {
        self.0.iter().find(|(l, _)| l == label).map(|(_, v)| v.as_str())
    }

    /// Every label and value, in the order set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(l, v)| (l.as_str(), v.as_str()))
    }
}

/// How many times a client's query went through the server again, and whether that went past
/// the bound (then the whole query fails, at every level).
#[derive(Debug, Default)]
pub struct LookupCount {
    pub made: std::sync::atomic::AtomicU8,
    pub exhausted: std::sync::atomic::AtomicBool,
}

impl Request {
    /// Records `label` = `value` if metadata is being collected for this query (CoreDNS's
    /// `metadata.SetValueFunc`); otherwise does nothing.
    pub fn set_metadata(&mut self, label: &str, value: impl Into<String>) {
        if let Some(md) = self.meta.as_mut() {
            md.set(label, value);
        }
    }

    /// The question name, in the client's case.
    pub fn qname(&self) -> &Name {
        self.query.name()
    }

    pub fn qtype(&self) -> RecordType {
        self.query.query_type()
    }

    pub fn qclass(&self) -> DNSClass {
        self.query.query_class()
    }

    /// Whether the client counts as IPv4 ([`is_ipv4_family`]).
    pub fn is_ipv4(&self) -> bool {
        is_ipv4_family(self.client.ip())
    }

    /// The DNSSEC OK bit of the client's OPT.
    pub fn do_bit(&self) -> bool {
        self.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok)
    }

    /// The UDP size the client advertised (0 without EDNS), as `{>bufsize}` logs it.
    pub fn advertised_size(&self) -> u16 {
        self.edns.as_ref().map_or(0, Edns::max_payload)
    }

    /// The largest reply the client takes: 65535 over TCP, else its EDNS size but at least 512
    /// (CoreDNS's `request.Size`).
    pub fn max_reply_size(&self) -> u16 {
        match self.transport {
            Transport::Tcp => u16::MAX,
            Transport::Udp => self.advertised_size().max(512),
        }
    }

    /// An empty reply to this query: same ID, opcode, RD and CD, QR set, the question copied.
    pub fn reply(&self) -> Message {
        let mut m = Message::new(self.metadata.id, MessageType::Response, self.metadata.op_code);
        m.metadata = Metadata::response_from_request(&self.metadata);
        m.queries.push(self.query.clone());
        m
    }

    /// This query as a message to send on (to an upstream), with the client's OPT.
    pub fn to_message(&self) -> Message {
        let mut m = Message::new(self.metadata.id, MessageType::Query, self.metadata.op_code);
        m.metadata = self.metadata;
        m.queries.push(self.query.clone());
        m.edns = self.edns.clone();
        m
    }
}

/// CoreDNS's `request.Family() == 1`: an IPv4 client, including one reaching a dual-stack socket
/// as an IPv4-mapped IPv6 address (Go reports those as IPv4).
pub fn is_ipv4_family(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(_) => true,
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some(),
    }
}
