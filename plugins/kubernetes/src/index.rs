//! The index queries read: an immutable snapshot of sharded copy-on-write tables, swapped whole
//! on change. The watchers' side (`Store`) updates its own copy in place, cost in proportion
//! to what changed (a change copies the shards it touches), and publishes it by cloning (O(1)).

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;

use clusterdns_plugin::ExternalHost;

use crate::objects::{Pod, PodDetails, Service, Slice};
use crate::shards::{Keyed, Shards};

/// (namespace, name).
pub type Key = (Arc<str>, Arc<str>);

/// A service name's objects: the Service, and the slices that name it. Either may be missing
/// (slices can arrive before their Service). One entry for both: one lookup per query.
#[derive(Debug, Clone, Default)]
pub struct Named {
    pub service: Option<Arc<Service>>,
    pub slices: Option<Arc<[Arc<Slice>]>>,
}

/// The services table's entries: by (namespace, name).
#[derive(Debug, Clone)]
struct ByName(Key, Named);

impl Keyed for ByName {
    fn key_hash(&self, hasher: &foldhash::fast::RandomState) -> u64 {
        hasher.hash_one((&*self.0.0, &*self.0.1))
    }
}

/// An entry of a table by IP address.
#[derive(Debug, Clone)]
struct ByIp<V>(IpAddr, V);

impl<V> Keyed for ByIp<V> {
    fn key_hash(&self, hasher: &foldhash::fast::RandomState) -> u64 {
        hasher.hash_one(self.0)
    }
}

/// What queries see.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Services and their slices by (namespace, service name).
    services: Shards<ByName>,
    /// The first service with each cluster IP, for PTRs.
    cluster_ips: Shards<ByIp<Key>>,
    /// The (namespace, service) of every slice holding an address, for PTRs.
    endpoint_ips: Shards<ByIp<Holders>>,
    /// A few hundred names at most: copied whole on change.
    namespaces: Arc<HashSet<Arc<str>, foldhash::fast::RandomState>>,
    /// Pod IPs and the pods that have them (`pods verified`).
    pods: Shards<ByIp<PodsAt>>,
    /// The services with each external address, for k8s_external's PTRs.
    external_ips: Shards<ByIp<Holders>>,
    /// Unix time of the last change: the SOA serial.
    pub serial: u32,
    /// Unix time external addresses last changed (0 until one did): k8s_external's SOA serial,
    /// bumped as CoreDNS's `serviceModified` says (external addresses or ports changed).
    pub external_serial: u32,
}

impl<T: Clone + Keyed> std::fmt::Debug for Shards<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Shards({} entries)", self.len())
    }
}

impl Snapshot {
    /// The slices of a service (empty if none).
    pub fn slices(&self, namespace: &str, service: &str) -> &[Arc<Slice>] {
        self.named(namespace, service)
            .and_then(|n| n.slices.as_deref())
            .unwrap_or(&[])
    }

    pub fn service(&self, namespace: &str, name: &str) -> Option<&Arc<Service>> {
        self.named(namespace, name).and_then(|n| n.service.as_ref())
    }

    /// A service and its slices in one lookup.
    pub fn named(&self, namespace: &str, name: &str) -> Option<&Named> {
        let hash = self.services.hash((namespace, name));
        self.services
            .find(hash, |e| &*e.0.0 == namespace && &*e.0.1 == name)
            .map(|e| &e.1)
    }

    /// The service that first took `ip` as its cluster IP.
    pub fn cluster_ip(&self, ip: &IpAddr) -> Option<&Key> {
        find_ip(&self.cluster_ips, ip)
    }

    /// The services whose slices hold `ip`.
    pub fn endpoint_holders(&self, ip: &IpAddr) -> &[Key] {
        find_ip(&self.endpoint_ips, ip).map_or(&[], Holders::keys)
    }

    /// The services with `ip` among their external addresses.
    pub fn external_holders(&self, ip: &IpAddr) -> &[Key] {
        find_ip(&self.external_ips, ip).map_or(&[], Holders::keys)
    }

    /// Every service, for k8s_external's NS addresses.
    pub fn services_iter(&self) -> impl Iterator<Item = &Arc<Service>> {
        self.services.iter().filter_map(|e| e.1.service.as_ref())
    }

    pub fn has_namespace(&self, namespace: &str) -> bool {
        self.namespaces.contains(namespace)
    }

