//! node-cache's role (kubernetes/dns cmd/node-cache): the same server as NodeLocal DNSCache,
//! rendering its Corefile from the template and the kube-dns ConfigMap, holding the local IPs on
//! a link with iptables rules beside them, and taking both down at exit.

mod flags;
mod iptables;
mod kubedns;
mod link;
mod metrics;
mod render;

pub use flags::{Flags, Params};

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clusterdns_plugin::{Phase, clog};
use tokio::sync::{mpsc, watch};

use iptables::{Iptables, Rule};
use kubedns::{DirSnapshot, KubeDnsConfig, read_dir};
use link::LinkManager;

/// How often the ConfigMap directories are polled (kube-dns's `ConfigPeriod`, node-cache's
/// `DefaultConfigSyncPeriod`).
const CONFIG_PERIOD: Duration = Duration::from_secs(10);
/// Where the kube-dns ConfigMap is looked for without `-kubednscm`.
const DEFAULT_KUBEDNS_CM: &str = "/etc/kube-dns";
/// The largest template read: a ConfigMap's limit.
const MAX_TEMPLATE: u64 = 1 << 20;

/// The link and the rules, set up and taken down together.
struct Network {
    interface_name: String,
    link: Option<LinkManager>,
    iptables: Option<(Iptables, Vec<Rule>)>,
}

impl Network {
    /// node-cache's `setupNetworking`: the rules (when `with_rules`), then the link.
    async fn setup(&self, with_rules: bool) {
        if let (true, Some((iptables, rules))) = (with_rules, &self.iptables) {
            for rule in rules {
                match iptables.ensure(rule).await {
                    Ok(true) => clog::debug(
                        None,
                        format_args!("iptables rule {rule} for nodelocaldns already exists"),
                    ),
                    Ok(false) => clog::info(None, format_args!("Added back nodelocaldns rule - {rule}")),
                    Err(e) => {
                        clog::error(
                            None,
                            format_args!("Error checking/adding iptables rule {rule}, error - {e}"),
                        );
                        metrics::count_error(if e.locked { "iptables_lock" } else { "iptables" });
                    }
                }
            }
        }
        if let Some(link) = &self.link {
            let name = &self.interface_name;
            match link.ensure(name).await {
                Ok(true) => {}
                Ok(false) => clog::info(None, format_args!("Added interface - {name}")),
                Err(e) => {
                    // node-cache counts a failed creation as both.
                    clog::error(
                        None,
                        format_args!("Failed to add non-existent interface {name}: {e}"),
                    );
                    metrics::count_error("interface_add");
                    clog::error(None, format_args!("Error checking dummy device {name} - {e}"));
                    metrics::count_error("interface_check");
                }
            }
        }
    }

    /// node-cache's `TeardownNetworking`: every rule (each copy), then the link.
    async fn teardown(&self) {
        if let Some((iptables, rules)) = &self.iptables {
            for rule in rules {
                if let Err(e) = iptables.delete_all(rule).await {
                    clog::error(
                        None,
                        format_args!("Failed deleting iptables rule {rule}, error - {e}"),
                    );
                    metrics::count_error(if e.locked { "iptables_lock" } else { "iptables" });
                }
            }
        }
        if let Some(link) = &self.link
            && let Err(e) = link.remove(&self.interface_name).await
        {
            clog::error(
                None,
                format_args!("Failed to remove interface {}: {e}", self.interface_name),
            );
        }
    }
}

/// Writes the Corefile from the template as node-cache's `updateCorefile`.
struct Renderer {
    template: PathBuf,
    corefile: PathBuf,
    cluster_dns: String,
    local_ips: String,
    port: u16,
}

impl Renderer {
    /// Renders and writes the Corefile; false when it was left as it was (each reason logged
    /// and counted as a `configmap` error).
    fn update(&self, config: &KubeDnsConfig) -> bool {
        let fail = |message: std::fmt::Arguments<'_>| {
            clog::error(None, message);
            metrics::count_error("configmap");
            false
        };
        if let Err(e) = config.validate_for_node_cache() {
            return fail(format_args!("Invalid config: {e}"));
        }
        let template = match read_bounded(&self.template) {
            Ok(t) => t,
            Err(e) => {
                return fail(format_args!(
                    "Failed to read node-cache coreFile {} - {e}",
                    self.template.display()
                ));
            }
        };
        let rendered = render::render(
            &template,
            config,
            &render::Inputs {
                cluster_dns: &self.cluster_dns,
                local_ips: &self.local_ips,
                port: self.port,
            },
        );
        if let Some(w) = rendered.warning {
            clog::warning(None, format_args!("{w}"));
        }
        if let Err(e) = std::fs::write(&self.corefile, &rendered.text) {
            return fail(format_args!(
                "Failed to write config file {} - err {e}",
                self.corefile.display()
            ));
        }
        clog::info(
            None,
            format_args!(
                "Updated Corefile with {} custom stubdomains and upstream servers {}",
                config.stub_domains.len(),
                rendered.upstream
            ),
        );
        clog::info(None, format_args!("Using config file:\n{}", rendered.text));
        true
    }
}

