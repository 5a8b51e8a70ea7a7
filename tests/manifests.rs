//! The drop-in manifests against the coredns Deployment's contract (reference §4.2), parsed with
//! k8s-openapi's types.

use std::collections::BTreeMap;
use std::process::Command;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{}/manifests/base/{name}", env!("CARGO_MANIFEST_DIR"))).expect(name)
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

/// `kubectl kustomize DIR`'s objects, by `kind/name`, each document as YAML. `None` where
/// kubectl is not installed, unless CLUSTERDNS_REQUIRE_KUBECTL (.ci/run sets it where kubectl
/// is: no registry this project reaches ships a kubectl with kustomize 4+).
fn kustomize(dir: &str) -> Option<BTreeMap<String, String>> {
    let path = format!("{}/manifests/{dir}", env!("CARGO_MANIFEST_DIR"));
    let out = match Command::new("kubectl").args(["kustomize", &path]).output() {
        Ok(out) => out,
        Err(e) => {
            assert!(
                std::env::var_os("CLUSTERDNS_REQUIRE_KUBECTL").is_none(),
                "kubectl is needed: {e}"
            );
            eprintln!("skipping: no kubectl ({e})");
            return None;
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kubectl kustomize {dir}: {stderr}");
    // No deprecated field warnings: the overlays use today's kustomization syntax.
    assert!(!stderr.contains("eprecated"), "{stderr}");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let mut objects = BTreeMap::new();
    for doc in text.split("\n---\n") {
        let head: serde_json::Value = serde_saphyr::from_str(doc).expect("a YAML object");
        let key = format!(
            "{}/{}",
            head["kind"].as_str().expect("kind"),
            head["metadata"]["name"].as_str().expect("name")
        );
        assert!(
            objects.insert(key.clone(), doc.to_string()).is_none(),
            "{key} twice"
        );
    }
    Some(objects)
}

/// The base's objects, which every overlay keeps.
const BASE: [&str; 6] = [
    "ClusterRole/system:coredns",
    "ClusterRoleBinding/system:coredns",
    "ConfigMap/coredns",
    "Deployment/coredns",
    "Service/kube-dns",
    "ServiceAccount/coredns",
];

fn keys(objects: &BTreeMap<String, String>) -> Vec<&str> {
    objects.keys().map(String::as_str).collect()
}

#[test]
fn kustomize_renders_the_base_and_every_overlay() {
    let Some(base) = kustomize("base") else { return };
    assert_eq!(keys(&base), BASE);
    let deployment: Deployment = serde_saphyr::from_str(&base["Deployment/coredns"]).expect("deployment");
    let image = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod")
        .containers[0]
        .image
        .clone();

    // NodeLocal DNSCache: node-cache's objects beside the base, with our image.
    let Some(nodelocal) = kustomize("overlays/nodelocaldns") else {
        return;
    };
    let mut want: Vec<&str> = BASE.to_vec();
    want.extend([
        "ConfigMap/node-local-dns",
        "DaemonSet/node-local-dns",
        "Service/kube-dns-upstream",
        "Service/node-local-dns",
        "ServiceAccount/node-local-dns",
    ]);
    want.sort();
    assert_eq!(keys(&nodelocal), want);
    let ds: DaemonSet = serde_saphyr::from_str(&nodelocal["DaemonSet/node-local-dns"]).expect("daemonset");
    let pod = ds.spec.and_then(|s| s.template.spec).expect("pod");
    assert_eq!(
        (pod.host_network, pod.dns_policy.as_deref()),
        (Some(true), Some("Default"))
    );
    assert_eq!(pod.priority_class_name.as_deref(), Some("system-node-critical"));
    let c = &pod.containers[0];
    assert_eq!(c.image, image, "the same image in both roles");
    assert_eq!(
        c.args.as_deref().expect("args").join(" "),
        "-localip __PILLAR__LOCAL__DNS__,__PILLAR__DNS__SERVER__ -conf /etc/Corefile -upstreamsvc kube-dns-upstream -pidfile /tmp/node-cache.pid"
    );
    let caps = c
        .security_context
        .as_ref()
        .and_then(|s| s.capabilities.as_ref())
        .expect("capabilities");
    assert_eq!(caps.add.as_deref(), Some(&["NET_ADMIN".to_string()][..]));
    let upstream: Service = serde_saphyr::from_str(&nodelocal["Service/kube-dns-upstream"]).expect("service");
    let selector = upstream.spec.and_then(|s| s.selector).expect("selector");
    assert_eq!(selector.get("k8s-app").map(String::as_str), Some("kube-dns"));
    let metrics: Service = serde_saphyr::from_str(&nodelocal["Service/node-local-dns"]).expect("service");
    assert_eq!(metrics.spec.and_then(|s| s.cluster_ip).as_deref(), Some("None"));

    // The autoscaler: cluster-proportional-autoscaler aimed at the coredns Deployment.
    let Some(autoscaler) = kustomize("overlays/autoscaler") else {
        return;
    };
    let mut want: Vec<&str> = BASE.to_vec();
    want.extend([
        "ClusterRole/system:kube-dns-autoscaler",
        "ClusterRoleBinding/system:kube-dns-autoscaler",
        "ConfigMap/kube-dns-autoscaler",
        "Deployment/kube-dns-autoscaler",
        "ServiceAccount/kube-dns-autoscaler",
    ]);
    want.sort();
    assert_eq!(keys(&autoscaler), want);
    let cpa: Deployment =
        serde_saphyr::from_str(&autoscaler["Deployment/kube-dns-autoscaler"]).expect("deployment");
    let command = cpa.spec.and_then(|s| s.template.spec).expect("pod").containers[0]
        .command
        .clone()
        .expect("command");
    assert!(
        command.contains(&"--target=deployment/coredns".to_string()),
        "{command:?}"
    );
    assert!(
        command.contains(&"--configmap=kube-dns-autoscaler".to_string()),
        "{command:?}"
    );
    let params: ConfigMap = serde_saphyr::from_str(&autoscaler["ConfigMap/kube-dns-autoscaler"]).expect("cm");
    let linear: serde_json::Value =
        serde_json::from_str(&params.data.expect("data")["linear"]).expect("linear params are JSON");
    assert_eq!(linear["nodesPerReplica"], 16);
    assert_eq!(linear["preventSinglePointFailure"], true);
    let role: ClusterRole =
        serde_saphyr::from_str(&autoscaler["ClusterRole/system:kube-dns-autoscaler"]).expect("role");
    assert!(role.rules.expect("rules").iter().any(|r| {
        r.api_groups.iter().flatten().any(|g| g == "apps")
            && r.resources.iter().flatten().any(|x| x == "deployments/scale")
            && r.verbs.iter().any(|v| v == "update")
    }));

    // Availability: a disruption budget and spread constraints patched into the Deployment.
    let Some(ha) = kustomize("overlays/ha") else {
        return;
    };
    let mut want: Vec<&str> = BASE.to_vec();
    want.push("PodDisruptionBudget/coredns");
    want.sort();
    assert_eq!(keys(&ha), want);
    let pdb: PodDisruptionBudget = serde_saphyr::from_str(&ha["PodDisruptionBudget/coredns"]).expect("pdb");
    let spec = pdb.spec.expect("spec");
    assert!(spec.max_unavailable.is_some());
    let labels = spec.selector.and_then(|s| s.match_labels).expect("selector");
    assert_eq!(labels.get("k8s-app").map(String::as_str), Some("kube-dns"));
    let spread: Deployment = serde_saphyr::from_str(&ha["Deployment/coredns"]).expect("deployment");
    let pod = spread.spec.and_then(|s| s.template.spec).expect("pod");
    let keys: Vec<String> = pod
        .topology_spread_constraints
        .expect("spread")
        .into_iter()
        .map(|t| t.topology_key)
        .collect();
    assert_eq!(keys, ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]);
    // The patch keeps the rest of the base Deployment.
    assert_eq!(pod.containers[0].image, image);
    assert!(pod.affinity.is_some());
}
