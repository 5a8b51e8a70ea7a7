//! Watching Services, EndpointSlices, Namespaces (and Pods for `pods verified`, ServiceImports
//! and their EndpointSlices for `multicluster`) with one informer per kind, into the stores,
//! published to queries in batches.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::api::{
    EndpointSlice, McsEndpointSlice, Namespace, Pod as K8sPod, Service as K8sService, ServiceImport,
};
use clusterdns_plugin::clog;
use kube::Client;
use tokio::sync::mpsc;

use crate::index::{Indexes, Store};
use crate::informer::{Event, Informer};
use crate::metrics;
use crate::objects::{Keep, MCS_SERVICE_NAME_LABEL, Pod, Service, Slice, namespace_name};

/// One event from any kind's informer.
enum Change {
    Services(Event<K8sService>),
    Slices(Event<EndpointSlice>),
    Namespaces(Event<Namespace>),
    Pods(Event<K8sPod>),
    Imports(Event<ServiceImport>),
    ImportedSlices(Event<McsEndpointSlice>),
}

/// What to watch.
pub struct Watch {
    pub client: Client,
    pub labels: Option<String>,
    pub namespace_labels: Option<String>,
    pub endpoints: bool,
    pub pods: bool,
    /// What of the objects is kept beyond what every query reads.
    pub keep: Keep,
    /// `multicluster`: ServiceImports and their slices are watched into the clusterset index.
    pub multicluster: bool,
}

/// CoreDNS's pod watch leaves finished pods to the API server: they have no IP for DNS (and
/// `Pod::from_api` drops their IP should one still arrive).
const LIVE_PODS: &str = "status.phase!=Succeeded,status.phase!=Failed,status.phase!=Unknown";

/// Changes applied before the store is published even if more are ready, so a steady stream of
/// changes still reaches queries.
const MAX_BURST: usize = 4096;
/// How often a view that is not yet complete is published.
const PARTIAL_PUBLISH: std::time::Duration = std::time::Duration::from_secs(1);
/// Events queued from the informers: enough to keep the store busy, few enough that a list
/// streaming in is never held whole.
const QUEUE: usize = 1024;

