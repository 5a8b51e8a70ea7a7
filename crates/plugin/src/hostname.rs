//! The machine's host name, as Go's `os.Hostname` reads it (chaos, nsid).

/// The kernel's host name, or `localhost` if it cannot be read (CoreDNS's fallback).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}
