//! `tls CONFIG` (CoreDNS 1.14.3): the Prometheus exporter-toolkit web configuration file that
//! CoreDNS's `/metrics` reads (`tls_server_config`, `http_server_config`), turned into how the
//! endpoint is reached. Read at setup, so a bad file fails with the Corefile's line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clusterdns_plugin::http::Access;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use serde::Deserialize;

/// The file, as exporter-toolkit's `web.Config` (unknown keys refused, as its strict parse).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebConfig {
    #[serde(default)]
    tls_server_config: TlsServerConfig,
    #[serde(default)]
    http_server_config: HttpServerConfig,
    basic_auth_users: Option<BTreeMap<String, String>>,
    rate_limit: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsServerConfig {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_ca_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    min_version: Option<String>,
    max_version: Option<String>,
    client_allowed_sans: Option<Vec<String>>,
    // Go's cipher and curve choices: rustls's safe defaults stand in for them.
    #[serde(rename = "cipher_suites")]
    _cipher_suites: Option<serde::de::IgnoredAny>,
    #[serde(rename = "curve_preferences")]
    _curve_preferences: Option<serde::de::IgnoredAny>,
    #[serde(rename = "prefer_server_cipher_suites")]
    _prefer_server_cipher_suites: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpServerConfig {
    /// HTTP/2 is not offered here; the key is accepted.
    #[serde(rename = "http2")]
    _http2: Option<bool>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// How `/metrics` is reached per the web config at `path` (paths inside it are relative to
/// its directory, as exporter-toolkit resolves them).
pub fn load(path: &Path) -> Result<Access, String> {
    if !path.exists() {
        return Err(format!("TLS config file does not exist: {}", path.display()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let config: WebConfig = if text.trim().is_empty() {
        WebConfig::default()
    } else {
        serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    access(config, dir).map_err(|e| format!("{}: {e}", path.display()))
}

fn access(config: WebConfig, dir: &Path) -> Result<Access, String> {
    if config.basic_auth_users.is_some_and(|u| !u.is_empty()) {
        return Err("basic_auth_users is not supported by clusterdns yet".into());
    }
    if config.rate_limit.is_some() {
        return Err("rate_limit is not supported by clusterdns yet".into());
    }
    let headers = config
        .http_server_config
        .headers
        .iter()
        .map(|(k, v)| {
            let name = hyper::header::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| format!("header {k}: {e}"))?;
            let value = hyper::header::HeaderValue::from_str(v).map_err(|e| format!("header {k}: {e}"))?;
            Ok((name, value))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Access {
        tls: tls(&config.tls_server_config, dir)?.map(|c| tokio_rustls::TlsAcceptor::from(Arc::new(c))),
        headers,
    })
}

/// The TLS server, or none when the file names no certificate (exporter-toolkit then serves
/// plain HTTP).
fn tls(t: &TlsServerConfig, dir: &Path) -> Result<Option<rustls::ServerConfig>, String> {
    let pem =
        |inline: &Option<String>, file: &Option<PathBuf>, what: &str| -> Result<Option<Vec<u8>>, String> {
            match (inline, file) {
                (Some(_), Some(_)) => Err(format!(
                    "at most one of {what} and {what}_file must be configured"
                )),
                (Some(text), None) => Ok(Some(text.clone().into_bytes())),
                (None, Some(f)) => {
                    let f = dir.join(f);
                    std::fs::read(&f)
                        .map(Some)
                        .map_err(|e| format!("{}: {e}", f.display()))
                }
                (None, None) => Ok(None),
            }
        };
    let (cert, key) = match (
        pem(&t.cert, &t.cert_file, "cert")?,
        pem(&t.key, &t.key_file, "key")?,
    ) {
        (None, None) => return Ok(None),
        (Some(c), Some(k)) => (c, k),
        (Some(_), None) => return Err("missing key_file".into()),
        (None, Some(_)) => return Err("missing cert_file".into()),
    };
    if t.client_allowed_sans.as_ref().is_some_and(|s| !s.is_empty()) {
        return Err("client_allowed_sans is not supported by clusterdns yet".into());
    }
    let certs = CertificateDer::pem_slice_iter(&cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cert: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(&key).map_err(|e| format!("key: {e}"))?;
    let versions = versions(t.min_version.as_deref(), t.max_version.as_deref())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| e.to_string())?;
    let ca = pem(&t.client_ca, &t.client_ca_file, "client_ca")?;
    let verified = |required: bool| -> Result<_, String> {
        let ca = ca
            .as_ref()
            .ok_or("client_ca_file is required with this client_auth_type")?;
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca) {
            roots
                .add(c.map_err(|e| format!("client_ca: {e}"))?)
                .map_err(|e| format!("client_ca: {e}"))?;
        }
        let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
        let v = if required { v } else { v.allow_unauthenticated() };
        v.build().map_err(|e| e.to_string())
    };
    let builder = match t.client_auth_type.as_deref().unwrap_or("NoClientCert") {
        "NoClientCert" => builder.with_no_client_auth(),
        "VerifyClientCertIfGiven" => builder.with_client_cert_verifier(verified(false)?),
        "RequireAndVerifyClientCert" => builder.with_client_cert_verifier(verified(true)?),
        other @ ("RequestClientCert" | "RequireAnyClientCert") => {
            return Err(format!(
                "client_auth_type {other} (unverified client certificates) is not supported by clusterdns"
            ));
        }
        other => return Err(format!("invalid ClientAuth: {other}")),
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(config))
}

/// The TLS versions from `min_version` (default TLS12, as exporter-toolkit) to `max_version`;
/// rustls speaks 1.2 and 1.3 only, so TLS10 and TLS11 minimums mean 1.2.
fn versions(
    min: Option<&str>,
    max: Option<&str>,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    let rank = |v: &str| match v {
        "TLS10" => Ok(10),
        "TLS11" => Ok(11),
        "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        other => Err(format!("unknown TLS version: {other}")),
    };
    let (lo, hi) = (rank(min.unwrap_or("TLS12"))?, rank(max.unwrap_or("TLS13"))?);
    let out: Vec<_> = [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
        .into_iter()
        .filter(|(v, _)| lo <= *v && *v <= hi)
        .map(|(_, p)| p)
        .collect();
    if out.is_empty() {
        return Err(format!(
            "no TLS version between {} and {}",
            min.unwrap_or("TLS12"),
            max.unwrap_or("TLS13")
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(dir: &testkit::TempDir, text: &str) -> Result<Access, String> {
        load(&dir.write("web.yml", text))
    }

    #[test]
    fn web_config_table() {
        let dir = testkit::TempDir::new("web-config");
        let cert = rcgen_free_pair(&dir);
        // No certificate: plain HTTP, headers kept.
        let a = load_text(
            &dir,
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
        )
        .expect("ok");
        assert!(a.tls.is_none());
        assert_eq!(a.headers.len(), 1);
        assert!(load_text(&dir, "").expect("empty").tls.is_none());
        // Files relative to the config's directory.
        let ok = format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            cert.0, cert.1
        );
        assert!(load_text(&dir, &ok).expect("tls").tls.is_some());
        let min13 = format!("{ok}  min_version: TLS13\n");
        assert!(load_text(&dir, &min13).is_ok());
        for (text, want) in [
            (
                format!("tls_server_config:\n  cert_file: {}\n", cert.0),
                "missing key_file",
            ),
            (
                "tls_server_config:\n  cert_file: nowhere.pem\n  key_file: k\n".to_string(),
                "nowhere.pem: No such file",
            ),
            (
                format!("{ok}  client_auth_type: RequireAndVerifyClientCert\n"),
                "client_ca_file is required",
            ),
            (
                format!("{ok}  client_auth_type: Sometimes\n"),
                "invalid ClientAuth: Sometimes",
            ),
            (
                format!("{ok}  min_version: TLS14\n"),
                "unknown TLS version: TLS14",
            ),
            (
                "basic_auth_users:\n  alice: $2y$10$abc\n".to_string(),
                "basic_auth_users is not supported",
            ),
            ("tls_server_config:\n  certfile: x\n".to_string(), "certfile"),
        ] {
            let err = load_text(&dir, &text).err().unwrap_or_default();
            assert!(err.contains(want), "{text}: {err}");
        }
        assert!(
            load(Path::new("/nonexistent/web.yml"))
                .err()
                .is_some_and(|e| e.contains("TLS config file does not exist"))
        );
    }

    /// A certificate and key written into `dir`, named relative to it.
    fn rcgen_free_pair(dir: &testkit::TempDir) -> (String, String) {
        let (cert, key) = testkit::self_signed_pem();
        dir.write("server.pem", &cert);
        dir.write("server.key", &key);
        ("server.pem".into(), "server.key".into())
    }
}
