//! Query names under a kubernetes zone: CoreDNS's `parseRequest`, with the multicluster
//! (1.12.2) and zonal (1.14.7) forms.

/// What a name asks for: `[_port._proto.|endpoint.[cluster.]]service.namespace.svc|pod`, or
/// `topozone.pin|prefer._zone.service.namespace.svc`, as slices of the name (parsed for every
/// query, so nothing is copied).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordRequest<'a> {
    pub port: &'a str,
    pub protocol: &'a str,
    pub endpoint: &'a str,
    /// The cluster id of `endpoint.cluster.service...` in a multicluster zone.
    pub cluster: &'a str,
    pub service: &'a str,
    pub namespace: &'a str,
    /// `svc`, `pod`, or empty for the apex, `svc.<zone>` and `pod.<zone>`.
    pub pod_or_svc: &'a str,
    /// The topology zone of a zone-scoped name (`zonal`): every label left of the directive.
    pub topology: Option<Topology<'a>>,
}

/// A zone-scoped name's selector: `<zone>.pin._zone...` or `<zone>.prefer._zone...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topology<'a> {
    pub zone: &'a str,
    /// `prefer`: all endpoints when none is in the zone; `pin`: NODATA then.
    pub prefer: bool,
}

/// Which forms a zone's names may take.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grammar {
    /// A multicluster zone: two labels left of the service are endpoint and cluster id.
    pub multicluster: bool,
    /// The `zonal` option: `topozone.pin|prefer._zone.service...` (not in multicluster zones).
    pub zonal: bool,
}

/// A name that cannot be a kubernetes record (a name error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid;

/// Parses `name` (lower case, fully qualified) under `zone` (lower case, fully qualified).
pub fn parse_request<'a>(name: &'a str, zone: &str, grammar: Grammar) -> Result<RecordRequest<'a>, Invalid> {
    let mut r = RecordRequest::default();
    let base = name.strip_suffix(zone).unwrap_or("").trim_end_matches('.');
    if base.is_empty() || base == "svc" || base == "pod" {
        return Ok(r);
    }
    // From the right: kind, namespace, service, then at most two more labels.
    let mut labels = LabelsFromRight(Some(base));
    r.pod_or_svc = labels.next().unwrap_or_default();
    if r.pod_or_svc != "svc" && r.pod_or_svc != "pod" {
        return Err(Invalid);
    }
    let Some(namespace) = labels.next() else {
        return Ok(r);
    };
    r.namespace = namespace;
    let Some(service) = labels.next() else {
        return Ok(r);
    };
    r.service = service;
    match (labels.next(), labels.next()) {
        (None, _) => {}
        // An endpoint label.
        (Some(endpoint), None) => r.endpoint = endpoint,
        (Some(second), Some(first)) => match labels.0 {
            // Endpoint and cluster id in a multicluster zone, unless either looks like a port.
            None if grammar.multicluster && !second.starts_with('_') && !first.starts_with('_') => {
                r.cluster = second;
                r.endpoint = first;
            }
            // Port and protocol (`_http._tcp`; a bare `_` is an empty label, matching any).
            None => {
                r.protocol = strip_underscore(second);
                r.port = strip_underscore(first);
            }
            // Longer: only a zone-scoped name (the zone may hold dots), else too long.
            Some(zone) => {
                if !grammar.zonal || grammar.multicluster || second != "_zone" || r.pod_or_svc != "svc" {
                    return Err(Invalid);
                }
                let prefer = match first {
                    "pin" => false,
                    "prefer" => true,
                    _ => return Err(Invalid),
                };
                r.topology = Some(Topology { zone, prefer });
            }
        },
    }
    Ok(r)
}

/// The labels of a name from the right: `str::rsplit('.')` without its searcher, whose set-up
/// cost more than the scan for labels this short (every query is split).
struct LabelsFromRight<'a>(Option<&'a str>);

impl<'a> Iterator for LabelsFromRight<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.0?;
        match rest.bytes().rposition(|b| b == b'.') {
            Some(dot) => {
                self.0 = Some(&rest[..dot]);
                Some(&rest[dot + 1..])
            }
            None => {
                self.0 = None;
                Some(rest)
            }
        }
    }
}

