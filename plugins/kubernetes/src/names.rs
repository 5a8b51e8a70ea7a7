//! Query names under a kubernetes zone: CoreDNS's `parseRequest`.

/// What a name asks for: `[_port._proto.|endpoint.]service.namespace.svc|pod`, as slices of the
/// name (parsed for every query, so nothing is copied).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordRequest<'a> {
    pub port: &'a str,
    pub protocol: &'a str,
    pub endpoint: &'a str,
    pub service: &'a str,
    pub namespace: &'a str,
    /// `svc`, `pod`, or empty for the apex, `svc.<zone>` and `pod.<zone>`.
    pub pod_or_svc: &'a str,
}

/// A name that cannot be a kubernetes record (a name error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid;

/// Parses `name` (lower case, fully qualified) under `zone` (lower case, fully qualified).
pub fn parse_request<'a>(name: &'a str, zone: &str) -> Result<RecordRequest<'a>, Invalid> {
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
    match (labels.next(), labels.next(), labels.next()) {
        (None, _, _) => {}
        // An endpoint label.
        (Some(endpoint), None, _) => r.endpoint = endpoint,
        // Port and protocol (`_http._tcp`; a bare `_` is an empty label, matching any).
        (Some(protocol), Some(port), None) => {
            r.protocol = strip_underscore(protocol);
            r.port = strip_underscore(port);
        }
        _ => return Err(Invalid),
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
            assert_eq!(parse_request(name, z), want, "{name}");
        }
    }
}