    /// The first pod with `ip` (CoreDNS's `podWithIP`): its namespace, and its name and labels
    /// where kept (autopath and metadata: the client pod).
    pub fn pod_at(&self, ip: &IpAddr) -> Option<&PodEntry> {
        find_ip(&self.pods, ip).and_then(|at| at.pods().first())
    }

    /// Whether a running pod of `namespace` (compared without case) has `ip`.
    pub fn has_pod(&self, ip: &IpAddr, namespace: &str) -> bool {
        find_ip(&self.pods, ip).is_some_and(|at| {
            at.pods()
                .iter()
                .any(|p| p.namespace.eq_ignore_ascii_case(namespace))
        })
    }
}

/// The services whose slices hold one address: nearly always one, kept inline.
#[derive(Debug, Clone)]
enum Holders {
    One([Key; 1]),
    Many(Arc<[Key]>),
}

impl Holders {
    fn keys(&self) -> &[Key] {
        match self {
            Holders::One(one) => one,
            Holders::Many(many) => many,
        }
    }

    fn of(mut keys: Vec<Key>) -> Option<Holders> {
        match keys.len() {
            0 => None,
            1 => keys.pop().map(|k| Holders::One([k])),
            _ => Some(Holders::Many(keys.into())),
        }
    }
}

/// One pod at an IP: the hash of its name (to find it again), its namespace, and its name and
/// labels when `metadata` reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodEntry {
    hash: u64,
    pub namespace: Arc<str>,
    pub details: Option<Arc<PodDetails>>,
}

/// The pods that have one IP. Most IPs have one pod, kept inline; host-network pods share
/// their node's.
#[derive(Debug, Clone)]
enum PodsAt {
    One([PodEntry; 1]),
    Many(Arc<[PodEntry]>),
}

impl PodsAt {
    fn pods(&self) -> &[PodEntry] {
        match self {
            PodsAt::One(one) => one,
            PodsAt::Many(many) => many,
        }
    }
}

fn find_ip<'a, V: Clone>(table: &'a Shards<ByIp<V>>, ip: &IpAddr) -> Option<&'a V> {
    table.find(table.hash(ip), |e| e.0 == *ip).map(|e| &e.1)
}

fn set_ip<V: Clone>(table: &mut Shards<ByIp<V>>, ip: IpAddr, value: Option<V>) {
    let hash = table.hash(ip);
    match value {
        Some(v) => table.insert(hash, ByIp(ip, v), |e| e.0 == ip),
        None => {
            table.remove(hash, |e| e.0 == ip);
        }
    }
}

/// The published snapshot, shared by the handler (reads) and the watchers (writes).
pub type Published = Arc<ArcSwap<Snapshot>>;

/// The indexes one `kubernetes` block's watchers publish: the cluster's own objects, and the
/// services imported from the clusterset (empty without `multicluster`). A reload that
/// changes the block carries both to the new watchers.
#[derive(Clone, Default)]
pub struct Indexes {
    pub cluster: Published,
    pub clusterset: Published,
}

/// The watchers' working copy, with what the snapshot does not need: where each slice and pod
/// is, by the hash of its (namespace, name) (64 bits: a collision among a million objects has a
/// chance of one in 10^7, and would only leave one object's old copy behind).
#[derive(Default)]
pub struct Store {
    snap: Snapshot,
    /// The (namespace, service) each slice is filed under.
    slice_homes: HashMap<u64, Key>,
    /// Each pod's IP.
    pod_ips: HashMap<u64, IpAddr>,
    /// Namespaces, port names and protocols: a few distinct strings repeated in every object.
    strings: Interner,
    /// Hashes object names for the maps above and for a relist's record of what it named.
    names: foldhash::fast::RandomState,
}

/// One shared copy of each repeated string and port list: with 10,000 services the same
/// namespace, `http` and `tcp` would otherwise be 60,000 separate allocations.
#[derive(Default)]
struct Interner {
    strings: Pool<str>,
    /// Port lists: most services in a cluster have one of a few (`http/tcp/80`).
    ports: Pool<[crate::objects::Port]>,
}

/// Shared copies of values of one type.
struct Pool<T: ?Sized> {
    values: HashSet<Arc<T>>,
    /// The size after the last sweep: the next one comes when it has doubled.
    swept: usize,
}

