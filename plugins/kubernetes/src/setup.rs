//! `kubernetes [ZONES...] { ... }`, once per server block: every option CoreDNS 1.11+ accepts,
//! with its defaults and error texts.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use clusterdns_plugin::proto::rr::Name;
use clusterdns_plugin::{Dispenser, Fallthrough, SetupError, parse_duration};

/// Which pod records are answered (`<a-b-c-d>.<ns>.pod.<zone>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodMode {
    /// No pod records: NXDOMAIN.
    Disabled,
    /// Any dashed IP in an existing namespace.
    Insecure,
    /// Only IPs of pods that exist in that namespace (watches pods).
    Verified,
}

/// How the plugin reaches the API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiSource {
    /// The pod's service account (KUBERNETES_SERVICE_HOST/PORT, token and CA).
    InCluster,
    /// `endpoint URL` with optional `tls CERT KEY CACERT`.
    Endpoint {
        url: String,
        tls: Option<(PathBuf, PathBuf, PathBuf)>,
    },
    /// `kubeconfig FILE [CONTEXT]` (wins over `endpoint`).
    Kubeconfig { path: PathBuf, context: Option<String> },
}

/// The parsed directive.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Zones answered; the first non-reverse one is the primary (PTR targets are in it).
    pub zones: Vec<Name>,
    pub primary: usize,
    pub source: ApiSource,
    /// Only these namespaces are exposed (empty: all).
    pub namespaces: BTreeSet<String>,
    pub namespace_labels: Option<String>,
    pub labels: Option<String>,
    pub pods: PodMode,
    pub endpoint_pod_names: bool,
    pub ttl: u32,
    pub noendpoints: bool,
    pub fallthrough: Fallthrough,
    pub ignore_empty_service: bool,
    pub startup_timeout: Duration,
    pub apiserver_qps: Option<f64>,
    pub apiserver_burst: Option<u32>,
    pub apiserver_max_inflight: Option<u32>,
    /// `multicluster ZONES`: zones answered from ServiceImports (1.12.2), each one of `zones`.
    pub multicluster: Vec<Name>,
    /// `zonal`: zone-scoped names for headless services (1.14.7).
    pub zonal: bool,
}

impl Config {
    /// The zone PTR targets and SOA of reverse zones use.
    pub fn primary_zone(&self) -> &Name {
        &self.zones[self.primary]
    }
}

fn is_reverse(zone: &Name) -> bool {
    let z = zone.to_ascii().to_ascii_lowercase();
    z.ends_with("in-addr.arpa.") || z.ends_with("ip6.arpa.")
}

