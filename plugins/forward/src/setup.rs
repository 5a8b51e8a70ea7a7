//! `forward FROM TO... { ... }`, each line its own handler, with CoreDNS's options, defaults
//! and error texts.

use std::sync::Arc;
use std::time::Duration;

use clusterdns_plugin::proto::op::ResponseCode;
use clusterdns_plugin::proto::rr::Name;
use clusterdns_plugin::response::rcode_from_str;
use clusterdns_plugin::{Dispenser, Setup, SetupError, Zones, parse_duration};

use crate::forward::Forward;
use crate::resolve::HostResolution;
use crate::tls::{Clients, Tls};
use crate::upstream::{Destination, UpstreamTransport, parse_destinations};

/// CoreDNS allows at most this many upstreams per line.
const MAX_UPSTREAMS: usize = 15;

/// How DNS-over-HTTPS queries are sent (`doh_method`, CoreDNS 1.14.4): POST by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DohMethod {
    Get,
    Post,
}

/// Upstream selection order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Random,
    RoundRobin,
    Sequential,
}

/// Per-query and health-check options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub force_tcp: bool,
    pub prefer_udp: bool,
    /// Consecutive failed health checks before an upstream is down; 0: never down, no checks.
    pub max_fails: u32,
    pub health_check: Duration,
    pub health_check_rd: bool,
    pub health_check_domain: Name,
    /// Idle upstream connections are closed after this long.
    pub expire: Duration,
    /// How long to wait for an upstream's answer.
    pub read_timeout: Duration,
    /// Upstream connect attempts per query: `None` is two per upstream (1.14.7's default), 0
    /// no cap (`max_connect_attempts`, 1.13.2).
    pub max_connect_attempts: Option<u32>,
    /// With every upstream down, SERVFAIL at once rather than trying a random one (1.12.1).
    pub failfast_all_unhealthy: bool,
    /// Reply rcodes on which the next upstream is tried (`failover`, 1.13.2).
    pub failover: Vec<ResponseCode>,
    /// Pooled connections older than this are not reused, however busy (`max_age`, 1.14.3);
    /// zero: no limit.
    pub max_age: Duration,
    /// Idle connections kept per upstream and transport (`max_idle_conns`; 0: the bound).
    pub max_idle_conns: usize,
    /// The address upstream queries and health checks are sent from (`source_address`, 1.14.5).
    pub source_address: Option<std::net::IpAddr>,
    pub doh_method: DohMethod,
}

/// One `forward` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub from: Name,
    /// The destinations, in Corefile order; host names are resolved when the server starts.
    pub to: Vec<Destination>,
    pub except: Zones,
    pub policy: Policy,
    pub max_concurrent: usize,
    /// Upstream rcodes on which the next plugin (another forward) is asked instead.
    pub next: Vec<ResponseCode>,
    /// NOERROR without answers goes to the next forward too (`next_on_nodata`, 1.14.4).
    pub next_on_nodata: bool,
    /// The servers host-name destinations are resolved with (`resolver`, 1.14.6); none: the
    /// system's.
    pub resolver: Vec<std::net::SocketAddr>,
    pub tls: Vec<String>,
    pub tls_servername: Option<String>,
    pub options: Options,
}

/// Sets up every `forward` line of the block, each a handler of its own, in Corefile order.
pub fn setup(s: &mut Setup<'_>) -> Result<(), SetupError> {
    for config in parse(s.dispenser())? {
        // TLS clients are made only for lines with tls:// or https:// upstreams (they read files).
        let uses = |https: bool| {
            config.to.iter().any(|d| {
                let t = match d {
                    Destination::Addr(u) => &u.transport,
                    Destination::Host(h) => &h.transport,
                };
                match t {
                    UpstreamTransport::Tls { .. } => !https,
                    UpstreamTransport::Https { .. } => https,
                    UpstreamTransport::Dns => false,
                }
            })
        };
        let client = |alpn: &[&[u8]]| {
            Tls::new(&config.tls, config.tls_servername.clone(), alpn).map_err(SetupError::Other)
        };
        let clients = Clients {
            dot: uses(false).then(|| client(&[b"dot"])).transpose()?,
            // Go's HTTP client offers HTTP/2 and HTTP/1.1.
            doh: uses(true).then(|| client(&[b"h2", b"http/1.1"])).transpose()?,
        };
        let hosts = config.to.iter().any(|d| matches!(d, Destination::Host(_)));
        let forward = Arc::new(Forward::new(config, clients));
        if hosts {
            s.add_service(Arc::new(HostResolution::new(forward.clone())));
        }
        s.add_handler(forward);
    }
    Ok(())
}

