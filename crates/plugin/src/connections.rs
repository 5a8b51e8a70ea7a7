//! Bounds for servers that accept connections (DNS over TCP; health, ready and metrics over
//! HTTP): a cap on open connections that closes the one idle longest to make room, and the
//! pause after a failed accept.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// One open connection, as the cap sees it.
pub struct Connection {
    /// Milliseconds since the server started, at the connection's last activity.
    active: AtomicU64,
    /// Requests being answered: a busy connection is never closed to make room.
    busy: AtomicUsize,
    evict: Notify,
    started: Instant,
}

impl Connection {
    /// Notes activity now.
    pub fn touch(&self) {
        self.active.store(millis(self.started), Ordering::Release);
    }

    pub fn set_busy(&self, requests: usize) {
        self.busy.store(requests, Ordering::Release);
    }

    /// Completes when the connection is closed to make room for a newer one.
    pub async fn evicted(&self) {
        self.evict.notified().await;
    }
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The open connections of one server, at most `cap`.
pub struct Connections {
    cap: usize,
    started: Instant,
    next: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Connection>>>,
}

/// A registered connection; leaves the table on drop.
pub struct Registered {
    connections: Arc<Connections>,
    id: u64,
    pub connection: Arc<Connection>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.connections
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

impl Connections {
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self {
            cap: cap.max(1),
            started: Instant::now(),
            next: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Registers a new connection, first closing the one idle longest if the cap is reached.
    /// `None` when every open connection is busy: the new one should be closed instead.
    pub fn register(self: &Arc<Self>) -> Option<Registered> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.len() >= self.cap {
            let oldest = open
                .iter()
                .filter(|(_, c)| c.busy.load(Ordering::Acquire) == 0)
                .min_by_key(|(_, c)| c.active.load(Ordering::Acquire))
                .map(|(id, _)| *id)?;
            if let Some(evicted) = open.remove(&oldest) {
                evicted.evict.notify_one();
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let connection = Arc::new(Connection {
            active: AtomicU64::new(millis(self.started)),
            busy: AtomicUsize::new(0),
            evict: Notify::new(),
            started: self.started,
        });
        open.insert(id, connection.clone());
        Some(Registered {
            connections: self.clone(),
            id,
            connection,
        })
    }

    /// Connections open now.
    pub fn len(&self) -> usize {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The pause after a failed accept (EMFILE, ENFILE, ENOBUFS): Go's http server's, 5 ms
/// doubling to 1 s, so a full descriptor table cannot spin an accept loop.
#[derive(Debug)]
pub struct AcceptBackoff(Duration);

const PAUSE_MIN: Duration = Duration::from_millis(5);
const PAUSE_MAX: Duration = Duration::from_secs(1);

impl Default for AcceptBackoff {
    fn default() -> Self {
        Self(PAUSE_MIN)
    }
}

impl AcceptBackoff {
    /// An accept worked: the next failure pauses briefly again.
    pub fn reset(&mut self) {
        self.0 = PAUSE_MIN;
    }

    /// How long to pause after this failure.
    pub fn pause(&mut self) -> Duration {
        let pause = self.0;
        self.0 = (self.0 * 2).min(PAUSE_MAX);
        pause
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_closes_the_connection_idle_longest_and_never_a_busy_one() {
        let connections = Connections::new(2);
        let a = connections.register().expect("room");
        let b = connections.register().expect("room");
        a.connection.active.store(5, Ordering::Release);
        b.connection.active.store(1, Ordering::Release);
        // b is idle longest: it goes.
        let c = connections.register().expect("b evicted");
        assert_eq!(connections.len(), 2);
        assert!(Arc::strong_count(&b.connection) == 1, "b left the table");
        drop(b);
        a.connection.set_busy(1);
        c.connection.set_busy(1);
        assert!(connections.register().is_none(), "everyone busy");
        drop(a);
        assert!(connections.register().is_some());
    }

    #[test]
    fn accept_pauses_double_to_a_second() {
        let mut b = AcceptBackoff::default();
        let pauses: Vec<u128> = (0..10).map(|_| b.pause().as_millis()).collect();
        assert_eq!(pauses, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.reset();
        assert_eq!(b.pause(), Duration::from_millis(5));
    }
}
