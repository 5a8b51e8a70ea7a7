//! The `file` handler (also `secondary`'s), and the reloader that replaces a zone when its
//! file's SOA serial changes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use clusterdns_plugin::proto::op::{OpCode, ResponseCode};
use clusterdns_plugin::proto::rr::{Name, RecordType};
use clusterdns_plugin::{
    Handler, Linked, Next, Notifier, PluginError, Reply, Request, Service, ServiceContext, Transfer,
    Transferer, clog, spawn_every,
};

use crate::zone::{Found, Zone};

/// One zone, of a file or of a primary: what is served now (nothing until the file could be
/// read or the zone transferred in).
pub struct ZoneSource {
    origin: Name,
    path: PathBuf,
    zone: ArcSwapOption<Zone>,
    /// A secondary zone's primaries; empty for a file's.
    primaries: Vec<SocketAddr>,
    /// A secondary zone not refreshed within its SOA's expire time: SERVFAIL.
    expired: AtomicBool,
    /// A primary's NOTIFY, for the secondary's refresher.
    notified: tokio::sync::Notify,
}

impl ZoneSource {
    pub fn new(origin: Name, path: PathBuf, zone: Option<Zone>) -> Self {
        Self {
            origin,
            path,
            zone: ArcSwapOption::new(zone.map(Arc::new)),
            primaries: Vec::new(),
            expired: AtomicBool::new(false),
            notified: tokio::sync::Notify::new(),
        }
    }

    /// A zone to be transferred in from `primaries` (`secondary`).
    pub fn secondary(origin: Name, primaries: Vec<SocketAddr>) -> Self {
        Self {
            primaries,
            ..Self::new(origin.to_lowercase(), PathBuf::from("stdin"), None)
        }
    }

    pub fn origin(&self) -> &Name {
        &self.origin
    }

    pub fn primaries(&self) -> &[SocketAddr] {
        &self.primaries
    }

    /// The zone served now.
    pub fn zone(&self) -> Option<Arc<Zone>> {
        self.zone.load_full()
    }

    /// Serves `zone` from now on (a transfer brought it), no longer expired.
    pub fn set(&self, zone: Zone) {
        self.zone.store(Some(Arc::new(zone)));
        self.expired.store(false, Ordering::Release);
    }

    pub fn set_expired(&self) {
        self.expired.store(true, Ordering::Release);
    }

    /// Waits for a primary's NOTIFY.
    pub async fn notified(&self) {
        self.notified.notified().await;
    }

    /// Re-reads the file; a new zone replaces the served one only when its SOA serial differs
    /// (CoreDNS's `Reload`), and then true. A file that does not read or parse leaves the zone
    /// as it is.
    fn refresh(&self) -> bool {
        let text = match corefile::read_text(&self.path) {
            Ok(text) => text,
            Err(e) => {
                clog::error(
                    Some("file"),
                    format_args!(
                        "Failed to open zone {:?} in {:?}: {e}",
                        self.origin.to_string(),
                        self.path
                    ),
                );
                return false;
            }
        };
        let zone = match Zone::parse(&text, &self.origin, &self.path) {
            Ok(zone) => zone,
            Err(e) => {
                clog::error(
                    Some("file"),
                    format_args!("Parsing zone {:?}: {e}", self.origin.to_string()),
                );
                return false;
            }
        };
        if self
            .zone
            .load()
            .as_ref()
            .is_some_and(|z| z.serial() == zone.serial())
        {
            return false;
        }
        let serial = zone.serial();
        self.zone.store(Some(Arc::new(zone)));
        clog::info(
            Some("file"),
            format_args!(
                "Successfully reloaded zone {:?} in {:?} with {serial} SOA serial",
                self.origin.to_string(),
                self.path.display().to_string()
            ),
        );
        true
    }
}

/// Announces the zones to their secondaries at start (NOTIFY through the block's `transfer`),
/// then checks every zone file each period, off the runtime's threads (a zone file may be
/// large), announcing each zone replaced.
pub struct Reloader {
    sources: Vec<Arc<ZoneSource>>,
    period: Duration,
    notifier: Linked<dyn Notifier>,
    /// Held while a check runs, so a slow one is not overlapped by the next.
    busy: Arc<Mutex<()>>,
}

impl Reloader {
    pub fn new(sources: Vec<Arc<ZoneSource>>, period: Duration, notifier: Linked<dyn Notifier>) -> Self {
        Self {
            sources,
            period,
            notifier,
            busy: Arc::default(),
        }
    }

    fn notify(&self, source: &ZoneSource) {
        if let Some(n) = self.notifier.get() {
            n.notify(&source.origin);
        }
    }
}

#[async_trait::async_trait]
impl Service for Reloader {
    fn key(&self) -> String {
        format!("file {:p}", self as *const Self)
    }

