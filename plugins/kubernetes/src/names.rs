//! Query names under a kubernetes zone: CoreDNS's `parseRequest`.

/// What a name asks for: `[_port._proto.|endpoint.]service.namespace.svc|pod`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordRequest {
    pub port: String,
    pub protocol: String,
    pub endpoint: String,
    pub service: String,
    pub namespace: String,
    /// `svc`, `pod`, or empty for the apex, `svc.<zone>` and `pod.<zone>`.
    pub pod_or_svc: String,
}

/// A name that cannot be a kubernetes record (a name error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid;

/// Parses `name` (lower case, fully qualified) under `zone` (lower case, fully qualified).
pub fn parse_request(name: &str, zone: &str) -> Result<RecordRequest, Invalid> {
    let mut r = RecordRequest::default();
    let base = name.strip_suffix(zone).unwrap_or("").trim_end_matches('.');
    if base.is_empty() || base == "svc" || base == "pod" {
        return Ok(r);
    }
    let segs: Vec<&str> = base.split('.').collect();
    let mut last = segs.len();
    let mut take = || {
        last = last.checked_sub(1)?;
        Some(segs[last].to_string())
    };
    r.pod_or_svc = take().unwrap_or_default();
    if r.pod_or_svc != "svc" && r.pod_or_svc != "pod" {
        return Err(Invalid);
    }
    let Some(namespace) = take() else { return Ok(r) };
    r.namespace = namespace;
    let Some(service) = take() else { return Ok(r) };
    r.service = service;
    match last {
        0 => {}
        // An endpoint label.
        1 => r.endpoint = segs[0].to_string(),
        // Port and protocol (`_http._tcp`; a bare `_` is an empty label, matching any).
        2 => {
            r.protocol = strip_underscore(segs[1]);
            r.port = strip_underscore(segs[0]);
        }
        _ => return Err(Invalid),
    }
    Ok(r)
}

fn strip_underscore(s: &str) -> String {
    s.strip_prefix('_').unwrap_or(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(
        port: &str,
        protocol: &str,
        endpoint: &str,
        service: &str,
        namespace: &str,
        kind: &str,
    ) -> RecordRequest {
        RecordRequest {
            port: port.into(),
            protocol: protocol.into(),
            endpoint: endpoint.into(),
            service: service.into(),
            namespace: namespace.into(),
            pod_or_svc: kind.into(),
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
            assert_eq!(parse_request(name, z), want, "{name}");
        }
    }
}
