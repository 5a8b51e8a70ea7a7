//! Reloading the Corefile in place: on the reload plugin's timer or SIGUSR1, re-read it, and if
//! its parsed form changed, build the new configuration completely and swap it in; on any error
//! keep serving the old one (CoreDNS's reload, including its log lines and metrics).

use std::path::PathBuf;

use clusterdns_plugin::clog;
use corefile::ServerBlock;
use plugin_reload::metrics;
use sha2::{Digest, Sha512};

use crate::registry;
use crate::server::{Running, assemble};

/// The Corefile being served and the hash of its parsed form.
pub struct Reloader {
    /// `None` for the embedded default, which never changes.
    path: Option<PathBuf>,
    hash: [u8; 64],
    port: u16,
}

/// SHA-512 of the parsed Corefile: keys and every directive's tokens with their file and line,
/// imports expanded. Comment and white-space edits on a line leave it unchanged, as CoreDNS's
/// hash of its parsed server blocks.
pub fn hash_of(blocks: &[ServerBlock]) -> [u8; 64] {
    let mut h = Sha512::new();
    for block in blocks {
        h.update(b"block\0");
        for key in &block.keys {
            h.update(format!("{}\0{}\0{}\0", key.text, key.file, key.line));
        }
        for directive in &block.directives {
            h.update(format!("directive\0{}\0", directive.name));
            for t in &directive.tokens {
                h.update(format!("{}\0{}\0{}\0{}\0", t.text, t.file, t.line, t.quoted));
            }
        }
    }
    h.finalize().into()
}

fn hex(hash: &[u8]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

impl Reloader {
    pub fn new(path: Option<PathBuf>, blocks: &[ServerBlock], port: u16) -> Self {
        let hash = hash_of(blocks);
        if let Some(g) = metrics::VERSION_INFO.as_ref() {
            g.with_label_values(&["sha512", &hex(&hash)]).set(1.0);
        }
        Self { path, hash, port }
    }

    /// Checks the Corefile and reloads it if it changed.
    pub async fn check(&mut self, running: &mut Running) {
        let Some(path) = &self.path else { return };
        let Ok(text) = corefile::read_text(path) else {
            return;
        };
        let name = path.display().to_string();
        // Any directive parses here: an unknown one is a failed reload, not a syntax error.
        let blocks = match corefile::parse(&name, &text, &[]) {
            Ok(blocks) => blocks,
            Err(e) => {
                clog::warning(Some("reload"), format_args!("Corefile parse failed: {e}"));
                return;
            }
        };
        let hash = hash_of(&blocks);
        if hash == self.hash {
            return;
        }
        // The same content is not tried again; only a further edit is.
        let old = std::mem::replace(&mut self.hash, hash);
        clog::info(None, format_args!("Reloading"));
        let assembled = corefile::parse(&name, &text, &registry::names())
            .map_err(|e| e.to_string())
            .and_then(|mut blocks| {
                for stray in corefile::take_stray_braces(&mut blocks) {
                    clog::warning(None, format_args!("{stray}"));
                }
                assemble(&blocks, self.port, running.heritage()).map_err(|errors| errors.join("\n"))
            });
        let result = match assembled {
            Err(e) => Err(e),
            Ok(plan) => running.apply(plan).await,
        };
        if let Err(e) = result {
            clog::error(
                Some("reload"),
                format_args!("Corefile changed but reload failed: {e}"),
            );
            if let Some(c) = metrics::FAILED.as_ref() {
                c.inc();
            }
            return;
        }
        if let Some(g) = metrics::VERSION_INFO.as_ref() {
            let _ = g.remove_label_values(&["sha512", &hex(&old)]);
            g.with_label_values(&["sha512", &hex(&hash)]).set(1.0);
        }
        clog::info(
            Some("reload"),
            format_args!("Running configuration SHA512 = {}", hex(&hash)),
        );
        clog::info(None, format_args!("Reloading complete"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(text: &str) -> [u8; 64] {
        hash_of(&corefile::parse("Corefile", text, &[]).expect("parses"))
    }

    #[test]
    fn comments_and_spacing_do_not_change_the_hash() {
        let base = hash(". {\n    whoami\n    log\n}\n");
        assert_eq!(
            base,
            hash(". {   # a comment\n    whoami   \n\tlog # another\n}\n")
        );
        assert_ne!(base, hash(". {\n    whoami\n    errors\n}\n"));
        assert_ne!(base, hash(". {\n    whoami\n    log stdout\n}\n"));
    }
}
