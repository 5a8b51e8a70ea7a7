//! The mounted kube-dns ConfigMap (`stubDomains`, `upstreamNameservers`) and the polled
//! directories, read as kubernetes/dns pkg/dns/config does.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use plugin_forward::{Destination, UpstreamTransport, parse_destinations};
use sha2::{Digest, Sha256};

/// The files of one directory and the hash of them: what kube-dns's file sync compares between
/// polls. A ConfigMap holds at most 1 MiB; a directory beyond these bounds is refused, not read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirSnapshot {
    /// Empty for an empty directory (kube-dns's empty version).
    pub version: Vec<u8>,
    pub data: BTreeMap<String, String>,
}

/// The most files read from a polled directory.
const MAX_FILES: usize = 256;
/// The most bytes read from a polled directory (a ConfigMap's limit).
const MAX_BYTES: u64 = 1 << 20;

/// Reads the regular files directly in `dir` (following symlinks, as a ConfigMap mount's keys
/// are): hidden names (`..data`) and subdirectories skipped, non-UTF-8 an error.
pub fn read_dir(dir: &Path) -> Result<DirSnapshot, String> {
    let meta = std::fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!(
            "config path {:?} is not a directory",
            dir.display().to_string()
        ));
    }
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // filepath.Walk sees a ConfigMap's hidden `..data` symlink as a file and skips it by
        // its name; a real subdirectory is not descended into.
        if name.starts_with('.') || entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        names.push(name);
        if names.len() > MAX_FILES {
            return Err(format!("{}: more than {MAX_FILES} files", dir.display()));
        }
    }
    names.sort();
    let mut hasher = Sha256::new();
    let mut data = BTreeMap::new();
    let mut total = 0u64;
    for name in names {
        let path = dir.join(&name);
        let meta = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.is_dir() {
            continue;
        }
        total += meta.len();
        if total > MAX_BYTES {
            return Err(format!("{}: more than {MAX_BYTES} bytes", dir.display()));
        }
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let text = String::from_utf8(bytes).map_err(|_| format!("non-utf8 data in {}", path.display()))?;
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        hasher.update([0]);
        data.insert(name, text);
    }
    let version = if data.is_empty() {
        Vec::new()
    } else {
        hasher.finalize().to_vec()
    };
    Ok(DirSnapshot { version, data })
}

/// The kube-dns ConfigMap's keys node-cache uses (`federations` is read by kube-dns only).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KubeDnsConfig {
    /// Domain → nameservers; a BTreeMap, so the stub blocks come out in one order (Go's map
    /// order is random).
    pub stub_domains: BTreeMap<String, Vec<String>>,
    pub upstream_nameservers: Vec<String>,
}

impl KubeDnsConfig {
    /// Parses and validates the keys as kube-dns's sync does (`Invalid JSON`, `invalid domain
    /// name`, `invalid nameserver`, at most three upstreams): an error ignores the update.
    pub fn from_data(data: &BTreeMap<String, String>) -> Result<Self, String> {
        let mut config = Self::default();
        if let Some(text) = data.get("stubDomains") {
            config.stub_domains =
                serde_json::from_str(text).map_err(|e| format!("Invalid JSON {text:?}: {e}"))?;
        }
        if let Some(text) = data.get("upstreamNameservers") {
            config.upstream_nameservers =
                serde_json::from_str(text).map_err(|e| format!("Invalid JSON {text:?}: {e}"))?;
        }
        for (domain, servers) in &config.stub_domains {
            if !is_dns1123_subdomain(domain) {
                return Err(format!("invalid domain name: {domain:?}"));
            }
            for ns in servers {
                let (host, port) = split_host_port(ns).unwrap_or((ns.as_str(), None));
                if port.is_some_and(|p| p.parse::<u16>().is_err()) {
                    return Err(format!("invalid nameserver: {ns:?}"));
                }
                if host.parse::<IpAddr>().is_err() && !is_dns1123_subdomain(ns) {
                    return Err(format!("invalid nameserver: {ns:?}"));
                }
            }
        }
        if config.upstream_nameservers.len() > 3 {
            return Err("upstreamNameserver cannot have more than three entries".into());
        }
        for ns in &config.upstream_nameservers {
            let (host, port) = split_host_port(ns).unwrap_or((ns.as_str(), None));
            if host.parse::<IpAddr>().is_err() || port.is_some_and(|p| p.parse::<u16>().is_err()) {
                return Err(format!("bad IP address: {ns:?}"));
            }
        }
        Ok(config)
    }

    /// node-cache's `ValidateNodeLocalCacheConfig`: every server must be a `forward` target
    /// over `dns://` or `tls://`, or the Corefile is left as it was.
    pub fn validate_for_node_cache(&self) -> Result<(), String> {
        for (domain, servers) in &self.stub_domains {
            check_forward_targets(servers)
                .map_err(|e| format!("invalid nameservers {servers:?} for the stub domain {domain}: {e}"))?;
        }
        check_forward_targets(&self.upstream_nameservers).map_err(|e| {
            format!(
                "invalid upstream nameservers {:?}: {e}",
                self.upstream_nameservers
            )
        })
    }
}