impl<T: ?Sized> Default for Pool<T> {
    fn default() -> Self {
        Self {
            values: HashSet::new(),
            swept: 0,
        }
    }
}

impl<T: ?Sized + Eq + std::hash::Hash> Pool<T> {
    fn share(&mut self, value: &mut Arc<T>) {
        if let Some(shared) = self.values.get(&**value) {
            *value = shared.clone();
            return;
        }
        self.values.insert(value.clone());
        // Values no object holds any more (a deleted namespace) are dropped once the set has
        // doubled: amortized constant work, and churn cannot grow it without bound.
        if self.values.len() > 2 * self.swept + 64 {
            self.values.retain(|v| Arc::strong_count(v) > 1);
            self.swept = self.values.len();
        }
    }
}

impl Interner {
    fn share(&mut self, s: &mut Arc<str>) {
        self.strings.share(s);
    }

    /// One copy of each port list, its names and protocols shared too.
    fn share_ports(&mut self, ports: &mut Arc<[crate::objects::Port]>) {
        if let Some(shared) = self.ports.values.get(&**ports) {
            *ports = shared.clone();
            return;
        }
        let mut list = ports.to_vec();
        for p in &mut list {
            self.strings.share(&mut p.name);
            self.strings.share(&mut p.protocol);
        }
        *ports = list.into();
        self.ports.share(ports);
    }
}

fn key(namespace: &Arc<str>, name: &Arc<str>) -> Key {
    (namespace.clone(), name.clone())
}

fn now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

impl Store {
    /// The snapshot to publish.
    pub fn snapshot(&self) -> Snapshot {
        self.snap.clone()
    }

    fn touched(&mut self) {
        self.snap.serial = now();
    }

    /// Stores what a service name has, dropping the entry when nothing is left.
    fn set_named(&mut self, k: &Key, named: Named) {
        let hash = self.snap.services.hash((&*k.0, &*k.1));
        let eq = |e: &ByName| e.0 == *k;
        if named.service.is_none() && named.slices.is_none() {
            self.snap.services.remove(hash, eq);
        } else {
            self.snap.services.insert(hash, ByName(k.clone(), named), eq);
        }
    }

    fn entry(&self, namespace: &str, name: &str) -> Option<&ByName> {
        let services = &self.snap.services;
        services.find(services.hash((namespace, name)), |e| {
            &*e.0.0 == namespace && &*e.0.1 == name
        })
    }

    fn named(&self, k: &Key) -> Named {
        self.snap.named(&k.0, &k.1).cloned().unwrap_or_default()
    }

    pub fn apply_service(&mut self, mut s: Service) {
        if self
            .snap
            .service(&s.namespace, &s.name)
            .is_some_and(|old| **old == s)
        {
            return;
        }
        self.strings.share(&mut s.namespace);
        self.strings.share_ports(&mut s.ports);
        // The name as the entry already holds it (its slices came first): one copy.
        if let Some(e) = self.entry(&s.namespace, &s.name) {
            s.name = e.0.1.clone();
        }
        let k = key(&s.namespace, &s.name);
        let old = self.remove_service(&k.0, &k.1);
        let old_external = old.as_ref().map_or(&[][..], |o| &o.external);
        if old_external != &s.external[..] || old.as_ref().is_some_and(|o| o.ports != s.ports) {
            self.set_external(&k, old_external, &s.external);
            self.snap.external_serial = now();
        }
        if let crate::objects::ServiceKind::ClusterIp(ips) = &s.kind {
            for ip in ips {
                if self.snap.cluster_ip(ip).is_none() {
                    set_ip(&mut self.snap.cluster_ips, *ip, Some(k.clone()));
                }
            }
        }
        let mut named = self.named(&k);
        named.service = Some(Arc::new(s));
        self.set_named(&k, named);
        self.touched();
    }

    pub fn delete_service(&mut self, namespace: &str, name: &str) {
        if let Some(old) = self.remove_service(namespace, name)
            && !old.external.is_empty()
        {
            self.set_external(&key(&old.namespace, &old.name), &old.external, &[]);
            self.snap.external_serial = now();
        }
    }