    async fn start(self: Arc<Self>, ctx: ServiceContext) -> Result<(), String> {
        for source in &self.sources {
            self.notify(source);
        }
        if self.period.is_zero() {
            return Ok(());
        }
        let this = self.clone();
        spawn_every(self.period, ctx.phase, move || {
            let this = this.clone();
            tokio::task::spawn_blocking(move || {
                let Ok(_busy) = this.busy.try_lock() else {
                    return;
                };
                for source in &this.sources {
                    if source.refresh() {
                        this.notify(source);
                    }
                }
            });
        });
        Ok(())
    }
}

/// Answers for its zones from what their files (or primaries) gave.
pub struct File {
    /// `file` or `secondary` (logs, metrics).
    name: &'static str,
    sources: Vec<Arc<ZoneSource>>,
}

impl File {
    pub fn new(sources: Vec<Arc<ZoneSource>>) -> Self {
        Self::named("file", sources)
    }

    /// The handler of another directive serving zones this way (`secondary`).
    pub fn named(name: &'static str, sources: Vec<Arc<ZoneSource>>) -> Self {
        Self { name, sources }
    }

    /// A NOTIFY: from one of the zone's primaries, answered and the zone checked (CoreDNS's
    /// `isNotify`); from anyone else, or for a file's zone, dropped without a reply.
    fn notify(&self, req: &Request, source: &ZoneSource) -> Reply {
        let from = req.client.ip();
        if !source.primaries.iter().any(|p| p.ip() == from) {
            clog::info(
                Some(self.name),
                format_args!("Dropping notify from {from} for {}", source.origin),
            );
            return Reply::Dropped;
        }
        clog::info(
            Some(self.name),
            format_args!("Notify from {from} for {}: checking transfer", source.origin),
        );
        source.notified.notify_one();
        let mut m = req.reply();
        m.metadata.authoritative = true;
        Reply::Answer(m)
    }

    /// The source of the longest zone holding `name` (CoreDNS's `plugin.Zones.Matches`).
    fn source(&self, name: &Name) -> Option<&ZoneSource> {
        self.sources
            .iter()
            .filter(|s| s.origin.zone_of(name))
            .max_by_key(|s| s.origin.num_labels())
            .map(Arc::as_ref)
    }
}

impl Transferer for File {
    /// A zone served here, by its exact name (CoreDNS's `Zones.Z[zone]`).
    fn transfer(&self, zone: &Name, serial: Option<u32>) -> Transfer {
        let Some(source) = self.sources.iter().find(|s| s.origin == *zone) else {
            return Transfer::NotAuthoritative;
        };
        match source.zone.load_full() {
            Some(z) => Transfer::Records(z.transfer(serial)),
            None => Transfer::Failed("no SOA".to_string()),
        }
    }
}

#[async_trait::async_trait]
impl Handler for File {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
        let qname = req.qname().to_lowercase();
        let Some(source) = self.source(&qname) else {
            return next.run(req).await;
        };
        let qtype = req.qtype();
        // Without the transfer plugin, transfers are refused here (CoreDNS).
        if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
            return Ok(Reply::NoAnswer(ResponseCode::Refused));
        }
        if req.metadata.op_code == OpCode::Notify {
            return Ok(self.notify(req, source));
        }
        if source.expired.load(Ordering::Acquire) {
            clog::error(Some(self.name), format_args!("Zone {} is expired", source.origin));
            return Ok(Reply::NoAnswer(ResponseCode::ServFail));
        }
        // A zone whose file was never read has no SOA: CoreDNS's lookup fails.
        let Some(zone) = source.zone.load_full() else {
            return Ok(Reply::NoAnswer(ResponseCode::ServFail));
        };
        let mut answer = zone.lookup(&qname, qtype);
        if let Some(target) = answer.chase.take() {
            answer.found = match &req.server_lookup {
                Some(lookup) => match lookup.lookup(req, target, qtype).await {
                    Ok(up) => {
                        // CoreDNS's doLookup: the target's rcode decides.
                        let found = match up.metadata.response_code {
                            ResponseCode::NXDomain => Found::NameError,
                            ResponseCode::ServFail => Found::ServerFailure,
                            ResponseCode::NoError if up.answers.is_empty() => Found::NoData,
                            _ => Found::Success,
                        };
                        answer.answers.extend(up.answers);
                        found
                    }
                    Err(_) => Found::ServerFailure,
                },
                None => Found::Success,
            };
        }
        let mut m = req.reply();
        m.metadata.authoritative = answer.found != Found::Delegation;
        m.metadata.response_code = match answer.found {
            Found::NameError => ResponseCode::NXDomain,
            // Only the records of a CNAME whose target failed are worth sending (RFC 6604).
            Found::ServerFailure if answer.answers.is_empty() => {
                return Ok(Reply::NoAnswer(ResponseCode::ServFail));
            }
            Found::ServerFailure => ResponseCode::ServFail,
            _ => ResponseCode::NoError,
        };
        m.answers = answer.answers;
        m.authorities = answer.authorities;
        m.additionals = answer.additionals;
        Ok(Reply::Answer(m))
    }
}