/// Parses every `forward` line of a block.
pub fn parse(d: &mut Dispenser) -> Result<Vec<Config>, SetupError> {
    let mut configs = Vec::new();
    while d.next() {
        configs.push(parse_stanza(d)?);
    }
    Ok(configs)
}

fn parse_stanza(d: &mut Dispenser) -> Result<Config, SetupError> {
    if !d.next_arg() {
        return Err(d.arg_err().into());
    }
    let from_arg = d.val().to_string();
    let from = corefile::parse_key(&from_arg)
        .map_err(|e| d.err(e))?
        .zones
        .into_iter()
        .next();
    let from = from.ok_or_else(|| SetupError::Other(format!("unable to normalize '{from_arg}'")))?;
    let from = Name::from_ascii(&from).map_err(|e| d.err(e.to_string()))?;
    let to = d.remaining_args();
    if to.is_empty() {
        return Err(d.arg_err().into());
    }
    let to = parse_destinations(&to).map_err(SetupError::Other)?;
    check_count(to.len()).map_err(SetupError::Other)?;
    let mut config = Config {
        from,
        to,
        except: Zones::default(),
        policy: Policy::Random,
        max_concurrent: 0,
        next: Vec::new(),
        next_on_nodata: false,
        resolver: Vec::new(),
        tls: Vec::new(),
        tls_servername: None,
        options: Options {
            force_tcp: false,
            prefer_udp: false,
            max_fails: 2,
            health_check: Duration::from_millis(500),
            health_check_rd: true,
            health_check_domain: Name::root(),
            expire: Duration::from_secs(10),
            read_timeout: Duration::from_secs(2),
            max_connect_attempts: None,
            failfast_all_unhealthy: false,
            failover: Vec::new(),
            max_age: Duration::ZERO,
            max_idle_conns: 0,
            source_address: None,
            doh_method: DohMethod::Post,
        },
    };
    let mut except = Vec::new();
    while d.next_block() {
        parse_option(d, &mut config, &mut except)?;
    }
    config.except = Zones::parse(&except).map_err(SetupError::Other)?;
    Ok(config)
}

