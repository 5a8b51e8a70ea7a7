//! The index queries read: an immutable snapshot of persistent maps, swapped whole on change.
//! The watchers' side (`Store`) updates its own copy in place, cost in proportion to what
//! changed (imbl's maps share structure), and publishes it by cloning (O(1)).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;

use crate::objects::{Pod, Service, Slice};

/// (namespace, name).
pub type Key = (Arc<str>, Arc<str>);

/// A (namespace, name) pair as borrowed strings, so queries look keys up without building a
/// `Key` (two allocations per lookup on the hot path otherwise).
trait KeyRef {
    fn parts(&self) -> (&str, &str);
}

impl KeyRef for Key {
    fn parts(&self) -> (&str, &str) {
        (&self.0, &self.1)
    }
}

impl KeyRef for (&str, &str) {
    fn parts(&self) -> (&str, &str) {
        *self
    }
}

impl<'a> std::borrow::Borrow<dyn KeyRef + 'a> for Key {
    fn borrow(&self) -> &(dyn KeyRef + 'a) {
        self
    }
}

/// Hashes as `Key` does: a tuple hashes its fields in order, and `Arc<str>` hashes as `str`.
impl std::hash::Hash for dyn KeyRef + '_ {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl PartialEq for dyn KeyRef + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn KeyRef + '_ {}

/// imbl's map with foldhash (randomly seeded per map), several times cheaper per lookup than
/// SipHash on the short keys every query looks up.
pub type Map<K, V> =
    imbl::GenericHashMap<K, V, foldhash::fast::RandomState, imbl::shared_ptr::DefaultSharedPtr>;
/// imbl's set with foldhash, as [`Map`].
pub type Set<A> = imbl::GenericHashSet<A, foldhash::fast::RandomState, imbl::shared_ptr::DefaultSharedPtr>;

/// A service name's objects: the Service, and the slices that name it. Either may be missing
/// (slices can arrive before their Service). One map for both: one lookup per query and one
/// set of map nodes instead of two.
#[derive(Debug, Clone, Default)]
pub struct Named {
    pub service: Option<Arc<Service>>,
    pub slices: Option<Arc<[Arc<Slice>]>>,
}

/// What queries see.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Services and their slices by (namespace, service name).
    pub services: Map<Key, Named>,
    /// The first service with each cluster IP, for PTRs.
    pub cluster_ips: Map<IpAddr, Key>,
    /// The (namespace, service) of every slice holding an address, for PTRs.
    pub endpoint_ips: Map<IpAddr, Arc<[Key]>>,
    pub namespaces: Set<Arc<str>>,
    /// Pod IPs and the namespaces of the pods that have them (`pods verified`).
    pub pods: Map<IpAddr, Arc<[Arc<str>]>>,
    /// Unix time of the last change: the SOA serial.
    pub serial: u32,
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
        self.services.get(&(namespace, name) as &dyn KeyRef)
    }
}

/// The published snapshot, shared by the handler (reads) and the watchers (writes).
pub type Published = Arc<ArcSwap<Snapshot>>;

/// The watchers' working copy, with what the snapshot does not need: raw slices by name.
#[derive(Default)]
pub struct Store {
    snap: Snapshot,
    /// Slices by (namespace, slice name); by service they are in the snapshot's `services`.
    slices: HashMap<Key, Arc<Slice>>,
    /// Pods by (namespace, name), for their IPs, and by IP.
    pods: HashMap<Key, IpAddr>,
    pods_at: HashMap<IpAddr, Vec<Key>>,
    /// Namespaces, port names and protocols: a few distinct strings repeated in every object.
    strings: Interner,
}

/// One shared copy of each repeated string: with 10,000 services the same namespace, `http` and
/// `tcp` would otherwise be 60,000 separate allocations.
#[derive(Default)]
struct Interner {
    strings: std::collections::HashSet<Arc<str>>,
    /// The size after the last sweep: the next one comes when it has doubled.
    swept: usize,
}

impl Interner {
    fn share(&mut self, s: &mut Arc<str>) {
        if let Some(shared) = self.strings.get(&**s) {
            *s = shared.clone();
            return;
        }
        self.strings.insert(s.clone());
        // Strings no object holds any more (a deleted namespace) are dropped once the set has
        // doubled: amortized constant work, and churn cannot grow it without bound.
        if self.strings.len() > 2 * self.swept + 64 {
            self.strings.retain(|s| Arc::strong_count(s) > 1);
            self.swept = self.strings.len();
        }
    }