    /// Files `k` under the IPs of `new` instead of those of `old` in the external index.
    fn set_external(&mut self, k: &Key, old: &[ExternalHost], new: &[ExternalHost]) {
        let ips = |hosts: &[ExternalHost]| -> Vec<IpAddr> {
            hosts
                .iter()
                .filter_map(|h| match h {
                    ExternalHost::Ip(ip) => Some(*ip),
                    ExternalHost::Name(_) => None,
                })
                .collect()
        };
        let (old, new) = (ips(old), ips(new));
        for ip in old.iter().filter(|ip| !new.contains(ip)) {
            let mut keys = self.snap.external_holders(ip).to_vec();
            keys.retain(|h| h != k);
            set_ip(&mut self.snap.external_ips, *ip, Holders::of(keys));
        }
        for ip in new.iter().filter(|ip| !old.contains(ip)) {
            let mut keys = self.snap.external_holders(ip).to_vec();
            if !keys.contains(k) {
                keys.push(k.clone());
            }
            set_ip(&mut self.snap.external_ips, *ip, Holders::of(keys));
        }
    }

    /// Takes a service out of the tables (not the external index), returning it.
    fn remove_service(&mut self, namespace: &str, name: &str) -> Option<Arc<Service>> {
        let k = self
            .snap
            .named(namespace, name)
            .and_then(|n| n.service.as_ref())
            .map(|s| key(&s.namespace, &s.name))?;
        let mut named = self.named(&k);
        let old = named.service.take()?;
        self.set_named(&k, named);
        if let crate::objects::ServiceKind::ClusterIp(ips) = &old.kind {
            for ip in ips {
                if self.snap.cluster_ip(ip) == Some(&k) {
                    set_ip(&mut self.snap.cluster_ips, *ip, None);
                }
            }
        }
        self.touched();
        Some(old)
    }

    /// The hash of an object's (namespace, name), as this store files objects and a relist
    /// records what it named.
    pub fn name_hash(&self, namespace: &str, name: &str) -> u64 {
        self.names.hash_one((namespace, name))
    }

    /// The slice filed under `hash`, with the key of its service.
    fn filed_slice(&self, hash: u64) -> Option<(Key, Arc<Slice>)> {
        let home = self.slice_homes.get(&hash)?;
        let slice = self
            .snap
            .slices(&home.0, &home.1)
            .iter()
            .find(|s| self.name_hash(&s.namespace, &s.name) == hash)?
            .clone();
        Some((home.clone(), slice))
    }

    pub fn apply_slice(&mut self, mut s: Slice) {
        let hash = self.name_hash(&s.namespace, &s.name);
        let old = self.filed_slice(hash).map(|(_, old)| old);
        if old.as_ref().is_some_and(|old| **old == s) {
            return;
        }
        self.strings.share(&mut s.namespace);
        self.strings.share_ports(&mut s.ports);
        if let Some(x) = s.extra.as_mut() {
            for shared in x.cluster.iter_mut().chain(x.zones.iter_mut().flatten()) {
                self.strings.share(shared);
            }
        }
        // The service's name as its entry already holds it: one copy, not one per slice.
        if let Some(e) = self.entry(&s.namespace, &s.service) {
            s.service = e.0.1.clone();
        }
        let s = Arc::new(s);
        self.slice_homes.insert(hash, key(&s.namespace, &s.service));
        self.reindex_slice(old.as_deref(), Some(&s));
    }

    pub fn delete_slice(&mut self, namespace: &str, name: &str) {
        self.delete_slice_filed(self.name_hash(namespace, name));
    }

    fn delete_slice_filed(&mut self, hash: u64) {
        if let Some((_, old)) = self.filed_slice(hash) {
            self.slice_homes.remove(&hash);
            self.reindex_slice(Some(&old), None);
        } else {
            self.slice_homes.remove(&hash);
        }
    }

