//! Slim serde views of the API objects the watchers list and watch: only the fields DNS reads are
//! parsed, so a 10,000-object list never exists as full k8s-openapi objects in memory.
//!
//! Each type keeps k8s-openapi's field names and borrows its `Resource` constants, so kube-rs
//! treats it as the real kind (same URLs, same watch protocol).

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

/// Makes `$slim` the kube-rs resource `$full` is, with its metadata in `metadata`. The metadata is
/// boxed: a list arrives whole (`resourceVersion=0` is not paged) as one `Vec` of these, and an
/// inline `ObjectMeta` (~340 bytes, mostly empty options) in every element is most of that
/// `Vec`'s size, doubled by its growth.
macro_rules! resource_as {
    ($slim:ty, $full:ty) => {
        impl k8s_openapi::Resource for $slim {
            const API_VERSION: &'static str = <$full as k8s_openapi::Resource>::API_VERSION;
            const GROUP: &'static str = <$full as k8s_openapi::Resource>::GROUP;
            const KIND: &'static str = <$full as k8s_openapi::Resource>::KIND;
            const VERSION: &'static str = <$full as k8s_openapi::Resource>::VERSION;
            const URL_PATH_SEGMENT: &'static str = <$full as k8s_openapi::Resource>::URL_PATH_SEGMENT;
            type Scope = <$full as k8s_openapi::Resource>::Scope;
        }

        impl k8s_openapi::Metadata for $slim {
            type Ty = ObjectMeta;

            fn metadata(&self) -> &ObjectMeta {
                &self.metadata
            }

            fn metadata_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

/// An object's metadata as the API sends it, read for the fields DNS and the watcher use; the
/// rest (`managedFields`, owners, a `last-applied-configuration` annotation that can be the size
/// of the object) is skipped unparsed.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    name: Option<String>,
    namespace: Option<String>,
    resource_version: Option<String>,
    deletion_timestamp: Option<Time>,
}

impl From<Meta> for ObjectMeta {
    fn from(m: Meta) -> ObjectMeta {
        ObjectMeta {
            name: m.name,
            namespace: m.namespace,
            resource_version: m.resource_version,
            deletion_timestamp: m.deletion_timestamp,
            ..ObjectMeta::default()
        }
    }
}

fn slim_meta<'de, D: Deserializer<'de>>(d: D) -> Result<Box<ObjectMeta>, D::Error> {
    Meta::deserialize(d).map(|m| Box::new(ObjectMeta::from(m)))
}

/// A pod's metadata: [`Meta`]'s fields and its labels (CoreDNS's `kubernetes/client-label/*`);
/// not `Meta` flattened, which would make serde buffer every field, `managedFields` included.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodMeta {
    name: Option<String>,
    namespace: Option<String>,
    resource_version: Option<String>,
    deletion_timestamp: Option<Time>,
    labels: Option<std::collections::BTreeMap<String, String>>,
}

fn pod_meta<'de, D: Deserializer<'de>>(d: D) -> Result<Box<ObjectMeta>, D::Error> {
    PodMeta::deserialize(d).map(|m| {
        Box::new(ObjectMeta {
            name: m.name,
            namespace: m.namespace,
            resource_version: m.resource_version,
            deletion_timestamp: m.deletion_timestamp,
            labels: m.labels,
            ..ObjectMeta::default()
        })
    })
}

/// Whether a JSON object (or null) has entries, without building it.
fn non_empty_map<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    struct NonEmpty;
    impl<'de> serde::de::Visitor<'de> for NonEmpty {
        type Value = bool;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a map or null")
        }

        fn visit_unit<E>(self) -> Result<bool, E> {
            Ok(false)
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut any = false;
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
                any = true;
            }
            Ok(any)
        }
    }
    d.deserialize_any(NonEmpty)
}