/// Parses the directive; `block_zones` are the server block's zones (the default).
pub fn parse(d: &mut Dispenser, block_zones: &[String]) -> Result<Config, SetupError> {
    let other = |m: String| SetupError::Other(m);
    let mut config: Option<Config> = None;
    while d.next() {
        if config.is_some() {
            return Err(SetupError::once_per_block());
        }
        let args = d.remaining_args();
        let mut zones = Vec::new();
        if args.is_empty() {
            zones.extend(block_zones.iter().cloned());
        } else {
            for a in &args {
                zones.extend(corefile::parse_key(a).map_err(|e| d.err(e))?.zones);
            }
        }
        let zones: Vec<Name> = zones
            .iter()
            .map(|z| Name::from_ascii(z).map_err(|e| other(e.to_string())))
            .collect::<Result<_, _>>()?;
        let primary = zones
            .iter()
            .position(|z| !is_reverse(z))
            .ok_or_else(|| other("non-reverse zone name must be used".into()))?;
        let mut c = Config {
            zones,
            primary,
            source: ApiSource::InCluster,
            namespaces: BTreeSet::new(),
            namespace_labels: None,
            labels: None,
            pods: PodMode::Disabled,
            endpoint_pod_names: false,
            ttl: 5,
            noendpoints: false,
            fallthrough: Fallthrough::default(),
            ignore_empty_service: false,
            startup_timeout: Duration::from_secs(5),
            apiserver_qps: None,
            apiserver_burst: None,
            apiserver_max_inflight: None,
            multicluster: Vec::new(),
            zonal: false,
        };
        let (mut endpoint, mut tls, mut kubeconfig) = (None, None, None);
        while d.next_block() {
            let option = d.val().to_string();
            let args = d.remaining_args();
            match option.as_str() {
                "endpoint_pod_names" if args.is_empty() => c.endpoint_pod_names = true,
                "pods" => {
                    let [mode] = args.as_slice() else {
                        return Err(d.arg_err().into());
                    };
                    c.pods = match mode.as_str() {
                        "disabled" => PodMode::Disabled,
                        "insecure" => PodMode::Insecure,
                        "verified" => PodMode::Verified,
                        other => {
                            return Err(SetupError::Other(format!(
                                "wrong value for pods: {other},  must be one of: disabled, verified, insecure"
                            )));
                        }
                    };
                }
                "namespaces" if !args.is_empty() => c.namespaces.extend(args),
                "endpoint" if !args.is_empty() => {
                    if args.len() > 1 {
                        clusterdns_plugin::clog::warning(
                            Some("kubernetes"),
                            format_args!(
                                "Multiple endpoints have been deprecated, only the first specified endpoint '{}' is used",
                                args[0]
                            ),
                        );
                    }
                    endpoint = Some(args[0].clone());
                }
                "tls" => {
                    let [cert, key, ca] = args.as_slice() else {
                        return Err(d.arg_err().into());
                    };
                    tls = Some((PathBuf::from(cert), PathBuf::from(key), PathBuf::from(ca)));
                }
                "labels" if !args.is_empty() => {
                    let selector = args.join(" ");
                    check_selector(&selector).map_err(|e| {
                        other(format!("unable to parse label selector value: '{selector}': {e}"))
                    })?;
                    c.labels = Some(selector);
                }
                "namespace_labels" if !args.is_empty() => {
                    let selector = args.join(" ");
                    check_selector(&selector).map_err(|e| {
                        other(format!(
                            "unable to parse namespace_label selector value: '{selector}': {e}"
                        ))
                    })?;
                    c.namespace_labels = Some(selector);
                }
                "fallthrough" => c.fallthrough = Fallthrough::from_args(&args).map_err(other)?,
                "ttl" => {
                    let Some(t) = args.first() else {
                        return Err(d.arg_err().into());
                    };
                    let t = clusterdns_plugin::atoi(t).map_err(other)?;
                    if !(0..=3600).contains(&t) {
                        return Err(d.err(format!("ttl must be in range [0, 3600]: {t}")).into());
                    }
                    c.ttl = u32::try_from(t).unwrap_or(5);
                }
                "noendpoints" if args.is_empty() => c.noendpoints = true,
                "zonal" if args.is_empty() => c.zonal = true,
                "multicluster" => {
                    for a in &args {
                        for z in corefile::parse_key(a).map_err(|e| d.err(e))?.zones {
                            c.multicluster
                                .push(Name::from_ascii(&z).map_err(|e| other(e.to_string()))?);
                        }
                    }
                }
                "ignore" => match args.first().map(String::as_str) {
                    Some("empty_service") => c.ignore_empty_service = true,
                    Some(v) => return Err(other(format!("unable to parse ignore value: '{v}'"))),
                    None => {}
                },
                "kubeconfig" => {
                    let (path, context) = match args.as_slice() {
                        [path] => (path, None),
                        [path, context] => (path, Some(context.clone())),
                        _ => return Err(d.arg_err().into()),
                    };
                    kubeconfig = Some((PathBuf::from(path), context));
                }
                "startup_timeout" => {
                    let [t] = args.as_slice() else {
                        return Err(d.arg_err().into());
                    };
                    c.startup_timeout = parse_duration(t)
                        .map_err(|e| other(format!("unable to parse startup_timeout: '{t}': {e}")))?;
                }
                "apiserver_qps" => {
                    let [v] = args.as_slice() else {
                        return Err(d.arg_err().into());
                    };
                    let qps: f64 = v
                        .parse()
                        .ok()
                        .filter(|q: &f64| *q >= 0.0)
                        .ok_or_else(|| other(format!("invalid apiserver_qps value: {v}")))?;
                    c.apiserver_qps = Some(qps);
                }
                "apiserver_burst" | "apiserver_max_inflight" => {
                    let [v] = args.as_slice() else {
                        return Err(d.arg_err().into());
                    };
                    let n: u32 = v
                        .parse()
                        .map_err(|_| other(format!("invalid {option} value: {v}")))?;
                    if option == "apiserver_burst" {
                        c.apiserver_burst = Some(n);
                    } else {
                        c.apiserver_max_inflight = Some(n);
                    }
                }
                "endpoint_pod_names" | "noendpoints" | "namespaces" | "endpoint" | "labels"
                | "namespace_labels" | "zonal" => {
                    return Err(d.arg_err().into());
                }
                other => return Err(d.err(format!("unknown property '{other}'")).into()),
            }
        }
        if !c.namespaces.is_empty() && c.namespace_labels.is_some() {
            return Err(d.err("namespaces and namespace_labels cannot both be set").into());
        }
        if let Some(z) = c.multicluster.iter().find(|z| !c.zones.contains(z)) {
            let zones: Vec<String> = c.zones.iter().map(Name::to_ascii).collect();
            return Err(d
                .err(format!(
                    "is not authoritative for the multicluster zone {} (authoritative zones: [{}])",
                    z.to_ascii(),
                    zones.join(" ")
                ))
                .into());
        }
        if c.zonal && c.noendpoints {
            return Err(d
                .err("zonal requires the endpoint cache; remove noendpoints")
                .into());
        }
        // CoreDNS's precedence: kubeconfig, else endpoint (with tls), else in-cluster.
        c.source = match (kubeconfig, endpoint) {
            (Some((path, context)), _) => ApiSource::Kubeconfig { path, context },
            (None, Some(url)) => ApiSource::Endpoint { url, tls },
            (None, None) => ApiSource::InCluster,
        };
        config = Some(c);
    }
    config.ok_or_else(|| d.arg_err().into())
}

