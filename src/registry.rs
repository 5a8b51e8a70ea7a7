//! The directives clusterdns knows, in CoreDNS 1.11.3's `plugin.cfg` order: the order queries
//! run through a server block's plugins, whatever order the Corefile lists them in.

use clusterdns_plugin::{Setup, SetupError};

/// A directive's setup function.
pub type SetupFn = fn(&mut Setup<'_>) -> Result<(), SetupError>;

/// One directive: its name and, if clusterdns implements it, its setup.
pub struct Directive {
    pub name: &'static str,
    pub setup: Option<SetupFn>,
}

const fn known(name: &'static str) -> Directive {
    Directive { name, setup: None }
}

const fn implemented(name: &'static str, setup: SetupFn) -> Directive {
    Directive {
        name,
        setup: Some(setup),
    }
}

/// Every directive of CoreDNS 1.11.3, first runs first. Those without a setup parse (so a
/// Corefile naming them gets a clear "not supported" error rather than "Unknown directive").
pub const DIRECTIVES: &[Directive] = &[
    known("root"),
    implemented("metadata", plugin_metadata::setup),
    known("geoip"),
    implemented("cancel", plugin_cancel::setup),
    implemented("tls", plugin_tls::setup),
    implemented("timeouts", plugin_timeouts::setup),
    // New in CoreDNS 1.12, placed as its plugin.cfg places it.
    implemented("multisocket", plugin_multisocket::setup),
    implemented("reload", plugin_reload::setup),
    implemented("nsid", plugin_nsid::setup),
    implemented("bufsize", plugin_bufsize::setup),
    implemented("bind", plugin_bind::setup),
    implemented("debug", plugin_debug::setup),
    known("trace"),
    implemented("ready", plugin_ready::setup),
    implemented("health", plugin_health::setup),
    known("pprof"),
    implemented("prometheus", plugin_prometheus::setup),
    implemented("errors", plugin_errors::setup),
    implemented("log", plugin_log::setup),
    known("dnstap"),
    implemented("local", plugin_local::setup),
    implemented("dns64", plugin_dns64::setup),
    implemented("acl", plugin_acl::setup),
    implemented("any", plugin_any::setup),
    implemented("chaos", plugin_chaos::setup),
    implemented("loadbalance", plugin_loadbalance::setup),
    known("tsig"),
    implemented("cache", plugin_cache::setup),
    implemented("rewrite", plugin_rewrite::setup),
    implemented("header", plugin_header::setup),
    known("dnssec"),
    implemented("autopath", plugin_autopath::setup),
    implemented("minimal", plugin_minimal::setup),
    implemented("template", plugin_template::setup),
    implemented("transfer", plugin_transfer::setup),
    implemented("hosts", plugin_hosts::setup),
    known("route53"),
    known("azure"),
    known("clouddns"),
    implemented("k8s_external", plugin_k8s_external::setup),
    implemented("kubernetes", plugin_kubernetes::setup),
    implemented("file", plugin_file::setup),
    known("auto"),
    implemented("secondary", plugin_secondary::setup),
    known("etcd"),
    implemented("loop", plugin_loop::setup),
    implemented("forward", plugin_forward::setup),
    known("grpc"),
    implemented("erratic", plugin_erratic::setup),
    implemented("whoami", plugin_whoami::setup),
    known("on"),
    known("sign"),
    known("view"),
];

/// Names of every known directive, for the parser.
pub fn names() -> Vec<&'static str> {
    DIRECTIVES.iter().map(|d| d.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CoreDNS 1.11.3's plugin.cfg (reference/coredns-1.11.3-observed.md): cache before rewrite.
    const COREDNS_1_11_3: &str = "root, metadata, geoip, cancel, tls, timeouts, reload, nsid, bufsize, bind, \
        debug, trace, ready, health, pprof, prometheus, errors, log, dnstap, local, dns64, acl, any, chaos, \
        loadbalance, tsig, cache, rewrite, header, dnssec, autopath, minimal, template, transfer, hosts, \
        route53, azure, clouddns, k8s_external, kubernetes, file, auto, secondary, etcd, loop, forward, grpc, \
        erratic, whoami, on, sign, view";

    /// Directives of later CoreDNS versions, each right after the one it follows there.
    const NEWER: &[(&str, &str)] = &[("multisocket", "timeouts")];

    #[test]
    fn order_is_coredns_1_11_3() {
        let want: Vec<&str> = COREDNS_1_11_3.split(", ").map(str::trim).collect();
        let all = names();
        let old: Vec<&str> = all
            .iter()
            .copied()
            .filter(|n| !NEWER.iter().any(|(newer, _)| newer == n))
            .collect();
        assert_eq!(old, want);
        for (newer, after) in NEWER {
            let at = all.iter().position(|n| n == newer).expect("listed");
            assert_eq!(all[at - 1], *after, "{newer}");
        }
    }
}
