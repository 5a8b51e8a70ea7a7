//! Log formats: CoreDNS's placeholders, compiled once into segments.

use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clusterdns_plugin::proto::op::{Message, Metadata, Query};
use clusterdns_plugin::response::rcode_name;
use clusterdns_plugin::{Reply, Request};

/// CoreDNS's `{common}` format (its default).
pub const COMMON_FORMAT: &str = "{remote}:{port} - {>id} \"{type} {class} {name} {proto} {size} {>do} {>bufsize}\" {rcode} {>rflags} {rsize} {duration}";

/// CoreDNS's `{combined}` format: common plus the opcode.
pub const COMBINED_FORMAT: &str = "{remote}:{port} - {>id} \"{type} {class} {name} {proto} {size} {>do} {>bufsize}\" {rcode} {>rflags} {rsize} {duration} \"{>opcode}\"";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Type,
    Name,
    Class,
    Proto,
    Remote,
    Local,
    Size,
    Port,
    Duration,
    Rcode,
    Rsize,
    Rflags,
    Bufsize,
    Do,
    Id,
    Opcode,
    /// A metadata value (`{/kubernetes/namespace}`), `-` when there is none.
    Meta(String),
    /// Unknown placeholders: CoreDNS writes `-` for values it lacks.
    Empty,
}

/// A compiled log format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format(Vec<Segment>);

/// What a log line describes: the query as it arrived and what came back.
pub struct Entry<'a> {
    /// The question before the rest of the chain ran.
    pub query: &'a Query,
    pub req: &'a Request,
    pub reply: Option<&'a Message>,
    /// Size of the reply on the wire (0 when the chain wrote nothing).
    pub reply_size: usize,
    pub took: Duration,
}

impl Format {
    /// Compiles a format string; `{common}`/`{combined}` stand for CoreDNS's formats.
    pub fn compile(format: &str) -> Self {
        let format = format
            .replace("{common}", COMMON_FORMAT)
            .replace("{combined}", COMBINED_FORMAT);
        let mut segments = Vec::new();
        let mut rest = format.as_str();
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            if open > 0 {
                segments.push(Segment::Text(rest[..open].to_string()));
            }
            segments.push(match &rest[open..=open + close] {
                "{type}" => Segment::Type,
                "{name}" => Segment::Name,
                "{class}" => Segment::Class,
                "{proto}" => Segment::Proto,
                "{remote}" => Segment::Remote,
                "{local}" => Segment::Local,
                "{size}" => Segment::Size,
                "{port}" => Segment::Port,
                "{duration}" => Segment::Duration,
                "{rcode}" => Segment::Rcode,
                "{rsize}" => Segment::Rsize,
                "{>rflags}" => Segment::Rflags,
                "{>bufsize}" => Segment::Bufsize,
                "{>do}" => Segment::Do,
                "{>id}" => Segment::Id,
                "{>opcode}" => Segment::Opcode,
                other => match other.strip_prefix("{/").and_then(|m| m.strip_suffix('}')) {
                    Some(label) if !label.is_empty() => Segment::Meta(label.to_string()),
                    _ => Segment::Empty,
                },
            });
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Text(rest.to_string()));
        }
        Format(segments)
    }

    /// Renders one log line.
    pub fn render(&self, e: &Entry<'_>) -> String {
        let mut out = String::with_capacity(128);
        for segment in &self.0 {
            // Writing to a String cannot fail.
            let _ = match segment {
                Segment::Text(t) => write!(out, "{t}"),
                // CoreDNS reads the name before the chain runs (its request caches it) and the
                // type and class after, so a rewritten type shows, a rewritten name does not.
                Segment::Type => write!(out, "{}", e.req.qtype()),
                Segment::Name => write!(out, "{}", e.query.name().to_lowercase()),
                Segment::Class => write!(out, "{}", e.req.qclass()),
                Segment::Proto => write!(out, "{}", e.req.transport.as_str()),
                Segment::Remote => write!(out, "{}", rfc3986(e.req.client.ip())),
                Segment::Local => write!(out, "{}", rfc3986(e.req.local.ip())),
                Segment::Size => write!(out, "{}", e.req.size),
                Segment::Port => write!(out, "{}", e.req.client.port()),
                Segment::Duration => write!(out, "{}s", seconds(e.took)),
                Segment::Rcode => match e.reply {
                    Some(m) => write!(out, "{}", rcode_name(m.metadata.response_code)),
                    None => write!(out, "-"),
                },
                Segment::Rsize => write!(out, "{}", e.reply_size),
                Segment::Rflags => match e.reply {
                    Some(m) => write!(out, "{}", flags(&m.metadata)),
                    None => write!(out, "-"),
                },
                Segment::Bufsize => write!(out, "{}", e.req.max_reply_size()),
                Segment::Do => write!(out, "{}", e.req.do_bit()),
                Segment::Id => write!(out, "{}", e.req.metadata.id),
                Segment::Opcode => write!(out, "{}", opcode(&e.req.metadata)),
                Segment::Meta(label) => {
                    let value = e.req.meta.as_deref().and_then(|md| md.get(label));
                    write!(out, "{}", value.unwrap_or("-"))
                }
                Segment::Empty => write!(out, "-"),
            };
        }
        out
    }
}

