//! The `file` handler, and the reloader that replaces a zone when its file's SOA serial changes.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use clusterdns_plugin::proto::op::ResponseCode;
use clusterdns_plugin::proto::rr::{Name, RecordType};
use clusterdns_plugin::{
    Handler, Next, PluginError, Reply, Request, Service, ServiceContext, clog, spawn_every,
};

use crate::zone::{Found, Zone};

/// One zone of one file: what is served now (nothing until the file could be read).
pub struct ZoneSource {
    origin: Name,
    path: PathBuf,
    zone: ArcSwapOption<Zone>,
}

impl ZoneSource {
    pub fn new(origin: Name, path: PathBuf, zone: Option<Zone>) -> Self {
        Self {
            origin,
            path,
            zone: ArcSwapOption::new(zone.map(Arc::new)),
        }
    }

    /// Re-reads the file; a new zone replaces the served one only when its SOA serial differs
    /// (CoreDNS's `Reload`). A file that does not read or parse leaves the zone as it is.
    fn refresh(&self) {
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
                return;
            }
        };
        let zone = match Zone::parse(&text, &self.origin, &self.path) {
            Ok(zone) => zone,
            Err(e) => {
                clog::error(
                    Some("file"),
                    format_args!("Parsing zone {:?}: {e}", self.origin.to_string()),
                );
                return;
            }
        };
        if self
            .zone
            .load()
            .as_ref()
            .is_some_and(|z| z.serial() == zone.serial())
        {
            return;
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
    }
}

/// Checks every zone file each period, off the runtime's threads (a zone file may be large).
pub struct Reloader {
    sources: Vec<Arc<ZoneSource>>,
    period: Duration,
    /// Held while a check runs, so a slow one is not overlapped by the next.
    busy: Arc<Mutex<()>>,
}

impl Reloader {
    pub fn new(sources: Vec<Arc<ZoneSource>>, period: Duration) -> Self {
        Self {
            sources,
            period,
            busy: Arc::default(),
        }
    }
}

#[async_trait::async_trait]
impl Service for Reloader {
    fn key(&self) -> String {
        format!("file {:p}", self as *const Self)
    }

    async fn start(self: Arc<Self>, ctx: ServiceContext) -> Result<(), String> {
        let this = self.clone();
        spawn_every(self.period, ctx.phase, move || {
            let this = this.clone();
            tokio::task::spawn_blocking(move || {
                let Ok(_busy) = this.busy.try_lock() else {
                    return;
                };
                for source in &this.sources {
                    source.refresh();
                }
            });
        });
        Ok(())
    }
}

/// Answers for its zones from what their files hold.
pub struct File {
    sources: Vec<Arc<ZoneSource>>,
}

impl File {
    pub fn new(sources: Vec<Arc<ZoneSource>>) -> Self {
        Self { sources }
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

#[async_trait::async_trait]
impl Handler for File {
    fn name(&self) -> &'static str {
        "file"
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
