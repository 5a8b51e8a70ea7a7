//! The `hosts` handler and the reloader of its file.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use clusterdns_plugin::proto::op::ResponseCode;
use clusterdns_plugin::proto::rr::rdata::{A, AAAA, PTR};
use clusterdns_plugin::proto::rr::{Name, RData, Record, RecordType};
use clusterdns_plugin::{
    Fallthrough, Handler, Next, PluginError, Reply, Request, Service, ServiceContext, Zones,
    address_from_reverse, clog, spawn_every,
};

use crate::hostsfile::{HostsMap, parse_hosts};
use crate::metrics;
use crate::setup::Config;

/// The hosts file and the entries last read from it, shared by the handler and the reloader.
pub struct FileSource {
    path: PathBuf,
    origins: Zones,
    reverse: bool,
    inline_len: usize,
    entries: ArcSwap<HostsMap>,
    /// Modification time and size of what was read, to skip unchanged files (as CoreDNS).
    read: Mutex<Option<(SystemTime, u64)>>,
}

impl FileSource {
    pub fn new(path: PathBuf, origins: Zones, reverse: bool, inline_len: usize) -> Self {
        Self {
            path,
            origins,
            reverse,
            inline_len,
            entries: ArcSwap::default(),
            read: Mutex::new(None),
        }
    }

    /// Reads the file if it changed. A file that cannot be read leaves only the inline entries.
    fn refresh(&self) {
        let mut read = self
            .read
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let stamp = std::fs::metadata(&self.path)
            .ok()
            .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
        if stamp == *read && stamp.is_some() {
            return;
        }
        let map = match corefile::read_text(&self.path) {
            Ok(text) => parse_hosts(&text, &self.origins, self.reverse),
            Err(_) if read.is_none() && stamp.is_none() => HostsMap::default(),
            Err(e) => {
                clog::warning(
                    Some("hosts"),
                    format_args!("could not read {}: {e}", self.path.display()),
                );
                HostsMap::default()
            }
        };
        *read = stamp;
        if let Some(g) = metrics::ENTRIES.as_ref() {
            g.set((self.inline_len + map.len()) as f64);
        }
        if let (Some(g), Some((mtime, _))) = (metrics::RELOAD_TIMESTAMP.as_ref(), stamp) {
            g.set(
                mtime
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64()),
            );
        }
        self.entries.store(Arc::new(map));
    }
}

/// Reads the hosts file at start and every `period` after (CoreDNS's `reload`).
pub struct Reloader {
    source: Arc<FileSource>,
    period: Duration,
}

impl Reloader {
    pub fn new(source: Arc<FileSource>, period: Duration) -> Self {
        Self { source, period }
    }
}

#[async_trait::async_trait]
impl Service for Reloader {
    fn key(&self) -> String {
        format!("hosts {:p}", Arc::as_ptr(&self.source))
    }

    async fn start(self: Arc<Self>, ctx: ServiceContext) -> Result<(), String> {
        self.source.refresh();
        if self.period.is_zero() {
            return Ok(());
        }
        let this = self.clone();
        spawn_every(self.period, ctx.phase, move || this.source.refresh());
        Ok(())
    }
}

/// Answers A, AAAA and PTR from the file and the inline entries.
pub struct Hosts {
    origins: Zones,
    ttl: u32,
    fallthrough: Fallthrough,
    fallthrough_unsupported: bool,
    inline: HostsMap,
    file: Arc<FileSource>,
}

impl Hosts {
    pub fn new(config: &Config, inline: HostsMap, file: Arc<FileSource>) -> Self {
        Self {
            origins: config.origins.clone(),
            ttl: config.ttl,
            fallthrough: config.fallthrough.clone(),
            fallthrough_unsupported: config.fallthrough_unsupported,
            inline,
            file,
        }
    }

    fn record(&self, owner: &Name, data: RData) -> Record {
        Record::from_rdata(owner.clone(), self.ttl, data)
    }
}

