//! The client's search path for `autopath @kubernetes` (CoreDNS's `Kubernetes.AutoPath`).

use clusterdns_plugin::{AutoPather, Request, text_in_zone};

use crate::Kubernetes;
use crate::setup::PodMode;

impl AutoPather for Kubernetes {
    /// `<namespace>.svc.<zone>`, `svc.<zone>`, `<zone>`, the server's own search list, then
    /// the name as asked: for queries in our zones from a pod's IP, with `pods verified` only.
    fn search_path(&self, req: &Request, qname: &str) -> Option<Vec<String>> {
        if self.pods != PodMode::Verified {
            return None;
        }
        let (_, zone) = self.zone_of(qname)?;
        let snap = self.index.load();
        let namespace = &snap.pod_at(&req.client.ip().to_canonical())?.namespace;
        let (svc_zone, first) = if zone == "." {
            ("svc.".to_string(), format!("{namespace}.svc."))
        } else {
            let svc_zone = format!("svc.{zone}");
            let first = format!("{namespace}.{svc_zone}");
            (svc_zone, first)
        };
        // Autopath acts only on names under the first element: say no before building the rest.
        if !text_in_zone(qname, &first) {
            return None;
        }
        let mut search = Vec::with_capacity(4 + self.autopath_search.len());
        search.push(first);
        search.push(svc_zone);
        search.push(zone.clone());
        search.extend(self.autopath_search.iter().cloned());
        search.push(String::new());
        Some(search)
    }
}

#[cfg(test)]
mod tests {
    use clusterdns_plugin::AutoPather;

    use crate::index::Store;
    use crate::objects::Pod;
    use crate::tests::handler_on as handler;

    #[test]
    fn autopath_search_path_for_pods_in_our_zones() {
        let mut store = Store::default();
        store.apply_namespace("team-a".into());
        store.apply_pod(Pod {
            namespace: "team-a".into(),
            name: "client".into(),
            ip: Some("10.244.1.5".parse().expect("ip")),
            details: None,
        });
        let k = handler(&store, "pods verified", &[]).with_autopath_search(vec!["corp.example.".into()]);
        let mut req = testkit::request(
            "www.example.com.team-a.svc.cluster.local.",
            clusterdns_plugin::proto::rr::RecordType::A,
        );
        req.client = "10.244.1.5:5353".parse().expect("addr");
        assert_eq!(
            k.search_path(&req, "www.example.com.team-a.svc.cluster.local."),
            Some(vec![
                "team-a.svc.cluster.local.".to_string(),
                "svc.cluster.local.".into(),
                "cluster.local.".into(),
                "corp.example.".into(),
                String::new()
            ])
        );
        // Not under the client's first search domain, not a pod, not our zone: no search.
        assert_eq!(k.search_path(&req, "www.example.com.svc.cluster.local."), None);
        assert_eq!(k.search_path(&req, "www.example.com."), None);
        req.client = "10.244.1.6:5353".parse().expect("addr");
        assert_eq!(
            k.search_path(&req, "www.example.com.team-a.svc.cluster.local."),
            None
        );
        // Without `pods verified` there is no pod index to ask.
        let k = handler(&store, "pods insecure", &[]);
        req.client = "10.244.1.5:5353".parse().expect("addr");
        assert_eq!(
            k.search_path(&req, "www.example.com.team-a.svc.cluster.local."),
            None
        );
    }
}