/// A Service: its ports, type, cluster IPs, ExternalName and whether it has a selector.
#[derive(Clone, Debug, Deserialize)]
pub struct Service {
    #[serde(deserialize_with = "slim_meta", default)]
    pub metadata: Box<ObjectMeta>,
    pub spec: Option<ServiceSpec>,
    pub status: Option<ServiceStatus>,
}
resource_as!(Service, core::Service);

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    pub ports: Option<Vec<ServicePort>>,
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub external_name: Option<String>,
    #[serde(rename = "clusterIP")]
    pub cluster_ip: Option<String>,
    #[serde(rename = "clusterIPs")]
    pub cluster_ips: Option<Vec<String>>,
    /// Whether `selector` has any entry; its labels are not kept.
    #[serde(rename = "selector", default, deserialize_with = "non_empty_map")]
    pub has_selector: bool,
    #[serde(rename = "externalIPs")]
    pub external_ips: Option<Vec<String>>,
}

/// A Service's status: only its load balancer's addresses (k8s_external).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    pub load_balancer: Option<LoadBalancerStatus>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LoadBalancerStatus {
    pub ingress: Option<Vec<LoadBalancerIngress>>,
}

/// One load balancer address: an IP (MetalLB), or a host name (cloud load balancers).
#[derive(Clone, Debug, Deserialize)]
pub struct LoadBalancerIngress {
    pub ip: Option<String>,
    pub hostname: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ServicePort {
    pub name: Option<String>,
    pub protocol: Option<String>,
    pub port: i32,
}

/// An EndpointSlice: its service (from the service-name label), endpoints and ports, and the
/// controller's trigger time. Those come out of the metadata as fields of their own, so no
/// label or annotation map is built per slice.
#[derive(Clone, Debug, Deserialize)]
#[serde(from = "RawEndpointSlice")]
pub struct EndpointSlice {
    pub metadata: Box<ObjectMeta>,
    /// The `kubernetes.io/service-name` label.
    pub service_name: Option<String>,
    /// The Multi-Cluster Services API's `multicluster.kubernetes.io/service-name` label.
    pub mcs_service_name: Option<String>,
    /// The `multicluster.kubernetes.io/source-cluster` label: the cluster id.
    pub source_cluster: Option<String>,
    /// The `endpoints.kubernetes.io/last-change-trigger-time` annotation.
    pub trigger_time: Option<String>,
    pub endpoints: Vec<Endpoint>,
    pub ports: Option<Vec<EndpointPort>>,
}
resource_as!(EndpointSlice, discovery::EndpointSlice);

#[derive(Deserialize)]
struct RawEndpointSlice {
    metadata: Option<SliceMeta>,
    #[serde(default)]
    endpoints: Vec<Endpoint>,
    ports: Option<Vec<EndpointPort>>,
}

/// `Meta` plus the label and annotation slices need (not flattened: serde buffers every field of
/// a flattened struct, which would parse what `Meta` skips).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SliceMeta {
    name: Option<String>,
    namespace: Option<String>,
    resource_version: Option<String>,
    labels: Option<SliceLabels>,
    annotations: Option<SliceAnnotations>,
}

#[derive(Deserialize)]
struct SliceLabels {
    #[serde(rename = "kubernetes.io/service-name")]
    service_name: Option<String>,
    #[serde(rename = "multicluster.kubernetes.io/service-name")]
    mcs_service_name: Option<String>,
    #[serde(rename = "multicluster.kubernetes.io/source-cluster")]
    source_cluster: Option<String>,
}

#[derive(Deserialize)]
struct SliceAnnotations {
    #[serde(rename = "endpoints.kubernetes.io/last-change-trigger-time")]
    trigger_time: Option<String>,
}