#[async_trait::async_trait]
impl Handler for Hosts {
    fn name(&self) -> &'static str {
        "hosts"
    }

    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
        let qname = req.qname();
        let qtype = req.qtype();
        // PTR names need not be in the plugin's zones; everything else outside them passes on.
        if qtype != RecordType::PTR && self.origins.matches(qname).is_none() {
            return next.run(req).await;
        }
        let file = self.file.entries.load();
        // Owner names come back lower-cased (CoreDNS answers with `state.Name()`).
        let owner = qname.to_lowercase();
        let answers: Vec<Record> = match qtype {
            RecordType::PTR => {
                let names: Vec<&Name> = address_from_reverse(qname)
                    .map(|ip| {
                        file.names
                            .get(&ip)
                            .into_iter()
                            .chain(self.inline.names.get(&ip))
                            .flatten()
                            .collect()
                    })
                    .unwrap_or_default();
                if names.is_empty() {
                    // A PTR miss goes on whatever `fallthrough` says.
                    return next.run(req).await;
                }
                names
                    .into_iter()
                    .map(|n| self.record(&owner, RData::PTR(PTR(n.clone()))))
                    .collect()
            }
            // The file's addresses first, then the inline ones.
            RecordType::A => [file.v4.get(qname), self.inline.v4.get(qname)]
                .into_iter()
                .flatten()
                .flatten()
                .map(|ip| self.record(&owner, RData::A(A(*ip))))
                .collect(),
            RecordType::AAAA => [file.v6.get(qname), self.inline.v6.get(qname)]
                .into_iter()
                .flatten()
                .flatten()
                .map(|ip| self.record(&owner, RData::AAAA(AAAA(*ip))))
                .collect(),
            // Hosts has no other types; with fallthrough_unsupported they are the next plugin's.
            _ if self.fallthrough_unsupported && self.fallthrough.through(&owner) => {
                return next.run(req).await;
            }
            _ => Vec::new(),
        };
        if answers.is_empty() && !file.has_name(qname) && !self.inline.has_name(qname) {
            if self.fallthrough.through(qname) {
                return next.run(req).await;
            }
            // Hosts has no SOA to give with an NXDOMAIN, so CoreDNS answers SERVFAIL.
            return Ok(Reply::NoAnswer(ResponseCode::ServFail));
        }
        // A known name: its addresses, or NODATA (AA, no SOA) for any other type.
        let mut reply = req.reply();
        reply.metadata.authoritative = true;
        reply.answers = answers;
        Ok(Reply::Answer(reply))
    }
}

#[cfg(test)]
mod tests {
    use clusterdns_plugin::Dispenser;
    use testkit::{PASSED, TempDir, request, serve};

    use super::*;
    use crate::setup::parse;

    /// A hosts plugin on `corefile` in a `.` block, with `file` as its hosts file.
    fn hosts(corefile: &str, file: &str) -> (Arc<dyn Handler>, Arc<FileSource>, TempDir) {
        let dir = TempDir::new("hosts");
        let path = dir.write("hosts", file);
        let corefile = corefile.replace("FILE", &path.display().to_string());
        let config = parse(&mut Dispenser::from_text(&corefile), &[".".into()]).expect("parses");
        let inline = parse_hosts(&config.inline.join("\n"), &config.origins, config.reverse);
        let source = Arc::new(FileSource::new(
            config.path.clone(),
            config.origins.clone(),
            config.reverse,
            0,
        ));
        source.refresh();
        (Arc::new(Hosts::new(&config, inline, source.clone())), source, dir)
    }

    /// What came back: the rcode, AA, and the answers as text.
    async fn ask(h: &Arc<dyn Handler>, name: &str, t: RecordType) -> (ResponseCode, bool, Vec<String>) {
        match serve(h.clone(), &mut request(name, t)).await.expect("no error") {
            Reply::Answer(m) => (
                m.metadata.response_code,
                m.metadata.authoritative,
                m.answers
                    .iter()
                    .map(|r| format!("{} {} {}", r.name, r.ttl, r.data))
                    .collect(),
            ),
            other => (other.rcode(), false, vec![]),
        }
    }

    const FILE: &str = "10.0.0.1 web.example.org\n10.0.0.9 both.example.org\nfd00::1 web.example.org\n";

