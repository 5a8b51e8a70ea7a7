//! Watching Services, EndpointSlices, Namespaces (and Pods for `pods verified`) with kube-rs,
//! into the store, published to queries in batches.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::api::{EndpointSlice, Namespace, Pod as K8sPod, Service as K8sService};
use clusterdns_plugin::clog;
use futures::{FutureExt, StreamExt};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, watcher};
use kube::{Api, Client};

use crate::index::{Published, Store};
use crate::metrics;
use crate::objects::{Pod, Service, Slice, namespace_name};

/// One change from any watcher. Not boxed: each is consumed as soon as it arrives, and a box
/// would add an allocation per event for nothing.
#[allow(clippy::large_enum_variant)]
enum Change {
    Services(Event<K8sService>),
    Slices(Event<EndpointSlice>),
    Namespaces(Event<Namespace>),
    Pods(Event<K8sPod>),
    Error(String),
}

/// What to watch.
pub struct Watch {
    pub client: Client,
    pub labels: Option<String>,
    pub namespace_labels: Option<String>,
    pub endpoints: bool,
    pub pods: bool,
}

/// CoreDNS's pod watch leaves finished pods to the API server: they have no IP for DNS (and
/// `Pod::from_api` drops their IP should one still arrive).
const LIVE_PODS: &str = "status.phase!=Succeeded,status.phase!=Failed,status.phase!=Unknown";

/// The watcher of one kind, with the label selector if any.
fn config(labels: Option<&str>) -> watcher::Config {
    let config = watcher::Config::default();
    match labels {
        Some(l) => config.labels(l),
        None => config,
    }
}

fn events<K>(
    api: Api<K>,
    config: watcher::Config,
) -> impl futures::Stream<Item = Result<Event<K>, watcher::Error>> + Send
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    // Backoff after errors (API outages, 5xx) so a broken API server is not hammered.
    watcher(api, config).default_backoff()
}

/// Changes applied before the store is published even if more are ready, so a steady stream of
/// changes still reaches queries.
const MAX_BURST: usize = 4096;

/// Runs until the process ends: applies every change to the store, publishes after each batch
/// of changes ready at once (a burst becomes one swap), and marks `synced` once every watched
/// kind has been listed. The last good view keeps being served through errors and relists.
pub async fn run(watch: Watch, index: Published, synced: Arc<AtomicBool>) {
    let labels = watch.labels.as_deref();
    let mut streams: Vec<futures::stream::BoxStream<'static, Change>> = Vec::new();
    let error = |e: watcher::Error| Change::Error(e.to_string());
    streams.push(
        events(Api::<K8sService>::all(watch.client.clone()), config(labels))
            .map(move |r| r.map_or_else(error, Change::Services))
            .boxed(),
    );
    let namespaces = events(
        Api::<Namespace>::all(watch.client.clone()),
        config(watch.namespace_labels.as_deref()),
    );
    streams.push(
        namespaces
            .map(move |r| r.map_or_else(error, Change::Namespaces))
            .boxed(),
    );
    let mut kinds = 2;
    if watch.endpoints {
        let slices = events(Api::<EndpointSlice>::all(watch.client.clone()), config(labels));
        streams.push(slices.map(move |r| r.map_or_else(error, Change::Slices)).boxed());
        kinds += 1;
    }
    if watch.pods {
        streams.push(
            events(
                Api::<K8sPod>::all(watch.client.clone()),
                config(labels).fields(LIVE_PODS),
            )
            .map(move |r| r.map_or_else(error, Change::Pods))
            .boxed(),
        );
        kinds += 1;
    }
    let mut changes = futures::stream::select_all(streams);
    let mut store = Store::default();
    let mut relist = Relist::default();
    let mut listed = 0;
    while let Some(first) = changes.next().await {
        // Each change is applied as it comes (objects become slim copies at once: a list of
        // 10,000 full API objects is never held), and the store is published once the burst
        // of changes ready now is applied, or after MAX_BURST of them.
        let mut triggered = Vec::new();
        let mut next = Some(first);
        let mut applied = 0;
        while let Some(change) = next.take() {
            if let Change::Slices(Event::Apply(s)) = &change
                && let Some(t) = metrics::trigger_time(s)
            {
                triggered.push((key_of(&s.metadata), s.service_name.clone(), t));
            }
            listed += relist.apply(&mut store, change);
            applied += 1;
            if applied < MAX_BURST {
                next = changes.next().now_or_never().flatten();
            }
        }
        index.store(Arc::new(store.snapshot()));
        if listed >= kinds && !synced.swap(true, Ordering::AcqRel) {
            clog::info(Some("kubernetes"), format_args!("Kubernetes API synced"));
        }
        let snap = index.load();
        for ((ns, _), service, at) in triggered {
            let kind = service
                .and_then(|svc| snap.service(&ns, &svc))
                .map_or("cluster_ip", |s| s.metric_kind());
            let took = k8s_openapi::jiff::Timestamp::now().duration_since(at);
            metrics::observe_programming(kind, std::time::Duration::try_from(took).unwrap_or_default());
        }
    }
}

