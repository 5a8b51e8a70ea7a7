//! Log lines in CoreDNS's format (`[INFO] plugin/NAME: ...`), written to standard output.
//!
//! CoreDNS users grep for these exact prefixes, so clusterdns writes them the same way rather
//! than through a structured logger. Lines go through a bounded queue to a writer thread: a
//! slow or blocked standard output (a full pipe, a stalled log collector) never holds up a
//! query thread; lines that do not fit are dropped, counted, and the count is logged.

use std::io::Write;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

/// Lines waiting for standard output, at most.
const QUEUE: usize = 4096;

enum Entry {
    Line(String),
    /// Answered once every line queued before it is written.
    Flush(SyncSender<()>),
}

struct Writer {
    queue: Option<SyncSender<Entry>>,
    dropped: AtomicU64,
}

static WRITER: LazyLock<Writer> = LazyLock::new(|| {
    let (tx, rx) = sync_channel(QUEUE);
    let started = std::thread::Builder::new()
        .name("log".into())
        .spawn(move || write_lines(&rx))
        .is_ok();
    Writer {
        queue: started.then_some(tx),
        dropped: AtomicU64::new(0),
    }
});

fn write_lines(rx: &Receiver<Entry>) {
    let stdout = std::io::stdout();
    while let Ok(entry) = rx.recv() {
        let mut out = stdout.lock();
        match entry {
            // A closed stdout must not take the server down: the line is lost, nothing else.
            Entry::Line(line) => {
                let _ = out.write_all(line.as_bytes());
            }
            Entry::Flush(done) => {
                let _ = out.flush();
                let _ = done.send(());
                continue;
            }
        }
        let dropped = WRITER.dropped.swap(0, Ordering::AcqRel);
        if dropped > 0 {
            if let Some(c) = crate::metrics::LOG_DROPPED.as_ref() {
                c.inc_by(dropped);
            }
            let _ = writeln!(
                out,
                "[WARNING] {dropped} log lines dropped: standard output did not keep up"
            );
        }
    }
}

fn line(level: &str, plugin: Option<&str>, message: std::fmt::Arguments<'_>) {
    let text = match plugin {
        Some(p) => format!("[{level}] plugin/{p}: {message}\n"),
        None => format!("[{level}] {message}\n"),
    };
    let writer = &*WRITER;
    let Some(queue) = &writer.queue else {
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
        return;
    };
    match queue.try_send(Entry::Line(text)) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            writer.dropped.fetch_add(1, Ordering::AcqRel);
        }
        Err(TrySendError::Disconnected(Entry::Line(text))) => {
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
        }
        Err(TrySendError::Disconnected(_)) => {}
    }
}

/// Waits until every line logged so far is written (at exit).
pub fn flush() {
    if let Some(queue) = &WRITER.queue {
        let (done, wait) = sync_channel(1);
        if queue.send(Entry::Flush(done)).is_ok() {
            let _ = wait.recv();
        }
    }
}

/// Whether `[DEBUG]` lines are written: set by the `debug` directive, for the whole process
/// (CoreDNS's `log.D`).
static DEBUG: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Turns `[DEBUG]` lines on.
pub fn enable_debug() {
    DEBUG.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// `[DEBUG] plugin/NAME: message`, only once `debug` is on.
pub fn debug(plugin: Option<&str>, message: std::fmt::Arguments<'_>) {
    if DEBUG.load(std::sync::atomic::Ordering::Relaxed) {
        line("DEBUG", plugin, message);
    }
}

/// `[INFO] plugin/NAME: message` (or `[INFO] message` without a plugin).
pub fn info(plugin: Option<&str>, message: std::fmt::Arguments<'_>) {
    line("INFO", plugin, message);
}

/// `[WARNING] plugin/NAME: message`.
pub fn warning(plugin: Option<&str>, message: std::fmt::Arguments<'_>) {
    line("WARNING", plugin, message);
}

/// `[ERROR] plugin/NAME: message`.
pub fn error(plugin: Option<&str>, message: std::fmt::Arguments<'_>) {
    line("ERROR", plugin, message);
}

/// `[FATAL] plugin/NAME: message`, then the process exits with status 1, as CoreDNS's
/// `log.Fatalf` (a Kubernetes pod then restarts, and the line is what users search for).
pub fn fatal(plugin: Option<&str>, message: std::fmt::Arguments<'_>) -> ! {
    line("FATAL", plugin, message);
    flush();
    std::process::exit(1)
}