    #[tokio::test]
    async fn handler_table() {
        let (h, _, _dir) = hosts(
            "hosts FILE {\n 10.0.0.2 both.example.org Inline.Example.org\n ttl 60\n}",
            FILE,
        );
        let ok = ResponseCode::NoError;
        type Case<'a> = (&'a str, RecordType, (ResponseCode, bool, Vec<&'a str>));
        let cases: Vec<Case> = vec![
            (
                "web.example.org.",
                RecordType::A,
                (ok, true, vec!["web.example.org. 60 10.0.0.1"]),
            ),
            // Owner names come back lower-cased.
            (
                "WEB.Example.ORG.",
                RecordType::AAAA,
                (ok, true, vec!["web.example.org. 60 fd00::1"]),
            ),
            // File entries first, then inline ones.
            (
                "both.example.org.",
                RecordType::A,
                (
                    ok,
                    true,
                    vec!["both.example.org. 60 10.0.0.9", "both.example.org. 60 10.0.0.2"],
                ),
            ),
            // A known name is NODATA for other types, AA set.
            ("web.example.org.", RecordType::MX, (ok, true, vec![])),
            ("both.example.org.", RecordType::AAAA, (ok, true, vec![])),
            // Unknown names without fallthrough: SERVFAIL, no AA.
            (
                "nope.example.org.",
                RecordType::A,
                (ResponseCode::ServFail, false, vec![]),
            ),
            (
                "example.org.",
                RecordType::SOA,
                (ResponseCode::ServFail, false, vec![]),
            ),
            // PTRs are generated from both sources; a PTR miss always goes on.
            (
                "1.0.0.10.in-addr.arpa.",
                RecordType::PTR,
                (ok, true, vec!["1.0.0.10.in-addr.arpa. 60 web.example.org."]),
            ),
            (
                "2.0.0.10.in-addr.arpa.",
                RecordType::PTR,
                (
                    ok,
                    true,
                    vec![
                        "2.0.0.10.in-addr.arpa. 60 both.example.org.",
                        "2.0.0.10.in-addr.arpa. 60 inline.example.org.",
                    ],
                ),
            ),
            ("3.0.0.10.in-addr.arpa.", RecordType::PTR, (PASSED, false, vec![])),
            // A non-PTR question in a reverse zone is an unknown name.
            (
                "3.0.0.10.in-addr.arpa.",
                RecordType::A,
                (ResponseCode::ServFail, false, vec![]),
            ),
        ];
        for (name, t, (rcode, aa, answers)) in cases {
            assert_eq!(
                ask(&h, name, t).await,
                (rcode, aa, answers.iter().map(|s| s.to_string()).collect()),
                "{name} {t}"
            );
        }
    }

    #[tokio::test]
    async fn fallthrough_zones_and_origins() {
        let (h, _, _dir) = hosts("hosts FILE example.org {\n fallthrough example.org\n}", FILE);
        assert_eq!(ask(&h, "nope.example.org.", RecordType::A).await.0, PASSED);
        // Outside the plugin's zones: always the next plugin.
        assert_eq!(ask(&h, "web.example.net.", RecordType::A).await.0, PASSED);
        let (h, _, _dir) = hosts("hosts FILE {\n fallthrough other.org\n}", FILE);
        assert_eq!(
            ask(&h, "nope.example.org.", RecordType::A).await.0,
            ResponseCode::ServFail
        );
        assert_eq!(ask(&h, "nope.other.org.", RecordType::A).await.0, PASSED);
    }

    #[tokio::test]
    async fn no_reverse_passes_every_ptr() {
        let (h, _, _dir) = hosts("hosts FILE {\n no_reverse\n}", FILE);
        assert_eq!(ask(&h, "1.0.0.10.in-addr.arpa.", RecordType::PTR).await.0, PASSED);
    }

    #[tokio::test]
    async fn refresh_rereads_a_changed_file_and_a_deleted_one_leaves_inline_entries() {
        let (h, source, dir) = hosts("hosts FILE {\n 10.0.0.7 inline.example.org\n}", FILE);
        assert_eq!(
            ask(&h, "new.example.org.", RecordType::A).await.0,
            ResponseCode::ServFail
        );
        dir.write("hosts", "10.0.0.5 new.example.org\n");
        source.refresh();
        assert_eq!(
            ask(&h, "new.example.org.", RecordType::A).await.2,
            vec!["new.example.org. 3600 10.0.0.5"]
        );
        std::fs::remove_file(dir.0.join("hosts")).expect("rm");
        source.refresh();
        assert_eq!(
            ask(&h, "new.example.org.", RecordType::A).await.0,
            ResponseCode::ServFail
        );
        // The inline entry is still served.
        assert_eq!(
            ask(&h, "inline.example.org.", RecordType::A).await.2,
            vec!["inline.example.org. 3600 10.0.0.7"]
        );
    }
}