impl From<RawEndpointSlice> for EndpointSlice {
    fn from(raw: RawEndpointSlice) -> EndpointSlice {
        let (metadata, labels, trigger_time) = match raw.metadata {
            Some(m) => (
                Box::new(ObjectMeta {
                    name: m.name,
                    namespace: m.namespace,
                    resource_version: m.resource_version,
                    ..ObjectMeta::default()
                }),
                m.labels,
                m.annotations.and_then(|a| a.trigger_time),
            ),
            None => (Box::default(), None, None),
        };
        let (service_name, mcs_service_name, source_cluster) = match labels {
            Some(l) => (l.service_name, l.mcs_service_name, l.source_cluster),
            None => (None, None, None),
        };
        EndpointSlice {
            metadata,
            service_name,
            mcs_service_name,
            source_cluster,
            trigger_time,
            endpoints: raw.endpoints,
            ports: raw.ports,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    #[serde(default)]
    pub addresses: Vec<String>,
    pub conditions: Option<EndpointConditions>,
    pub hostname: Option<String>,
    pub target_ref: Option<TargetRef>,
    /// The topology zone of the endpoint's node (kept only with `zonal`).
    pub zone: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct EndpointConditions {
    pub ready: Option<bool>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TargetRef {
    pub name: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct EndpointPort {
    pub name: Option<String>,
    pub protocol: Option<String>,
    pub port: Option<i32>,
}

/// The EndpointSlices of imported multi-cluster services (listed with a selector on the
/// `multicluster.kubernetes.io/service-name` label): a kind of its own for the watchers, so
/// they are filed under their ServiceImport, apart from the cluster's own slices.
#[derive(Clone, Debug, Deserialize)]
#[serde(transparent)]
pub struct McsEndpointSlice(pub EndpointSlice);

impl k8s_openapi::Resource for McsEndpointSlice {
    const API_VERSION: &'static str = <EndpointSlice as k8s_openapi::Resource>::API_VERSION;
    const GROUP: &'static str = <EndpointSlice as k8s_openapi::Resource>::GROUP;
    const KIND: &'static str = <EndpointSlice as k8s_openapi::Resource>::KIND;
    const VERSION: &'static str = <EndpointSlice as k8s_openapi::Resource>::VERSION;
    const URL_PATH_SEGMENT: &'static str = <EndpointSlice as k8s_openapi::Resource>::URL_PATH_SEGMENT;
    type Scope = <EndpointSlice as k8s_openapi::Resource>::Scope;
}

impl k8s_openapi::Metadata for McsEndpointSlice {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.0.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.0.metadata
    }
}

/// A ServiceImport of the Multi-Cluster Services API (`multicluster.x-k8s.io/v1alpha1`, the
/// version CoreDNS's mcs-api client watches): its type, IPs and ports.
#[derive(Clone, Debug, Deserialize)]
pub struct ServiceImport {
    #[serde(deserialize_with = "slim_meta", default)]
    pub metadata: Box<ObjectMeta>,
    pub spec: Option<ServiceImportSpec>,
}

impl k8s_openapi::Resource for ServiceImport {
    const API_VERSION: &'static str = "multicluster.x-k8s.io/v1alpha1";
    const GROUP: &'static str = "multicluster.x-k8s.io";
    const KIND: &'static str = "ServiceImport";
    const VERSION: &'static str = "v1alpha1";
    const URL_PATH_SEGMENT: &'static str = "serviceimports";
    type Scope = k8s_openapi::NamespaceResourceScope;
}

impl k8s_openapi::Metadata for ServiceImport {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct ServiceImportSpec {
    /// `ClusterSetIP` or `Headless`.
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub ips: Option<Vec<String>>,
    pub ports: Option<Vec<ServicePort>>,
}

/// A Namespace: its name.
#[derive(Clone, Debug, Deserialize)]
pub struct Namespace {
    #[serde(deserialize_with = "slim_meta", default)]
    pub metadata: Box<ObjectMeta>,
}
resource_as!(Namespace, core::Namespace);

/// A Pod: its phase and IP (`pods verified`), and its labels (for `metadata`).
#[derive(Clone, Debug, Deserialize)]
pub struct Pod {
    #[serde(deserialize_with = "pod_meta", default)]
    pub metadata: Box<ObjectMeta>,
    pub status: Option<PodStatus>,
}
resource_as!(Pod, core::Pod);

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    pub phase: Option<String>,
    #[serde(rename = "podIP")]
    pub pod_ip: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_keep_what_dns_reads_and_drop_the_rest() {
        let json = r#"{
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": "db-abc", "namespace": "default", "resourceVersion": "42",
                "labels": {"kubernetes.io/service-name": "db", "app": "db"},
                "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2026-11-22T06:00:00Z",
                    "kubectl.kubernetes.io/last-applied-configuration": "{}"},
                "managedFields": [{"manager": "kube-controller-manager"}]},
            "endpoints": [{"addresses": ["10.244.0.11"], "conditions": {"ready": true, "serving": true},
                "hostname": "db-0", "targetRef": {"kind": "Pod", "name": "db-0"}, "nodeName": "n1"}],
            "ports": [{"name": "pg", "protocol": "TCP", "port": 5432}]
        }"#;
        let s: EndpointSlice = serde_json::from_str(json).expect("slice");
        assert_eq!(s.metadata.name.as_deref(), Some("db-abc"));
        assert_eq!(s.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(s.service_name.as_deref(), Some("db"));
        assert_eq!(s.trigger_time.as_deref(), Some("2026-11-22T06:00:00Z"));
        assert!(crate::metrics::trigger_time(&s).is_some());
        assert!(s.metadata.labels.is_none() && s.metadata.annotations.is_none());
        assert!(s.metadata.managed_fields.is_none());
        let e = &s.endpoints[0];
        assert_eq!(e.addresses, ["10.244.0.11"]);
        assert_eq!(e.conditions.as_ref().and_then(|c| c.ready), Some(true));
        assert_eq!(
            e.target_ref.as_ref().and_then(|t| t.name.as_deref()),
            Some("db-0")
        );
        assert_eq!(s.ports.as_ref().map(|p| p[0].port), Some(Some(5432)));
    }

    #[test]
    fn services_note_only_whether_they_select() {
        let spec = |selector: &str| {
            let json = format!(
                r#"{{"metadata": {{"name": "web", "namespace": "default", "managedFields": []}},
                    "spec": {{"type": "ClusterIP", "clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"],
                    "ports": [{{"name": "http", "port": 80, "targetPort": 8080}}] {selector}}}}}"#
            );
            serde_json::from_str::<Service>(&json)
                .expect("service")
                .spec
                .expect("spec")
        };
        assert!(spec(r#", "selector": {"app": "web"}"#).has_selector);
        assert!(!spec(r#", "selector": {}"#).has_selector);
        assert!(!spec(r#", "selector": null"#).has_selector);
        let s = spec("");
        assert!(!s.has_selector);
        assert_eq!(s.cluster_ips.as_deref(), Some(&["10.96.0.20".to_owned()][..]));
        assert_eq!(
            s.ports.as_ref().map(|p| (p[0].name.as_deref(), p[0].port)),
            Some((Some("http"), 80))
        );
    }

    #[test]
    fn kinds_are_the_api_kinds() {
        use kube::Resource;
        assert_eq!(
            Service::url_path(&(), Some("default")),
            "/api/v1/namespaces/default/services"
        );
        assert_eq!(
            EndpointSlice::url_path(&(), None),
            "/apis/discovery.k8s.io/v1/endpointslices"
        );
        assert_eq!(Namespace::url_path(&(), None), "/api/v1/namespaces");
        assert_eq!(
            ServiceImport::url_path(&(), None),
            "/apis/multicluster.x-k8s.io/v1alpha1/serviceimports"
        );
        assert_eq!(
            McsEndpointSlice::url_path(&(), None),
            "/apis/discovery.k8s.io/v1/endpointslices"
        );
        assert_eq!(Pod::kind(&()), "Pod");
    }
}