/// Kubernetes label selector syntax: comma-separated `k`, `!k`, `k=v`, `k==v`, `k!=v`,
/// `k in (a,b)`, `k notin (a,b)`.
fn check_selector(selector: &str) -> Result<(), String> {
    let valid_key = |k: &str| {
        !k.is_empty() && k.len() <= 253 && k.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    };
    let mut rest = selector.trim();
    while !rest.is_empty() {
        // A set requirement has commas inside its parentheses.
        let end = match (rest.find('('), rest.find(',')) {
            (Some(open), Some(comma)) if open < comma => rest[open..]
                .find(')')
                .map(|close| open + close + 1)
                .ok_or("unclosed '('")?,
            (_, Some(comma)) => comma,
            (_, None) => rest.len(),
        };
        let req = rest[..end].trim();
        rest = rest[end..].trim_start_matches(',').trim();
        let ok = if let Some(k) = req.strip_prefix('!') {
            valid_key(k.trim())
        } else if let Some((k, v)) = req
            .split_once("!=")
            .or_else(|| req.split_once("=="))
            .or_else(|| req.split_once('='))
        {
            valid_key(k.trim())
                && v.trim()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        } else if let Some((k, set)) = req.split_once(" notin ").or_else(|| req.split_once(" in ")) {
            valid_key(k.trim()) && set.trim().starts_with('(') && set.trim().ends_with(')')
        } else {
            valid_key(req)
        };
        if !ok {
            return Err(format!("invalid requirement '{req}'"));
        }
    }
    Ok(())
}

