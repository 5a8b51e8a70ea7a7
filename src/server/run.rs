//! Binding listeners, starting services, applying a reloaded plan in place, and shutting down
//! with CoreDNS's lameduck.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use clusterdns_plugin::{Phase, Readiness, Service, ServiceContext, clog, listen};
use corefile::Transport;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use super::assemble::{ChainReadiness, Heritage, ListenerPlan, Plan};
use super::dispatch::Dispatcher;
use super::tcp::{StreamServer, TlsConfig};
use super::udp::UdpListener;
use super::{https, tcp};

type ListenerKey = (Transport, Option<IpAddr>, u16);

/// What serves one address: UDP and TCP for `dns://`, TCP (with TLS) for `tls://`, HTTP for
/// `https://`.
struct Listener {
    udp: Option<UdpListener>,
    stream: StreamServer,
    dispatcher: Arc<Dispatcher>,
    /// Swapped by a reload that changes the `tls` directive.
    tls: TlsConfig,
}

impl Listener {
    async fn stop(self) {
        if let Some(udp) = self.udp {
            udp.stop().await;
        }
        self.stream.stop().await;
    }
}

/// The readiness of the configuration serving now (a reload swaps it).
struct CurrentReadiness(ArcSwap<ChainReadiness>);

impl Readiness for CurrentReadiness {
    fn states(&self) -> Vec<(&'static str, bool)> {
        self.0.load().states()
    }
}

/// The configuration being served: its listeners and services, each service with its own phase
/// so a reload can stop the ones it drops.
pub struct Running {
    listeners: HashMap<ListenerKey, Listener>,
    services: HashMap<String, watch::Sender<Phase>>,
    readiness: Arc<CurrentReadiness>,
    lameduck: Duration,
    reload: mpsc::UnboundedSender<()>,
    /// What the serving configuration's setups made, for the next reload to reuse.
    heritage: Heritage,
}

/// Binds every listener and starts every service of `plan`. Services ask for reloads on `reload`.
pub async fn start(plan: Plan, reload: mpsc::UnboundedSender<()>) -> Result<Running, String> {
    let readiness = Arc::new(CurrentReadiness(ArcSwap::new(plan.readiness.clone())));
    let mut running = Running {
        listeners: HashMap::new(),
        services: HashMap::new(),
        readiness,
        lameduck: Duration::ZERO,
        reload,
        heritage: Heritage::default(),
    };
    running.apply(plan).await?;
    Ok(running)
}

impl Running {
    /// Serves `plan` from now on, all or nothing: new listeners are bound and new services started
    /// first; only when all of that worked are the zone tables of the listeners that stay
    /// swapped (no rebinding, no query dropped) and the listeners and services the plan no
    /// longer has stopped. On error the configuration serving now is untouched.
    pub async fn apply(&mut self, plan: Plan) -> Result<(), String> {
        // Services first (kubernetes holds its start until synced, as CoreDNS does before
        // serving), then the new listeners.
        let mut started: Vec<(String, watch::Sender<Phase>)> = Vec::new();
        let stop = |started: Vec<(String, watch::Sender<Phase>)>| {
            for (_, phase) in started {
                let _ = phase.send(Phase::Stopped);
            }
        };
        for service in &plan.services {
            let key = service.key();
            if self.services.contains_key(&key) {
                continue;
            }
            match self.start_service(service.clone()).await {
                Ok(phase) => started.push((key, phase)),
                Err(e) => {
                    stop(started);
                    return Err(e);
                }
            }
        }
        let mut added = Vec::new();
        let mut tables = Vec::new();
        for listener in plan.listeners {
            let key = (listener.transport, listener.ip, listener.port);
            if self.listeners.contains_key(&key) {
                tables.push((key, listener));
                continue;
            }
            match bind_listener(listener).await {
                Ok(l) => added.push((key, l)),
                Err(e) => {
                    stop(started);
                    return Err(e);
                }
            }
        }
        // From here on nothing fails.
        let keep: Vec<ListenerKey> = tables
            .iter()
            .map(|(k, _)| *k)
            .chain(added.iter().map(|(k, _)| *k))
            .collect();
        for (key, listener) in tables {
            if let Some(l) = self.listeners.get(&key) {
                enable_metrics(&listener);
                l.tls.store(listener.tls.clone());
                l.dispatcher.swap(listener.zones);
            }
        }
        self.listeners.extend(added);
        let dropped: Vec<ListenerKey> = self
            .listeners
            .keys()
            .filter(|k| !keep.contains(k))
            .copied()
            .collect();
        for key in dropped {
            if let Some(l) = self.listeners.remove(&key) {
                l.stop().await;
            }
        }
        self.services.extend(started);
        let wanted: Vec<String> = plan.services.iter().map(|s| s.key()).collect();
        self.services.retain(|key, phase| {
            let keep = wanted.contains(key);
            if !keep {
                let _ = phase.send(Phase::Stopped);
            }
            keep
        });
        self.readiness.0.store(plan.readiness);
        self.lameduck = plan.lameduck;
        self.heritage = plan.heritage;
        Ok(())
    }

