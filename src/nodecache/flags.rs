//! node-cache's own command-line flags (kubernetes/dns cmd/node-cache main.go), accepted beside
//! CoreDNS's, and their validation into [`Params`].

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clusterdns_plugin::parse_duration;

/// node-cache's flags as given, with its defaults. The role starts when `-localip` is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flags {
    pub localip: Option<String>,
    pub setup_interface: bool,
    pub interface_name: String,
    /// `-syncinterval` as written (a Go duration).
    pub sync_interval: String,
    pub metrics_listen_address: String,
    pub setup_iptables: bool,
    pub base_corefile: PathBuf,
    pub kubedns_cm: Option<PathBuf>,
    pub upstream_svc: String,
    pub health_port: String,
    pub skip_teardown: bool,
    pub reload_with_signal: bool,
}

impl Default for Flags {
    fn default() -> Self {
        Self {
            localip: None,
            setup_interface: true,
            interface_name: "nodelocaldns".into(),
            // Go's default is the Duration 60 (nanoseconds), read as seconds: see `Params`.
            sync_interval: "60ns".into(),
            metrics_listen_address: "0.0.0.0:9353".into(),
            setup_iptables: true,
            base_corefile: "/etc/coredns/Corefile.base".into(),
            kubedns_cm: None,
            upstream_svc: "kube-dns".into(),
            health_port: "8080".into(),
            skip_teardown: false,
            reload_with_signal: false,
        }
    }
}

