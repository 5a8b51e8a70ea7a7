//! `Setup`: what a directive's setup reads (its tokens, its server block) and what it may add
//! (a handler, listen addresses, a background service, a lameduck period, readiness reporting).

use std::any::Any;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use corefile::Dispenser;
use tokio::sync::watch;

use crate::handler::Handler;
use crate::link::{Link, Linked, Provided};

/// The server block a directive sits in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockInfo {
    /// Normalized zones of all the block's keys, in key order (`cluster.local.`, `.`).
    pub zones: Vec<String>,
    /// The Corefile the block came from.
    pub file: Arc<str>,
    /// The port of the block's first key.
    pub port: u16,
    /// Addresses set by `bind` (which runs before every other directive that asks); empty
    /// means every interface.
    pub bind: Vec<IpAddr>,
    /// The directives the block has (read through [`Setup::block_has`]).
    pub directives: Vec<&'static str>,
}

/// A listener's TCP timeouts (CoreDNS's server `ReadTimeout`, `WriteTimeout`, `IdleTimeout`):
/// for a new connection's first query, for a reply to be taken, for an open connection's next
/// query; and how many queries a connection may ask (`MaxTCPQueries`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub read: Duration,
    pub write: Duration,
    pub idle: Duration,
    /// Queries answered on one TCP connection before it is closed (`maxtcpqueries`, CoreDNS
    /// 1.14.5); `None`: no limit, CoreDNS's default.
    pub max_queries: Option<u32>,
}

impl Default for Timeouts {
    /// CoreDNS's defaults: 3 s, 5 s, 10 s, no query limit.
    fn default() -> Self {
        Self {
            read: Duration::from_secs(3),
            write: Duration::from_secs(5),
            idle: Duration::from_secs(10),
            max_queries: None,
        }
    }
}

/// Where the process is in its life, as background services see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Running,
    /// SIGTERM received: still answering queries for the lameduck period.
    LameDuck,
    Stopped,
}

/// The readiness of plugins, across the server blocks that enabled `ready`.
pub trait Readiness: Send + Sync + 'static {
    /// Each reporting plugin's name and whether it is ready now.
    fn states(&self) -> Vec<(&'static str, bool)>;
}

/// Runs `tick` every `period` (first after one period) until the phase becomes `Stopped`:
/// the loop behind every `reload DURATION` option.
pub fn spawn_every(period: Duration, mut phase: watch::Receiver<Phase>, tick: impl Fn() + Send + 'static) {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(period);
        interval.tick().await;
        loop {
            tokio::select! {
                _ = interval.tick() => tick(),
                changed = phase.changed() => {
                    if changed.is_err() || *phase.borrow() == Phase::Stopped {
                        break;
                    }
                }
            }
        }
    });
}

/// What a background service is given when it starts.
#[derive(Clone)]
pub struct ServiceContext {
    /// This service's phase: `Stopped` when the process stops, or when a reload drops it.
    pub phase: watch::Receiver<Phase>,
    pub readiness: Arc<dyn Readiness>,
    /// Asks the server to re-read its Corefile and reload it if it changed.
    pub reload: tokio::sync::mpsc::UnboundedSender<()>,
}

/// A process-wide background service (an HTTP endpoint, a ticker). Services with the same key
/// are one service, however many server blocks ask for them.
#[async_trait::async_trait]
pub trait Service: Send + Sync + 'static {
    /// Identity across server blocks, e.g. `health 127.0.0.1:8080`.
    fn key(&self) -> String;

    /// Binds and spawns what the service runs; returns once it is serving. Tasks end when the
    /// phase becomes `Stopped`.
    async fn start(self: Arc<Self>, ctx: ServiceContext) -> Result<(), String>;
}

/// Parses a directive that takes no arguments and no block (`whoami`, `loop`); with
/// `once_per_block`, a second occurrence is CoreDNS's `ErrOnce`.
pub fn parse_no_args(d: &mut Dispenser, once_per_block: bool) -> Result<(), crate::SetupError> {
    let mut seen = false;
    while d.next() {
        if seen && once_per_block {
            return Err(crate::SetupError::once_per_block());
        }
        seen = true;
        if d.next_arg() {
            return Err(d.arg_err().into());
        }
    }
    Ok(())
}

/// The setup of one directive in one server block.
pub struct Setup<'a> {
    pub block: &'a BlockInfo,
    dispenser: Dispenser,
    out: SetupOutput,
    /// What the same directive of the same block made in the configuration a reload replaces.
    previous: Option<&'a SetupOutput>,
}

