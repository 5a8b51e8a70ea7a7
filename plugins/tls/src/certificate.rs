//! The server certificate, read again when its files change: a Corefile reload that keeps the
//! `tls` line (clusterdns sets up again only what an edit changed) still serves a renewed
//! certificate, and so does a renewal without any reload.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use clusterdns_plugin::clog;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// How often, at most, the files are looked at (one stat each per handshake otherwise).
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The certificate chain and key from PEM files, checked against each other.
pub fn load(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("open {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("open {}: {e}", key.display()))?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| e.to_string())
}

/// Serves the certificate last read, reading the files again when their modification times
/// change; a renewal that does not load is logged and the certificate served stays.
#[derive(Debug)]
pub struct ReloadingCertificate {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    current: Arc<CertifiedKey>,
    stamps: (Option<SystemTime>, Option<SystemTime>),
    checked: Instant,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl ReloadingCertificate {
    pub fn new(cert: PathBuf, key: PathBuf, provider: Arc<CryptoProvider>) -> Result<Self, String> {
        let stamps = (modified(&cert), modified(&key));
        let current = Arc::new(load(&cert, &key, &provider)?);
        Ok(Self {
            cert,
            key,
            provider,
            state: Mutex::new(State {
                current,
                stamps,
                checked: Instant::now(),
            }),
        })
    }

    fn current(&self) -> Arc<CertifiedKey> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.checked.elapsed() >= CHECK_EVERY {
            state.checked = Instant::now();
            let stamps = (modified(&self.cert), modified(&self.key));
            if stamps != state.stamps {
                state.stamps = stamps;
                match load(&self.cert, &self.key, &self.provider) {
                    Ok(key) => {
                        state.current = Arc::new(key);
                        clog::info(
                            Some("tls"),
                            format_args!("Reloaded certificate {}", self.cert.display()),
                        );
                    }
                    Err(e) => clog::error(
                        Some("tls"),
                        format_args!("Reloading certificate {}: {e}", self.cert.display()),
                    ),
                }
            }
        }
        state.current.clone()
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}