impl Flags {
    /// Sets `name` from its value: `value` yields the next argument (or the `=` part),
    /// `boolean` reads a boolean flag's optional inline value. False when `name` is not one of
    /// node-cache's flags.
    pub fn set(
        &mut self,
        name: &str,
        value: &mut dyn FnMut(&str) -> Result<String, String>,
        boolean: &dyn Fn(&str) -> Result<bool, String>,
    ) -> Result<bool, String> {
        match name {
            "localip" => self.localip = Some(value(name)?),
            "setupinterface" => self.setup_interface = boolean(name)?,
            "interfacename" => self.interface_name = value(name)?,
            "syncinterval" => {
                let v = value(name)?;
                // Go's flag package parses it at once: a bad duration is a usage error.
                parse_duration(&v)
                    .map_err(|e| format!("invalid value \"{v}\" for flag -{name}: parse error: {e}"))?;
                self.sync_interval = v;
            }
            "metrics-listen-address" => self.metrics_listen_address = value(name)?,
            "setupiptables" => self.setup_iptables = boolean(name)?,
            "basecorefile" => self.base_corefile = value(name)?.into(),
            // Dead in node-cache: always replaced by CoreDNS's -conf.
            "corefile" => {
                value(name)?;
            }
            "kubednscm" => {
                let v = value(name)?;
                self.kubedns_cm = (!v.is_empty()).then(|| v.into());
            }
            "upstreamsvc" => self.upstream_svc = value(name)?,
            "health-port" => self.health_port = value(name)?,
            "skipteardown" => self.skip_teardown = boolean(name)?,
            "reloadwithsignal" => self.reload_with_signal = boolean(name)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// The longest sync interval taken: node-cache multiplies the Go duration by a second, so
/// `-syncinterval 1s` means 10⁹ s there; a day is as good as never, and keeps timers in range.
const MAX_SYNC_INTERVAL: Duration = Duration::from_secs(86_400);

/// node-cache's configuration, validated as its `parseAndValidateFlags`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// `-localip` as written (the Corefile and the rules use the text).
    pub local_ip_text: String,
    pub local_ips: Vec<IpAddr>,
    /// The DNS port (`-dns.port`), as text for the rules and stub blocks.
    pub port: u16,
    pub health_port: u16,
    pub setup_interface: bool,
    pub interface_name: String,
    pub sync_interval: Duration,
    pub metrics_listen_address: String,
    pub setup_iptables: bool,
    pub base_corefile: PathBuf,
    /// The generated Corefile: CoreDNS's `-conf`.
    pub corefile: PathBuf,
    pub kubedns_cm: Option<PathBuf>,
    pub upstream_svc: String,
    pub pidfile: Option<PathBuf>,
    pub skip_teardown: bool,
    pub reload_with_signal: bool,
}

impl Params {
    /// Validates node-cache's flags; `None` when `-localip` was not given (not node-cache's
    /// role). The error reads as node-cache's (`invalid localip specified - "..."`).
    pub fn from_flags(
        flags: &Flags,
        port: u16,
        conf: Option<&PathBuf>,
        pidfile: Option<&PathBuf>,
    ) -> Option<Result<Self, String>> {
        let text = flags.localip.as_ref()?;
        Some(Self::validate(flags, text, port, conf, pidfile))
    }

    fn validate(
        flags: &Flags,
        text: &str,
        port: u16,
        conf: Option<&PathBuf>,
        pidfile: Option<&PathBuf>,
    ) -> Result<Self, String> {
        let mut local_ips = Vec::new();
        for part in text.split(',') {
            let ip: IpAddr = part
                .parse()
                .map_err(|_| format!("invalid localip specified - {part:?}"))?;
            local_ips.push(ip);
        }
        if let Some(first) = local_ips.first()
            && let Some(other) = local_ips.iter().find(|ip| ip.is_ipv6() != first.is_ipv6())
        {
            return Err(format!(
                "unexpected IP Family for localIP - \"{other}\", want IPv6={}",
                first.is_ipv6()
            ));
        }
        let health_port = flags
            .health_port
            .parse()
            .map_err(|_| format!("invalid healthcheck port specified - {:?}", flags.health_port))?;
        // node-cache multiplies the parsed Duration by time.Second: "60ns" (the default) is
        // 60 s. Zero would make Go's ticker panic.
        let nanos = parse_duration(&flags.sync_interval)?.as_nanos();
        if nanos == 0 {
            return Err(format!(
                "invalid sync interval {:?}: must be positive",
                flags.sync_interval
            ));
        }
        let sync_interval =
            Duration::from_secs(u64::try_from(nanos).unwrap_or(u64::MAX)).min(MAX_SYNC_INTERVAL);
        // CoreDNS's -conf defaults to "", which node-cache then writes to and fails on.
        let corefile = conf.cloned().ok_or_else(|| {
            "no -conf given: node-cache needs the path of the Corefile it generates".to_string()
        })?;
        Ok(Self {
            local_ip_text: text.to_string(),
            local_ips,
            port,
            health_port,
            setup_interface: flags.setup_interface,
            interface_name: flags.interface_name.clone(),
            sync_interval,
            metrics_listen_address: flags.metrics_listen_address.clone(),
            setup_iptables: flags.setup_iptables,
            base_corefile: flags.base_corefile.clone(),
            corefile,
            kubedns_cm: flags.kubedns_cm.clone(),
            upstream_svc: flags.upstream_svc.clone(),
            pidfile: pidfile.cloned(),
            skip_teardown: flags.skip_teardown,
            reload_with_signal: flags.reload_with_signal,
        })
    }

    /// The local IPs as the Corefile's `bind` takes them: space-separated.
    pub fn local_ips_spaced(&self) -> String {
        self.local_ip_text.replace(',', " ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(localip: &str, sync: &str) -> Result<Params, String> {
        let flags = Flags {
            localip: Some(localip.into()),
            sync_interval: sync.into(),
            ..Flags::default()
        };
        Params::from_flags(&flags, 53, Some(&"/etc/Corefile".into()), None).expect("role")
    }

    #[test]
    fn local_ips_are_validated_as_node_cache_does() {
        let p = params("169.254.20.10,10.96.0.10", "60ns").expect("valid");
        assert_eq!(p.local_ips.len(), 2);
        assert_eq!(p.local_ips_spaced(), "169.254.20.10 10.96.0.10");
        assert_eq!(p.sync_interval, Duration::from_secs(60));
        // The IPVS-mode slip of the docs: a trailing comma leaves an empty element.
        assert_eq!(
            params("169.254.20.10,", "60ns"),
            Err("invalid localip specified - \"\"".into())
        );
        assert_eq!(params("", "60ns"), Err("invalid localip specified - \"\"".into()));
        assert_eq!(
            params("169.254.20.10,fd00::10", "60ns"),
            Err("unexpected IP Family for localIP - \"fd00::10\", want IPv6=false".into())
        );
        assert!(params("fd00::10,fd00::53", "60ns").is_ok());
    }

    #[test]
    fn sync_interval_reads_nanoseconds_as_seconds() {
        assert_eq!(
            params("10.0.0.1", "30ns").expect("ok").sync_interval,
            Duration::from_secs(30)
        );
        assert_eq!(
            params("10.0.0.1", "1s").expect("ok").sync_interval,
            MAX_SYNC_INTERVAL
        );
        assert!(params("10.0.0.1", "0").is_err());
    }

    #[test]
    fn role_needs_localip_and_conf() {
        let flags = Flags::default();
        assert!(Params::from_flags(&flags, 53, None, None).is_none());
        let flags = Flags {
            localip: Some("10.0.0.1".into()),
            ..Flags::default()
        };
        assert!(Params::from_flags(&flags, 53, None, None).expect("role").is_err());
        let flags = Flags {
            localip: Some("10.0.0.1".into()),
            health_port: "http".into(),
            ..Flags::default()
        };
        assert_eq!(
            Params::from_flags(&flags, 53, Some(&"/c".into()), None).expect("role"),
            Err("invalid healthcheck port specified - \"http\"".into())
        );
    }
}