    fn share_ports(&mut self, ports: &mut [crate::objects::Port]) {
        for p in ports {
            self.share(&mut p.name);
            self.share(&mut p.protocol);
        }
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

    pub fn apply_service(&mut self, mut s: Service) {
        self.strings.share(&mut s.namespace);
        self.strings.share_ports(&mut s.ports);
        let k = key(&s.namespace, &s.name);
        if self.snap.service(&k.0, &k.1).is_some_and(|old| **old == s) {
            return;
        }
        self.delete_service(&k);
        if let crate::objects::ServiceKind::ClusterIp(ips) = &s.kind {
            for ip in ips {
                self.snap.cluster_ips.entry(*ip).or_insert_with(|| k.clone());
            }
        }
        let mut named = self.snap.services.get(&k).cloned().unwrap_or_default();
        named.service = Some(Arc::new(s));
        self.snap.services.insert(k, named);
        self.touched();
    }

    /// Stores what a service name has, dropping the entry when nothing is left.
    fn set_named(&mut self, k: &Key, named: Named) {
        if named.service.is_none() && named.slices.is_none() {
            self.snap.services.remove(k);
        } else {
            self.snap.services.insert(k.clone(), named);
        }
    }

    pub fn delete_service(&mut self, k: &Key) {
        let Some(mut named) = self.snap.services.get(k).cloned() else {
            return;
        };
        let Some(old) = named.service.take() else {
            return;
        };
        self.set_named(k, named);
        if let crate::objects::ServiceKind::ClusterIp(ips) = &old.kind {
            for ip in ips {
                if self.snap.cluster_ips.get(ip) == Some(k) {
                    self.snap.cluster_ips.remove(ip);
                }
            }
        }
        self.touched();
    }

    pub fn apply_slice(&mut self, mut s: Slice) {
        self.strings.share(&mut s.namespace);
        self.strings.share_ports(&mut s.ports);
        let k = key(&s.namespace, &s.name);
        if self.slices.get(&k).is_some_and(|old| **old == s) {
            return;
        }
        let s = Arc::new(s);
        let old = self.slices.insert(k, s.clone());
        self.reindex_slice(old.as_deref(), Some(&s));
    }

    pub fn delete_slice(&mut self, k: &Key) {
        if let Some(old) = self.slices.remove(k) {
            self.reindex_slice(Some(&old), None);
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
            let mut named = self.snap.services.get(svc).cloned().unwrap_or_default();
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
                .endpoint_ips
                .get(&ip)
                .map(|h| h.to_vec())
                .unwrap_or_default()
                .into_iter()
                .chain(services.iter().cloned())
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
            if holders.is_empty() {
                self.snap.endpoint_ips.remove(&ip);
            } else {
                self.snap.endpoint_ips.insert(ip, holders.into());
            }
        }
        self.touched();
    }

    pub fn apply_namespace(&mut self, mut name: Arc<str>) {
        self.strings.share(&mut name);
        if self.snap.namespaces.insert(name).is_none() {
            self.touched();
        }
    }

    pub fn delete_namespace(&mut self, name: &str) {
        if self.snap.namespaces.remove(name).is_some() {
            self.touched();
        }
    }

    pub fn apply_pod(&mut self, mut p: Pod) {
        self.strings.share(&mut p.namespace);
        let k = key(&p.namespace, &p.name);
        if self.pods.get(&k).copied() == p.ip {
            return;
        }
        self.delete_pod(&k);
        if let Some(ip) = p.ip {
            self.pods.insert(k.clone(), ip);
            self.pods_at.entry(ip).or_default().push(k);
            self.republish_pod_ip(ip);
        }
    }

    pub fn delete_pod(&mut self, k: &Key) {
        let Some(ip) = self.pods.remove(k) else { return };
        if let Some(keys) = self.pods_at.get_mut(&ip) {
            keys.retain(|x| x != k);
            if keys.is_empty() {
                self.pods_at.remove(&ip);
            }
        }
        self.republish_pod_ip(ip);
    }

    fn republish_pod_ip(&mut self, ip: IpAddr) {
        match self.pods_at.get(&ip) {
            Some(keys) => {
                let namespaces: Vec<Arc<str>> = keys.iter().map(|(ns, _)| ns.clone()).collect();
                self.snap.pods.insert(ip, namespaces.into());
            }
            None => {
                self.snap.pods.remove(&ip);
            }
        }
        self.touched();
    }

    /// Every service's key, for a relist's sweep.
    pub fn service_keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.snap
            .services
            .iter()
            .filter(|(_, named)| named.service.is_some())
            .map(|(k, _)| k.clone())
    }

    pub fn slice_keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.slices.keys().cloned()
    }

    /// Namespaces as ("", name).
    pub fn namespace_keys(&self) -> impl Iterator<Item = Key> + '_ {
        let none: Arc<str> = Arc::from("");
        self.snap
            .namespaces
            .iter()
            .map(move |n| (none.clone(), n.clone()))
    }

    pub fn pod_keys(&self) -> impl Iterator<Item = Key> + '_ {
        self.pods.keys().cloned()
    }
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
        assert!(!strings.strings.contains("deleted-ns"));
        assert!(strings.strings.contains("default"), "still held by a and b");
    }
}