/// Reads a template of at most [`MAX_TEMPLATE`] bytes.
fn read_bounded(path: &Path) -> Result<String, String> {
    let len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if len > MAX_TEMPLATE {
        return Err(format!("larger than {MAX_TEMPLATE} bytes"));
    }
    std::fs::read_to_string(path).map_err(|e| e.to_string())
}

/// The polled directories and the kube-dns data last taken.
struct ConfigSync {
    renderer: Renderer,
    kubedns_dir: Option<PathBuf>,
    kubedns_version: Option<Vec<u8>>,
    kubedns: KubeDnsConfig,
    template_dir: PathBuf,
    template_version: Option<Vec<u8>>,
}

impl ConfigSync {
    /// Takes a newly read kube-dns directory; true when the Corefile was rewritten.
    fn take_kubedns(&mut self, snapshot: DirSnapshot) -> bool {
        if self.kubedns_version.as_ref() == Some(&snapshot.version) {
            return false;
        }
        self.kubedns_version = Some(snapshot.version);
        match KubeDnsConfig::from_data(&snapshot.data) {
            Ok(config) => {
                self.kubedns = config;
                self.renderer.update(&self.kubedns)
            }
            Err(e) => {
                clog::error(None, format_args!("Invalid configuration: {e}, ignoring update"));
                false
            }
        }
    }

    /// One poll of both directories; true when the Corefile was rewritten.
    fn poll(&mut self) -> bool {
        let mut updated = false;
        if let Some(dir) = self.kubedns_dir.clone() {
            match read_dir(&dir) {
                Ok(snapshot) => updated |= self.take_kubedns(snapshot),
                Err(e) => clog::error(
                    None,
                    format_args!("Error loading config from {}: {e}", dir.display()),
                ),
            }
        }
        match read_dir(&self.template_dir) {
            Ok(snapshot) if self.template_version.as_ref() != Some(&snapshot.version) => {
                self.template_version = Some(snapshot.version);
                updated |= self.renderer.update(&self.kubedns);
            }
            Ok(_) => {}
            Err(e) => clog::error(
                None,
                format_args!("Error loading config from {}: {e}", self.template_dir.display()),
            ),
        }
        updated
    }
}

/// node-cache's role in this process: made before the Corefile is loaded, started once the
/// server serves, taken down at exit.
pub struct NodeCache {
    network: Arc<Network>,
    config: Option<ConfigSync>,
    sync_interval: Duration,
    skip_teardown: bool,
    reload_with_signal: bool,
    phase: watch::Sender<Phase>,
}

/// `$<SERVICE>_SERVICE_HOST`, the variable the kubelet sets for a Service of the namespace.
fn service_host_variable(service: &str) -> String {
    format!("{}_SERVICE_HOST", service.replace('-', "_").to_uppercase())
}

