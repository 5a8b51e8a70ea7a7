//! From parsed server blocks to a plan: each block's chain in directive order, the zones each
//! listener serves, the background services, lameduck and readiness.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use clusterdns_plugin::proto::rr::Name;
use clusterdns_plugin::{
    BlockInfo, Chain as Handlers, Handler, Readiness, Service, Setup, SetupError, SetupOutput, Timeouts,
};
use corefile::{ServerBlock, Transport, parse_key};

use crate::registry::DIRECTIVES;

/// One server block's handlers, in execution order.
pub struct Chain {
    /// The zone the query matched, for logs and metrics.
    pub zone: Arc<str>,
    pub handlers: Handlers,
}

/// The zones one listener serves, each with its block's chain.
#[derive(Default)]
pub struct ZoneTable {
    /// Keys come from the Corefile, so a fast unkeyed-quality hasher is safe here.
    zones: HashMap<String, Arc<Chain>, foldhash::fast::RandomState>,
    /// The longest zone's text: suffixes of a query name longer than this are not looked up.
    longest: usize,
    /// TCP timeouts: the first block's on this listener that set any (`timeouts`).
    pub timeouts: Timeouts,
    timeouts_set: bool,
}

impl ZoneTable {
    fn insert(&mut self, zone: String, chain: Arc<Chain>) {
        self.longest = self.longest.max(zone.len());
        self.zones.insert(zone, chain);
    }

    /// The chain for a query name: [`ZoneTable::find`] on its lower-case text, which a table
    /// holding only the root zone (kubeadm's `.:53`) does not need.
    pub fn find_name(&self, qname: &Name, parent_most: bool) -> Option<&Arc<Chain>> {
        if self.longest == 1 {
            return self.zones.get(".");
        }
        self.find(&clusterdns_plugin::lowercase_ascii(qname), parent_most)
    }

    /// The chain for `qname` (lower-case, fully qualified): the longest matching zone, or for DS
    /// queries the shortest, since DS records live in the parent (CoreDNS's server.go).
    pub fn find(&self, qname: &str, parent_most: bool) -> Option<&Arc<Chain>> {
        let mut found = None;
        let mut rest = qname;
        loop {
            if rest.len() <= self.longest
                && let Some(chain) = self.zones.get(rest)
            {
                if !parent_most {
                    return Some(chain);
                }
                found = Some(chain);
            }
            if rest == "." || rest.is_empty() {
                break;
            }
            // The next suffix (a byte search: str's char searcher costs more on names this short).
            rest = match rest.bytes().position(|b| b == b'.') {
                Some(dot) if dot + 1 < rest.len() => &rest[dot + 1..],
                _ => ".",
            };
        }
        found
    }
}

/// One socket address to listen on and what it serves.
pub struct ListenerPlan {
    /// DNS over UDP and TCP, over TLS (`tls://`), or over HTTPS (`https://`).
    pub transport: Transport,
    /// `None` listens on every interface.
    pub ip: Option<IpAddr>,
    pub port: u16,
    pub zones: ZoneTable,
    /// The `tls` directive's configuration of the listener's blocks (`tls://` and `https://`
    /// without one serve plain TCP and HTTP, as CoreDNS does).
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

impl ListenerPlan {
    /// The listener as CoreDNS labels it in metrics: `dns://:53`, `tls://127.0.0.1:853`.
    pub fn label(&self) -> String {
        let scheme = self.transport.scheme();
        match self.ip {
            None => format!("{scheme}://:{}", self.port),
            Some(ip) => format!("{scheme}://{}", std::net::SocketAddr::new(ip, self.port)),
        }
    }

