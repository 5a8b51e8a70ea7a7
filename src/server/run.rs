//! Binding listeners, starting services, and shutting down with CoreDNS's lameduck.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use clusterdns_plugin::{Phase, ServiceContext, clog};
use hickory_server::Server;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;

use super::assemble::Plan;
use super::dispatch::Dispatcher;

/// How long an idle TCP connection stays open (CoreDNS's default idle timeout).
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Replies buffered per TCP connection.
const TCP_RESPONSE_BUFFER: usize = 32;

/// A started configuration: its DNS servers and the phase its services watch.
pub struct Running {
    servers: Vec<Server<Dispatcher>>,
    phase: watch::Sender<Phase>,
    lameduck: Duration,
}

/// Binds every listener and starts every service of `plan`.
pub async fn start(plan: Plan) -> Result<Running, String> {
    let (phase, phase_rx) = watch::channel(Phase::Running);
    let mut servers = Vec::new();
    for listener in plan.listeners {
        let (udp, tcp) = bind(listener.ip, listener.port).await?;
        let local = udp.local_addr().map_err(|e| e.to_string())?;
        let label = listener.label();
        if let Some(g) = clusterdns_plugin::metrics::PLUGIN_ENABLED.as_ref() {
            for (zone, name) in listener.plugins() {
                g.with_label_values(&[&label, zone, "", name]).set(1.0);
            }
        }
        let mut server = Server::new(Dispatcher::new(listener.zones, Arc::from(label), local));
        server.register_socket(udp);
        server.register_listener(tcp, TCP_IDLE_TIMEOUT, TCP_RESPONSE_BUFFER);
        servers.push(server);
    }
    let ctx = ServiceContext {
        phase: phase_rx,
        readiness: plan.readiness,
    };
    for service in plan.services {
        service.start(ctx.clone()).await?;
    }
    Ok(Running {
        servers,
        phase,
        lameduck: plan.lameduck,
    })
}

/// UDP and TCP on the same address; for every interface, dual-stack `[::]` where the host has
/// IPv6, else `0.0.0.0` (Go's `:53` does the same).
async fn bind(ip: Option<IpAddr>, port: u16) -> Result<(UdpSocket, TcpListener), String> {
    let candidates: Vec<IpAddr> = match ip {
        Some(ip) => vec![ip],
        None => vec![
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        ],
    };
    let mut last = String::new();
    for ip in candidates {
        let addr = SocketAddr::new(ip, port);
        match UdpSocket::bind(addr).await {
            Ok(udp) => {
                // Port 0 asks the kernel for a port: TCP must take the same one.
                let at = udp.local_addr().map_err(|e| e.to_string())?;
                match TcpListener::bind(at).await {
                    Ok(tcp) => return Ok((udp, tcp)),
                    Err(e) => last = format!("listen tcp {at}: {e}"),
                }
            }
            Err(e) => last = format!("listen udp {addr}: {e}"),
        }
    }
    Err(last)
}

impl Running {
    /// Stops after a signal: keeps answering through the lameduck period (so queries already
    /// on their way are answered while endpoints update), then closes every listener.
    pub async fn shut_down(mut self) {
        if !self.lameduck.is_zero() {
            let _ = self.phase.send(Phase::LameDuck);
            clog::info(
                Some("health"),
                format_args!(
                    "Going into lameduck mode for {}",
                    clusterdns_plugin::format_duration(self.lameduck)
                ),
            );
            tokio::time::sleep(self.lameduck).await;
        }
        let _ = self.phase.send(Phase::Stopped);
        for server in &mut self.servers {
            if let Err(e) = server.shutdown_gracefully().await {
                clog::warning(None, format_args!("listener stopped with an error: {e}"));
            }
        }
    }
}