/// Go's `net.SplitHostPort` for the forms kube-dns accepts (`ip:port`, `[v6]:port`); `None`
/// when there is no port.
fn split_host_port(s: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return Some((host, Some(after.strip_prefix(':')?)));
    }
    match s.split_once(':') {
        Some((host, port)) if !port.contains(':') => Some((host, Some(port))),
        _ => None,
    }
}

/// `forward`'s `HostPortOrFile` + transport check, as node-cache's vendored CoreDNS has it:
/// addresses (or resolv.conf-style files) only, over DNS or TLS.
fn check_forward_targets(servers: &[String]) -> Result<(), String> {
    if servers.is_empty() {
        return Ok(());
    }
    for destination in parse_destinations(servers)? {
        match destination {
            Destination::Addr(u)
                if matches!(
                    u.transport,
                    UpstreamTransport::Dns | UpstreamTransport::Tls { .. }
                ) => {}
            Destination::Addr(u) => return Err(format!("unsupported transport of nameserver {}", u.label())),
            Destination::Host(h) => return Err(format!("not an IP address or file: {:?}", h.name)),
        }
    }
    Ok(())
}

/// Kubernetes' `IsDNS1123Subdomain`: lower-case labels of letters, digits and `-`, starting
/// and ending alphanumeric, at most 253 characters.
fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253
        && !s.is_empty()
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn keys_parse_and_validate_as_kube_dns() {
        let c = KubeDnsConfig::from_data(&data(&[
            ("stubDomains", r#"{"acme.local": ["1.2.3.4", "5.6.7.8:5353"]}"#),
            ("upstreamNameservers", r#"["8.8.8.8", "8.8.4.4:53"]"#),
        ]))
        .expect("valid");
        assert_eq!(c.stub_domains["acme.local"], vec!["1.2.3.4", "5.6.7.8:5353"]);
        assert_eq!(c.upstream_nameservers, vec!["8.8.8.8", "8.8.4.4:53"]);
        assert!(c.validate_for_node_cache().is_ok());
        assert_eq!(KubeDnsConfig::from_data(&data(&[])), Ok(KubeDnsConfig::default()));

        for bad in [
            ("stubDomains", r#"{"acme.local": "1.2.3.4"}"#),
            ("stubDomains", r#"{"Acme.local": ["1.2.3.4"]}"#),
            ("stubDomains", r#"{"acme.local": ["1.2.3.4:99999"]}"#),
            ("stubDomains", r#"{"acme.local": ["not_a_host"]}"#),
            (
                "upstreamNameservers",
                r#"["1.1.1.1", "1.0.0.1", "8.8.8.8", "8.8.4.4"]"#,
            ),
            ("upstreamNameservers", r#"["dns.example"]"#),
            ("upstreamNameservers", "[1.1.1.1"),
        ] {
            assert!(KubeDnsConfig::from_data(&data(&[bad])).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn node_cache_takes_only_addresses_over_dns_or_tls() {
        // kube-dns accepts a host name as a stub server; node-cache's forward check does not.
        let c = KubeDnsConfig::from_data(&data(&[("stubDomains", r#"{"acme.local": ["ns.acme.local"]}"#)]))
            .expect("kube-dns accepts it");
        assert!(c.validate_for_node_cache().is_err());
        let tls = KubeDnsConfig {
            upstream_nameservers: vec!["tls://1.1.1.1".into()],
            ..KubeDnsConfig::default()
        };
        assert!(tls.validate_for_node_cache().is_ok());
        let https = KubeDnsConfig {
            upstream_nameservers: vec!["https://1.1.1.1".into()],
            ..KubeDnsConfig::default()
        };
        assert!(https.validate_for_node_cache().is_err());
    }

    #[test]
    fn directory_reads_as_a_configmap_mount() {
        let dir = std::env::temp_dir().join(format!("clusterdns-kubedns-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("..2026_12_02").join("x")).expect("mkdir");
        std::fs::write(dir.join("..2026_12_02/stubDomains"), r#"{"a.b": ["1.2.3.4"]}"#).expect("write");
        std::os::unix::fs::symlink("..2026_12_02", dir.join("..data")).expect("symlink");
        std::os::unix::fs::symlink("..data/stubDomains", dir.join("stubDomains")).expect("symlink");
        let empty = read_dir(&dir.join("..2026_12_02/x")).expect("empty dir");
        assert!(empty.version.is_empty() && empty.data.is_empty());
        let first = read_dir(&dir).expect("read");
        assert_eq!(first.data.keys().collect::<Vec<_>>(), vec!["stubDomains"]);
        assert!(!first.version.is_empty());
        assert_eq!(read_dir(&dir).expect("again").version, first.version);
        std::fs::write(dir.join("..2026_12_02/stubDomains"), r#"{"a.b": ["1.2.3.5"]}"#).expect("write");
        assert_ne!(read_dir(&dir).expect("changed").version, first.version);
        std::fs::write(dir.join("bad"), [0xff, 0xfe]).expect("write");
        assert!(read_dir(&dir).expect_err("non-UTF-8").contains("non-utf8"));
        assert!(read_dir(&dir.join("bad")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
