//! CoreDNS's loop detection: at start the server sends itself `HINFO <random>.<random>.<zone>`;
//! if the chain sees that name more than twice, queries go round in a loop and the process
//! exits with CoreDNS's log line (a pod in CrashLoopBackOff, the line telling why).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use clusterdns_plugin::proto::op::{Message, MessageType, OpCode, Query};
use clusterdns_plugin::proto::rr::{Name, RecordType};
use clusterdns_plugin::{Handler, Next, PluginError, Reply, Request, Service, ServiceContext, clog};

/// How long the probe keeps trying to reach the server.
const PROBE_FOR: Duration = Duration::from_secs(30);

/// Counts the probe name going through the chain.
pub struct Loop {
    zone: Name,
    qname: Name,
    /// Where the probe is sent, as the log line shows it (`:53`, `127.0.0.1:1053`).
    address: String,
    seen: AtomicU32,
    disabled: AtomicBool,
}

impl Loop {
    pub fn new(zone: Name, address: String) -> Self {
        let label = |n: u64| Name::from_ascii(n.to_string()).unwrap_or_else(|_| Name::root());
        let qname = label(rand::random::<u64>() >> 1)
            .append_domain(&label(rand::random::<u64>() >> 1))
            .and_then(|n| n.append_domain(&zone))
            .unwrap_or_else(|_| zone.clone());
        Self {
            zone,
            qname,
            address,
            seen: AtomicU32::new(0),
            disabled: AtomicBool::new(false),
        }
    }
}

#[async_trait::async_trait]
impl Handler for Loop {
    fn name(&self) -> &'static str {
        "loop"
    }

    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
        if req.qtype() != RecordType::HINFO
            || self.disabled.load(Ordering::Acquire)
            || !self.zone.zone_of(req.qname())
        {
            return next.run(req).await;
        }
        let seen = if *req.qname() == self.qname {
            self.seen.fetch_add(1, Ordering::AcqRel) + 1
        } else {
            self.seen.load(Ordering::Acquire)
        };
        if seen > 2 {
            clog::fatal(
                Some("loop"),
                format_args!(
                    "Loop ({} -> {}) detected for zone {:?}, see https://coredns.io/plugins/loop#troubleshooting. Query: \"HINFO {}\"",
                    req.client,
                    self.address,
                    self.zone.to_string(),
                    self.qname
                ),
            );
        }
        next.run(req).await
    }
}

/// Sends the probe once the server listens, retrying every second for up to 30 s; detection
/// is off once a probe came back (CoreDNS only catches loops at start).
pub struct Probe {
    detector: Arc<Loop>,
    target: SocketAddr,
}

impl Probe {
    pub fn new(detector: Arc<Loop>, target: SocketAddr) -> Self {
        Self { detector, target }
    }
}

#[async_trait::async_trait]
impl Service for Probe {
    fn key(&self) -> String {
        format!("loop {:p}", Arc::as_ptr(&self.detector))
    }

    async fn start(self: Arc<Self>, _ctx: ServiceContext) -> Result<(), String> {
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + PROBE_FOR;
            while tokio::time::Instant::now() < deadline {
                if self.exchange().await.is_ok() {
                    break;
                }
                self.detector.seen.store(0, Ordering::Release);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            self.detector.disabled.store(true, Ordering::Release);
        });
        Ok(())
    }
}

impl Probe {
    async fn exchange(&self) -> Result<(), String> {
        let mut m = Message::new(rand::random(), MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.queries
            .push(Query::query(self.detector.qname.clone(), RecordType::HINFO));
        let wire = m.to_vec().map_err(|e| e.to_string())?;
        let bind: SocketAddr = if self.target.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let sock = tokio::net::UdpSocket::bind(bind)
            .await
            .map_err(|e| e.to_string())?;
        sock.send_to(&wire, self.target)
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 512];
        // miekg's dns.Exchange waits 2 s.
        tokio::time::timeout(Duration::from_secs(2), sock.recv(&mut buf))
            .await
            .map_err(|_| "timeout".to_string())?
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_name_is_two_random_labels_in_the_zone() {
        let zone = Name::from_ascii("cluster.local.").expect("zone");
        let l = Loop::new(zone.clone(), ":53".into());
        assert_eq!(l.qname.num_labels(), zone.num_labels() + 2);
        assert!(zone.zone_of(&l.qname));
        assert!(
            l.qname
                .iter()
                .take(2)
                .all(|label| label.iter().all(u8::is_ascii_digit))
        );
        assert_ne!(l.qname, Loop::new(zone, ":53".into()).qname);
    }
}