impl NodeCache {
    /// node-cache's `Init`: the metrics listener, the Corefile (from the template alone, then
    /// with the kube-dns ConfigMap), and the link; the rules wait until the server serves.
    pub async fn init(params: Params) -> Self {
        let (phase, phase_rx) = watch::channel(Phase::Running);
        metrics::start(&params.metrics_listen_address, phase_rx).await;

        let variable = service_host_variable(&params.upstream_svc);
        let value = std::env::var(&variable).unwrap_or_default();
        let cluster_dns = match value.parse::<IpAddr>() {
            Ok(ip) => ip.to_string(),
            Err(_) => {
                clog::warning(
                    None,
                    format_args!(
                        "Unable to lookup IP address of Upstream service {}, env ${variable} `{value}`",
                        params.upstream_svc
                    ),
                );
                "<nil>".into()
            }
        };
        let renderer = Renderer {
            template: params.base_corefile.clone(),
            corefile: params.corefile.clone(),
            cluster_dns,
            local_ips: params.local_ips_spaced(),
            port: params.port,
        };
        // Written from the template alone first, for a missing or broken kube-dns ConfigMap.
        renderer.update(&KubeDnsConfig::default());
        let kubedns_dir = params.kubedns_cm.clone().or_else(|| {
            Path::new(DEFAULT_KUBEDNS_CM)
                .exists()
                .then(|| DEFAULT_KUBEDNS_CM.into())
        });
        if kubedns_dir.is_none() {
            clog::info(
                None,
                format_args!("Skipping kube-dns configmap sync as no directory was specified"),
            );
        }
        let template_dir = params
            .base_corefile
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let mut config = ConfigSync {
            renderer,
            kubedns_dir,
            kubedns_version: None,
            kubedns: KubeDnsConfig::default(),
            template_version: read_dir(&template_dir).ok().map(|s| s.version),
            template_dir,
        };
        if let Some(dir) = config.kubedns_dir.clone() {
            match read_dir(&dir) {
                Ok(snapshot) => {
                    config.take_kubedns(snapshot);
                }
                // Unlike node-cache, which stops syncing a directory it failed to read once,
                // the poll goes on: a ConfigMap created later is picked up.
                Err(e) => clog::error(
                    None,
                    format_args!(
                        "Failed to sync kube-dns config directory {}, err: {e}",
                        dir.display()
                    ),
                ),
            }
        }

        let link = params
            .setup_interface
            .then(|| LinkManager::new(params.local_ips.clone()));
        let iptables = if params.setup_iptables {
            let ipv6 = params.local_ips.first().is_some_and(IpAddr::is_ipv6);
            Some((
                Iptables::for_host(ipv6).await,
                iptables::rules(&params.local_ips, params.port, params.health_port),
            ))
        } else {
            None
        };
        let network = Arc::new(Network {
            interface_name: params.interface_name.clone(),
            link,
            iptables,
        });
        // Only the link now: the Corefile's `bind` needs its addresses. Rules wait until the
        // server has started, so a cache that cannot start does not divert traffic to itself.
        network.setup(false).await;
        Self {
            network,
            config: Some(config),
            sync_interval: params.sync_interval,
            skip_teardown: params.skip_teardown,
            reload_with_signal: params.reload_with_signal,
            phase,
        }
    }

    /// Once the server serves (node-cache waits for CoreDNS's pidfile): the rules and the link
    /// now and every sync interval; the ConfigMap directories polled, each new Corefile
    /// announced on `reload` with `-reloadwithsignal` (the `reload` plugin finds it otherwise).
    pub fn start(&mut self, reload: mpsc::UnboundedSender<()>) {
        let network = self.network.clone();
        let interval = self.sync_interval;
        let mut phase = self.phase.subscribe();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            loop {
                tokio::select! {
                    _ = ticks.tick() => network.setup(true).await,
                    _ = phase.changed() => {
                        clog::warning(None, format_args!("Exiting iptables/interface check goroutine"));
                        return;
                    }
                }
            }
        });
        let Some(mut config) = self.config.take() else {
            return;
        };
        let signal = self.reload_with_signal;
        let mut phase = self.phase.subscribe();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(CONFIG_PERIOD);
            ticks.tick().await;
            loop {
                tokio::select! {
                    _ = ticks.tick() => {
                        let polled = tokio::task::spawn_blocking(move || {
                            let updated = config.poll();
                            (config, updated)
                        })
                        .await;
                        let Ok((back, updated)) = polled else { return };
                        config = back;
                        if updated && signal {
                            clog::info(None, format_args!("Sending reload signal to PID {}", std::process::id()));
                            let _ = reload.send(());
                        }
                    }
                    _ = phase.changed() => return,
                }
            }
        });
    }

    /// At exit: the loops stop; unless `-skipteardown`, the rules and the link go.
    pub async fn teardown(&self) {
        let _ = self.phase.send(Phase::Stopped);
        if self.skip_teardown {
            return;
        }
        clog::info(None, format_args!("Tearing down"));
        self.network.teardown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_service_variable_as_the_kubelet_names_it() {
        assert_eq!(
            service_host_variable("kube-dns-upstream"),
            "KUBE_DNS_UPSTREAM_SERVICE_HOST"
        );
        assert_eq!(service_host_variable("kube-dns"), "KUBE_DNS_SERVICE_HOST");
    }
}
