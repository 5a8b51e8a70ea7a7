//! The `forward` handler: picks upstreams by policy, fails over within CoreDNS's deadline, and
//! relays the upstream's reply as it came (only the ID restored).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use clusterdns_plugin::proto::op::{Message, ResponseCode};
use clusterdns_plugin::proto::rr::Name;
use clusterdns_plugin::{Handler, Next, PluginError, Reply, Request, Transport, Zones};
use rand::seq::{IndexedRandom, SliceRandom};
use tokio::sync::broadcast;

use crate::metrics;
use crate::proxy::{ExchangeError, Proto, Proxy};
use crate::setup::{Config, Options, Policy};
use crate::tls::Clients;
use crate::upstream::{Destination, Upstream};

/// CoreDNS gives one query this long across all its upstream attempts.
const DEADLINE: Duration = Duration::from_secs(5);

/// An upstream exchange's outcome, and the upstream last asked (`forward/upstream`).
type Outcome = (Result<Message, String>, Option<std::net::SocketAddr>);

type Shared = Arc<Outcome>;

/// One `forward` line.
pub struct Forward {
    from: Name,
    except: Zones,
    /// The destinations as the Corefile gives them (host names unresolved).
    to: Vec<Destination>,
    resolvers: Vec<std::net::SocketAddr>,
    clients: Clients,
    /// Set once: at setup when every destination is an address, else when the host names
    /// have been resolved at start (before any query can come).
    proxies: OnceLock<Vec<Arc<Proxy>>>,
    policy: Policy,
    options: Arc<Options>,
    next_rcodes: Vec<ResponseCode>,
    next_on_nodata: bool,
    max_concurrent: usize,
    concurrent: AtomicUsize,
    round_robin: AtomicUsize,
    /// Queries on their way upstream, by their bytes (ID zeroed): identical ones wait for the first.
    in_flight: Mutex<HashMap<Vec<u8>, broadcast::Sender<Shared>>>,
}

impl Forward {
    pub fn new(config: Config, clients: Clients) -> Self {
        metrics::init();
        let forward = Self {
            from: config.from,
            except: config.except,
            to: config.to,
            resolvers: config.resolver,
            clients,
            proxies: OnceLock::new(),
            policy: config.policy,
            options: Arc::new(config.options),
            next_rcodes: config.next,
            next_on_nodata: config.next_on_nodata,
            max_concurrent: config.max_concurrent,
            concurrent: AtomicUsize::new(0),
            round_robin: AtomicUsize::new(0),
            in_flight: Mutex::new(HashMap::new()),
        };
        let addrs: Option<Vec<Upstream>> = forward
            .to
            .iter()
            .map(|d| match d {
                Destination::Addr(u) => Some(u.clone()),
                Destination::Host(_) => None,
            })
            .collect();
        if let Some(addrs) = addrs {
            forward.set_upstreams(addrs);
        }
        forward
    }

    /// The destinations as configured.
    pub fn destinations(&self) -> &[Destination] {
        &self.to
    }

    /// The `resolver` servers host names are resolved with.
    pub fn resolvers(&self) -> &[std::net::SocketAddr] {
        &self.resolvers
    }

    /// Sets the upstreams (once; later calls change nothing).
    pub fn set_upstreams(&self, upstreams: Vec<Upstream>) {
        let proxies = upstreams
            .into_iter()
            .map(|u| Arc::new(Proxy::new(u, self.options.clone(), &self.clients)))
            .collect();
        let _ = self.proxies.set(proxies);
    }

    fn proxies(&self) -> &[Arc<Proxy>] {
        self.proxies.get().map_or(&[], Vec::as_slice)
    }

    /// CoreDNS's `match`: inside FROM, and not under an `except` name (FROM itself always is).
    fn takes(&self, name: &Name) -> bool {
        self.from.zone_of(name) && (*name == self.from || self.except.matches(name).is_none())
    }

    /// The upstreams in the order this query tries them.
    fn ordered(&self) -> Vec<Arc<Proxy>> {
        let mut list = self.proxies().to_vec();
        match self.policy {
            Policy::Random => list.shuffle(&mut rand::rng()),
            Policy::RoundRobin => {
                let n = self.round_robin.fetch_add(1, Ordering::Relaxed);
                let len = list.len().max(1);
                list.rotate_left(n % len);
            }
            Policy::Sequential => {}
        }
        list
    }

    /// Asks the upstreams, or waits for an identical query already on its way. HINFO queries
    /// always go on their own: loop's probe must go round a forwarding loop every time it comes
    /// back, not wait for itself.
    async fn resolve(&self, req: &Request) -> Outcome {
        let mut query = req.to_message();
        if req.qtype() == clusterdns_plugin::proto::rr::RecordType::HINFO {
            return self.exchange_any(req, query).await;
        }
        query.metadata.id = 0;
        let key = match query.to_vec() {
            Ok(key) => key,
            Err(e) => return (Err(e.to_string()), None),
        };
        let waiting = {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match in_flight.get(&key) {
                Some(tx) => Some(tx.subscribe()),
                None => {
                    in_flight.insert(key.clone(), broadcast::channel(1).0);
                    None
                }
            }
        };
        if let Some(mut rx) = waiting
            && let Ok(shared) = rx.recv().await
        {
            return (*shared).clone();
        }
        let guard = InFlight { forward: self, key };
        let result = self.exchange_any(req, query).await;
        guard.finish(Arc::new(result.clone()));
        result
    }

