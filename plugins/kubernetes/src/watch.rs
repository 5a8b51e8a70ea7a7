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
    /// Kinds listed at least once, by [`Watched::KIND`].
    done: [bool; 4],
}

impl Relist {
    /// Applies one change; returns 1 when a kind finished its first list.
    fn apply(&mut self, store: &mut Store, change: Change) -> usize {
        match change {
            Change::Error(e) => {
                clog::warning(
                    Some("kubernetes"),
                    format_args!("watch error, retrying with backoff: {e}"),
                );
                0
            }
            Change::Services(e) => self.step(store, e),
            Change::Slices(e) => self.step(store, e),
            Change::Namespaces(e) => self.step(store, e),
            Change::Pods(e) => self.step(store, e),
        }
    }

    /// One event of kind `K`: a relist is buffered and applied whole at its end; anything else
    /// goes to the store as it comes (an object DNS cannot use removes its earlier copy).
    fn step<K: Watched>(&mut self, store: &mut Store, event: Event<K>) -> usize {
        match event {
            Event::Init => *K::buffer(self) = Some(Vec::new()),
            Event::InitApply(o) => K::buffer(self).get_or_insert_with(Vec::new).extend(o.slim()),
            Event::InitDone => {
                K::replace(store, K::buffer(self).take().unwrap_or_default());
                return usize::from(!std::mem::replace(&mut self.done[K::KIND], true));
            }
            Event::Apply(o) => match o.slim() {
                Some(slim) => K::apply(store, slim),
                None => K::delete(store, &o),
            },
            Event::Delete(o) => K::delete(store, &o),
        }
        0
    }
}

/// How one watched kind reaches the store.
trait Watched: Sized {
    /// What the store keeps of it.
    type Slim;
    /// Its index in `Relist::done`.
    const KIND: usize;
    /// Its relist buffer.
    fn buffer(relist: &mut Relist) -> &mut Option<Vec<Self::Slim>>;
    /// Its slim copy, or `None` for an object DNS cannot use.
    fn slim(&self) -> Option<Self::Slim>;
    fn apply(store: &mut Store, slim: Self::Slim);
    fn delete(store: &mut Store, object: &Self);
    fn replace(store: &mut Store, all: Vec<Self::Slim>);
}

impl Watched for K8sService {
    type Slim = Service;
    const KIND: usize = 0;
    fn buffer(relist: &mut Relist) -> &mut Option<Vec<Service>> {
        &mut relist.services
    }
    fn slim(&self) -> Option<Service> {
        Service::from_api(self)
    }
    fn apply(store: &mut Store, slim: Service) {
        store.apply_service(slim);
    }
    fn delete(store: &mut Store, object: &Self) {
        store.delete_service(&key_of(&object.metadata));
    }
    fn replace(store: &mut Store, all: Vec<Service>) {
        store.replace_services(all);
    }
}

impl Watched for EndpointSlice {
    type Slim = Slice;
    const KIND: usize = 1;
    fn buffer(relist: &mut Relist) -> &mut Option<Vec<Slice>> {
        &mut relist.slices
    }
    fn slim(&self) -> Option<Slice> {
        Slice::from_api(self)
    }
    fn apply(store: &mut Store, slim: Slice) {
        store.apply_slice(slim);
    }
    fn delete(store: &mut Store, object: &Self) {
        store.delete_slice(&key_of(&object.metadata));
    }
    fn replace(store: &mut Store, all: Vec<Slice>) {
        store.replace_slices(all);
    }
}

impl Watched for Namespace {
    type Slim = Arc<str>;
    const KIND: usize = 2;
    fn buffer(relist: &mut Relist) -> &mut Option<Vec<Arc<str>>> {
        &mut relist.namespaces
    }
    fn slim(&self) -> Option<Arc<str>> {
        Some(namespace_name(self))
    }
    fn apply(store: &mut Store, slim: Arc<str>) {
        store.apply_namespace(slim);
    }
    fn delete(store: &mut Store, object: &Self) {
        store.delete_namespace(&namespace_name(object));
    }
    fn replace(store: &mut Store, all: Vec<Arc<str>>) {
        store.replace_namespaces(all);
    }
}

impl Watched for K8sPod {
    type Slim = Pod;
    const KIND: usize = 3;
    fn buffer(relist: &mut Relist) -> &mut Option<Vec<Pod>> {
        &mut relist.pods
    }
    fn slim(&self) -> Option<Pod> {
        Some(Pod::from_api(self))
    }
    fn apply(store: &mut Store, slim: Pod) {
        store.apply_pod(slim);
    }
    fn delete(store: &mut Store, object: &Self) {
        store.delete_pod(&key_of(&object.metadata));
    }
    fn replace(store: &mut Store, all: Vec<Pod>) {
        store.replace_pods(all);
    }
}

fn key_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> crate::index::Key {
    (
        Arc::from(meta.namespace.as_deref().unwrap_or("")),
        Arc::from(meta.name.as_deref().unwrap_or("")),
    )
}