fn strip_underscore(s: &str) -> &str {
    s.strip_prefix('_').unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r<'a>(
        port: &'a str,
        protocol: &'a str,
        endpoint: &'a str,
        service: &'a str,
        namespace: &'a str,
        pod_or_svc: &'a str,
    ) -> RecordRequest<'a> {
        RecordRequest {
            port,
            protocol,
            endpoint,
            service,
            namespace,
            pod_or_svc,
            ..RecordRequest::default()
        }
    }

    #[test]
    fn labels_from_right_split_as_rsplit() {
        for text in ["a.b.c", "", "a", ".a", "a.", "a..b", "web-0.web.default.svc"] {
            let ours: Vec<&str> = LabelsFromRight(Some(text)).collect();
            let std: Vec<&str> = text.rsplit('.').collect();
            assert_eq!(ours, std, "{text}");
        }
    }

    #[test]
    fn parse_table() {
        let z = "cluster.local.";
        let cases = [
            ("cluster.local.", Ok(RecordRequest::default())),
            ("svc.cluster.local.", Ok(RecordRequest::default())),
            ("pod.cluster.local.", Ok(RecordRequest::default())),
            (
                "default.svc.cluster.local.",
                Ok(r("", "", "", "", "default", "svc")),
            ),
            (
                "web.default.svc.cluster.local.",
                Ok(r("", "", "", "web", "default", "svc")),
            ),
            (
                "web-0.web.default.svc.cluster.local.",
                Ok(r("", "", "web-0", "web", "default", "svc")),
            ),
            (
                "_http._tcp.web.default.svc.cluster.local.",
                Ok(r("http", "tcp", "", "web", "default", "svc")),
            ),
            (
                "_._tcp.web.default.svc.cluster.local.",
                Ok(r("", "tcp", "", "web", "default", "svc")),
            ),
            (
                "10-244-1-20.default.pod.cluster.local.",
                Ok(r("", "", "", "10-244-1-20", "default", "pod")),
            ),
            (
                "x.10-244-1-20.default.pod.cluster.local.",
                Ok(r("", "", "x", "10-244-1-20", "default", "pod")),
            ),
            ("foo.cluster.local.", Err(Invalid)),
            ("a.b.c.web.default.svc.cluster.local.", Err(Invalid)),
        ];
        for (name, want) in cases {
            assert_eq!(parse_request(name, z, Grammar::default()), want, "{name}");
            // The zonal grammar changes nothing for these names.
            let zonal = Grammar {
                zonal: true,
                ..Grammar::default()
            };
            assert_eq!(parse_request(name, z, zonal), want, "zonal {name}");
        }
    }

    #[test]
    fn multicluster_names_take_a_cluster_id() {
        let z = "clusterset.local.";
        let mc = Grammar {
            multicluster: true,
            zonal: true,
        };
        let got = parse_request("web-0.east.web.default.svc.clusterset.local.", z, mc);
        assert_eq!(
            got,
            Ok(RecordRequest {
                cluster: "east",
                ..r("", "", "web-0", "web", "default", "svc")
            })
        );
        // Port and protocol stay port and protocol when either has its underscore.
        for name in [
            "_http._tcp.web.default.svc.clusterset.local.",
            "http._tcp.web.default.svc.clusterset.local.",
        ] {
            let got = parse_request(name, z, mc).expect(name);
            assert_eq!(
                (got.port, got.protocol, got.cluster),
                ("http", "tcp", ""),
                "{name}"
            );
        }
        // Outside a multicluster zone the same shape is port and protocol (1.11.3).
        let got = parse_request(
            "web-0.east.web.default.svc.cluster.local.",
            "cluster.local.",
            Grammar::default(),
        );
        assert_eq!(
            (got.clone().map(|g| g.port), got.map(|g| g.protocol)),
            (Ok("web-0"), Ok("east"))
        );
        // No zonal names in multicluster zones.
        assert_eq!(
            parse_request("a.pin._zone.web.default.svc.clusterset.local.", z, mc),
            Err(Invalid)
        );
    }

    #[test]
    fn zonal_names_with_dotted_zones() {
        let zonal = Grammar {
            zonal: true,
            ..Grammar::default()
        };
        fn topo(name: &str, g: Grammar) -> Result<(&str, Option<Topology<'_>>), Invalid> {
            parse_request(name, "cluster.local.", g).map(|r| (r.service, r.topology))
        }
        assert_eq!(
            topo("us-west-2a.pin._zone.db.prod.svc.cluster.local.", zonal),
            Ok((
                "db",
                Some(Topology {
                    zone: "us-west-2a",
                    prefer: false
                })
            ))
        );
        assert_eq!(
            topo("corp.example.com.prefer._zone.db.prod.svc.cluster.local.", zonal),
            Ok((
                "db",
                Some(Topology {
                    zone: "corp.example.com",
                    prefer: true
                })
            ))
        );
        for bad in [
            // Unknown directive, missing anchor, pod names, and the option off.
            "a.nearest._zone.db.prod.svc.cluster.local.",
            "a.pin.zone.db.prod.svc.cluster.local.",
            "a.pin._zone.1-2-3-4.prod.pod.cluster.local.",
        ] {
            assert_eq!(topo(bad, zonal), Err(Invalid), "{bad}");
        }
        assert_eq!(
            topo("a.pin._zone.db.prod.svc.cluster.local.", Grammar::default()),
            Err(Invalid)
        );
    }
}