    /// What the serving configuration's setups made.
    pub fn heritage(&self) -> &Heritage {
        &self.heritage
    }

    async fn start_service(&self, service: Arc<dyn Service>) -> Result<watch::Sender<Phase>, String> {
        let (phase, phase_rx) = watch::channel(Phase::Running);
        let ctx = ServiceContext {
            phase: phase_rx,
            readiness: self.readiness.clone(),
            reload: self.reload.clone(),
        };
        service.start(ctx).await?;
        Ok(phase)
    }

    /// Stops after a signal: keeps answering through the lameduck period (so queries already
    /// on their way are answered while endpoints update), then closes every listener.
    pub async fn shut_down(mut self) {
        if !self.lameduck.is_zero() {
            for phase in self.services.values() {
                let _ = phase.send(Phase::LameDuck);
            }
            clog::info(
                Some("health"),
                format_args!(
                    "Going into lameduck mode for {}",
                    clusterdns_plugin::format_duration(self.lameduck)
                ),
            );
            tokio::time::sleep(self.lameduck).await;
        }
        for phase in self.services.values() {
            let _ = phase.send(Phase::Stopped);
        }
        for (_, listener) in self.listeners.drain() {
            listener.stop().await;
        }
    }
}

fn enable_metrics(listener: &ListenerPlan) {
    if let Some(g) = clusterdns_plugin::metrics::PLUGIN_ENABLED.as_ref() {
        let label = listener.label();
        for (zone, name) in listener.plugins() {
            g.with_label_values(&[&label, zone, "", name]).set(1.0);
        }
    }
}

async fn bind_listener(listener: ListenerPlan) -> Result<Listener, String> {
    enable_metrics(&listener);
    let label = listener.label();
    let tls: TlsConfig = Arc::new(ArcSwapOption::new(listener.tls.clone()));
    if listener.transport != Transport::Dns {
        let tcp = bind_tcp(listener.ip, listener.port)?;
        let local = tcp.local_addr().map_err(|e| e.to_string())?;
        let dispatcher = Arc::new(Dispatcher::new(listener.zones, Arc::from(label), local));
        let stream = match listener.transport {
            Transport::Https => https::start(tcp, dispatcher.clone(), fd_limit(), tls.clone()),
            _ => tcp::start(tcp, dispatcher.clone(), fd_limit(), tls.clone()),
        };
        return Ok(Listener {
            udp: None,
            stream,
            dispatcher,
            tls,
        });
    }
    let (udp, tcp) = bind(listener.ip, listener.port).await?;
    let local = udp.local_addr().map_err(|e| e.to_string())?;
    let dispatcher = Arc::new(Dispatcher::new(listener.zones, Arc::from(label), local));
    let udp = UdpListener::start(udp, dispatcher.clone(), tokio::runtime::Handle::current())
        .map_err(|e| format!("serve udp {local}: {e}"))?;
    let stream = tcp::start(tcp, dispatcher.clone(), fd_limit(), tls.clone());
    Ok(Listener {
        udp: Some(udp),
        stream,
        dispatcher,
        tls,
    })
}

/// The addresses to try for `ip`: for every interface, dual-stack `[::]` where the host has
/// IPv6, else `0.0.0.0` (Go's `:53` does the same).
fn candidates(ip: Option<IpAddr>) -> Vec<IpAddr> {
    match ip {
        Some(ip) => vec![ip],
        None => vec![
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        ],
    }
}

/// TCP alone (`tls://`, `https://`).
fn bind_tcp(ip: Option<IpAddr>, port: u16) -> Result<TcpListener, String> {
    let mut last = String::new();
    for ip in candidates(ip) {
        let addr = SocketAddr::new(ip, port);
        match listen::tcp(addr) {
            Ok(tcp) => return Ok(tcp),
            Err(e) => last = format!("listen tcp {addr}: {e}"),
        }
    }
    Err(last)
}

/// UDP and TCP on the same address.
async fn bind(ip: Option<IpAddr>, port: u16) -> Result<(std::net::UdpSocket, TcpListener), String> {
    let mut last = String::new();
    for ip in candidates(ip) {
        let addr = SocketAddr::new(ip, port);
        match listen::udp(addr) {
            Ok(udp) => {
                // Port 0 asks the kernel for a port: TCP must take the same one.
                let at = udp.local_addr().map_err(|e| e.to_string())?;
                match listen::tcp(at) {
                    Ok(tcp) => return Ok((udp, tcp)),
                    Err(e) => last = format!("listen tcp {at}: {e}"),
                }
            }
            Err(e) => last = format!("listen udp {addr}: {e}"),
        }
    }
    Err(last)
}

/// The process's file descriptor limit (raised to its hard limit at start, as Go's runtime
/// raises it for CoreDNS).
fn fd_limit() -> u64 {
    rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
}