/// Everything a directive's setup asked for.
#[derive(Default, Clone)]
pub struct SetupOutput {
    pub handlers: Vec<Arc<dyn Handler>>,
    pub bind: Vec<IpAddr>,
    pub services: Vec<Arc<dyn Service>>,
    pub lameduck: Option<Duration>,
    pub reports_readiness: bool,
    /// State a changed setup of the same directive may take over after a reload.
    pub carried: Option<Arc<dyn Any + Send + Sync>>,
    /// The block's listeners' TCP timeouts (the `timeouts` directive).
    pub timeouts: Option<Timeouts>,
    /// What this directive offers the others of its block.
    pub provides: Vec<Provided>,
    /// The directives of the block this one is linked to.
    pub links: Vec<Link>,
    /// Whether the block had each directive this setup asked about: a reload that changes
    /// one of them sets this directive up again.
    pub observed: Vec<(String, bool)>,
    /// The block's TLS server configuration (the `tls` directive), for `tls://` and
    /// `https://` listeners.
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

impl<'a> Setup<'a> {
    pub fn new(block: &'a BlockInfo, dispenser: Dispenser) -> Self {
        Self {
            block,
            dispenser,
            out: SetupOutput::default(),
            previous: None,
        }
    }

    /// The setup of a directive that a reload changed: `previous` is what it made before.
    pub fn replacing(mut self, previous: Option<&'a SetupOutput>) -> Self {
        self.previous = previous;
        self
    }

    /// The state this directive's setup [carried](Setup::carry) in the configuration being
    /// replaced, if any (kubernetes keeps serving its index while a changed block syncs).
    pub fn inherited<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.previous?.carried.clone()?.downcast::<T>().ok()
    }

    /// Whether the block has `directive` (kubernetes keeps what `metadata` reads only then);
    /// the answer is part of this setup's input across reloads.
    pub fn block_has(&mut self, directive: &str) -> bool {
        let has = self.block.directives.contains(&directive);
        self.out.observed.push((directive.to_string(), has));
        has
    }

    /// Leaves `state` for the setup that replaces this one after a reload.
    pub fn carry<T: Any + Send + Sync>(&mut self, state: Arc<T>) {
        self.out.carried = Some(state);
    }

    /// The directive's tokens (every occurrence in the block).
    pub fn dispenser(&mut self) -> &mut Dispenser {
        &mut self.dispenser
    }

    /// Puts `handler` in the block's chain, at the directive's place in the fixed order.
    pub fn add_handler(&mut self, handler: Arc<dyn Handler>) {
        self.out.handlers.push(handler);
    }

    /// Listens on these addresses instead of every interface (the `bind` directive).
    pub fn add_bind(&mut self, addrs: impl IntoIterator<Item = IpAddr>) {
        self.out.bind.extend(addrs);
    }

    /// Runs a background service while the server runs.
    pub fn add_service(&mut self, service: Arc<dyn Service>) {
        self.out.services.push(service);
    }

    /// Keep answering for `period` after SIGTERM before the listeners close.
    pub fn set_lameduck(&mut self, period: Duration) {
        self.out.lameduck = Some(period);
    }

    /// Sets the TCP timeouts of the block's listeners (the `timeouts` directive).
    pub fn set_timeouts(&mut self, timeouts: Timeouts) {
        self.out.timeouts = Some(timeouts);
    }

    /// Serves the block's `tls://` and `https://` listeners with `config` (the `tls` directive).
    pub fn set_tls(&mut self, config: Arc<tokio_rustls::rustls::ServerConfig>) {
        self.out.tls = Some(config);
    }

    /// Counts this block's plugins in `/ready` (the `ready` directive does this).
    pub fn report_readiness(&mut self) {
        self.out.reports_readiness = true;
    }

    /// Offers `value` to the other directives of the block (kubernetes offers its index as an
    /// `Arc<dyn AutoPather>` and an `Arc<dyn Externaler>`).
    pub fn provide<T: ?Sized + Send + Sync + 'static>(&mut self, value: Arc<T>) {
        self.out.provides.push(Arc::new(value));
    }

    /// Links to the `T` that `directive` offers in this block, once every setup of the block
    /// has run. With `required`, a block without `directive` fails to start.
    pub fn link<T: ?Sized + Send + Sync + 'static>(
        &mut self,
        directive: &str,
        interface: &'static str,
        required: bool,
    ) -> Linked<T> {
        let (link, linked) = Link::new(directive, interface, required);
        self.out.links.push(link);
        linked
    }

    /// What the setup asked for.
    pub fn finish(self) -> SetupOutput {
        self.out
    }
}
