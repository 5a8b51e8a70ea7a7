//! Log lines in CoreDNS's format (`[INFO] plugin/NAME: ...`), written to standard output.
//!
//! CoreDNS users grep for these exact prefixes, so clusterdns writes them the same way rather
//! than through a structured logger.

use std::io::Write;

fn line(level: &str, plugin: Option<&str>, message: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    // A closed stdout must not take the server down: the line is lost, nothing else.
    let _ = match plugin {
        Some(p) => writeln!(out, "[{level}] plugin/{p}: {message}"),
        None => writeln!(out, "[{level}] {message}"),
    };
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

/// `[DEBUG] plugin/NAME: message`.
pub fn debug(plugin: Option<&str>, message: std::fmt::Arguments<'_>) {
    line("DEBUG", plugin, message);
}

/// `[FATAL] plugin/NAME: message`, then the process exits with status 1, as CoreDNS's
/// `log.Fatalf` (a Kubernetes pod then restarts, and the line is what users search for).
pub fn fatal(plugin: Option<&str>, message: std::fmt::Arguments<'_>) -> ! {
    line("FATAL", plugin, message);
    std::process::exit(1)
}
