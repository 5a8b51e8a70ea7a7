//! `tls CERT KEY [CA] { client_auth TYPE }`: parsed into a [`Config`], then made the block's
//! TLS server configuration.

use std::path::PathBuf;
use std::sync::Arc;

use clusterdns_plugin::{Dispenser, Setup, SetupError};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::server::WebPkiClientVerifier;

use crate::certificate::ReloadingCertificate;
use crate::unverified::AnyClientCertificate;

/// Which client certificates a listener asks for (Go's `tls.ClientAuthType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    NoCert,
    Request,
    Require,
    VerifyIfGiven,
    RequireAndVerify,
}

/// The `tls` line of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Client certificates are verified against it (CoreDNS's `ClientCAs = RootCAs`).
    pub ca: Option<PathBuf>,
    pub client_auth: ClientAuth,
}

pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    let config = parse(s.dispenser())?;
    let server = server_config(&config).map_err(SetupError::Other)?;
    s.set_tls(Arc::new(server));
    Ok(())
}

pub fn parse(d: &mut Dispenser) -> Result<Config, SetupError> {
    let mut config = None;
    while d.next() {
        if config.is_some() {
            return Err(d.err("TLS already configured for this server instance").into());
        }
        let args = d.remaining_args();
        if !(2..=3).contains(&args.len()) {
            return Err(d.arg_err().into());
        }
        let mut client_auth = ClientAuth::NoCert;
        while d.next_block() {
            match d.val() {
                "client_auth" => {
                    let kind = d.remaining_args();
                    let [kind] = kind.as_slice() else {
                        return Err(d.arg_err().into());
                    };
                    client_auth = match kind.as_str() {
                        "nocert" => ClientAuth::NoCert,
                        "request" => ClientAuth::Request,
                        "require" => ClientAuth::Require,
                        "verify_if_given" => ClientAuth::VerifyIfGiven,
                        "require_and_verify" => ClientAuth::RequireAndVerify,
                        other => {
                            return Err(d.err(format!("unknown authentication type '{other}'")).into());
                        }
                    };
                }
                other => return Err(d.err(format!("unknown option '{other}'")).into()),
            }
        }
        config = Some(Config {
            cert: PathBuf::from(&args[0]),
            key: PathBuf::from(&args[1]),
            ca: args.get(2).map(PathBuf::from),
            client_auth,
        });
    }
    config.ok_or_else(|| d.arg_err().into())
}

/// The rustls configuration: the certificate (re-read when its files change) and the client
/// verification asked for.
pub fn server_config(config: &Config) -> Result<rustls::ServerConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certificate = ReloadingCertificate::new(config.cert.clone(), config.key.clone(), provider.clone())?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let verified = |required: bool| -> Result<_, String> {
        let Some(ca) = &config.ca else {
            return Err("client_auth verify_if_given and require_and_verify need a CA".to_string());
        };
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(ca).map_err(|e| format!("open {}: {e}", ca.display()))? {
            roots
                .add(c.map_err(|e| format!("{}: {e}", ca.display()))?)
                .map_err(|e| format!("{}: {e}", ca.display()))?;
        }
        let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
        let v = if required { v } else { v.allow_unauthenticated() };
        v.build().map_err(|e| e.to_string())
    };
    let builder = match config.client_auth {
        ClientAuth::NoCert => builder.with_no_client_auth(),
        ClientAuth::VerifyIfGiven => builder.with_client_cert_verifier(verified(false)?),
        ClientAuth::RequireAndVerify => builder.with_client_cert_verifier(verified(true)?),
        ClientAuth::Request => {
            builder.with_client_cert_verifier(Arc::new(AnyClientCertificate::new(false, provider)))
        }
        ClientAuth::Require => {
            builder.with_client_cert_verifier(Arc::new(AnyClientCertificate::new(true, provider)))
        }
    };
    Ok(builder.with_cert_resolver(Arc::new(certificate)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(input: &str) -> Result<Config, String> {
        parse(&mut Dispenser::from_text(input)).map_err(|e| e.to_string())
    }

    #[test]
    fn table() {
        let c = parsed("tls cert.pem key.pem").expect("ok");
        assert_eq!(
            (c.cert, c.key, c.ca, c.client_auth),
            ("cert.pem".into(), "key.pem".into(), None, ClientAuth::NoCert)
        );
        let c = parsed("tls cert.pem key.pem ca.pem {\n client_auth require_and_verify\n}").expect("ok");
        assert_eq!(
            (c.ca, c.client_auth),
            (Some("ca.pem".into()), ClientAuth::RequireAndVerify)
        );
        for (input, want) in [
            ("tls cert.pem", "Wrong argument count"),
            ("tls a b c d", "Wrong argument count"),
            ("tls a b {\n client_auth\n}", "Wrong argument count"),
            (
                "tls a b {\n client_auth sometimes\n}",
                "unknown authentication type 'sometimes'",
            ),
            ("tls a b {\n ciphers x\n}", "unknown option 'ciphers'"),
            (
                "tls a b\ntls c d",
                "TLS already configured for this server instance",
            ),
        ] {
            let e = parsed(input).expect_err(input);
            assert!(e.contains(want), "{input}: {e}");
        }
    }

    #[test]
    fn certificates_load_or_say_why() {
        let dir = testkit::TempDir::new("tls-setup");
        let (cert, key) = testkit::self_signed_pem();
        let cert = dir.write("cert.pem", &cert);
        let key = dir.write("key.pem", &key);
        let config = |ca: Option<PathBuf>, client_auth| Config {
            cert: cert.clone(),
            key: key.clone(),
            ca,
            client_auth,
        };
        assert!(server_config(&config(None, ClientAuth::NoCert)).is_ok());
        assert!(server_config(&config(Some(cert.clone()), ClientAuth::RequireAndVerify)).is_ok());
        let e = server_config(&config(None, ClientAuth::VerifyIfGiven)).expect_err("no CA");
        assert!(e.contains("need a CA"), "{e}");
        assert!(
            server_config(&config(None, ClientAuth::Require)).is_ok(),
            "any certificate"
        );
        let e = server_config(&Config {
            cert: dir.0.join("missing.pem"),
            ..config(None, ClientAuth::NoCert)
        })
        .expect_err("missing");
        assert!(e.contains("missing.pem"), "{e}");
    }
}
