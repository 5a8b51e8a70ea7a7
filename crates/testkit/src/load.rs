//! A steady query load in a thread, counting the answers that fail a check: what the reload and
//! drop-in tests assert stays at zero while the server changes under it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::Message;

use crate::ask;

/// Queries `names` in turn every 5 ms until finished.
pub struct Load {
    stop: Arc<AtomicBool>,
    failed: Arc<AtomicUsize>,
    sent: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Load {
    /// Starts asking the server on `port` for `names` (A), in turn; an answer fails when none
    /// came or `ok` rejects it.
    pub fn start(port: u16, names: &'static [&'static str], ok: fn(&Message) -> bool) -> Load {
        let (stop, failed, sent) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let (s, f, n) = (stop.clone(), failed.clone(), sent.clone());
        let thread = std::thread::spawn(move || {
            for name in names.iter().cycle() {
                if s.load(Ordering::Acquire) {
                    break;
                }
                n.fetch_add(1, Ordering::Relaxed);
                if !ask(port, name).is_some_and(|r| ok(&r)) {
                    f.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Load {
            stop,
            failed,
            sent,
            thread: Some(thread),
        }
    }

    /// Stops; returns (sent, failed).
    pub fn finish(mut self) -> (usize, usize) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        (
            self.sent.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}
