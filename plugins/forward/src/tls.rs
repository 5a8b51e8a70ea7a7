//! TLS to upstreams (DNS over TLS and over HTTPS): the client configuration from
//! `tls [CERT KEY] [CA]` and `tls_servername`, as CoreDNS's `pkg/tls.NewTLSConfigFromArgs`
//! reads them.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The TLS clients of one forward line, made only for the transports it uses.
#[derive(Clone, Default)]
pub struct Clients {
    /// For `tls://` upstreams (ALPN `dot`).
    pub dot: Option<Tls>,
    /// For `https://` upstreams (ALPN `h2`, `http/1.1`).
    pub doh: Option<Tls>,
}

/// The TLS client every `tls://` (or every `https://`) upstream of a forward line uses.
#[derive(Clone)]
pub struct Tls {
    connector: TlsConnector,
    /// `tls_servername`: the name to verify when the upstream gives none of its own.
    server_name: Option<String>,
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_file_iter(path)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("could not read certificates from {}: {e}", path.display()))
}

impl Tls {
    /// `args`: none (system roots), `CA`, `CERT KEY` (client authentication, system roots), or
    /// `CERT KEY CA`; `alpn`: the application protocols offered.
    pub fn new(args: &[String], server_name: Option<String>, alpn: &[&[u8]]) -> Result<Self, String> {
        let (client, ca) = match args {
            [] => (None, None),
            [ca] => (None, Some(ca)),
            [cert, key] => (Some((cert, key)), None),
            [cert, key, ca] => (Some((cert, key)), Some(ca)),
            _ => return Err("tls takes at most three arguments".into()),
        };
        let mut roots = rustls::RootCertStore::empty();
        match ca {
            Some(ca) => {
                for cert in certificates(Path::new(ca))? {
                    roots
                        .add(cert)
                        .map_err(|e| format!("bad CA certificate in {ca}: {e}"))?;
                }
            }
            None => {
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots);
        let mut config = match client {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| format!("could not read key {key}: {e}"))?;
                builder
                    .with_client_auth_cert(certificates(Path::new(cert))?, key)
                    .map_err(|e| e.to_string())?
            }
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Self {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }

    /// `tls_servername`, if given.
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// Connects and shakes hands, verifying `name` (the upstream's `%name`), else
    /// `tls_servername`, else the address itself.
    pub async fn connect(
        &self,
        stream: TcpStream,
        addr: SocketAddr,
        name: Option<&str>,
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let name = match name.or(self.server_name.as_deref()) {
            Some(n) => ServerName::try_from(n.to_string()).map_err(std::io::Error::other)?,
            None => ServerName::IpAddress(addr.ip().into()),
        };
        self.connector.connect(name, stream).await
    }
}