fn parse_option(d: &mut Dispenser, c: &mut Config, except: &mut Vec<String>) -> Result<(), SetupError> {
    let one_arg = |d: &mut Dispenser| -> Result<String, SetupError> {
        if !d.next_arg() {
            return Err(d.arg_err().into());
        }
        Ok(d.val().to_string())
    };
    let no_arg = |d: &mut Dispenser| -> Result<(), SetupError> {
        if d.next_arg() {
            return Err(d.arg_err().into());
        }
        Ok(())
    };
    match d.val() {
        "except" => {
            let names = d.remaining_args();
            if names.is_empty() {
                return Err(d.arg_err().into());
            }
            for n in names {
                except.extend(corefile::parse_key(&n).map_err(|e| d.err(e))?.zones);
            }
        }
        "max_fails" => {
            let v = one_arg(d)?;
            c.options.max_fails = v.parse().map_err(|_| {
                SetupError::Other(format!("strconv.ParseUint: parsing {v:?}: invalid syntax"))
            })?;
        }
        "health_check" => {
            let v = one_arg(d)?;
            c.options.health_check = parse_duration(&v).map_err(SetupError::Other)?;
            c.options.health_check_domain = Name::root();
            while d.next_arg() {
                match d.val() {
                    "no_rec" => c.options.health_check_rd = false,
                    "domain" => {
                        let domain = one_arg(d)?;
                        let name =
                            Name::from_ascii(clusterdns_plugin::normalize_zone(&domain)).map_err(|_| {
                                SetupError::Other(format!("health_check: invalid domain name {domain}"))
                            })?;
                        c.options.health_check_domain = name;
                    }
                    other => return Err(SetupError::Other(format!("health_check: unknown option {other}"))),
                }
            }
        }
        "force_tcp" => {
            no_arg(d)?;
            c.options.force_tcp = true;
        }
        "prefer_udp" => {
            no_arg(d)?;
            c.options.prefer_udp = true;
        }
        "tls" => {
            let args = d.remaining_args();
            if args.len() > 3 {
                return Err(d.arg_err().into());
            }
            c.tls = args;
        }
        "tls_servername" => c.tls_servername = Some(one_arg(d)?),
        "expire" => {
            let v = one_arg(d)?;
            c.options.expire = parse_duration(&v).map_err(SetupError::Other)?;
        }
        "policy" => {
            let v = one_arg(d)?;
            c.policy = match v.as_str() {
                "random" => Policy::Random,
                "round_robin" => Policy::RoundRobin,
                "sequential" => Policy::Sequential,
                other => return Err(d.err(format!("unknown policy '{other}'")).into()),
            };
        }
        "max_concurrent" => {
            let v = one_arg(d)?;
            let n: i64 = v
                .parse()
                .map_err(|_| SetupError::Other(format!("strconv.Atoi: parsing {v:?}: invalid syntax")))?;
            if n < 0 {
                return Err(SetupError::Other(format!(
                    "max_concurrent can't be negative: {n}"
                )));
            }
            c.max_concurrent = usize::try_from(n).unwrap_or(usize::MAX);
        }
        "max_connect_attempts" => {
            let v = one_arg(d)?;
            let n: u32 = v.parse().map_err(|_| {
                SetupError::Other(format!("strconv.ParseUint: parsing {v:?}: invalid syntax"))
            })?;
            c.options.max_connect_attempts = Some(n);
        }
        "failfast_all_unhealthy_upstreams" => {
            if !d.remaining_args().is_empty() {
                return Err(d.arg_err().into());
            }
            c.options.failfast_all_unhealthy = true;
        }
        "failover" => {
            let codes = rcodes(d)?;
            if codes.contains(&ResponseCode::NoError) {
                return Err(SetupError::Other("NoError cannot be used in failover".into()));
            }
            c.options.failover = codes;
        }
        "read_timeout" => {
            let v = one_arg(d)?;
            if v.starts_with('-') || parse_duration(&v).is_ok_and(|t| t.is_zero()) {
                return Err(SetupError::Other(format!("read_timeout must be positive: {v}")));
            }
            c.options.read_timeout = parse_duration(&v).map_err(SetupError::Other)?;
        }
        "max_idle_conns" => {
            let v = one_arg(d)?;
            let n = clusterdns_plugin::atoi(&v).map_err(SetupError::Other)?;
            if n < 0 {
                return Err(SetupError::Other(format!(
                    "max_idle_conns can't be negative: {n}"
                )));
            }
            c.options.max_idle_conns = usize::try_from(n).unwrap_or(usize::MAX);
        }
        "source_address" => {
            let v = one_arg(d)?;
            let ip = v.parse().map_err(|_| d.err(format!("invalid IP address: {v}")))?;
            c.options.source_address = Some(ip);
        }
        "max_age" => {
            let v = one_arg(d)?;
            if v.starts_with('-') {
                return Err(SetupError::Other(format!("max_age can't be negative: {v}")));
            }
            c.options.max_age = parse_duration(&v).map_err(SetupError::Other)?;
        }
        "next" => c.next = rcodes(d)?,
        "next_on_nodata" => {
            no_arg(d)?;
            c.next_on_nodata = true;
        }
        "doh_method" => {
            c.options.doh_method = match one_arg(d)?.as_str() {
                "GET" => DohMethod::Get,
                "POST" => DohMethod::Post,
                _ => return Err(SetupError::Other("doh_method must be either POST or GET".into())),
            };
        }
        "resolver" => {
            let args = d.remaining_args();
            if args.is_empty() {
                return Err(d.arg_err().into());
            }
            for a in args {
                let addr = a
                    .parse::<std::net::IpAddr>()
                    .map(|ip| std::net::SocketAddr::new(ip, 53))
                    .or_else(|_| a.parse::<std::net::SocketAddr>())
                    .map_err(|_| {
                        SetupError::Other(format!("resolver must be an IP address or IP:port: {a:?}"))
                    })?;
                c.resolver.push(addr);
            }
        }
        other => return Err(d.err(format!("unknown property '{other}'")).into()),
    }
    Ok(())
}

