//! The real query path and Corefile setup driven from bytes, without sockets or an API server:
//! what the fuzz targets (`fuzz/`) run, and the test that replays their seed corpora.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_server::net::xfer::Protocol;

use crate::registry;
use crate::server::tcp::take_frame;
use crate::server::{Dispatcher, Heritage, Incoming, assemble};

/// The chain queries run through: rewrite, cache, autopath, template, hosts, k8s_external,
/// kubernetes (on an in-memory cluster, with a multicluster zone and zonal names) and whoami,
/// as a cluster's Corefile has them.
const COREFILE: &str = r#". {
    errors
    rewrite continue cname exact inside-target.example. steady.example.
    rewrite name suffix .alias.example. .default.svc.cluster.local.
    rewrite name regex (.+)\.re\.example\. {1}.default.svc.cluster.local. answer auto
    rewrite edns0 local set 0xffee clusterdns
    loadbalance
    cache 30
    autopath corp.internal @kubernetes
    template IN TXT tmpl.example {
        match "^(?P<x>[^.]*)[.]tmpl[.]example[.]$"
        answer "{{ .Name }} 5 IN TXT \"{{ printf \"%q %5.2s %x %v\" .Group.x .Name .Type .Match }}\""
        additional "{{ .Group.x }}.tmpl.example. 5 IN A 192.0.2.{{ len .Group.x }}"
    }
    hosts {
        10.5.0.1 steady.example
        fd00::1 steady.example
        fallthrough
    }
    k8s_external example.org 100.51.198.in-addr.arpa {
        headless
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa corp.internal clusterset.local {
        endpoint http://127.0.0.1:1
        pods verified
        endpoint_pod_names
        multicluster clusterset.local
        zonal
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    whoami
}
"#;

/// The in-memory cluster: a ClusterIP service (dual-stack), a headless one with named and
/// unnamed endpoints, ExternalNames (inside the zone, outside it, and two naming each other),
/// load balancers (an address, a host name) and externalIPs, the pod the harness's queries come
/// from; endpoints with topology zones; a ServiceImport of each type, with slices from two
/// clusters.
const CLUSTER: &[&str] = &[
    r#"{"kind":"Namespace","metadata":{"name":"default"}}"#,
    r#"{"kind":"Namespace","metadata":{"name":"kube-system"}}"#,
    r#"{"kind":"Service","metadata":{"name":"web","namespace":"default"},"spec":{"type":"ClusterIP","clusterIP":"10.96.0.20","clusterIPs":["10.96.0.20","fd00:96::20"],"ports":[{"name":"http","protocol":"TCP","port":80},{"name":"dns","protocol":"UDP","port":53}],"selector":{"app":"web"}}}"#,
    r#"{"kind":"Service","metadata":{"name":"db","namespace":"default"},"spec":{"clusterIP":"None","ports":[{"name":"pg","protocol":"TCP","port":5432}]}}"#,
    r#"{"kind":"EndpointSlice","metadata":{"name":"db-1","namespace":"default","labels":{"kubernetes.io/service-name":"db"}},"endpoints":[{"addresses":["10.244.0.11"],"hostname":"db-0","conditions":{"ready":true}},{"addresses":["10.244.0.12"],"targetRef":{"name":"db-pod"}},{"addresses":["10.244.0.13"],"conditions":{"ready":false}}],"ports":[{"name":"pg","protocol":"TCP","port":5432}]}"#,
    r#"{"kind":"EndpointSlice","metadata":{"name":"db-2","namespace":"default","labels":{"kubernetes.io/service-name":"db"}},"endpoints":[{"addresses":["fd00:244::11"]}]}"#,
    r#"{"kind":"Service","metadata":{"name":"inside","namespace":"default"},"spec":{"type":"ExternalName","externalName":"web.default.svc.cluster.local"}}"#,
    r#"{"kind":"Service","metadata":{"name":"outside","namespace":"default"},"spec":{"type":"ExternalName","externalName":"steady.example"}}"#,
    r#"{"kind":"Service","metadata":{"name":"retargeted","namespace":"default"},"spec":{"type":"ExternalName","externalName":"inside-target.example"}}"#,
    r#"{"kind":"Service","metadata":{"name":"a","namespace":"default"},"spec":{"type":"ExternalName","externalName":"b.default.svc.corp.internal"}}"#,
    r#"{"kind":"Service","metadata":{"name":"b","namespace":"default"},"spec":{"type":"ExternalName","externalName":"a.default.svc.cluster.local"}}"#,
    r#"{"kind":"Service","metadata":{"name":"lb","namespace":"default"},"spec":{"type":"LoadBalancer","clusterIP":"10.96.0.30","ports":[{"name":"http","protocol":"TCP","port":80},{"name":"https","protocol":"TCP","port":443}]},"status":{"loadBalancer":{"ingress":[{"ip":"198.51.100.10"},{"hostname":"lb.cloud.example"}]}}}"#,
    r#"{"kind":"Service","metadata":{"name":"ext","namespace":"default"},"spec":{"clusterIP":"10.96.0.31","externalIPs":["198.51.100.20","2001:db8::20"]}}"#,
    r#"{"kind":"Pod","metadata":{"name":"p","namespace":"default"},"status":{"phase":"Running","podIP":"10.244.1.5"}}"#,
    r#"{"kind":"Service","metadata":{"name":"zoned","namespace":"default"},"spec":{"clusterIP":"None","ports":[{"name":"pg","protocol":"TCP","port":5432}]}}"#,
    r#"{"kind":"EndpointSlice","metadata":{"name":"zoned-1","namespace":"default","labels":{"kubernetes.io/service-name":"zoned"}},"endpoints":[{"addresses":["10.244.0.14"],"zone":"us-west-2a"},{"addresses":["10.244.0.15"],"zone":"corp.example.com"}],"ports":[{"name":"pg","protocol":"TCP","port":5432}]}"#,
    r#"{"kind":"ServiceImport","metadata":{"name":"web","namespace":"default"},"spec":{"type":"ClusterSetIP","ips":["10.110.0.5"],"ports":[{"name":"http","protocol":"TCP","port":80}]}}"#,
    r#"{"kind":"ServiceImport","metadata":{"name":"db","namespace":"default"},"spec":{"type":"Headless","ports":[{"name":"pg","protocol":"TCP","port":5432}]}}"#,
    r#"{"kind":"EndpointSlice","metadata":{"name":"db-east","namespace":"default","labels":{"multicluster.kubernetes.io/service-name":"db","multicluster.kubernetes.io/source-cluster":"east"}},"endpoints":[{"addresses":["10.8.0.11"],"hostname":"db-0"}],"ports":[{"name":"pg","protocol":"TCP","port":5432}]}"#,
    r#"{"kind":"EndpointSlice","metadata":{"name":"db-west","namespace":"default","labels":{"multicluster.kubernetes.io/service-name":"db","multicluster.kubernetes.io/source-cluster":"west"}},"endpoints":[{"addresses":["10.9.0.11"],"hostname":"db-0"}],"ports":[{"name":"pg","protocol":"TCP","port":5432}]}"#,
];

/// One listener's dispatcher on [`COREFILE`], with a runtime to run queries on.
pub struct QueryPath {
    runtime: tokio::runtime::Runtime,
    dispatcher: Arc<Dispatcher>,
}

impl QueryPath {
    /// Sets up the chain; `None` if the embedded Corefile does not set up (a bug).
    pub fn new() -> Option<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        let _entered = runtime.enter();
        let first = plan(COREFILE, &Heritage::default())?;
        // The cluster, stored where the plugin's watchers would store it ...
        let indexes = first
            .heritage
            .carried::<plugin_kubernetes::Indexes>("kubernetes")?;
        plugin_kubernetes::publish_objects(&indexes, CLUSTER);
        // ... and the plugin set up again over it, as after a reload: synced, answering.
        let second = plan(&COREFILE.replace("ttl 5", "ttl 7"), &first.heritage)?;
        let listener = second.listeners.into_iter().next()?;
        let local = SocketAddr::from(([127, 0, 0, 1], 53));
        let dispatcher = Arc::new(Dispatcher::new(listener.zones, Arc::from("dns://:53"), local));
        Some(Self { runtime, dispatcher })
    }

    /// The reply to a datagram, as the UDP reader makes it.
    pub fn udp(&self, datagram: &[u8]) -> Option<Vec<u8>> {
        self.answer(datagram.to_vec(), Protocol::Udp)
    }

    /// The replies to what a TCP connection sent, split into length-prefixed messages as the
    /// TCP server splits them.
    pub fn tcp(&self, stream: &[u8]) -> Vec<Vec<u8>> {
        let mut buf = bytes::BytesMut::from(stream);
        let mut replies = Vec::new();
        while let Some(frame) = take_frame(&mut buf) {
            replies.extend(self.answer(frame, Protocol::Tcp));
        }
        replies
    }

    fn answer(&self, message: Vec<u8>, protocol: Protocol) -> Option<Vec<u8>> {
        let client = SocketAddr::from(([10, 244, 1, 5], 40000));
        match Incoming::sort(message, client, protocol) {
            Incoming::Query(request) => Some(self.runtime.block_on(self.dispatcher.reply(&request))),
            Incoming::Malformed(formerr) => Some(formerr),
            Incoming::Ignored => None,
        }
    }
}

fn plan(corefile: &str, previous: &Heritage) -> Option<crate::server::Plan> {
    let blocks = corefile::parse("Corefile", corefile, &registry::names()).ok()?;
    assemble(&blocks, 53, previous).ok()
}

/// Parses `text` as a Corefile and sets up every directive, as `-validate` and a reload do:
/// whatever it holds, this returns (errors are fine; a panic, a hang or a blow-up is a bug).
pub fn corefile(text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    let Ok(blocks) = corefile::parse("Corefile", &text, &registry::names()) else {
        return;
    };
    let _ = assemble(&blocks, 53, &Heritage::default());
}