    /// Every (zone, plugin name) this listener serves, for `coredns_plugin_enabled`.
    pub fn plugins(&self) -> impl Iterator<Item = (&str, &'static str)> {
        self.zones
            .zones
            .iter()
            .flat_map(|(zone, chain)| chain.handlers.iter().map(move |h| (zone.as_str(), h.name())))
    }
}

/// The readiness of every handler in the blocks that enabled `ready`.
pub struct ChainReadiness(Vec<Arc<dyn Handler>>);

impl Readiness for ChainReadiness {
    fn states(&self) -> Vec<(&'static str, bool)> {
        self.0
            .iter()
            .filter_map(|h| h.ready().map(|r| (h.name(), r)))
            .collect()
    }
}

/// What every directive's setup made, by server block and directive, with what it was made
/// from. A reload sets up again only what changed: a directive whose input is the same (its
/// tokens, not their lines, and its block's zones, port and binds) keeps its handlers and
/// services, and with them their state (kubernetes's watchers and index, forward's connections
/// and health, the cache). CoreDNS rebuilds everything, relisting the cluster on every edit.
#[derive(Default, Clone)]
pub struct Heritage(HashMap<(String, &'static str), Built>);

impl Heritage {
    /// The state the first setup of `directive` carried, if of type `T`.
    pub fn carried<T: std::any::Any + Send + Sync>(&self, directive: &str) -> Option<Arc<T>> {
        self.0
            .iter()
            .filter(|((_, d), _)| *d == directive)
            .find_map(|(_, built)| built.output.carried.clone()?.downcast::<T>().ok())
    }
}

#[derive(Clone)]
struct Built {
    input: String,
    /// The input as known before the block's setups run (`bind`'s tokens for its addresses):
    /// what a directive linked to this one compares.
    link_input: String,
    output: SetupOutput,
}

/// The input a setup's result depends on.
fn setup_input(info: &BlockInfo, tokens: &corefile::DirectiveTokens) -> String {
    let mut input = format!(
        "{:?}\0{}\0{:?}\0{}\0",
        info.zones, info.port, info.bind, info.file
    );
    for t in &tokens.tokens {
        input.push_str(&t.text);
        input.push(if t.quoted { '\u{1}' } else { '\0' });
    }
    input
}

/// A directive's input before any setup of its block ran: its own, with the `bind` tokens
/// standing for the addresses `bind` will set.
fn link_input(info: &BlockInfo, block: &ServerBlock, tokens: &corefile::DirectiveTokens) -> String {
    let mut input = setup_input(info, tokens);
    if let Some(bind) = block.directive("bind") {
        input.push_str(&setup_input(info, bind));
    }
    input
}

/// Links every setup of a block to what the directives it asked for offer, as CoreDNS's
/// `OnStartup` does (k8s_external: "kubernetes plugin not loaded").
fn link_block(made: &[(&'static str, SetupOutput)], errors: &mut Vec<String>) {
    for (name, out) in made {
        for link in &out.links {
            match made.iter().find(|(d, _)| *d == link.directive) {
                Some((_, offering)) if !link.fill(&offering.provides) => {
                    errors.push(format!(
                        "plugin/{name}: {} does not implement the {} interface",
                        link.directive, link.interface
                    ));
                }
                Some(_) => {}
                None if link.required => {
                    errors.push(format!("plugin/{name}: {} plugin not loaded", link.directive));
                }
                None => {}
            }
        }
    }
}

/// Everything needed to start serving a Corefile.
pub struct Plan {
    pub listeners: Vec<ListenerPlan>,
    pub services: Vec<Arc<dyn Service>>,
    pub lameduck: Duration,
    pub readiness: Arc<ChainReadiness>,
    /// `zone:port` for each served zone, as CoreDNS prints at start.
    pub served: Vec<String>,
    /// What the setups made, for the next reload.
    pub heritage: Heritage,
}

/// Sets up every directive of every block, reusing what `previous` made from the same input.
/// Returns every error found, not only the first, so `-validate` can report them all.
pub fn assemble(blocks: &[ServerBlock], default_port: u16, previous: &Heritage) -> Result<Plan, Vec<String>> {
    let mut errors = Vec::new();
    let mut listeners: Vec<ListenerPlan> = Vec::new();
    // Zone, port and listen address: unique, as CoreDNS's validateZonesAndListeningAddresses
    // checks (two `.:53` blocks binding different addresses are fine).
    let mut defined: std::collections::HashSet<(String, u16, Option<IpAddr>)> =
        std::collections::HashSet::new();
    let mut services: Vec<Arc<dyn Service>> = Vec::new();
    let mut lameduck = Duration::ZERO;
    let mut reporting: Vec<Arc<dyn Handler>> = Vec::new();
    let mut served = Vec::new();
    let mut heritage = Heritage::default();
    let mut identities = std::collections::HashSet::new();

    for block in blocks {
        // A block is known across reloads by its keys.
        let mut identity = block
            .keys
            .iter()
            .map(|k| k.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        while !identities.insert(identity.clone()) {
            identity.push('+');
        }
        let file = block
            .keys
            .first()
            .map_or_else(|| Arc::from("Corefile"), |k| k.file.clone());
        let mut keys = Vec::new();
        for token in &block.keys {
            let at = |msg: String| format!("{}:{} - Error during parsing: {msg}", token.file, token.line);
            match parse_key(&token.text) {
                Ok(k) if !matches!(k.transport, Transport::Dns | Transport::Tls | Transport::Https) => {
                    errors.push(at(format!(
                        "transport '{}://' is not supported by clusterdns yet (only dns://, tls:// and https://)",
                        k.transport.scheme()
                    )))
                }
                Ok(k) => keys.push((token, k)),
                Err(e) => errors.push(at(e)),
            }
        }
        // CoreDNS's default ports: the -dns.port flag's for DNS, 853 for TLS, 443 for HTTPS.
        let port_of = |k: &corefile::Key| {
            k.port.unwrap_or(match k.transport {
                Transport::Tls => 853,
                Transport::Https => 443,
                _ => default_port,
            })
        };
        let port = keys.first().map_or(default_port, |(_, k)| port_of(k));
        let mut info = BlockInfo {
            zones: keys.iter().flat_map(|(_, k)| k.zones.clone()).collect(),
            file,
            port,
            bind: Vec::new(),
            directives: DIRECTIVES
                .iter()
                .filter(|d| block.directive(d.name).is_some())
                .map(|d| d.name)
                .collect(),
        };

        let mut handlers = Vec::new();
        let mut bind = Vec::new();
        let mut reports_readiness = false;
        let mut timeouts = None;
        let mut tls = None;
        // Every directive's input before any is set up: a setup linked to another directive is
        // kept only if that one is kept too, and linked ones may come later in the order.
        let mut inputs: HashMap<&str, String> = HashMap::new();
        let mut made: Vec<(&'static str, SetupOutput)> = Vec::new();
        for directive in DIRECTIVES {
            let Some(tokens) = block.directive(directive.name) else {
                continue;
            };
            inputs.insert(directive.name, link_input(&info, block, tokens));
        }
        for directive in DIRECTIVES {
            let Some(tokens) = block.directive(directive.name) else {
                continue;
            };
            let Some(setup) = directive.setup else {
                let line = tokens.first().map_or(0, |t| t.line);
                errors.push(format!(
                    "plugin/{}: {}:{line} - Error during parsing: directive '{}' is not supported by clusterdns yet",
                    directive.name, info.file, directive.name
                ));
                continue;
            };
            let input = setup_input(&info, tokens);
            let before = previous.0.get(&(identity.clone(), directive.name));
            let kept = |built: &Built| {
                built.input == input
                    && built
                        .output
                        .observed
                        .iter()
                        .all(|(d, had)| block.directive(d).is_some() == *had)
                    && built.output.links.iter().all(|l| {
                        let was = previous
                            .0
                            .iter()
                            .find(|((id, d), _)| *id == identity && *d == l.directive);
                        was.map(|(_, b)| &b.link_input) == inputs.get(l.directive.as_str())
                    })
            };
            let out = match before {
                Some(built) if kept(built) => built.output.clone(),
                _ => {
                    let mut s = Setup::new(&info, tokens.dispenser()).replacing(before.map(|b| &b.output));
                    if let Err(e) = setup(&mut s) {
                        // CoreDNS prints some setup errors without a place; ours always name
                        // one: the directive's line, after CoreDNS's text.
                        let e = match e {
                            SetupError::Other(m) if !m.contains(" - Error during parsing: ") => {
                                let line = tokens.first().map_or(0, |t| t.line);
                                format!("{m} ({}:{line})", info.file)
                            }
                            e => e.to_string(),
                        };
                        errors.push(format!("plugin/{}: {e}", directive.name));
                        continue;
                    }
                    s.finish()
                }
            };
            heritage.0.insert(
                (identity.clone(), directive.name),
                Built {
                    input,
                    link_input: inputs.get(directive.name).cloned().unwrap_or_default(),
                    output: out.clone(),
                },
            );
            made.push((directive.name, out.clone()));
            handlers.extend(out.handlers);
            bind.extend(out.bind);
            info.bind.clone_from(&bind);
            lameduck = lameduck.max(out.lameduck.unwrap_or_default());
            reports_readiness |= out.reports_readiness;
            timeouts = timeouts.or(out.timeouts);
            tls = tls.or(out.tls);
            for service in out.services {
                if !services.iter().any(|s| s.key() == service.key()) {
                    services.push(service);
                }
            }
        }
        link_block(&made, &mut errors);
        if reports_readiness {
            reporting.extend(handlers.iter().cloned());
        }
        // One chain per block, shared by all its zones and listeners.
        let handlers: Handlers = handlers.into();

        let ips: Vec<Option<IpAddr>> = if bind.is_empty() {
            vec![None]
        } else {
            bind.into_iter().map(Some).collect()
        };
        for (token, key) in &keys {
            let port = port_of(key);
            let scheme = match key.transport {
                Transport::Dns => String::new(),
                t => format!("{}://", t.scheme()),
            };
            for zone in &key.zones {
                if !ips.iter().all(|ip| defined.insert((zone.clone(), port, *ip))) {
                    errors.push(format!(
                        "{}:{} - Error during parsing: cannot serve dns://{zone}:{port} - it is already defined",
                        token.file, token.line
                    ));
                    continue;
                }
                let shown = format!("{scheme}{zone}:{port}");
                if !served.contains(&shown) {
                    served.push(shown);
                }
                let chain = Arc::new(Chain {
                    zone: Arc::from(zone.as_str()),
                    handlers: handlers.clone(),
                });
                for ip in &ips {
                    let at = match listeners
                        .iter()
                        .position(|l| l.ip == *ip && l.port == port && l.transport == key.transport)
                    {
                        Some(at) => at,
                        None => {
                            listeners.push(ListenerPlan {
                                transport: key.transport,
                                ip: *ip,
                                port,
                                zones: ZoneTable::default(),
                                tls: None,
                            });
                            listeners.len() - 1
                        }
                    };
                    // DoH negotiates HTTP/2 or HTTP/1.1 (CoreDNS sets these NextProtos).
                    if listeners[at].tls.is_none()
                        && let Some(config) = &tls
                    {
                        listeners[at].tls = Some(match key.transport {
                            Transport::Https => {
                                let mut config = tokio_rustls::rustls::ServerConfig::clone(config);
                                config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
                                Arc::new(config)
                            }
                            _ => config.clone(),
                        });
                    }
                    let table = &mut listeners[at].zones;
                    table.insert(zone.clone(), chain.clone());
                    if let Some(t) = timeouts
                        && !table.timeouts_set
                    {
                        table.timeouts = t;
                        table.timeouts_set = true;
                    }
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Plan {
        listeners,
        services,
        lameduck,
        readiness: Arc::new(ChainReadiness(reporting)),
        served,
        heritage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(corefile: &str) -> Result<Plan, Vec<String>> {
        let blocks = corefile::parse("Corefile", corefile, &crate::registry::names()).expect("parses");
        assemble(&blocks, 53, &Heritage::default())
    }

    fn names(chain: &Chain) -> Vec<&'static str> {
        chain.handlers.iter().map(|h| h.name()).collect()
    }

    #[test]
    fn directive_order_does_not_depend_on_corefile_order() {
        let a = plan(". {\n whoami\n log\n errors\n}").expect("plan");
        let b = plan(". {\n errors\n whoami\n log\n}").expect("plan");
        let chain_a = a.listeners[0].zones.find(".", false).expect("zone");
        let chain_b = b.listeners[0].zones.find(".", false).expect("zone");
        assert_eq!(names(chain_a), ["errors", "log", "whoami"]);
        assert_eq!(names(chain_a), names(chain_b));
    }

    #[test]
    fn zones_ports_and_listeners() {
        let p =
            plan("example.org:1053 other.org {\n whoami\n}\n. {\n bind 127.0.0.1\n log\n}").expect("plan");
        assert_eq!(p.served, ["example.org.:1053", "other.org.:53", ".:53"]);
        let ports: Vec<(Option<IpAddr>, u16)> = p.listeners.iter().map(|l| (l.ip, l.port)).collect();
        assert_eq!(
            ports,
            [
                (None, 1053),
                (None, 53),
                (Some("127.0.0.1".parse().expect("ip")), 53)
            ]
        );
        let t = &p.listeners[1].zones;
        assert_eq!(
            t.find("a.other.org.", false).map(|c| c.zone.to_string()),
            Some("other.org.".into())
        );
        assert!(t.find("example.org.", false).is_none());
    }

    /// AKS LocalDNS: the same zone and port in blocks that bind different addresses, each
    /// address with its own chain; the same address twice is still an error.
    #[test]
    fn one_zone_on_several_bound_addresses() {
        let p =
            plan(".:53 {\n bind 169.254.10.10\n whoami\n}\n.:53 {\n bind 169.254.10.11\n log\n whoami\n}\n")
                .expect("plan");
        assert_eq!(p.served, [".:53"]);
        let chains: Vec<(Option<IpAddr>, Vec<&str>)> = p
            .listeners
            .iter()
            .map(|l| {
                (
                    l.ip,
                    l.zones.find(".", false).map(|c| names(c)).unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            chains,
            [
                (Some("169.254.10.10".parse().expect("ip")), vec!["whoami"]),
                (Some("169.254.10.11".parse().expect("ip")), vec!["log", "whoami"])
            ]
        );
        let errs = plan(".:53 {\n bind 169.254.10.10\n whoami\n}\n.:53 {\n bind 169.254.10.10\n whoami\n}\n")
            .err()
            .expect("errors");
        assert_eq!(
            errs,
            ["Corefile:5 - Error during parsing: cannot serve dns://.:53 - it is already defined"]
        );
    }

    #[test]
    fn longest_zone_and_ds_parent_most() {
        let p = plan("example.org sub.example.org . {\n whoami\n}").expect("plan");
        let t = &p.listeners[0].zones;
        let zone = |q: &str, ds: bool| t.find(q, ds).map(|c| c.zone.to_string());
        assert_eq!(
            zone("www.sub.example.org.", false),
            Some("sub.example.org.".into())
        );
        assert_eq!(zone("www.example.org.", false), Some("example.org.".into()));
        assert_eq!(zone("example.net.", false), Some(".".into()));
        assert_eq!(zone("sub.example.org.", true), Some(".".into()));
        // By name: matched without case.
        let name = |q: &str| Name::from_ascii(q).expect("name");
        let by_name = |q: &str| t.find_name(&name(q), false).map(|c| c.zone.to_string());
        assert_eq!(by_name("WWW.Sub.Example.ORG."), Some("sub.example.org.".into()));

        // A table holding only the root zone answers every name from it.
        let p = plan(".:53 {\n whoami\n}").expect("plan");
        let t = &p.listeners[0].zones;
        for q in ["Any.Name.example.", "."] {
            assert_eq!(
                t.find_name(&name(q), false).map(|c| c.zone.to_string()),
                Some(".".into()),
                "{q}"
            );
        }
    }

    /// The handler of `directive` in the block of zone `.`.
    fn handler_of(p: &Plan, directive: &str) -> Arc<dyn Handler> {
        let chain = p.listeners[0].zones.find(".", false).expect("zone");
        chain
            .handlers
            .iter()
            .find(|h| h.name() == directive)
            .cloned()
            .expect("handler")
    }

    #[test]
    fn reloads_set_up_again_only_what_changed() {
        let build = |text: &str, previous: &Heritage| {
            let blocks = corefile::parse("Corefile", text, &crate::registry::names()).expect("parses");
            assemble(&blocks, 53, previous).expect("plan")
        };
        let first = build(
            ". {\n cache 30\n hosts {\n  10.0.0.1 a.example\n }\n whoami\n}",
            &Heritage::default(),
        );
        // A line added before them moves cache and whoami down: still the same input.
        let second = build(
            ". {\n log\n cache 30\n hosts {\n  10.0.0.1 a.example\n  10.0.0.2 b.example\n }\n whoami\n}",
            &first.heritage,
        );
        let same = |a: &Plan, b: &Plan, d: &str| Arc::ptr_eq(&handler_of(a, d), &handler_of(b, d));
        assert!(same(&first, &second, "cache") && same(&first, &second, "whoami"));
        assert!(!same(&first, &second, "hosts"));
        // Changed arguments, or the same directive in another block: set up again.
        let third = build(
            ". {\n log\n cache 60\n hosts {\n  10.0.0.1 a.example\n  10.0.0.2 b.example\n }\n whoami\n}",
            &second.heritage,
        );
        assert!(!same(&second, &third, "cache") && same(&second, &third, "hosts"));
        let moved = build(".:1053 {\n cache 60\n whoami\n}", &third.heritage);
        assert!(!same(&third, &moved, "whoami"));
    }

    /// kubernetes keeps pod names and labels only for a block with `metadata`: adding or
    /// removing it sets kubernetes up again; other edits keep it.
    #[test]
    fn setups_asking_about_the_block_follow_its_directives() {
        let build = |text: &str, previous: &Heritage| {
            let blocks = corefile::parse("Corefile", text, &crate::registry::names()).expect("parses");
            assemble(&blocks, 53, previous).expect("plan")
        };
        let k8s = |extra: &str| {
            format!(
                ". {{\n {extra}\n kubernetes cluster.local {{\n  endpoint http://127.0.0.1:1\n  pods verified\n }}\n}}"
            )
        };
        let same =
            |a: &Plan, b: &Plan| Arc::ptr_eq(&handler_of(a, "kubernetes"), &handler_of(b, "kubernetes"));
        let first = build(&k8s("whoami"), &Heritage::default());
        let second = build(&k8s("log"), &first.heritage);
        assert!(same(&first, &second), "another directive: kept");
        let third = build(&k8s("log\n metadata"), &second.heritage);
        assert!(!same(&second, &third), "metadata added: set up again");
        let fourth = build(&k8s("metadata"), &third.heritage);
        assert!(same(&third, &fourth));
        let fifth = build(&k8s("whoami"), &fourth.heritage);
        assert!(!same(&fourth, &fifth), "metadata removed: set up again");
    }

    #[test]
    fn links_follow_what_they_link_to_across_reloads() {
        let build = |text: &str, previous: &Heritage| {
            let blocks = corefile::parse("Corefile", text, &crate::registry::names()).expect("parses");
            assemble(&blocks, 53, previous)
        };
        let k8s = |opts: &str| {
            format!(
                ". {{\n autopath @kubernetes\n k8s_external example.org\n hosts {{\n  10.0.0.1 a.example\n }}\n \
                 kubernetes cluster.local {{\n  endpoint http://127.0.0.1:1\n  {opts}\n }}\n}}"
            )
        };
        let first = build(&k8s("pods verified"), &Heritage::default()).expect("plan");
        let same = |a: &Plan, b: &Plan, d: &str| Arc::ptr_eq(&handler_of(a, d), &handler_of(b, d));
        // kubernetes unchanged: what links to it is kept with it.
        let second = build(
            &k8s("pods verified").replace("10.0.0.1", "10.0.0.2"),
            &first.heritage,
        )
        .expect("plan");
        for d in ["autopath", "k8s_external", "kubernetes"] {
            assert!(same(&first, &second, d), "{d}");
        }
        assert!(!same(&first, &second, "hosts"));
        // kubernetes changed: set up again, and so is everything linked to it.
        let third = build(&k8s("pods verified\n  ttl 30"), &second.heritage).expect("plan");
        for d in ["autopath", "k8s_external", "kubernetes"] {
            assert!(!same(&second, &third, d), "{d}");
        }
        // k8s_external needs kubernetes in its block; autopath without its plugin does nothing;
        // a plugin that offers no search path is an error.
        let errs = build(
            ". {\n autopath @kubernetes\n k8s_external example.org\n whoami\n}",
            &Heritage::default(),
        )
        .err()
        .expect("errors");
        assert_eq!(errs, ["plugin/k8s_external: kubernetes plugin not loaded"]);
        let errs = build(
            ". {\n autopath @forward\n forward . 127.0.0.1\n}",
            &Heritage::default(),
        )
        .err()
        .expect("errors");
        assert_eq!(
            errs,
            ["plugin/autopath: forward does not implement the AutoPather interface"]
        );
    }

    #[test]
    fn errors_are_all_reported_with_locations() {
        let errs = plan("a.org {\n whoami\n}\na.org {\n log\n}\n. {\n dnstap /tmp/dnstap.sock full\n health 80\n}\ngrpc://.:853 {\n whoami\n}")
            .err()
            .expect("errors");
        let want = [
            "Corefile:4 - Error during parsing: cannot serve dns://a.org.:53 - it is already defined",
            "plugin/dnstap: Corefile:8 - Error during parsing: directive 'dnstap' is not supported by clusterdns yet",
            "plugin/health: address 80: missing port in address (Corefile:9)",
            "Corefile:11 - Error during parsing: transport 'grpc://' is not supported by clusterdns yet (only dns://, tls:// and https://)",
        ];
        for w in want {
            assert!(errs.iter().any(|e| e == w), "missing {w:?} in {errs:#?}");
        }
    }
}