/// Objects of a relist, held until the list is complete so queries never see half of it.
#[derive(Default)]
struct Relist {
    services: Option<Vec<Service>>,
    slices: Option<Vec<Slice>>,
    namespaces: Option<Vec<Arc<str>>>,
    pods: Option<Vec<Pod>>,
    /// Kinds listed at least once.
    done: [bool; 4],
}

impl Relist {
    /// Applies one change; returns 1 when a kind finished its first list.
    fn apply(&mut self, store: &mut Store, change: Change) -> usize {
        let first = |i: usize, done: &mut [bool; 4]| usize::from(!std::mem::replace(&mut done[i], true));
        match change {
            Change::Error(e) => {
                clog::warning(
                    Some("kubernetes"),
                    format_args!("watch error, retrying with backoff: {e}"),
                );
                0
            }
            Change::Services(e) => match e {
                Event::Init => {
                    self.services = Some(Vec::new());
                    0
                }
                Event::InitApply(s) => {
                    self.services
                        .get_or_insert_with(Vec::new)
                        .extend(Service::from_api(&s));
                    0
                }
                Event::InitDone => {
                    store.replace_services(self.services.take().unwrap_or_default());
                    first(0, &mut self.done)
                }
                Event::Apply(s) => {
                    match Service::from_api(&s) {
                        Some(svc) => store.apply_service(svc),
                        None => store.delete_service(&key_of(&s.metadata)),
                    }
                    0
                }
                Event::Delete(s) => {
                    store.delete_service(&key_of(&s.metadata));
                    0
                }
            },
            Change::Slices(e) => match e {
                Event::Init => {
                    self.slices = Some(Vec::new());
                    0
                }
                Event::InitApply(s) => {
                    self.slices
                        .get_or_insert_with(Vec::new)
                        .extend(Slice::from_api(&s));
                    0
                }
                Event::InitDone => {
                    store.replace_slices(self.slices.take().unwrap_or_default());
                    first(1, &mut self.done)
                }
                Event::Apply(s) => {
                    match Slice::from_api(&s) {
                        Some(slice) => store.apply_slice(slice),
                        None => store.delete_slice(&key_of(&s.metadata)),
                    }
                    0
                }
                Event::Delete(s) => {
                    store.delete_slice(&key_of(&s.metadata));
                    0
                }
            },
            Change::Namespaces(e) => match e {
                Event::Init => {
                    self.namespaces = Some(Vec::new());
                    0
                }
                Event::InitApply(n) => {
                    self.namespaces
                        .get_or_insert_with(Vec::new)
                        .push(namespace_name(&n));
                    0
                }
                Event::InitDone => {
                    store.replace_namespaces(self.namespaces.take().unwrap_or_default());
                    first(2, &mut self.done)
                }
                Event::Apply(n) => {
                    store.apply_namespace(namespace_name(&n));
                    0
                }
                Event::Delete(n) => {
                    store.delete_namespace(&namespace_name(&n));
                    0
                }
            },
            Change::Pods(e) => match e {
                Event::Init => {
                    self.pods = Some(Vec::new());
                    0
                }
                Event::InitApply(p) => {
                    self.pods.get_or_insert_with(Vec::new).push(Pod::from_api(&p));
                    0
                }
                Event::InitDone => {
                    store.replace_pods(self.pods.take().unwrap_or_default());
                    first(3, &mut self.done)
                }
                Event::Apply(p) => {
                    store.apply_pod(Pod::from_api(&p));
                    0
                }
                Event::Delete(p) => {
                    store.delete_pod(&key_of(&p.metadata));
                    0
                }
            },
        }
    }
}

fn key_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> crate::index::Key {
    (
        Arc::from(meta.namespace.as_deref().unwrap_or("")),
        Arc::from(meta.name.as_deref().unwrap_or("")),
    )
}
