//! Command-line flags with Go's `flag` rules, so CoreDNS's args (`-conf FILE`, `-dns.port=53`)
//! work unchanged; `--name` spellings work too.

use std::path::PathBuf;

use clusterdns::nodecache;

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cli {
    pub conf: Option<PathBuf>,
    pub port: Option<u16>,
    pub pidfile: Option<PathBuf>,
    pub plugins: bool,
    pub quiet: bool,
    pub version: bool,
    pub validate: bool,
    /// node-cache's flags (its role starts with `-localip`).
    pub node_cache: nodecache::Flags,
}

/// Usage text, as Go's flag package prints it.
pub const USAGE: &str = "Usage of clusterdns:
  -basecorefile string
    \tnode-cache: path to the template Corefile (default \"/etc/coredns/Corefile.base\")
  -conf string
    \tCorefile to load (default \"Corefile\"); node-cache writes the generated one there
  -corefile string
    \tnode-cache: unused, replaced by -conf (default \"/etc/Corefile\")
  -dns.port string
    \tDefault port (default \"53\"); -p is an alias
  -health-port string
    \tnode-cache: port used by health plugin (default \"8080\")
  -interfacename string
    \tnode-cache: name of the interface to be created (default \"nodelocaldns\")
  -kubednscm string
    \tnode-cache: path where the kube-dns configmap will be mounted (default /etc/kube-dns if it exists)
  -localip string
    \tnode-cache: comma-separated string of ip addresses to bind dnscache to; starts node-cache's role
  -metrics-listen-address string
    \tnode-cache: address to serve metrics on (default \"0.0.0.0:9353\")
  -pidfile string
    \tFile path to write pid file
  -plugins
    \tList installed plugins
  -quiet
    \tQuiet mode (no initialization output)
  -reloadwithsignal
    \tnode-cache: reload at once when the Corefile is rewritten, rather than by the reload plugin
  -setupinterface
    \tnode-cache: indicates whether network interface should be setup (default true)
  -setupiptables
    \tnode-cache: indicates whether iptables rules should be setup (default true)
  -skipteardown
    \tnode-cache: leave the iptables rules and the interface at exit
  -syncinterval duration
    \tnode-cache: interval (in seconds, written as nanoseconds: 60ns is 60 s) to check iptables rules and the interface (default 60ns)
  -upstreamsvc string
    \tnode-cache: Service name whose cluster IP is upstream for node-cache for the cluster domain (default \"kube-dns\")
  -validate
    \tParse the Corefile and set up every plugin without binding sockets; print every error
  -version
    \tShow version";

/// Parses the arguments after the program name. The error is Go's text.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Cli, String> {
    let mut cli = Cli::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--" || !arg.starts_with('-') || arg == "-" {
            break;
        }
        let flag = arg.trim_start_matches('-');
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag, None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("flag needs an argument: -{name}"))
        };
        // Go's booleans take a value only after `=`.
        let boolean = |name: &str| match inline.as_deref() {
            None | Some("true" | "1" | "t" | "T" | "TRUE" | "True") => Ok(true),
            Some("false" | "0" | "f" | "F" | "FALSE" | "False") => Ok(false),
            Some(other) => Err(format!(
                "invalid boolean value \"{other}\" for -{name}: parse error"
            )),
        };
        match name {
            "conf" => cli.conf = Some(value(name)?.into()),
            "dns.port" | "p" => {
                let v = value(name)?;
                cli.port = Some(
                    v.parse()
                        .map_err(|_| format!("invalid port \"{v}\" for -{name}"))?,
                );
            }
            "pidfile" => cli.pidfile = Some(value(name)?.into()),
            "plugins" => cli.plugins = boolean(name)?,
            "quiet" => cli.quiet = boolean(name)?,
            "version" => cli.version = boolean(name)?,
            "validate" => cli.validate = boolean(name)?,
            other => {
                if !cli.node_cache.set(other, &mut value, &boolean)? {
                    return Err(format!("flag provided but not defined: -{other}"));
                }
            }
        }
    }
    Ok(cli)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Result<Cli, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn go_flag_spellings() {
        let want = Cli {
            conf: Some("/etc/coredns/Corefile".into()),
            port: Some(1053),
            ..Cli::default()
        };
        assert_eq!(
            cli(&["-conf", "/etc/coredns/Corefile", "-dns.port", "1053"]),
            Ok(want.clone())
        );
        assert_eq!(
            cli(&["--conf=/etc/coredns/Corefile", "--dns.port=1053"]),
            Ok(want.clone())
        );
        assert_eq!(cli(&["-conf", "/etc/coredns/Corefile", "-p", "1053"]), Ok(want));
        let flags = cli(&[
            "-quiet",
            "-plugins",
            "--version",
            "-validate=true",
            "-pidfile",
            "/run/x.pid",
        ])
        .expect("flags");
        assert!(flags.quiet && flags.plugins && flags.version && flags.validate);
        assert_eq!(flags.pidfile, Some("/run/x.pid".into()));
        assert!(!cli(&["-quiet=false"]).expect("flags").quiet);
    }

    #[test]
    fn errors_read_as_go() {
        assert_eq!(
            cli(&["-proxy"]),
            Err("flag provided but not defined: -proxy".into())
        );
        assert_eq!(cli(&["-conf"]), Err("flag needs an argument: -conf".into()));
        assert_eq!(cli(&["-p", "x"]), Err("invalid port \"x\" for -p".into()));
        assert!(cli(&["-quiet=maybe"]).is_err());
        assert_eq!(
            cli(&["-syncinterval", "30"]),
            Err("invalid value \"30\" for flag -syncinterval: parse error: time: missing unit in duration \"30\"".into())
        );
    }

    #[test]
    fn node_cache_flags_beside_coredns_ones() {
        // The nodelocaldns.yaml DaemonSet's args.
        let flags = cli(&[
            "-localip",
            "169.254.20.10,10.96.0.10",
            "-conf",
            "/etc/Corefile",
            "-upstreamsvc",
            "kube-dns-upstream",
            "-pidfile",
            "/tmp/node-cache.pid",
            "-skipteardown=true",
            "--setupiptables=false",
            "-syncinterval=5ns",
            "-health-port",
            "9090",
            "-corefile",
            "/ignored",
        ])
        .expect("flags");
        assert_eq!(flags.conf, Some("/etc/Corefile".into()));
        let nc = &flags.node_cache;
        assert_eq!(nc.localip.as_deref(), Some("169.254.20.10,10.96.0.10"));
        assert_eq!(nc.upstream_svc, "kube-dns-upstream");
        assert!(nc.skip_teardown && !nc.setup_iptables && nc.setup_interface);
        assert_eq!(
            (nc.sync_interval.as_str(), nc.health_port.as_str()),
            ("5ns", "9090")
        );
        assert_eq!(cli(&[]).expect("none").node_cache, nodecache::Flags::default());
        // A boolean's value only after `=`: a separate `false` ends the flags, as in Go.
        assert!(
            cli(&["-skipteardown", "false", "-localip", "x"])
                .expect("flags")
                .node_cache
                .localip
                .is_none()
        );
    }
}