    /// Rebuilds the endpoints of the service(s) the old and new slice belong to, and the IP
    /// index for their addresses: work in proportion to that service, not to the cluster.
    fn reindex_slice(&mut self, old: Option<&Slice>, new: Option<&Arc<Slice>>) {
        let mut services: Vec<Key> = Vec::new();
        for s in old.into_iter().chain(new.map(|s| &**s)) {
            let svc = key(&s.namespace, &s.service);
            if !services.contains(&svc) {
                services.push(svc);
            }
        }
        let mut ips: Vec<IpAddr> = Vec::new();
        for s in old.into_iter().chain(new.map(|s| &**s)) {
            ips.extend(s.addresses.iter().map(|a| a.ip));
        }
        // A slice's name is unique in its namespace: the old copy goes wherever it was, the new
        // one joins the end of its service's list.
        let name = old.map(|s| &s.name).or(new.map(|s| &s.name));
        for svc in &services {
            let mut named = self.named(svc);
            let mut slices: Vec<Arc<Slice>> = named
                .slices
                .iter()
                .flat_map(|list| list.iter())
                .filter(|s| Some(&s.name) != name)
                .cloned()
                .collect();
            if let Some(new) = new.filter(|s| key(&s.namespace, &s.service) == *svc) {
                slices.push(new.clone());
            }
            named.slices = (!slices.is_empty()).then(|| slices.into());
            self.set_named(svc, named);
        }
        for ip in ips {
            let mut holders: Vec<Key> = Vec::new();
            for svc in self
                .snap
                .endpoint_holders(&ip)
                .iter()
                .chain(services.iter())
                .cloned()
                .collect::<Vec<_>>()
            {
                let holds = self
                    .snap
                    .slices(&svc.0, &svc.1)
                    .iter()
                    .any(|s| s.addresses.iter().any(|a| a.ip == ip));
                if holds && !holders.contains(&svc) {
                    holders.push(svc);
                }
            }
            set_ip(&mut self.snap.endpoint_ips, ip, Holders::of(holders));
        }
        self.touched();
    }

    pub fn apply_namespace(&mut self, mut name: Arc<str>) {
        self.strings.share(&mut name);
        if !self.snap.namespaces.contains(&name) {
            Arc::make_mut(&mut self.snap.namespaces).insert(name);
            self.touched();
        }
    }

    pub fn delete_namespace(&mut self, name: &str) {
        if self.snap.namespaces.contains(name) {
            Arc::make_mut(&mut self.snap.namespaces).remove(name);
            self.touched();
        }
    }

    pub fn apply_pod(&mut self, mut p: Pod) {
        let hash = self.name_hash(&p.namespace, &p.name);
        let same_details = |store: &Store, ip: &IpAddr| {
            store
                .pods_at(ip)
                .iter()
                .any(|e| e.hash == hash && e.details == p.details)
        };
        if self.pod_ips.get(&hash).copied() == p.ip && p.ip.is_none_or(|ip| same_details(self, &ip)) {
            return;
        }
        self.strings.share(&mut p.namespace);
        if let Some(details) = p.details.as_mut() {
            // Label keys and values repeat across pods (`app`, `pod-template-hash`).
            let mut d = (**details).clone();
            self.strings.share(&mut d.name);
            let mut labels = d.labels.to_vec();
            for (k, v) in &mut labels {
                self.strings.share(k);
                self.strings.share(v);
            }
            d.labels = labels.into();
            *details = Arc::new(d);
        }
        self.delete_pod_filed(hash);
        if let Some(ip) = p.ip {
            self.pod_ips.insert(hash, ip);
            let mut pods: Vec<PodEntry> = self.pods_at(&ip).to_vec();
            pods.push(PodEntry {
                hash,
                namespace: p.namespace,
                details: p.details,
            });
            self.set_pods_at(ip, pods);
        }
    }

    pub fn delete_pod(&mut self, namespace: &str, name: &str) {
        self.delete_pod_filed(self.name_hash(namespace, name));
    }

    fn delete_pod_filed(&mut self, hash: u64) {
        let Some(ip) = self.pod_ips.remove(&hash) else {
            return;
        };
        let pods: Vec<PodEntry> = self
            .pods_at(&ip)
            .iter()
            .filter(|e| e.hash != hash)
            .cloned()
            .collect();
        self.set_pods_at(ip, pods);
    }

    fn pods_at(&self, ip: &IpAddr) -> &[PodEntry] {
        find_ip(&self.snap.pods, ip).map_or(&[], PodsAt::pods)
    }

    fn set_pods_at(&mut self, ip: IpAddr, mut pods: Vec<PodEntry>) {
        let at = match pods.len() {
            0 => None,
            1 => pods.pop().map(|one| PodsAt::One([one])),
            _ => Some(PodsAt::Many(pods.into())),
        };
        set_ip(&mut self.snap.pods, ip, at);
        self.touched();
    }