/// Sets up `kubernetes`: the handler, and the service that watches the API.
pub fn setup(s: &mut clusterdns_plugin::Setup<'_>) -> Result<(), SetupError> {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    let zones = s.block.zones.clone();
    let config = parse(s.dispenser(), &zones)?;
    // After a reload that changed this block, the previous index keeps answering until the new
    // watchers have listed everything (or for as long as the API cannot be reached).
    let inherited = s.inherited::<crate::index::Indexes>().map(|i| (*i).clone());
    let seeded = inherited.is_some();
    let indexes = inherited.unwrap_or_default();
    s.carry(Arc::new(indexes.clone()));
    let synced = Arc::new(AtomicBool::new(seeded));
    // Our own addresses, for NS records: the block's, or every interface's; never loopback.
    let local_ips: Vec<std::net::IpAddr> = if s.block.bind.is_empty() {
        if_addrs::get_if_addrs()
            .unwrap_or_default()
            .iter()
            .map(if_addrs::Interface::ip)
            .collect()
    } else {
        s.block.bind.clone()
    };
    let local_ips = local_ips
        .into_iter()
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
        .collect();
    // The server's own search list, tried by autopath after the cluster's (CoreDNS reads it
    // here too; a missing file means none).
    let search =
        clusterdns_plugin::resolv::search_list(std::path::Path::new("/etc/resolv.conf")).unwrap_or_default();
    let handler = Arc::new(
        crate::Kubernetes::new(&config, indexes.cluster.clone(), synced.clone(), local_ips)
            .with_clusterset(indexes.clusterset.clone())
            .with_autopath_search(search),
    );
    s.add_handler(handler.clone());
    s.provide::<dyn clusterdns_plugin::AutoPather>(handler.clone());
    s.provide::<dyn clusterdns_plugin::MetadataProvider>(handler.clone());
    s.provide::<dyn clusterdns_plugin::Transferer>(handler.clone());
    s.provide::<dyn clusterdns_plugin::Externaler>(handler);
    // CoreDNS keeps every pod's name and labels; here only for a block whose `metadata` reads
    // them (`kubernetes/client-pod-name`, `client-label/*`).
    let pod_details = config.pods == PodMode::Verified && s.block_has("metadata");
    s.add_service(Arc::new(crate::watcher::Watcher::new(
        config,
        indexes,
        synced,
        seeded,
        pod_details,
    )));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(input: &str) -> Config {
        parse(&mut Dispenser::from_text(input), &["cluster.local.".into()]).expect(input)
    }

    #[test]
    fn kubeadm_stanza() {
        let c = parsed(
            "kubernetes cluster.local in-addr.arpa ip6.arpa {\n pods insecure\n fallthrough in-addr.arpa ip6.arpa\n ttl 30\n}",
        );
        let zones: Vec<String> = c.zones.iter().map(ToString::to_string).collect();
        assert_eq!(zones, ["cluster.local.", "in-addr.arpa.", "ip6.arpa."]);
        assert_eq!(c.primary_zone().to_string(), "cluster.local.");
        assert_eq!((c.pods, c.ttl), (PodMode::Insecure, 30));
        assert!(
            c.fallthrough
                .through(&Name::from_ascii("1.0.96.10.in-addr.arpa.").expect("n"))
        );
        assert!(
            !c.fallthrough
                .through(&Name::from_ascii("x.cluster.local.").expect("n"))
        );
        assert_eq!(c.source, ApiSource::InCluster);
        assert_eq!(c.startup_timeout, Duration::from_secs(5));
    }

    #[test]
    fn options_table() {
        let c = parsed(
            "kubernetes {\n endpoint http://127.0.0.1:8080 http://other\n tls c.pem k.pem ca.pem\n namespaces default kube-system\n \
             labels app=web,tier!=db\n endpoint_pod_names\n noendpoints\n ignore empty_service\n pods verified\n \
             startup_timeout 10s\n apiserver_qps 20.5\n apiserver_burst 40\n apiserver_max_inflight 8\n}",
        );
        assert_eq!(c.zones[0].to_string(), "cluster.local.");
        assert_eq!(
            c.source,
            ApiSource::Endpoint {
                url: "http://127.0.0.1:8080".into(),
                tls: Some(("c.pem".into(), "k.pem".into(), "ca.pem".into()))
            }
        );
        assert_eq!(
            c.namespaces.iter().map(String::as_str).collect::<Vec<_>>(),
            ["default", "kube-system"]
        );
        assert_eq!(c.labels.as_deref(), Some("app=web,tier!=db"));
        assert!(c.endpoint_pod_names && c.noendpoints && c.ignore_empty_service);
        assert_eq!((c.pods, c.startup_timeout.as_secs()), (PodMode::Verified, 10));
        assert_eq!(
            (c.apiserver_qps, c.apiserver_burst, c.apiserver_max_inflight),
            (Some(20.5), Some(40), Some(8))
        );
        // kubeconfig wins over endpoint.
        let c = parsed("kubernetes {\n endpoint http://a\n kubeconfig /etc/kube.conf ctx\n}");
        assert_eq!(
            c.source,
            ApiSource::Kubeconfig {
                path: "/etc/kube.conf".into(),
                context: Some("ctx".into())
            }
        );
        assert_eq!(
            parsed("kubernetes {\n namespace_labels env in (prod,staging)\n}")
                .namespace_labels
                .as_deref(),
            Some("env in (prod,staging)")
        );
    }

    #[test]
    fn multicluster_and_zonal() {
        let c =
            parsed("kubernetes cluster.local clusterset.local {\n multicluster clusterset.local\n zonal\n}");
        let mc: Vec<String> = c.multicluster.iter().map(ToString::to_string).collect();
        assert_eq!(mc, ["clusterset.local."]);
        assert!(c.zonal);
        // Without zones the option names none (CoreDNS: no server block default here).
        let c = parsed("kubernetes cluster.local {\n multicluster\n}");
        assert!(c.multicluster.is_empty() && !c.zonal);
    }

    #[test]
    fn errors_table() {
        let parse = |d: &mut Dispenser| parse(d, &["cluster.local.".into()]);
        testkit::assert_parse_errors(
            parse,
            &[
                (
                    "kubernetes\nkubernetes",
                    "this plugin can only be used once per Server Block",
                ),
                ("kubernetes in-addr.arpa", "non-reverse zone name must be used"),
                (
                    "kubernetes {\n upstream\n}",
                    "Corefile:2 - Error during parsing: unknown property 'upstream'",
                ),
                (
                    "kubernetes {\n resyncperiod 10s\n}",
                    "unknown property 'resyncperiod'",
                ),
                (
                    "kubernetes {\n pods x\n}",
                    "wrong value for pods: x,  must be one of: disabled, verified, insecure",
                ),
                ("kubernetes {\n pods\n}", "Wrong argument count"),
                ("kubernetes {\n namespaces\n}", "Wrong argument count"),
                ("kubernetes {\n tls a b\n}", "Wrong argument count"),
                (
                    "kubernetes {\n ttl 3601\n}",
                    "Corefile:2 - Error during parsing: ttl must be in range [0, 3600]: 3601",
                ),
                (
                    "kubernetes {\n ttl x\n}",
                    "strconv.Atoi: parsing \"x\": invalid syntax",
                ),
                (
                    "kubernetes {\n ignore everything\n}",
                    "unable to parse ignore value: 'everything'",
                ),
                ("kubernetes {\n endpoint_pod_names x\n}", "Wrong argument count"),
                ("kubernetes {\n kubeconfig a b c\n}", "Wrong argument count"),
                (
                    "kubernetes {\n startup_timeout soon\n}",
                    "unable to parse startup_timeout: 'soon'",
                ),
                (
                    "kubernetes {\n labels a b c d=\n}",
                    "unable to parse label selector value",
                ),
                (
                    "kubernetes {\n namespaces a\n namespace_labels x=y\n}",
                    "namespaces and namespace_labels cannot both be set",
                ),
                (
                    "kubernetes {\n apiserver_qps -1\n}",
                    "invalid apiserver_qps value: -1",
                ),
                (
                    "kubernetes cluster.local {\n multicluster clusterset.local\n}",
                    "Corefile:3 - Error during parsing: is not authoritative for the multicluster zone \
                     clusterset.local. (authoritative zones: [cluster.local.])",
                ),
                ("kubernetes {\n zonal x\n}", "Wrong argument count"),
                (
                    "kubernetes {\n noendpoints\n zonal\n}",
                    "zonal requires the endpoint cache; remove noendpoints",
                ),
            ],
        );
    }

    #[test]
    fn selectors() {
        for ok in [
            "app=web",
            "app==web",
            "app!=web",
            "app",
            "!app",
            "env in (a,b), tier notin (x)",
            "a/b=c,d",
        ] {
            assert!(check_selector(ok).is_ok(), "{ok}");
        }
        for bad in ["=x", "a b c", "env in (a,b", "a=b c"] {
            assert!(check_selector(bad).is_err(), "{bad}");
        }
    }
}
