//! The kubernetes plugin's metadata (CoreDNS's `Kubernetes.Metadata`): the client pod's
//! namespace, name and labels, and the parts of a query name in our zones (its cluster id in multicluster
//! zones, its topology zone with `zonal`).

use clusterdns_plugin::{MetadataProvider, MetadataValues, Request};

use crate::Kubernetes;
use crate::names::parse_request;
use crate::setup::PodMode;

impl MetadataProvider for Kubernetes {
    fn metadata(&self, req: &Request, qname: &str, values: &mut MetadataValues) {
        if self.pods == PodMode::Verified {
            let snap = self.index.load();
            if let Some(pod) = snap.pod_at(&req.client.ip().to_canonical()) {
                values.set("kubernetes/client-namespace", &*pod.namespace);
                // Name and labels are kept when the block has `metadata` (this plugin asks).
                if let Some(d) = &pod.details {
                    values.set("kubernetes/client-pod-name", &*d.name);
                    for (k, v) in &d.labels {
                        values.set(format!("kubernetes/client-label/{k}"), &**v);
                    }
                }
            }
        }
        let Some((_, zone)) = self.zone_of(qname) else {
            return;
        };
        let grammar = self.grammar(zone);
        match parse_request(qname, zone, grammar) {
            Ok(r) => {
                values.set("kubernetes/port-name", r.port);
                values.set("kubernetes/protocol", r.protocol);
                values.set("kubernetes/endpoint", r.endpoint);
                if grammar.multicluster {
                    values.set("kubernetes/cluster", r.cluster);
                }
                if grammar.zonal {
                    values.set("kubernetes/zone", r.topology.map_or("", |t| t.zone));
                }
                values.set("kubernetes/service", r.service);
                values.set("kubernetes/namespace", r.namespace);
                values.set("kubernetes/kind", r.pod_or_svc);
            }
            Err(_) => values.set("kubernetes/parse-error", "invalid query name"),
        }
    }
}