    /// Deletes every service whose name hash `keep` does not hold (a relist's end).
    pub fn sweep_services(&mut self, keep: &HashSet<u64>) {
        let gone: Vec<Key> = self
            .snap
            .services
            .iter()
            .filter(|e| e.1.service.is_some() && !keep.contains(&self.name_hash(&e.0.0, &e.0.1)))
            .map(|e| e.0.clone())
            .collect();
        for k in gone {
            self.delete_service(&k.0, &k.1);
        }
    }

    pub fn sweep_slices(&mut self, keep: &HashSet<u64>) {
        for hash in unseen(self.slice_homes.keys(), keep) {
            self.delete_slice_filed(hash);
        }
    }

    /// Namespaces hash as ("", name).
    pub fn sweep_namespaces(&mut self, keep: &HashSet<u64>) {
        let gone: Vec<Arc<str>> = self
            .snap
            .namespaces
            .iter()
            .filter(|n| !keep.contains(&self.name_hash("", n)))
            .cloned()
            .collect();
        for n in gone {
            self.delete_namespace(&n);
        }
    }

    pub fn sweep_pods(&mut self, keep: &HashSet<u64>) {
        for hash in unseen(self.pod_ips.keys(), keep) {
            self.delete_pod_filed(hash);
        }
    }
}