/// Runs until the process ends: applies every change to the store, publishes after each batch
/// of changes ready at once (a burst becomes one swap), and marks `synced` once every watched
/// kind has been listed. The last good view keeps being served through errors and relists.
/// With `seeded`, `index` holds a previous configuration's view, and nothing is published over
/// it before every kind has been listed.
pub async fn run(watch: Watch, indexes: Indexes, synced: Arc<AtomicBool>, seeded: bool) {
    let (tx, mut changes) = mpsc::channel::<Change>(QUEUE);
    let (client, labels) = (&watch.client, &watch.labels);
    // Dropped with this task (the plugin stopped): every informer ends with it.
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(
        Informer::<K8sService>::new(client.clone(), labels.clone(), None).run(tx.clone(), Change::Services),
    );
    let namespaces = Informer::<Namespace>::new(client.clone(), watch.namespace_labels.clone(), None);
    tasks.spawn(namespaces.run(tx.clone(), Change::Namespaces));
    let mut kinds = 2;
    if watch.endpoints {
        let slices = Informer::<EndpointSlice>::new(client.clone(), labels.clone(), None);
        tasks.spawn(slices.run(tx.clone(), Change::Slices));
        kinds += 1;
    }
    if watch.pods {
        let pods = Informer::<K8sPod>::new(client.clone(), labels.clone(), Some(LIVE_PODS.into()));
        tasks.spawn(pods.run(tx.clone(), Change::Pods));
        kinds += 1;
    }
    if watch.multicluster {
        // CoreDNS lists the ServiceImports with the namespace_labels selector (a slip: it is
        // meant for namespaces); here they are selected by `labels`, as every other object.
        let imports = Informer::<ServiceImport>::new(client.clone(), labels.clone(), None);
        tasks.spawn(imports.run(tx.clone(), Change::Imports));
        // The slices an MCS implementation made: `labels` and the multicluster service label.
        let selector = match labels {
            Some(l) => format!("{l},{MCS_SERVICE_NAME_LABEL}"),
            None => MCS_SERVICE_NAME_LABEL.to_string(),
        };
        let slices = Informer::<McsEndpointSlice>::new(client.clone(), Some(selector), None);
        tasks.spawn(slices.run(tx.clone(), Change::ImportedSlices));
        kinds += 2;
    }
    drop(tx);
    let (index, clusterset) = (indexes.cluster, indexes.clusterset);
    let mut stores = Stores::default();
    let mut relist = Relist {
        keep: watch.keep,
        ..Relist::default()
    };
    let mut listed = 0;
    let mut logged_sync = false;
    let mut published = std::time::Instant::now();
    let mut batch = Vec::with_capacity(64);
    // Each change is applied as it comes (objects become slim copies at once: a list of 10,000
    // full API objects is never held), and the store is published once the changes ready now
    // are applied, or after MAX_BURST of them.
    while changes.recv_many(&mut batch, 64).await > 0 {
        let mut triggered = Vec::new();
        let mut applied = 0;
        loop {
            for change in batch.drain(..) {
                if let Change::Slices(Event::Applied(s)) = &change
                    && let Some(t) = metrics::trigger_time(s)
                {
                    triggered.push((
                        s.metadata.namespace.clone().unwrap_or_default(),
                        s.service_name.clone(),
                        t,
                    ));
                }
                listed += relist.apply(&mut stores, change);
                applied += 1;
            }
            if applied >= MAX_BURST {
                break;
            }
            match changes.try_recv() {
                Ok(change) => batch.push(change),
                Err(_) => break,
            }
        }
        // Until every kind is listed the server is not answering yet (or, past startup_timeout,
        // answers SERVFAIL for what it does not know): partial views go out once a second, not
        // after every burst, since each publish makes the next writes copy the shards they touch.
        // Over a previous configuration's index, nothing goes out before the list is whole.
        let complete = listed >= kinds;
        if complete || (!seeded && published.elapsed() >= PARTIAL_PUBLISH) {
            index.store(Arc::new(stores.cluster.snapshot()));
            if watch.multicluster {
                clusterset.store(Arc::new(stores.clusterset.snapshot()));
            }
            published = std::time::Instant::now();
        }
        if complete && !std::mem::replace(&mut logged_sync, true) {
            synced.store(true, Ordering::Release);
            clog::info(Some("kubernetes"), format_args!("Kubernetes API synced"));
        }
        let snap = index.load();
        for (ns, service, at) in triggered {
            let kind = service
                .and_then(|svc| snap.service(&ns, &svc))
                .map_or("cluster_ip", |s| s.metric_kind());
            let took = k8s_openapi::jiff::Timestamp::now().duration_since(at);
            metrics::observe_programming(kind, std::time::Duration::try_from(took).unwrap_or_default());
        }
    }
}

/// The kinds being relisted: each object the list names is applied as it comes, and the hash
/// of its name noted; at the list's end what it did not name is deleted. Queries never miss an
/// object that still exists, and the relist costs no second copy of the cluster.
#[derive(Default)]
struct Relist {
    /// By [`Watched::KIND`]: the name hashes a running relist has named.
    seen: [Option<HashSet<u64>>; KINDS],
    /// Kinds listed at least once.
    done: [bool; KINDS],
    /// What of the objects is kept.
    keep: Keep,
}

/// The number of kinds watched at most.
const KINDS: usize = 6;

/// The watchers' stores: the cluster's own objects, and the imported services.
#[derive(Default)]
struct Stores {
    cluster: Store,
    clusterset: Store,
}

impl Relist {
    /// Applies one change; returns 1 when a kind finished its first list.
    fn apply(&mut self, stores: &mut Stores, change: Change) -> usize {
        let store = &mut stores.cluster;
        match change {
            Change::Services(e) => self.step(store, e),
            Change::Slices(e) => self.step(store, e),
            Change::Namespaces(e) => self.step(store, e),
            Change::Pods(e) => self.step(store, e),
            Change::Imports(e) => self.step(&mut stores.clusterset, e),
            Change::ImportedSlices(e) => self.step(&mut stores.clusterset, e),
        }
    }

