//! The Corefile node-cache generates from its template: the `__PILLAR__*__` placeholders
//! filled and a block per stub domain appended, as kubernetes/dns configmap.go `updateCorefile`.

use super::kubedns::KubeDnsConfig;

const UPSTREAM_SERVERS: &str = "__PILLAR__UPSTREAM__SERVERS__";
const CLUSTER_DNS: &str = "__PILLAR__CLUSTER__DNS__";
const LOCAL_DNS: &str = "__PILLAR__LOCAL__DNS__";
const DNS_SERVER: &str = "__PILLAR__DNS__SERVER__";

/// The template's upstream block forwarding over TCP, byte for byte: with custom upstream
/// servers node-cache swaps exactly this text for a plain (UDP) `forward`.
const UPSTREAM_TCP_BLOCK: &str =
    "\n    forward . __PILLAR__UPSTREAM__SERVERS__ {\n            force_tcp\n    }\n";

/// What fills the placeholders besides the kube-dns ConfigMap.
pub struct Inputs<'a> {
    /// The upstream Service's ClusterIP, or `<nil>` when its variable is unset (Go prints a nil
    /// IP so; the Corefile is then refused by forward, as with node-cache).
    pub cluster_dns: &'a str,
    /// `-localip` with spaces for commas.
    pub local_ips: &'a str,
    pub port: u16,
}

/// A generated Corefile and what its log line names.
#[derive(Debug, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    /// The upstream servers put in (`/etc/resolv.conf` without custom ones).
    pub upstream: String,
    /// The warning node-cache logs when the TCP block was not found.
    pub warning: Option<&'static str>,
}

/// Fills `template` as node-cache does.
pub fn render(template: &str, config: &KubeDnsConfig, inputs: &Inputs<'_>) -> Rendered {
    let mut text = template.to_string();
    let mut warning = None;
    let upstream = config.upstream_nameservers.join(" ");
    let upstream = if upstream.is_empty() {
        // The node's resolv.conf (dnsPolicy: Default), over TCP where the template says.
        let upstream = "/etc/resolv.conf".to_string();
        text = text.replace(UPSTREAM_SERVERS, &upstream);
        upstream
    } else {
        // Custom upstreams are asked over UDP.
        let udp = format!("\n    forward . {upstream}\n");
        text = text.replace(UPSTREAM_TCP_BLOCK, &udp);
        if text.contains(UPSTREAM_SERVERS) {
            warning = Some("Did not find TCP upstream block to replace, assuming upstreams already use UDP.");
            text = text.replace(UPSTREAM_SERVERS, &upstream);
        }
        upstream
    };
    text = text.replace(CLUSTER_DNS, inputs.cluster_dns);
    text = text.replace(LOCAL_DNS, inputs.local_ips);
    text = text.replace(DNS_SERVER, "");
    for (domain, servers) in &config.stub_domains {
        text.push_str(&format!(
            "\n{domain}:{port} {{\n    errors\n    cache 30\n    bind {local}\n    forward . {servers}\n}}\n",
            port = inputs.port,
            local = inputs.local_ips,
            servers = servers.join(" "),
        ));
    }
    Rendered {
        text,
        upstream,
        warning,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nodelocaldns.yaml ConfigMap after the install-time sed (iptables mode).
    const TEMPLATE: &str = "cluster.local:53 {
    errors
    cache {
            success 9984 30
            denial 9984 5
    }
    reload
    loop
    bind 169.254.20.10 10.96.0.10
    forward . __PILLAR__CLUSTER__DNS__ {
            force_tcp
    }
    prometheus :9253
    health 169.254.20.10:8080
    }
.:53 {
    errors
    cache 30
    reload
    loop
    bind 169.254.20.10 10.96.0.10
    forward . __PILLAR__UPSTREAM__SERVERS__
    prometheus :9253
    }
";

    fn inputs() -> Inputs<'static> {
        Inputs {
            cluster_dns: "10.96.0.11",
            local_ips: "169.254.20.10 10.96.0.10",
            port: 53,
        }
    }

    #[test]
    fn placeholders_filled_from_the_environment_and_resolv_conf() {
        let r = render(TEMPLATE, &KubeDnsConfig::default(), &inputs());
        assert!(r.text.contains("forward . 10.96.0.11 {\n            force_tcp"));
        assert!(r.text.contains("forward . /etc/resolv.conf\n"));
        assert!(!r.text.contains("__PILLAR__"));
        assert_eq!(r.upstream, "/etc/resolv.conf");
        assert_eq!(r.warning, None);
    }

    #[test]
    fn custom_upstreams_replace_the_tcp_block_with_udp() {
        let template = ". {\n    bind __PILLAR__LOCAL__DNS__ __PILLAR__DNS__SERVER__\n    forward . __PILLAR__UPSTREAM__SERVERS__ {\n            force_tcp\n    }\n}\n";
        let config = KubeDnsConfig {
            upstream_nameservers: vec!["1.1.1.1".into(), "8.8.8.8:53".into()],
            ..KubeDnsConfig::default()
        };
        let r = render(template, &config, &inputs());
        assert_eq!(
            r.text,
            ". {\n    bind 169.254.20.10 10.96.0.10 \n    forward . 1.1.1.1 8.8.8.8:53\n}\n"
        );
        assert_eq!(r.warning, None);
        let r = render(TEMPLATE, &config, &inputs());
        assert!(r.text.contains("forward . 1.1.1.1 8.8.8.8:53\n"));
        assert_eq!(
            r.warning,
            Some("Did not find TCP upstream block to replace, assuming upstreams already use UDP.")
        );
    }

    #[test]
    fn stub_domains_become_blocks_after_the_template() {
        let config = KubeDnsConfig {
            stub_domains: [
                (
                    "acme.local".to_string(),
                    vec!["1.2.3.4".to_string(), "5.6.7.8:5353".to_string()],
                ),
                ("a.example".to_string(), vec!["9.9.9.9".to_string()]),
            ]
            .into_iter()
            .collect(),
            ..KubeDnsConfig::default()
        };
        let r = render(
            "",
            &config,
            &Inputs {
                port: 1053,
                ..inputs()
            },
        );
        assert_eq!(
            r.text,
            "\na.example:1053 {\n    errors\n    cache 30\n    bind 169.254.20.10 10.96.0.10\n    forward . 9.9.9.9\n}\n\
             \nacme.local:1053 {\n    errors\n    cache 30\n    bind 169.254.20.10 10.96.0.10\n    forward . 1.2.3.4 5.6.7.8:5353\n}\n"
        );
    }

    #[test]
    fn an_unknown_upstream_service_leaves_go_nil_text() {
        let r = render(
            TEMPLATE,
            &KubeDnsConfig::default(),
            &Inputs {
                cluster_dns: "<nil>",
                ..inputs()
            },
        );
        assert!(r.text.contains("forward . <nil> {"));
    }
}
