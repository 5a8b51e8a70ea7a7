//! The drop-in manifests against the coredns Deployment's contract (reference §4.2), parsed with
//! k8s-openapi's types.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{}/manifests/{name}", env!("CARGO_MANIFEST_DIR"))).expect(name)
}

#[test]
fn deployment_matches_the_coredns_contract() {
    let d: Deployment = serde_saphyr::from_str(&read("deployment.yaml")).expect("deployment");
    assert_eq!(d.metadata.name.as_deref(), Some("coredns"));
    assert_eq!(d.metadata.namespace.as_deref(), Some("kube-system"));
    let spec = d.spec.expect("spec");
    let labels = spec.selector.match_labels.expect("selector");
    assert_eq!(labels.get("k8s-app").map(String::as_str), Some("kube-dns"));
    let pod = spec.template.spec.expect("pod spec");
    assert_eq!(pod.service_account_name.as_deref(), Some("coredns"));
    assert_eq!(pod.dns_policy.as_deref(), Some("Default"));
    assert_eq!(
        pod.priority_class_name.as_deref(),
        Some("system-cluster-critical")
    );
    let c = &pod.containers[0];
    assert_eq!(
        c.args.as_deref(),
        Some(&["-conf".to_string(), "/etc/coredns/Corefile".to_string()][..])
    );
    let ports: Vec<(i32, &str, &str)> = c
        .ports
        .iter()
        .flatten()
        .map(|p| {
            (
                p.container_port,
                p.name.as_deref().unwrap_or(""),
                p.protocol.as_deref().unwrap_or("TCP"),
            )
        })
        .collect();
    for want in [
        (53, "dns", "UDP"),
        (53, "dns-tcp", "TCP"),
        (9153, "metrics", "TCP"),
        (8080, "liveness-probe", "TCP"),
        (8181, "readiness-probe", "TCP"),
    ] {
        assert!(ports.contains(&want), "{want:?} missing from {ports:?}");
    }
    let live = c
        .liveness_probe
        .as_ref()
        .and_then(|p| p.http_get.as_ref())
        .expect("liveness");
    assert_eq!(live.path.as_deref(), Some("/health"));
    let ready = c
        .readiness_probe
        .as_ref()
        .and_then(|p| p.http_get.as_ref())
        .expect("readiness");
    assert_eq!(ready.path.as_deref(), Some("/ready"));
    let sc = c.security_context.as_ref().expect("security context");
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    let caps = sc.capabilities.as_ref().expect("capabilities");
    assert_eq!(caps.add.as_deref(), Some(&["NET_BIND_SERVICE".to_string()][..]));
    assert_eq!(caps.drop.as_deref(), Some(&["ALL".to_string()][..]));
    let res = c.resources.as_ref().expect("resources");
    assert_eq!(
        res.limits
            .as_ref()
            .and_then(|l| l.get("memory"))
            .map(|q| q.0.as_str()),
        Some("170Mi")
    );
    assert_eq!(
        res.requests
            .as_ref()
            .and_then(|l| l.get("memory"))
            .map(|q| q.0.as_str()),
        Some("70Mi")
    );
    assert_eq!(
        res.requests
            .as_ref()
            .and_then(|l| l.get("cpu"))
            .map(|q| q.0.as_str()),
        Some("100m")
    );
    let mount = &c.volume_mounts.as_ref().expect("mounts")[0];
    assert_eq!(
        (mount.mount_path.as_str(), mount.read_only),
        ("/etc/coredns", Some(true))
    );
    let volume = &pod.volumes.as_ref().expect("volumes")[0];
    assert_eq!(
        volume.config_map.as_ref().map(|c| c.name.as_str()),
        Some("coredns")
    );
}

#[test]
fn service_configmap_and_rbac() {
    let s: Service = serde_saphyr::from_str(&read("service.yaml")).expect("service");
    assert_eq!(s.metadata.name.as_deref(), Some("kube-dns"));
    let annotations = s.metadata.annotations.clone().expect("annotations");
    assert_eq!(
        annotations.get("prometheus.io/port").map(String::as_str),
        Some("9153")
    );
    assert_eq!(
        annotations.get("prometheus.io/scrape").map(String::as_str),
        Some("true")
    );
    let spec = s.spec.expect("spec");
    assert_eq!(spec.cluster_ip.as_deref(), Some("10.96.0.10"));
    assert_eq!(
        spec.selector
            .as_ref()
            .and_then(|l| l.get("k8s-app"))
            .map(String::as_str),
        Some("kube-dns")
    );
    let ports: Vec<(&str, i32, &str)> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| {
            (
                p.name.as_deref().unwrap_or(""),
                p.port,
                p.protocol.as_deref().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        ports,
        [
            ("dns", 53, "UDP"),
            ("dns-tcp", 53, "TCP"),
            ("metrics", 9153, "TCP")
        ]
    );

    let cm: ConfigMap = serde_saphyr::from_str(&read("configmap.yaml")).expect("configmap");
    assert_eq!(cm.metadata.name.as_deref(), Some("coredns"));
    let corefile = cm
        .data
        .as_ref()
        .and_then(|d| d.get("Corefile"))
        .expect("Corefile key");
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Corefile.example")).expect("example");
    let example: String = example
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        corefile, &example,
        "the ConfigMap holds kubeadm's Corefile (Corefile.example)"
    );

    let docs = read("rbac.yaml");
    let docs: Vec<&str> = docs.split("\n---\n").collect();
    let sa: ServiceAccount = serde_saphyr::from_str(docs[0]).expect("service account");
    assert_eq!(
        (sa.metadata.name.as_deref(), sa.metadata.namespace.as_deref()),
        (Some("coredns"), Some("kube-system"))
    );
    let role: ClusterRole = serde_saphyr::from_str(docs[1]).expect("cluster role");
    assert_eq!(role.metadata.name.as_deref(), Some("system:coredns"));
    let rules = role.rules.expect("rules");
    let allows = |group: &str, resource: &str| {
        rules.iter().any(|r| {
            r.api_groups.iter().flatten().any(|g| g == group)
                && r.resources.iter().flatten().any(|x| x == resource)
                && ["list", "watch"].iter().all(|v| r.verbs.iter().any(|x| x == v))
        })
    };
    for resource in ["endpoints", "services", "pods", "namespaces"] {
        assert!(allows("", resource), "{resource}");
    }
    assert!(allows("discovery.k8s.io", "endpointslices"));
    let binding: ClusterRoleBinding = serde_saphyr::from_str(docs[2]).expect("binding");
    assert_eq!(binding.role_ref.name, "system:coredns");
    assert_eq!(
        binding.subjects.as_ref().map(|s| s[0].name.as_str()),
        Some("coredns")
    );
}