    /// One event of kind `K`. An object DNS cannot use removes its earlier copy.
    fn step<K: Watched>(&mut self, store: &mut Store, event: Event<K>) -> usize {
        match event {
            Event::Relisting => self.seen[K::KIND] = Some(HashSet::new()),
            Event::Listed(o) => {
                let (ns, name) = o.name();
                if let Some(seen) = &mut self.seen[K::KIND] {
                    seen.insert(store.name_hash(ns, name));
                }
                K::apply_or_delete(store, &o, self.keep);
            }
            Event::Synced => {
                K::sweep(store, &self.seen[K::KIND].take().unwrap_or_default());
                return usize::from(!std::mem::replace(&mut self.done[K::KIND], true));
            }
            Event::Applied(o) => K::apply_or_delete(store, &o, self.keep),
            Event::Deleted(o) => {
                let (ns, name) = o.name();
                K::delete(store, ns, name);
            }
        }
        0
    }
}

/// Publishes API objects given as JSON into `indexes`, each converted and applied as the
/// watchers convert and apply what the API sends (for the fuzz harness, which has no API
/// server). Objects of other kinds, or that do not parse, are skipped.
pub fn publish_objects(indexes: &Indexes, objects: &[&str]) {
    fn add<K: Watched + serde::de::DeserializeOwned>(store: &mut Store, json: &str) {
        let keep = Keep {
            pod_names: true,
            zones: true,
            pod_details: true,
        };
        if let Some(slim) = serde_json::from_str::<K>(json).ok().and_then(|o| o.slim(keep)) {
            K::apply(store, slim);
        }
    }
    let mut stores = Stores::default();
    for json in objects {
        let kind = serde_json::from_str::<serde_json::Value>(json)
            .ok()
            .and_then(|v| v["kind"].as_str().map(String::from));
        match kind.as_deref() {
            Some("Service") => add::<K8sService>(&mut stores.cluster, json),
            Some("EndpointSlice") => {
                add::<EndpointSlice>(&mut stores.cluster, json);
                add::<McsEndpointSlice>(&mut stores.clusterset, json);
            }
            Some("Namespace") => add::<Namespace>(&mut stores.cluster, json),
            Some("Pod") => add::<K8sPod>(&mut stores.cluster, json),
            Some("ServiceImport") => add::<ServiceImport>(&mut stores.clusterset, json),
            _ => {}
        }
    }
    indexes.cluster.store(Arc::new(stores.cluster.snapshot()));
    indexes.clusterset.store(Arc::new(stores.clusterset.snapshot()));
}

/// How a slim object is filed in a store.
trait Filed: Sized {
    fn apply(store: &mut Store, slim: Self);
    fn delete(store: &mut Store, namespace: &str, name: &str);
    /// Deletes every object of this kind whose name hash `keep` does not hold.
    fn sweep(store: &mut Store, keep: &HashSet<u64>);
}

impl Filed for Service {
    fn apply(store: &mut Store, slim: Service) {
        store.apply_service(slim);
    }
    fn delete(store: &mut Store, namespace: &str, name: &str) {
        store.delete_service(namespace, name);
    }
    fn sweep(store: &mut Store, keep: &HashSet<u64>) {
        store.sweep_services(keep);
    }
}

impl Filed for Slice {
    fn apply(store: &mut Store, slim: Slice) {
        store.apply_slice(slim);
    }
    fn delete(store: &mut Store, namespace: &str, name: &str) {
        store.delete_slice(namespace, name);
    }
    fn sweep(store: &mut Store, keep: &HashSet<u64>) {
        store.sweep_slices(keep);
    }
}

