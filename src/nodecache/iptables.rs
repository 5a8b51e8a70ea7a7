//! node-cache's iptables rules (cache_app.go `initIptables`): conntrack skipped and DNS traffic
//! accepted for each local IP, checked and inserted at the top through the `iptables` binary.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

const SKIP_CONNTRACK: &str = "NodeLocal DNS Cache: skip conntrack";
const ALLOW_TRAFFIC: &str = "NodeLocal DNS Cache: allow DNS traffic";

/// One rule: table, chain and the match arguments, as node-cache writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub table: &'static str,
    pub chain: &'static str,
    pub args: Vec<String>,
}

impl fmt::Display for Rule {
    /// Go's `%v` of node-cache's rule struct: `{raw PREROUTING [-p tcp ...]}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{} {} [{}]}}", self.table, self.chain, self.args.join(" "))
    }
}

/// One line of node-cache's rule table: table, chain, protocols, address side (`d` or `s`),
/// port, target, comment.
type RuleRow<'a> = (
    &'static str,
    &'static str,
    &'a [&'a str],
    &'a str,
    u16,
    &'a str,
    &'a str,
);

/// node-cache's 12 rules per local IP.
pub fn rules(local_ips: &[IpAddr], port: u16, health_port: u16) -> Vec<Rule> {
    let mut out = Vec::with_capacity(local_ips.len() * 12);
    for ip in local_ips {
        let ip = ip.to_string();
        let rule = |table, chain, proto: &str, dir: &str, port: u16, target: &str, comment: &str| {
            let (addr, port_flag) = match dir {
                "d" => ("-d", "--dport"),
                _ => ("-s", "--sport"),
            };
            Rule {
                table,
                chain,
                args: [
                    "-p",
                    proto,
                    addr,
                    &ip,
                    port_flag,
                    &port.to_string(),
                    "-j",
                    target,
                    "-m",
                    "comment",
                    "--comment",
                    comment,
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            }
        };
        // In node-cache's order.
        let dns = &["tcp", "udp"][..];
        let table: [RuleRow<'_>; 7] = [
            ("raw", "PREROUTING", dns, "d", port, "NOTRACK", SKIP_CONNTRACK),
            ("filter", "INPUT", dns, "d", port, "ACCEPT", ALLOW_TRAFFIC),
            ("raw", "OUTPUT", dns, "s", port, "NOTRACK", SKIP_CONNTRACK),
            ("filter", "OUTPUT", dns, "s", port, "ACCEPT", ALLOW_TRAFFIC),
            // Host-network clients' own queries.
            ("raw", "OUTPUT", dns, "d", port, "NOTRACK", SKIP_CONNTRACK),
            // The liveness probe to the health plugin, both ways.
            (
                "raw",
                "OUTPUT",
                &["tcp"],
                "d",
                health_port,
                "NOTRACK",
                SKIP_CONNTRACK,
            ),
            (
                "raw",
                "OUTPUT",
                &["tcp"],
                "s",
                health_port,
                "NOTRACK",
                SKIP_CONNTRACK,
            ),
        ];
        for (t, chain, protos, dir, port, target, comment) in table {
            for proto in protos {
                out.push(rule(t, chain, proto, dir, port, target, comment));
            }
        }
    }
    out
}

/// A failed iptables run; `locked` when another process held the xtables lock (node-cache's
/// `iptables_lock` error type).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct IptablesError {
    pub locked: bool,
    pub message: String,
}

/// How long one iptables run may take: `-w 5` bounds the lock wait; this bounds the rest.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// The `iptables` (IPv4) or `ip6tables` (IPv6) binary, run as Kubernetes' util/iptables runs
/// it: `iptables -w 5 -C CHAIN -t TABLE ARGS...`.
pub struct Iptables {
    binary: String,
}