/// The hashes `keep` does not hold.
fn unseen<'a>(hashes: impl Iterator<Item = &'a u64>, keep: &HashSet<u64>) -> Vec<u64> {
    hashes.filter(|h| !keep.contains(h)).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interner_shares_copies_and_sweeps_what_nothing_holds() {
        let mut strings = Interner::default();
        let (mut a, mut b): (Arc<str>, Arc<str>) = (Arc::from("default"), Arc::from("default"));
        strings.share(&mut a);
        strings.share(&mut b);
        assert!(Arc::ptr_eq(&a, &b));

        // A namespace that is gone leaves the set at the next sweep.
        let mut gone: Arc<str> = Arc::from("deleted-ns");
        strings.share(&mut gone);
        drop(gone);
        for i in 0..200 {
            let mut s: Arc<str> = Arc::from(format!("ns-{i}"));
            strings.share(&mut s);
        }
        assert!(!strings.strings.values.contains("deleted-ns"));
        assert!(
            strings.strings.values.contains("default"),
            "still held by a and b"
        );
    }

    use crate::objects::{Address, Port, ServiceKind};

    fn ports() -> Arc<[Port]> {
        Arc::new([Port {
            name: Arc::from("http"),
            protocol: Arc::from("tcp"),
            port: 80,
        }])
    }

    fn service(name: &str, ip: &str) -> Service {
        Service {
            namespace: Arc::from("ns"),
            name: Arc::from(name),
            kind: ServiceKind::ClusterIp(vec![ip.parse().expect("ip")]),
            ports: ports(),
            has_selector: true,
            external: Box::default(),
        }
    }

    fn slice(name: &str, service: &str, ips: &[&str]) -> Slice {
        Slice {
            namespace: Arc::from("ns"),
            name: Arc::from(name),
            service: Arc::from(service),
            addresses: ips
                .iter()
                .map(|ip| Address {
                    ip: ip.parse().expect("ip"),
                    hostname: None,
                    pod_name: None,
                })
                .collect(),
            ports: ports(),
            extra: None,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn slices_are_found_again_wherever_they_are_filed() {
        let mut store = Store::default();
        store.apply_service(service("a", "10.96.0.1"));
        store.apply_service(service("b", "10.96.0.2"));
        store.apply_slice(slice("s1", "a", &["10.1.0.1", "10.1.0.2"]));
        let snap = store.snapshot();
        assert_eq!(snap.slices("ns", "a").len(), 1);
        // The slice's service label changes: it leaves a and joins b, addresses re-indexed.
        store.apply_slice(slice("s1", "b", &["10.1.0.2"]));
        let now = store.snapshot();
        assert!(now.slices("ns", "a").is_empty() && now.slices("ns", "b").len() == 1);
        assert!(now.endpoint_holders(&ip("10.1.0.1")).is_empty());
        assert_eq!(&*now.endpoint_holders(&ip("10.1.0.2"))[0].1, "b");
        // The snapshot taken before is unchanged.
        assert_eq!(snap.slices("ns", "a").len(), 1);
        assert_eq!(&*snap.endpoint_holders(&ip("10.1.0.1"))[0].1, "a");
        store.delete_slice("ns", "s1");
        assert!(store.snapshot().endpoint_holders(&ip("10.1.0.2")).is_empty());
        // Ports lists are shared.
        let snap = store.snapshot();
        let (a, b) = (
            snap.service("ns", "a").expect("a"),
            snap.service("ns", "b").expect("b"),
        );
        assert!(Arc::ptr_eq(&a.ports, &b.ports));
    }

    #[test]
    fn a_relist_sweeps_what_it_did_not_name() {
        let mut store = Store::default();
        for name in ["a", "b", "c"] {
            store.apply_service(service(name, "10.96.0.9"));
            store.apply_slice(slice(&format!("{name}-x"), name, &["10.1.0.9"]));
        }
        store.apply_namespace(Arc::from("ns"));
        store.apply_namespace(Arc::from("old"));
        let keep: HashSet<u64> = ["a", "c"].iter().map(|n| store.name_hash("ns", n)).collect();
        store.sweep_services(&keep);
        let keep: HashSet<u64> = [store.name_hash("ns", "c-x")].into();
        store.sweep_slices(&keep);
        let keep: HashSet<u64> = [store.name_hash("", "ns")].into();
        store.sweep_namespaces(&keep);
        let snap = store.snapshot();
        assert!(snap.service("ns", "a").is_some() && snap.service("ns", "b").is_none());
        assert!(snap.slices("ns", "a").is_empty() && snap.slices("ns", "c").len() == 1);
        assert!(snap.has_namespace("ns") && !snap.has_namespace("old"));
        // The cluster IP a and c shared stays with the first of them still there.
        assert_eq!(&*snap.cluster_ip(&ip("10.96.0.9")).expect("owner").1, "a");
        assert_eq!(&*snap.endpoint_holders(&ip("10.1.0.9"))[0].1, "c");
    }

    #[test]
    fn a_pods_labels_follow_its_changes() {
        let labelled = |value: &str| Pod {
            namespace: Arc::from("a"),
            name: Arc::from("p1"),
            ip: Some("10.0.0.7".parse().expect("ip")),
            details: Some(Arc::new(PodDetails {
                name: Arc::from("p1"),
                labels: vec![(Arc::from("app"), Arc::from(value))].into(),
            })),
        };
        let mut store = Store::default();
        store.apply_pod(labelled("shop"));
        let label = |store: &Store| {
            let snap = store.snapshot();
            let pod = snap.pod_at(&ip("10.0.0.7")).expect("pod").clone();
            pod.details.map(|d| d.labels[0].1.to_string())
        };
        assert_eq!(label(&store).as_deref(), Some("shop"));
        // Same IP, new label value: the entry changes, and is still one entry.
        store.apply_pod(labelled("cart"));
        assert_eq!(label(&store).as_deref(), Some("cart"));
        assert_eq!(
            find_ip(&store.snapshot().pods, &ip("10.0.0.7")).map(|p| p.pods().len()),
            Some(1)
        );
    }

    #[test]
    fn pods_sharing_an_ip_are_tracked_one_by_one() {
        let pod = |ns: &str, name: &str, ip: &str| Pod {
            namespace: Arc::from(ns),
            name: Arc::from(name),
            ip: Some(ip.parse().expect("ip")),
            details: None,
        };
        let mut store = Store::default();
        store.apply_pod(pod("a", "p1", "10.0.0.5"));
        store.apply_pod(pod("b", "p2", "10.0.0.5"));
        let snap = store.snapshot();
        assert!(snap.has_pod(&ip("10.0.0.5"), "A") && snap.has_pod(&ip("10.0.0.5"), "b"));
        store.delete_pod("a", "p1");
        let snap = store.snapshot();
        assert!(!snap.has_pod(&ip("10.0.0.5"), "a") && snap.has_pod(&ip("10.0.0.5"), "b"));
        // A pod moving to another IP leaves the old one.
        store.apply_pod(pod("b", "p2", "10.0.0.6"));
        let snap = store.snapshot();
        assert!(!snap.has_pod(&ip("10.0.0.5"), "b") && snap.has_pod(&ip("10.0.0.6"), "b"));
        let keep = HashSet::new();
        store.sweep_pods(&keep);
        assert!(!store.snapshot().has_pod(&ip("10.0.0.6"), "b"));
    }
}