    /// CoreDNS's loop: upstreams in policy order until one answers or the deadline passes;
    /// down upstreams are skipped unless all are, then a random one is tried. Attempts are
    /// capped at two per upstream (CoreDNS 1.13's `max_connect_attempts` default): without it
    /// an upstream that fails fast is hammered until the deadline.
    async fn exchange_any(&self, req: &Request, query: Message) -> Outcome {
        let mut upstream = None;
        let result = self.exchange_with(req, query, &mut upstream).await;
        (result, upstream)
    }

    /// [`Forward::exchange_any`]'s loop; `upstream` is set to each upstream as it is asked.
    async fn exchange_with(
        &self,
        req: &Request,
        mut query: Message,
        upstream: &mut Option<std::net::SocketAddr>,
    ) -> Result<Message, String> {
        let list = self.ordered();
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let max_udp = usize::from(req.advertised_size().max(512));
        let (mut i, mut fails, mut attempts) = (0, 0, 0);
        let mut last: Option<ExchangeError> = None;
        // `failover`: the last reply with one of its rcodes, returned if no upstream does better.
        let mut failed_over: Option<Message> = None;
        let cap = match self.options.max_connect_attempts {
            None => 2 * list.len(),
            Some(0) => usize::MAX,
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        };
        while tokio::time::Instant::now() < deadline && attempts < cap {
            if i >= list.len() {
                i = 0;
                fails = 0;
            }
            let mut proxy = list[i].clone();
            i += 1;
            if proxy.down() {
                fails += 1;
                if fails < list.len() {
                    continue;
                }
                // Every upstream down: CoreDNS 1.12's failfast gives up here.
                if self.options.failfast_all_unhealthy {
                    return Err("no healthy proxies".to_string());
                }
                if let Some(p) = self.proxies().choose(&mut rand::rng()) {
                    proxy = p.clone();
                }
                if let Some(c) = metrics::HEALTHCHECK_BROKEN.as_ref() {
                    c.inc();
                }
            }
            attempts += 1;
            *upstream = Some(proxy.upstream.addr);
            let mut proto = match (self.options.force_tcp, self.options.prefer_udp, req.transport) {
                (true, _, _) => Proto::Tcp,
                (false, true, _) | (false, false, Transport::Udp) => Proto::Udp,
                (false, false, Transport::Tcp) => Proto::Tcp,
            };
            let result = loop {
                query.metadata.id = rand::random();
                let wire = query.to_vec().map_err(|e| e.to_string())?;
                match proxy.exchange(&query, &wire, proto, max_udp).await {
                    Err(ExchangeError::CachedClosed) => continue,
                    // prefer_udp: a truncated UDP reply is asked again over TCP.
                    Ok(m) if m.metadata.truncation && self.options.prefer_udp && proto == Proto::Udp => {
                        proto = Proto::Tcp;
                    }
                    other => break other,
                }
            };
            match result {
                Ok(mut m) => {
                    m.metadata.id = req.metadata.id;
                    if self.options.failover.contains(&m.metadata.response_code) && i < list.len() {
                        failed_over = Some(m);
                        continue;
                    }
                    return Ok(m);
                }
                Err(e) => {
                    if e != ExchangeError::Busy {
                        proxy.health_check();
                    }
                    last = Some(e);
                    if fails >= list.len() {
                        break;
                    }
                }
            }
        }
        if let Some(m) = failed_over {
            return Ok(m);
        }
        Err(last.map_or_else(|| "no healthy proxies".to_string(), |e| e.to_string()))
    }
}

/// Removes a query from the in-flight table when done, handing its result to the waiters. If
/// the first query is abandoned, the waiters' channel closes and they ask for themselves.
struct InFlight<'a> {
    forward: &'a Forward,
    key: Vec<u8>,
}

impl InFlight<'_> {
    fn finish(self, result: Shared) {
        if let Some(tx) = self.remove() {
            let _ = tx.send(result);
        }
    }

    fn remove(&self) -> Option<broadcast::Sender<Shared>> {
        let mut in_flight = self
            .forward
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        in_flight.remove(&self.key)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Holds one place among `max_concurrent`.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[async_trait::async_trait]
impl Handler for Forward {
    fn name(&self) -> &'static str {
        "forward"
    }

    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
        if !self.takes(req.qname()) {
            return next.run(req).await;
        }
        let count = self.concurrent.fetch_add(1, Ordering::AcqRel) + 1;
        let _slot = Slot(&self.concurrent);
        if self.max_concurrent > 0 && count > self.max_concurrent {
            if let Some(c) = metrics::MAX_CONCURRENT_REJECTS.as_ref() {
                c.inc();
            }
            return Err(PluginError {
                rcode: ResponseCode::Refused,
                message: format!("concurrent queries exceeded maximum {}", self.max_concurrent),
            });
        }
        let (result, upstream) = self.resolve(req).await;
        // CoreDNS's `forward/upstream` metadata: the upstream last asked.
        if let Some(addr) = upstream.filter(|_| req.meta.is_some()) {
            req.set_metadata("forward/upstream", addr.to_string());
        }
        let reply = result.map_err(|e| PluginError {
            rcode: ResponseCode::ServFail,
            message: e,
        })?;
        // `next RCODE...`: hand such answers to the next forward line instead.
        if self.next_rcodes.contains(&reply.metadata.response_code) && next.peek_name() == Some("forward") {
            return next.run(req).await;
        }
        // `next_on_nodata` (1.14.4): NOERROR without answers too.
        if self.next_on_nodata
            && reply.metadata.response_code == ResponseCode::NoError
            && reply.answers.is_empty()
            && next.peek_name() == Some("forward")
        {
            return next.run(req).await;
        }
        Ok(Reply::Answer(reply))
    }
}