/// A namespace's name.
impl Filed for Arc<str> {
    fn apply(store: &mut Store, slim: Arc<str>) {
        store.apply_namespace(slim);
    }
    fn delete(store: &mut Store, _namespace: &str, name: &str) {
        store.delete_namespace(name);
    }
    fn sweep(store: &mut Store, keep: &HashSet<u64>) {
        store.sweep_namespaces(keep);
    }
}

impl Filed for Pod {
    fn apply(store: &mut Store, slim: Pod) {
        store.apply_pod(slim);
    }
    fn delete(store: &mut Store, namespace: &str, name: &str) {
        store.delete_pod(namespace, name);
    }
    fn sweep(store: &mut Store, keep: &HashSet<u64>) {
        store.sweep_pods(keep);
    }
}

/// How one watched kind reaches the store.
trait Watched: Sized {
    /// What the store keeps of it.
    type Slim: Filed;
    /// Its index in `Relist`'s arrays.
    const KIND: usize;
    /// Its (namespace, name); namespaces are ("", name).
    fn name(&self) -> (&str, &str);
    /// Its slim copy, or `None` for an object DNS cannot use; endpoints' pod names and zones
    /// only as `keep` says.
    fn slim(&self, keep: Keep) -> Option<Self::Slim>;

    fn apply(store: &mut Store, slim: Self::Slim) {
        Self::Slim::apply(store, slim);
    }
    fn delete(store: &mut Store, namespace: &str, name: &str) {
        Self::Slim::delete(store, namespace, name);
    }
    fn sweep(store: &mut Store, keep: &HashSet<u64>) {
        Self::Slim::sweep(store, keep);
    }

    /// Applies the object, or deletes its earlier copy if DNS cannot use it.
    fn apply_or_delete(store: &mut Store, object: &Self, keep: Keep) {
        match object.slim(keep) {
            Some(slim) => Self::apply(store, slim),
            None => {
                let (ns, name) = object.name();
                Self::delete(store, ns, name);
            }
        }
    }
}

fn name_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> (&str, &str) {
    (
        meta.namespace.as_deref().unwrap_or(""),
        meta.name.as_deref().unwrap_or(""),
    )
}

impl Watched for K8sService {
    type Slim = Service;
    const KIND: usize = 0;
    fn name(&self) -> (&str, &str) {
        name_of(&self.metadata)
    }
    fn slim(&self, _keep: Keep) -> Option<Service> {
        Service::from_api(self)
    }
}

impl Watched for EndpointSlice {
    type Slim = Slice;
    const KIND: usize = 1;
    fn name(&self) -> (&str, &str) {
        name_of(&self.metadata)
    }
    fn slim(&self, keep: Keep) -> Option<Slice> {
        Slice::from_api(self, keep)
    }
}

impl Watched for Namespace {
    type Slim = Arc<str>;
    const KIND: usize = 2;
    fn name(&self) -> (&str, &str) {
        ("", self.metadata.name.as_deref().unwrap_or(""))
    }
    fn slim(&self, _keep: Keep) -> Option<Arc<str>> {
        Some(namespace_name(self))
    }
}

impl Watched for K8sPod {
    type Slim = Pod;
    const KIND: usize = 3;
    fn name(&self) -> (&str, &str) {
        name_of(&self.metadata)
    }
    fn slim(&self, keep: Keep) -> Option<Pod> {
        Some(Pod::from_api(self, keep))
    }
}

/// An imported service, filed in the clusterset store as a Service.
impl Watched for ServiceImport {
    type Slim = Service;
    const KIND: usize = 4;
    fn name(&self) -> (&str, &str) {
        name_of(&self.metadata)
    }
    fn slim(&self, _keep: Keep) -> Option<Service> {
        Service::from_import(self)
    }
}

impl Watched for McsEndpointSlice {
    type Slim = Slice;
    const KIND: usize = 5;
    fn name(&self) -> (&str, &str) {
        name_of(&self.0.metadata)
    }
    fn slim(&self, keep: Keep) -> Option<Slice> {
        Slice::from_mcs(self, keep)
    }
}