/// The message a reply turns into, for the line's rcode and flags.
pub fn reply_message(reply: &Reply) -> Option<&Message> {
    match reply {
        Reply::Answer(m) => Some(m),
        // A zone transfer's last message, as CoreDNS's recorder keeps the last written.
        Reply::Transfer(messages) => messages.last(),
        Reply::NoAnswer(_) | Reply::Dropped => None,
    }
}

/// IPv6 addresses in brackets, as CoreDNS's `{remote}`.
fn rfc3986(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => SocketAddr::from((v6, 0))
                .to_string()
                .trim_end_matches(":0")
                .to_string(),
        },
    }
}

/// Seconds with as many digits as needed (Go's `FormatFloat(s, 'f', -1, 64)`).
fn seconds(d: Duration) -> String {
    let s = format!("{:.9}", d.as_secs_f64());
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() { "0".into() } else { s.to_string() }
}

/// `qr,aa,tc,rd,ra,z,ad,cd` as set.
fn flags(m: &Metadata) -> String {
    let set = [
        (
            m.message_type == clusterdns_plugin::proto::op::MessageType::Response,
            "qr",
        ),
        (m.authoritative, "aa"),
        (m.truncation, "tc"),
        (m.recursion_desired, "rd"),
        (m.recursion_available, "ra"),
        (m.authentic_data, "ad"),
        (m.checking_disabled, "cd"),
    ];
    set.iter()
        .filter(|(on, _)| *on)
        .map(|(_, f)| *f)
        .collect::<Vec<_>>()
        .join(",")
}

fn opcode(m: &Metadata) -> String {
    use clusterdns_plugin::proto::op::OpCode;
    match m.op_code {
        OpCode::Query => "QUERY".into(),
        OpCode::Status => "STATUS".into(),
        OpCode::Notify => "NOTIFY".into(),
        OpCode::Update => "UPDATE".into(),
        other => u8::from(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compile_known_unknown_and_text() {
        let f = Format::compile("x {name} {/meta} {nope} {>id}y");
        assert_eq!(
            f.0,
            vec![
                Segment::Text("x ".into()),
                Segment::Name,
                Segment::Text(" ".into()),
                Segment::Meta("meta".into()),
                Segment::Text(" ".into()),
                Segment::Empty,
                Segment::Text(" ".into()),
                Segment::Id,
                Segment::Text("y".into()),
            ]
        );
        assert_eq!(Format::compile("{common}"), Format::compile(COMMON_FORMAT));
    }

    #[test]
    fn helpers() {
        assert_eq!(rfc3986("::1".parse().expect("ip")), "[::1]");
        assert_eq!(rfc3986("10.0.0.1".parse().expect("ip")), "10.0.0.1");
        assert_eq!(seconds(Duration::from_nanos(37_990_251)), "0.037990251");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5");
    }
}