impl Iptables {
    /// The binary for the host's rules. Where both the legacy and the nftables variants are
    /// installed (the image has both), the one holding more rules now (kube-proxy's, the
    /// kubelet's), as node-cache's image picks through Kubernetes' iptables-wrapper; nftables
    /// on a tie. Otherwise plain `iptables`.
    pub async fn for_host(ipv6: bool) -> Self {
        let family = if ipv6 { "ip6tables" } else { "iptables" };
        let count = |variant: &'static str| async move {
            let save = format!("{family}-{variant}-save");
            let run = tokio::process::Command::new(&save)
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .output();
            match tokio::time::timeout(RUN_TIMEOUT, run).await {
                Ok(Ok(out)) if out.status.success() => Some(
                    String::from_utf8_lossy(&out.stdout)
                        .lines()
                        .filter(|l| l.starts_with("-A"))
                        .count(),
                ),
                _ => None,
            }
        };
        let binary = match (count("legacy").await, count("nft").await) {
            (Some(legacy), Some(nft)) if legacy > nft => format!("{family}-legacy"),
            (Some(_), Some(_)) => format!("{family}-nft"),
            _ => family.to_string(),
        };
        Self { binary }
    }

    async fn run(&self, op: &str, rule: &Rule) -> Result<std::process::Output, IptablesError> {
        let mut cmd = tokio::process::Command::new(&self.binary);
        cmd.args(["-w", "5", op, rule.chain, "-t", rule.table])
            .args(&rule.args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        match tokio::time::timeout(RUN_TIMEOUT, cmd.output()).await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(e)) => Err(IptablesError {
                locked: false,
                message: format!("{}: {e}", self.binary),
            }),
            Err(_) => Err(IptablesError {
                locked: false,
                message: format!("{} {op} did not finish within {RUN_TIMEOUT:?}", self.binary),
            }),
        }
    }

    fn failure(&self, op: &str, out: &std::process::Output) -> IptablesError {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        IptablesError {
            locked: text.contains("holding the xtables lock"),
            message: format!("{} {op} failed ({}): {}", self.binary, out.status, text.trim()),
        }
    }

    /// Whether the rule is present (`-C` exits 1 when it is not).
    pub async fn exists(&self, rule: &Rule) -> Result<bool, IptablesError> {
        let out = self.run("-C", rule).await?;
        match out.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(self.failure("-C", &out)),
        }
    }

    /// Inserts the rule at the top of its chain unless present; true when it was present.
    pub async fn ensure(&self, rule: &Rule) -> Result<bool, IptablesError> {
        if self.exists(rule).await? {
            return Ok(true);
        }
        let out = self.run("-I", rule).await?;
        if !out.status.success() {
            return Err(self.failure("-I", &out));
        }
        Ok(false)
    }

    /// Deletes every copy of the rule (it may have been added more than once); the number of
    /// copies is bounded so a rule that will not go cannot loop for ever.
    pub async fn delete_all(&self, rule: &Rule) -> Result<(), IptablesError> {
        for _ in 0..64 {
            if !self.exists(rule).await? {
                return Ok(());
            }
            let out = self.run("-D", rule).await?;
            if !out.status.success() {
                return Err(self.failure("-D", &out));
            }
        }
        Err(IptablesError {
            locked: false,
            message: format!("rule {rule} still present after 64 deletions"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_rules_per_ip_as_node_cache_writes_them() {
        let ips: Vec<IpAddr> = vec![
            "169.254.20.10".parse().expect("ip"),
            "10.96.0.10".parse().expect("ip"),
        ];
        let rules = rules(&ips, 53, 8080);
        assert_eq!(rules.len(), 24);
        assert_eq!(
            rules[0].to_string(),
            "{raw PREROUTING [-p tcp -d 169.254.20.10 --dport 53 -j NOTRACK -m comment --comment NodeLocal DNS Cache: skip conntrack]}"
        );
        let summary: Vec<String> = rules[..12]
            .iter()
            .map(|r| {
                format!(
                    "{} {} {} {} {} {}",
                    r.table, r.chain, r.args[1], r.args[2], r.args[5], r.args[7]
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                "raw PREROUTING tcp -d 53 NOTRACK",
                "raw PREROUTING udp -d 53 NOTRACK",
                "filter INPUT tcp -d 53 ACCEPT",
                "filter INPUT udp -d 53 ACCEPT",
                "raw OUTPUT tcp -s 53 NOTRACK",
                "raw OUTPUT udp -s 53 NOTRACK",
                "filter OUTPUT tcp -s 53 ACCEPT",
                "filter OUTPUT udp -s 53 ACCEPT",
                "raw OUTPUT tcp -d 53 NOTRACK",
                "raw OUTPUT udp -d 53 NOTRACK",
                "raw OUTPUT tcp -d 8080 NOTRACK",
                "raw OUTPUT tcp -s 8080 NOTRACK",
            ]
        );
        assert_eq!(rules[2].args[11], ALLOW_TRAFFIC);
        assert_eq!(rules[12].args[3], "10.96.0.10");
    }
}
