//! End to end: template answers from Go templates, AKS's NXDOMAIN rules with fallthrough,
//! CNAME targets resolved through the server, extended DNS errors.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::EdnsCode;
use testkit::{FakeUpstream, Server, free_port, http_get, local, query, records, rr, udp};

const BIN: &str = env!("CARGO_BIN_EXE_clusterdns");

#[test]
fn templates_as_coredns_runs_them() {
    let up = FakeUpstream::start();
    up.add(rr("foo.internal.cloudapp.net. 60 A 192.0.2.10"));
    up.add(rr("www.example.net. 60 A 192.0.2.20"));
    let (port, metrics) = (free_port(), free_port());
    let corefile = format!(
        r#".:{port} {{
 bind 127.0.0.1
 prometheus 127.0.0.1:{metrics}
 template ANY ANY internal.cloudapp.net {{
  match "^(?:[^.]+\.){{4,}}internal\.cloudapp\.net\.$"
  rcode NXDOMAIN
  fallthrough
 }}
 template IN A example.org {{
  match "^ip-(?P<a>[0-9]+)-(?P<b>[0-9]+)-(?P<c>[0-9]+)-(?P<d>[0-9]+)[.]example[.]org[.]$"
  match "^alias[.]example[.]org[.]$"
  answer "{{{{ if eq (index .Match 0) \"alias.example.org.\" }}}}{{{{ .Name }}}} 30 IN CNAME www.example.net.{{{{ else }}}}{{{{ .Name }}}} 60 IN A {{{{ .Group.a }}}}.{{{{ .Group.b }}}}.{{{{ .Group.c }}}}.{{{{ .Group.d }}}}{{{{ end }}}}"
 }}
 template IN TXT blocked.example {{
  rcode REFUSED
  ederror 15 "blocked by policy"
 }}
 forward . {}
}}
"#,
        up.addr
    );
    let _server = Server::start(BIN, &corefile, port);
    let ask = |name: &str, t: RecordType| udp(local(port), &query(name, t, Some(1232)));

    // AKS: four labels or more under internal.cloudapp.net are NXDOMAIN, authoritative.
    let r = ask("a.b.c.d.internal.cloudapp.net.", RecordType::AAAA);
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert!(r.metadata.authoritative && r.answers.is_empty());
    // Fewer: no expression matches, the template falls through to forward.
    assert_eq!(
        records(&ask("foo.internal.cloudapp.net.", RecordType::A).answers),
        ["foo.internal.cloudapp.net. 60 A 192.0.2.10"]
    );

    // Answers built from named groups.
    let r = ask("ip-10-1-2-3.example.org.", RecordType::A);
    assert!(r.metadata.authoritative);
    assert_eq!(records(&r.answers), ["ip-10-1-2-3.example.org. 60 A 10.1.2.3"]);
    // A CNAME answer for an A query: its target resolved through the server.
    assert_eq!(
        records(&ask("alias.example.org.", RecordType::A).answers),
        [
            "alias.example.org. 30 CNAME www.example.net.",
            "www.example.net. 60 A 192.0.2.20"
        ]
    );
    // In the zone, of the type, but no expression and no fallthrough: SERVFAIL.
    let r = ask("other.example.org.", RecordType::A);
    assert_eq!(r.metadata.response_code, ResponseCode::ServFail);
    // Another type in the zone: not this template's; on to forward.
    let r = ask("other.example.org.", RecordType::MX);
    assert_eq!(r.metadata.response_code, ResponseCode::NXDomain);
    assert!(!r.metadata.authoritative);

    // An extended DNS error, for a client that sent EDNS.
    let r = ask("x.blocked.example.", RecordType::TXT);
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    let edns = r.edns.expect("OPT");
    assert!(edns.options().get(EdnsCode::Unknown(15)).is_some(), "{edns:?}");
    assert!(!edns.flags().dnssec_ok);
    // Without EDNS, no OPT (RFC 6891).
    let r = udp(local(port), &query("x.blocked.example.", RecordType::TXT, None));
    assert!(r.edns.is_none());

    let (_, body) = http_get(metrics, "/metrics").expect("metrics");
    assert!(
        body.lines()
            .any(|l| l.starts_with("coredns_template_matches_total{") && l.contains("zone=\"example.org.\"")),
        "{body}"
    );
}