/// CoreDNS's limit on upstreams per line, also checked once host names are resolved.
pub(crate) fn check_count(n: usize) -> Result<(), String> {
    if n > MAX_UPSTREAMS {
        return Err(format!("more than {MAX_UPSTREAMS} TOs configured: {n}"));
    }
    Ok(())
}

/// The rcode names of `next` and `failover` (miekg's names, any case; numbers are not names).
fn rcodes(d: &mut Dispenser) -> Result<Vec<ResponseCode>, SetupError> {
    let names = d.remaining_args();
    if names.is_empty() {
        return Err(d.arg_err().into());
    }
    names
        .iter()
        .map(|rc| {
            rcode_from_str(rc)
                .filter(|_| rc.parse::<u16>().is_err())
                .ok_or_else(|| SetupError::Other(format!("{rc} is not a valid rcode")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(input: &str) -> Vec<Config> {
        parse(&mut Dispenser::from_text(input)).expect(input)
    }

    #[test]
    fn defaults_and_options() {
        let c = &parsed("forward . 127.0.0.1:5300")[0];
        assert_eq!(c.from, Name::root());
        assert_eq!((c.policy, c.max_concurrent), (Policy::Random, 0));
        assert_eq!(c.options.max_fails, 2);
        assert_eq!(c.options.health_check, Duration::from_millis(500));
        assert_eq!(c.options.expire, Duration::from_secs(10));
        assert!(c.options.health_check_rd && !c.options.force_tcp && !c.options.prefer_udp);

        let c = &parsed(
            "forward example.org 10.0.0.1 10.0.0.2:5353 {\n except a.example.org b.example.org\n force_tcp\n max_fails 3\n \
             health_check 1s no_rec domain probe.example.org\n expire 30s\n policy sequential\n max_concurrent 1000\n next NXDOMAIN SERVFAIL\n}",
        )[0];
        assert_eq!(c.from.to_string(), "example.org.");
        assert_eq!(c.to.len(), 2);
        assert!(
            c.except
                .matches(&Name::from_ascii("x.a.example.org.").expect("n"))
                .is_some()
        );
        assert!(c.options.force_tcp && !c.options.health_check_rd);
        assert_eq!(c.options.max_fails, 3);
        assert_eq!(c.options.health_check_domain.to_string(), "probe.example.org.");
        assert_eq!((c.policy, c.max_concurrent), (Policy::Sequential, 1000));
        assert_eq!(c.next, vec![ResponseCode::NXDomain, ResponseCode::ServFail]);
        // Several forward lines are several handlers, in order.
        assert_eq!(
            parsed("forward example.org 10.0.0.1\nforward . 10.0.0.2").len(),
            2
        );
    }

    /// Options of CoreDNS 1.12 to 1.14.
    #[test]
    fn newer_options() {
        let c = &parsed(
            "forward . 10.0.0.1 10.0.0.2 {\n failfast_all_unhealthy_upstreams\n failover SERVFAIL refused\n max_connect_attempts 3\n max_age 30s\n}",
        )[0];
        assert!(c.options.failfast_all_unhealthy);
        assert_eq!(
            c.options.failover,
            [ResponseCode::ServFail, ResponseCode::Refused]
        );
        assert_eq!(c.options.max_connect_attempts, Some(3));
        assert_eq!(c.options.max_age, Duration::from_secs(30));
        assert_eq!(parsed("forward . 10.0.0.1")[0].options.max_connect_attempts, None);
        let c = &parsed(
            "forward . 10.0.0.1 {\n read_timeout 5s\n max_idle_conns 16\n source_address 10.0.0.9\n}",
        )[0];
        assert_eq!(c.options.read_timeout, Duration::from_secs(5));
        assert_eq!(c.options.max_idle_conns, 16);
        assert_eq!(c.options.source_address, Some("10.0.0.9".parse().expect("ip")));
        let err = |input: &str| {
            parse(&mut Dispenser::from_text(input))
                .expect_err(input)
                .to_string()
        };
        assert_eq!(
            err("forward . 10.0.0.1 {\n failover NOERROR\n}"),
            "NoError cannot be used in failover"
        );
        assert_eq!(
            err("forward . 10.0.0.1 {\n failover BOGUS\n}"),
            "BOGUS is not a valid rcode"
        );
        assert!(err("forward . 10.0.0.1 {\n failover\n}").contains("Wrong argument count"));
        assert!(
            err("forward . 10.0.0.1 {\n failfast_all_unhealthy_upstreams yes\n}")
                .contains("Wrong argument count")
        );
        assert!(err("forward . 10.0.0.1 {\n max_connect_attempts -1\n}").contains("invalid syntax"));
        assert_eq!(
            err("forward . 10.0.0.1 {\n max_age -1s\n}"),
            "max_age can't be negative: -1s"
        );
        assert_eq!(
            err("forward . 10.0.0.1 {\n read_timeout 0s\n}"),
            "read_timeout must be positive: 0s"
        );
        assert_eq!(
            err("forward . 10.0.0.1 {\n max_idle_conns -1\n}"),
            "max_idle_conns can't be negative: -1"
        );
        assert!(err("forward . 10.0.0.1 {\n source_address nope\n}").contains("invalid IP address: nope"));
        // 1.14.4-1.14.6: DoH method, NODATA to the next forward, resolvers for host names.
        let c = &parsed(
            "forward . https://1.1.1.1 dns.example {\n doh_method GET\n next_on_nodata\n resolver 10.0.0.53 [fd00::53]:5353\n}",
        )[0];
        assert_eq!(c.options.doh_method, DohMethod::Get);
        assert!(c.next_on_nodata);
        assert_eq!(
            c.resolver,
            [
                "10.0.0.53:53".parse().expect("a"),
                "[fd00::53]:5353".parse().expect("a")
            ]
        );
        assert_eq!(parsed("forward . 1.1.1.1")[0].options.doh_method, DohMethod::Post);
        assert_eq!(
            err("forward . 10.0.0.1 {\n doh_method PUT\n}"),
            "doh_method must be either POST or GET"
        );
        assert_eq!(
            err("forward . 10.0.0.1 {\n resolver dns.example\n}"),
            "resolver must be an IP address or IP:port: \"dns.example\""
        );
        assert!(err("forward . 10.0.0.1 {\n next_on_nodata yes\n}").contains("Wrong argument count"));
    }

    #[test]
    fn errors_table() {
        let sixteen = (1..=16)
            .map(|i| format!("10.0.0.{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        let too_many = format!("forward . {sixteen}");
        testkit::assert_parse_errors(
            parse,
            &[
                (
                    "forward",
                    "Corefile:1 - Error during parsing: Wrong argument count or unexpected line ending after 'forward'",
                ),
                (
                    "forward .",
                    "Wrong argument count or unexpected line ending after '.'",
                ),
                (
                    "forward . a..b",
                    "not an IP address, file, or valid domain: \"a..b\"",
                ),
                (&too_many, "more than 15 TOs configured: 16"),
                ("forward . 1.1.1.1 {\n except\n}", "Wrong argument count"),
                (
                    "forward . 1.1.1.1 {\n max_fails x\n}",
                    "strconv.ParseUint: parsing \"x\": invalid syntax",
                ),
                ("forward . 1.1.1.1 {\n health_check\n}", "Wrong argument count"),
                (
                    "forward . 1.1.1.1 {\n health_check 1s sometimes\n}",
                    "health_check: unknown option sometimes",
                ),
                ("forward . 1.1.1.1 {\n force_tcp yes\n}", "Wrong argument count"),
                (
                    "forward . 1.1.1.1 {\n policy fastest\n}",
                    "Corefile:2 - Error during parsing: unknown policy 'fastest'",
                ),
                (
                    "forward . 1.1.1.1 {\n max_concurrent -1\n}",
                    "max_concurrent can't be negative: -1",
                ),
                ("forward . 1.1.1.1 {\n next OOPS\n}", "OOPS is not a valid rcode"),
                ("forward . 1.1.1.1 {\n tls a b c d\n}", "Wrong argument count"),
                (
                    "forward . 1.1.1.1 {\n prefer_tcp\n}",
                    "Corefile:2 - Error during parsing: unknown property 'prefer_tcp'",
                ),
            ],
        );
    }
}
