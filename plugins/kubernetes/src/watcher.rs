//! The service that runs the watchers, and holds the server's start until the API is synced or
//! `startup_timeout` passed (CoreDNS's start-up, its log lines included).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clusterdns_plugin::{Phase, Service, ServiceContext, clog};

use crate::index::Indexes;
use crate::setup::{Config, PodMode};
use crate::watch::{Watch, run};

/// Watches the API for one `kubernetes` block.
pub struct Watcher {
    config: Config,
    indexes: Indexes,
    synced: Arc<AtomicBool>,
    /// `indexes` hold what a previous configuration's watchers built: it is replaced only once
    /// these watchers have listed every kind.
    seeded: bool,
    /// Pods' names and labels are kept (for `metadata`).
    pod_details: bool,
}

impl Watcher {
    pub fn new(
        config: Config,
        indexes: Indexes,
        synced: Arc<AtomicBool>,
        seeded: bool,
        pod_details: bool,
    ) -> Self {
        Self {
            config,
            indexes,
            synced,
            seeded,
            pod_details,
        }
    }
}

#[async_trait::async_trait]
impl Service for Watcher {
    fn key(&self) -> String {
        // Each setup's watchers are their own, even where they take over a previous index.
        format!("kubernetes {:p}", Arc::as_ptr(&self.synced))
    }

    async fn start(self: Arc<Self>, ctx: ServiceContext) -> Result<(), String> {
        let limits = crate::rest_client::Limits {
            qps: self.config.apiserver_qps,
            burst: self.config.apiserver_burst,
            max_inflight: self.config.apiserver_max_inflight,
        };
        let client = crate::client::client(&self.config.source, limits)
            .await
            .map_err(|e| format!("plugin/kubernetes: {e}"))?;
        let watch = Watch {
            client,
            labels: self.config.labels.clone(),
            namespace_labels: self.config.namespace_labels.clone(),
            endpoints: !self.config.noendpoints,
            pods: self.config.pods == PodMode::Verified,
            keep: crate::objects::Keep {
                pod_names: self.config.endpoint_pod_names,
                zones: self.config.zonal,
                pod_details: self.pod_details,
            },
            multicluster: !self.config.multicluster.is_empty(),
        };
        let (indexes, synced, mut phase) = (self.indexes.clone(), self.synced.clone(), ctx.phase.clone());
        let seeded = self.seeded;
        if seeded {
            clog::info(
                Some("kubernetes"),
                format_args!("configuration changed: serving the previous index until the API is synced"),
            );
        }
        tokio::spawn(async move {
            tokio::select! {
                () = run(watch, indexes, synced, seeded) => {}
                _ = async {
                    while phase.changed().await.is_ok() && *phase.borrow() != Phase::Stopped {}
                } => {}
            }
        });
        // Hold the start until synced, at most startup_timeout.
        let start = Instant::now();
        let mut logged = start;
        while !self.synced.load(Ordering::Acquire) {
            if start.elapsed() >= self.config.startup_timeout {
                clog::warning(
                    Some("kubernetes"),
                    format_args!("starting server with unsynced Kubernetes API"),
                );
                break;
            }
            if logged.elapsed() >= Duration::from_millis(500) {
                clog::info(
                    Some("kubernetes"),
                    format_args!("waiting for Kubernetes API before starting server"),
                );
                logged = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}
