//! The `rewrite` handler: rewrites the query, runs the rest of the chain, and reverts the
//! reply so the client sees the name it asked for.

use clusterdns_plugin::proto::op::{Message, ResponseCode};
use clusterdns_plugin::proto::rr::{Name, RData, Record};
use clusterdns_plugin::{Handler, Next, PluginError, Reply, Request};

use crate::names::StringRewriter;
use crate::rules::{Kind, Mode, ResponseRule, Rule};

/// The rules of every `rewrite` line of a server block, in Corefile order.
pub struct Rewrite {
    rules: Vec<Rule>,
}

impl Rewrite {
    pub fn new(rules: Vec<Rule>) -> Self {
        Self { rules }
    }
}

#[async_trait::async_trait]
impl Handler for Rewrite {
    fn name(&self) -> &'static str {
        "rewrite"
    }

    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
        let original = req.query.clone();
        let mut reverts: Vec<ResponseRule> = Vec::new();
        let mut matched = false;
        for rule in &self.rules {
            let name = clusterdns_plugin::lowercase_ascii(req.qname());
            let Some(responses) = apply(rule, req, &name)? else {
                continue;
            };
            matched = true;
            reverts.extend(responses);
            if rule.mode == Mode::Stop {
                break;
            }
        }
        if !matched {
            return next.run(req).await;
        }
        let mut reply = match next.run(req).await {
            Ok(Reply::Answer(m)) => m,
            Ok(Reply::Dropped) => return Ok(Reply::Dropped),
            // A zone transfer's messages go out as the zone's holder wrote them.
            Ok(Reply::Transfer(messages)) => return Ok(Reply::Transfer(messages)),
            // Nothing written below: CoreDNS's rewrite writes the error reply itself, with the
            // query's OPT, and reverts that (so an rcode rule can act on it).
            Ok(Reply::NoAnswer(rcode)) | Err(PluginError { rcode, .. }) => {
                let mut m = req.reply();
                m.metadata.response_code = rcode;
                m.edns = req.edns.clone();
                m
            }
        };
        reply.queries = vec![original];
        for rule in &reverts {
            if let ResponseRule::Cname(rw) = rule {
                retarget(req, &mut reply, rw).await?;
            }
        }
        revert(&mut reply, &reverts);
        Ok(Reply::Answer(reply))
    }
}

/// Applies one rule to the query; `Some(reply rules)` when it matched.
fn apply(rule: &Rule, req: &mut Request, name: &str) -> Result<Option<Vec<ResponseRule>>, PluginError> {
    Ok(match &rule.kind {
        Kind::Name {
            matcher,
            to,
            auto,
            answers,
        } => {
            let Some(new) = matcher.rewrite(name, to) else {
                return Ok(None);
            };
            let parsed = Name::from_ascii(&new).map_err(|_| {
                PluginError::in_plugin(
                    "rewrite",
                    ResponseCode::ServFail,
                    format!("invalid name after rewrite: {new}"),
                )
            })?;
            req.query.set_name(parsed);
            let mut responses = Vec::new();
            // How the reply is mapped back, owners and names in RDATA alike (CoreDNS's name and
            // value response rules): exact rules always, others with `answer auto`. A suffix
            // rule swaps its suffixes back, so a CNAME target under the new suffix returns under
            // the old one; the others map the name asked for, and names under it, back.
            let back = match matcher {
                crate::names::Matcher::Suffix(from) if *auto => Some(StringRewriter::Suffix {
                    from: to.clone(),
                    to: from.clone(),
                }),
                crate::names::Matcher::Exact(_) => Some(StringRewriter::Remap {
                    from: new.clone(),
                    to: name.to_string(),
                }),
                _ if *auto => Some(StringRewriter::Remap {
                    from: new.clone(),
                    to: name.to_string(),
                }),
                _ => None,
            };
            if let Some(back) = back {
                responses.push(ResponseRule::Owner(back.clone()));
                responses.push(ResponseRule::Value(back));
            }
            responses.extend(answers.iter().cloned());
            Some(responses)
        }
        Kind::Type { from, to } => {
            if req.qtype() != *from {
                return Ok(None);
            }
            req.query.set_query_type(*to);
            Some(Vec::new())
        }
        Kind::Class { from, to } => {
            if req.qclass() != *from {
                return Ok(None);
            }
            req.query.set_query_class(*to);
            Some(Vec::new())
        }
        Kind::Ttl { matcher, min, max } => matcher
            .matches(name)
            .then(|| vec![ResponseRule::Ttl { min: *min, max: *max }]),
        Kind::Rcode { matcher, from, to } => matcher
            .matches(name)
            .then(|| vec![ResponseRule::Rcode { from: *from, to: *to }]),
        Kind::Edns0(rule) => rule.apply(req),
        // Always taken (CoreDNS's RewriteDone), acting on the reply.
        Kind::Cname(rw) => Some(vec![ResponseRule::Cname(rw.clone())]),
    })
}

/// CoreDNS's cname target rewrite: when an answer's CNAME target matches, every CNAME of the
/// answer points to the new target, and the records the server has for it (same type as the
/// query, owner exactly the new target) follow them; the rest of the answer goes.
async fn retarget(req: &Request, m: &mut Message, rw: &StringRewriter) -> Result<(), PluginError> {
    let Some(to) = m.answers.iter().find_map(|r| match &r.data {
        RData::CNAME(c) => rw.rewrite_match(&c.0.to_ascii()),
        _ => None,
    }) else {
        return Ok(());
    };
    let Ok(target) = Name::from_ascii(&to) else {
        clusterdns_plugin::clog::error(
            Some("rewrite"),
            format_args!("invalid CNAME target after rewrite: {to}"),
        );
        return Ok(());
    };
    // A failed lookup leaves the CNAMEs alone (CoreDNS 1.11.3 crashes on it); only a lookup
    // loop past its bound fails the query.
    let looked_up = match &req.server_lookup {
        Some(server) => server.lookup(req, target.clone(), req.qtype()).await?.answers,
        None => Vec::new(),
    };
    let mut answers: Vec<Record> = m
        .answers
        .drain(..)
        .filter_map(|mut r| match &mut r.data {
            RData::CNAME(c) => {
                c.0 = target.clone();
                Some(r)
            }
            _ => None,
        })
        .collect();
    answers.extend(looked_up.into_iter().filter(|r| r.name.to_ascii() == to));
    m.answers = answers;
    Ok(())
}

/// Applies the reply rules to every record, the last matched rule first (CoreDNS's
/// `ResponseReverter`). The OPT record counts as a record, for rcode rules only.
fn revert(m: &mut Message, rules: &[ResponseRule]) {
    let mut rcode = m.metadata.response_code;
    let records = m
        .answers
        .iter_mut()
        .chain(m.authorities.iter_mut())
        .chain(m.additionals.iter_mut());
    let mut count = 0;
    for record in records {
        count += 1;
        for rule in rules.iter().rev() {
            apply_to_record(rule, record, &mut rcode);
        }
    }
    if m.edns.is_some() {
        count += 1;
        for rule in rules.iter().rev() {
            if let ResponseRule::Rcode { from, to } = rule
                && rcode == *from
            {
                rcode = *to;
            }
        }
    }
    // `edns0 ... revert`: on the reply's OPT, once per record of the reply as CoreDNS's
    // reverter calls each rule (a reply without an OPT has nothing to revert).
    if let Some(edns) = m.edns.as_mut() {
        for _ in 0..count {
            for rule in rules.iter().rev() {
                let options = &mut edns.options_mut().options;
                match rule {
                    ResponseRule::EdnsRemove(code) => {
                        if let Some(i) = options.iter().position(|(c, _)| c == code) {
                            options.remove(i);
                        }
                    }
                    ResponseRule::EdnsRestore(code, old) => {
                        if let Some(o) = options.iter_mut().find(|(c, _)| c == code) {
                            o.1 = old.clone();
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    if count > 0 {
        m.metadata.response_code = rcode;
    }
}

fn apply_to_record(rule: &ResponseRule, r: &mut Record, rcode: &mut ResponseCode) {
    match rule {
        ResponseRule::Owner(rw) => {
            if let Some(name) = renamed(rw, &r.name) {
                r.name = name;
            }
        }
        ResponseRule::Value(rw) => {
            let target = match &mut r.data {
                RData::CNAME(n) => &mut n.0,
                RData::PTR(n) => &mut n.0,
                RData::NS(n) => &mut n.0,
                RData::SRV(srv) => &mut srv.target,
                RData::MX(mx) => &mut mx.exchange,
                RData::SOA(soa) => &mut soa.mname,
                _ => return,
            };
            if let Some(name) = renamed(rw, target) {
                *target = name;
            }
        }
        ResponseRule::Ttl { min, max } => r.ttl = r.ttl.clamp(*min, *max),
        ResponseRule::Rcode { from, to } => {
            if rcode == from {
                *rcode = *to;
            }
        }
        // Done on the whole reply: CNAMEs before, the OPT after the records' rules.
        ResponseRule::Cname(_) | ResponseRule::EdnsRemove(_) | ResponseRule::EdnsRestore(..) => {}
    }
}

fn renamed(rw: &StringRewriter, name: &Name) -> Option<Name> {
    let current = name.to_ascii();
    let new = rw.rewrite(&current);
    if new == current {
        return None;
    }
    Name::from_ascii(&new).ok()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use clusterdns_plugin::Dispenser;
    use clusterdns_plugin::proto::op::Edns;
    use clusterdns_plugin::proto::rr::RecordType;
    use testkit::{Fixed, request, rr, serve_chain};

    use super::*;
    use crate::setup::parse;

    fn rewrite(corefile: &str) -> Arc<dyn Handler> {
        Arc::new(Rewrite::new(
            parse(&mut Dispenser::from_text(corefile)).expect(corefile),
        ))
    }

    /// Runs `rules` in front of a fixed reply; returns the reply and what the next plugin was asked.
    async fn run(rules: &str, name: &str, t: RecordType, next: Fixed, edns: bool) -> (Message, String) {
        let next = Arc::new(next);
        let mut req = request(name, t);
        if edns {
            req.edns = Some(Edns::new());
        }
        let reply = serve_chain(vec![rewrite(rules), next.clone()], &mut req)
            .await
            .expect("reply");
        let Reply::Answer(m) = reply else {
            panic!("no answer")
        };
        let asked = next
            .asked()
            .map(|q| format!("{} {}", q.name(), q.query_type()))
            .unwrap_or_default();
        (m, asked)
    }

    fn texts(records: &[Record]) -> Vec<String> {
        records
            .iter()
            .map(|r| format!("{} {} {}", r.name, r.ttl, r.data))
            .collect()
    }

    #[tokio::test]
    async fn exact_name_is_invisible_to_the_client() {
        let next = Fixed::new(
            ResponseCode::NoError,
            vec![rr("webservice1.com. 3600 A 172.16.0.3")],
        );
        let (m, asked) = run(
            "rewrite name web-service.cluster.local webservice1.com",
            "Web-Service.Cluster.Local.",
            RecordType::A,
            next,
            false,
        )
        .await;
        assert_eq!(asked, "webservice1.com. A");
        // The answer carries the asked name (lower-cased, as CoreDNS 1.11.3), the question is the client's.
        assert_eq!(texts(&m.answers), ["web-service.cluster.local. 3600 172.16.0.3"]);
        assert_eq!(m.queries[0].name().to_string(), "Web-Service.Cluster.Local.");
    }

    #[tokio::test]
    async fn first_match_stops_unless_continue() {
        let rules = "rewrite type ANY HINFO\nrewrite name suffix example.org example.net";
        let next = || Fixed::new(ResponseCode::NoError, vec![]);
        // The type rule matches ANY queries and stops: the name is not rewritten.
        assert_eq!(
            run(rules, "a.example.org.", RecordType::ANY, next(), false)
                .await
                .1,
            "a.example.org. HINFO"
        );
        // Other types skip it and reach the name rule.
        assert_eq!(
            run(rules, "a.example.org.", RecordType::A, next(), false).await.1,
            "a.example.net. A"
        );
        // With continue, later rules see the rewritten query.
        let rules = "rewrite continue name suffix example.org example.net\nrewrite name exact a.example.net b.example.com";
        assert_eq!(
            run(rules, "a.example.org.", RecordType::A, next(), false).await.1,
            "b.example.com. A"
        );
    }

    #[tokio::test]
    async fn suffix_with_answer_auto() {
        let next = Fixed::new(ResponseCode::NoError, vec![rr("www.example.net. 60 A 10.0.0.1")]);
        let (m, asked) = run(
            "rewrite name suffix example.org example.net answer auto",
            "www.example.org.",
            RecordType::A,
            next,
            false,
        )
        .await;
        assert_eq!(asked, "www.example.net. A");
        assert_eq!(texts(&m.answers), ["www.example.org. 60 10.0.0.1"]);
    }

    #[tokio::test]
    async fn answer_auto_maps_cname_targets_back_too() {
        // A suffix rule maps every name under the new suffix back, in RDATA too.
        let next = Fixed::new(
            ResponseCode::NoError,
            vec![
                rr("app.example.org. 60 CNAME www.example.org."),
                rr("www.example.org. 60 A 192.0.2.10"),
            ],
        );
        let (m, asked) = run(
            "rewrite name suffix .home.arpa. .example.org. answer auto",
            "app.home.arpa.",
            RecordType::A,
            next,
            false,
        )
        .await;
        assert_eq!(asked, "app.example.org. A");
        assert_eq!(
            texts(&m.answers),
            ["app.home.arpa. 60 www.home.arpa.", "www.home.arpa. 60 192.0.2.10"]
        );
        // The other kinds map the name asked for (and names under it) back, nothing else.
        let next = Fixed::new(
            ResponseCode::NoError,
            vec![
                rr("bar.example.org. 60 CNAME x.bar.example.org."),
                rr("x.bar.example.org. 60 CNAME bar2.example.org."),
                rr("bar2.example.org. 60 A 192.0.2.11"),
            ],
        );
        let (m, _) = run(
            "rewrite name prefix foo bar answer auto",
            "foo.example.org.",
            RecordType::A,
            next,
            false,
        )
        .await;
        assert_eq!(
            texts(&m.answers),
            [
                "foo.example.org. 60 x.foo.example.org.",
                "x.foo.example.org. 60 bar2.example.org.",
                "bar2.example.org. 60 192.0.2.11"
            ]
        );
    }

    #[tokio::test]
    async fn regex_with_answer_name_and_value() {
        let rules = "rewrite stop {\n name regex (.*)\\.my\\.domain\\.$ {1}.default.svc.cluster.local.\n answer name (.*)\\.default\\.svc\\.cluster\\.local\\.$ {1}.my.domain.\n answer value (.*)\\.default\\.svc\\.cluster\\.local\\.$ {1}.my.domain.\n}";
        let next = Fixed::new(
            ResponseCode::NoError,
            vec![rr(
                "_http._tcp.web.default.svc.cluster.local. 5 SRV 0 100 80 web.default.svc.cluster.local.",
            )],
        );
        let (m, asked) = run(rules, "_http._tcp.web.my.domain.", RecordType::SRV, next, false).await;
        assert_eq!(asked, "_http._tcp.web.default.svc.cluster.local. SRV");
        assert_eq!(
            texts(&m.answers),
            ["_http._tcp.web.my.domain. 5 0 100 80 web.my.domain."]
        );
    }

    #[tokio::test]
    async fn answer_value_rewrites_the_soa_mname_of_negative_answers() {
        let mut next = Fixed::new(ResponseCode::NXDomain, vec![]);
        next.authorities = vec![rr(
            "cluster.local. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5",
        )];
        let rules = "rewrite name regex (.*)\\.my\\.domain\\.$ {1}.cluster.local. answer value (.*)\\.cluster\\.local\\.$ {1}.my.domain.";
        let (m, _) = run(rules, "x.my.domain.", RecordType::A, next, false).await;
        let RData::SOA(soa) = &m.authorities[0].data else {
            panic!("soa")
        };
        assert_eq!(soa.mname.to_string(), "ns.dns.my.domain.");
        assert_eq!(soa.rname.to_string(), "hostmaster.cluster.local.");
    }

    #[tokio::test]
    async fn ttl_rules_clamp_and_raise() {
        let next = || {
            Fixed::new(
                ResponseCode::NoError,
                vec![rr("a.example. 10 A 10.0.0.1"), rr("a.example. 500 A 10.0.0.2")],
            )
        };
        let (m, _) = run(
            "rewrite ttl a.example. 120",
            "a.example.",
            RecordType::A,
            next(),
            false,
        )
        .await;
        assert_eq!(m.answers.iter().map(|r| r.ttl).collect::<Vec<_>>(), [120, 120]);
        let (m, _) = run(
            "rewrite ttl a.example. 30-300",
            "a.example.",
            RecordType::A,
            next(),
            false,
        )
        .await;
        assert_eq!(m.answers.iter().map(|r| r.ttl).collect::<Vec<_>>(), [30, 300]);
        // After a matching stop rule a ttl rule never applies.
        let (m, _) = run(
            "rewrite name a.example. a.example.\nrewrite ttl a.example. 120",
            "a.example.",
            RecordType::A,
            next(),
            false,
        )
        .await;
        assert_eq!(m.answers.iter().map(|r| r.ttl).collect::<Vec<_>>(), [10, 500]);
    }

    #[tokio::test]
    async fn rcode_acts_once_per_record_opt_included() {
        let rules = "rewrite rcode example.org. REFUSED NXDOMAIN";
        let refused = || Fixed::new(ResponseCode::Refused, vec![]);
        // The upstream's reply carried an OPT (the query had EDNS): rewritten.
        let next = Arc::new(refused());
        let mut req = request("example.org.", RecordType::A);
        req.edns = Some(Edns::new());
        let chain: Vec<Arc<dyn Handler>> = vec![rewrite(rules), Arc::new(EdnsEcho(next))];
        let Ok(Reply::Answer(m)) = serve_chain(chain, &mut req).await else {
            panic!("answer")
        };
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
        // No records and no OPT: stays REFUSED.
        let (m, _) = run(rules, "example.org.", RecordType::A, refused(), false).await;
        assert_eq!(m.metadata.response_code, ResponseCode::Refused);
        // A record in the reply is enough.
        let next = Fixed::new(ResponseCode::Refused, vec![rr("example.org. 5 A 10.0.0.1")]);
        assert_eq!(
            run(rules, "example.org.", RecordType::A, next, false)
                .await
                .0
                .metadata
                .response_code,
            ResponseCode::NXDomain
        );
    }

    /// `edns0 ... revert` (1.12.3): an upstream echoing the options sees the rewritten ones;
    /// the client gets its own back (changed ones restored, added ones removed); `unset`
    /// removes an option from the query.
    #[tokio::test]
    async fn edns0_revert_and_unset() {
        use clusterdns_plugin::proto::rr::rdata::opt::{EdnsCode, EdnsOption};
        let options = |edns: Option<&Edns>| -> Vec<(u16, Vec<u8>)> {
            edns.map_or(vec![], |e| {
                e.options()
                    .options
                    .iter()
                    .filter_map(|(c, o)| match o {
                        EdnsOption::Unknown(_, data) => Some((u16::from(*c), data.clone())),
                        _ => None,
                    })
                    .collect()
            })
        };
        let ask = |rules: &'static str| async move {
            let mut req = request("a.example.", RecordType::A);
            let mut edns = Edns::new();
            edns.options_mut().options.push((
                EdnsCode::from(0xffee),
                EdnsOption::Unknown(0xffee, b"mine".to_vec()),
            ));
            req.edns = Some(edns);
            let next = Arc::new(Fixed::new(
                ResponseCode::NoError,
                vec![rr("a.example. 5 A 10.0.0.1")],
            ));
            let chain: Vec<Arc<dyn Handler>> = vec![rewrite(rules), Arc::new(EdnsEcho(next))];
            let Ok(Reply::Answer(m)) = serve_chain(chain, &mut req).await else {
                panic!("answer")
            };
            (options(req.edns.as_ref()), options(m.edns.as_ref()))
        };
        // Without revert the reply carries what the upstream saw.
        let (query, reply) = ask("rewrite edns0 local set 0xffee theirs").await;
        assert_eq!(query, [(0xffee, b"theirs".to_vec())]);
        assert_eq!(reply, [(0xffee, b"theirs".to_vec())]);
        // A changed option comes back as the client sent it; an added one is taken out.
        let (query, reply) = ask("rewrite edns0 local set 0xffee theirs revert").await;
        assert_eq!(query, [(0xffee, b"theirs".to_vec())]);
        assert_eq!(reply, [(0xffee, b"mine".to_vec())]);
        let (query, reply) = ask("rewrite edns0 local append 0xfff0 added revert").await;
        assert_eq!(query, [(0xffee, b"mine".to_vec()), (0xfff0, b"added".to_vec())]);
        assert_eq!(reply, [(0xffee, b"mine".to_vec())]);
        // Unset: the upstream never sees it.
        let (query, _) = ask("rewrite edns0 local unset 0xffee").await;
        assert!(query.is_empty());
    }

    /// Relays a fixed reply with the query's OPT attached, as forward relays an upstream's.
    struct EdnsEcho(Arc<Fixed>);

    #[async_trait::async_trait]
    impl Handler for EdnsEcho {
        fn name(&self) -> &'static str {
            "edns-echo"
        }
        async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
            let reply = self.0.serve(req, next).await?;
            let Reply::Answer(mut m) = reply else {
                return Ok(reply);
            };
            m.edns = req.edns.clone();
            Ok(Reply::Answer(m))
        }
    }

    /// Writes nothing and fails with this rcode, as hosts does for an unknown name.
    struct Fails(ResponseCode);

    #[async_trait::async_trait]
    impl Handler for Fails {
        fn name(&self) -> &'static str {
            "fails"
        }
        async fn serve(&self, _req: &mut Request, _next: Next<'_>) -> Result<Reply, PluginError> {
            Ok(Reply::NoAnswer(self.0))
        }
    }

    #[tokio::test]
    async fn rcode_on_an_unwritten_reply_depends_on_the_query_opt() {
        // Nothing written below: rewrite writes the reply itself with the query's OPT, so the
        // rule applies to an EDNS query and not to a plain one.
        let rules = "rewrite rcode a.example. SERVFAIL NXDOMAIN";
        for (edns, want) in [(true, ResponseCode::NXDomain), (false, ResponseCode::ServFail)] {
            let mut req = request("a.example.", RecordType::A);
            if edns {
                req.edns = Some(Edns::new());
            }
            let chain: Vec<Arc<dyn Handler>> = vec![rewrite(rules), Arc::new(Fails(ResponseCode::ServFail))];
            let Ok(Reply::Answer(m)) = serve_chain(chain, &mut req).await else {
                panic!("answer")
            };
            assert_eq!(m.metadata.response_code, want, "edns {edns}");
        }
    }

    #[tokio::test]
    async fn edns0_options_reach_the_next_plugin() {
        // The request the next plugin runs with is the one passed down, OPT included.
        let next = Arc::new(Fixed::new(ResponseCode::NoError, vec![]));
        let mut req = request("a.example.", RecordType::A);
        let chain: Vec<Arc<dyn Handler>> = vec![rewrite("rewrite edns0 local set 0xffee 0xbeef"), next];
        serve_chain(chain, &mut req).await.expect("reply");
        let opt = req
            .edns
            .as_ref()
            .map(|e| e.options().options.clone())
            .unwrap_or_default();
        assert_eq!(opt.len(), 1);
        assert_eq!(u16::from(opt[0].0), 0xffee);
    }

    #[tokio::test]
    async fn invalid_name_after_rewrite_is_servfail() {
        let long = "a".repeat(70);
        let rules = format!("rewrite name regex (.*) {{1}}{long}.");
        let mut req = request("x.example.", RecordType::A);
        let err = serve_chain(vec![rewrite(&rules), Arc::new(testkit::Passed)], &mut req)
            .await
            .expect_err("invalid");
        assert_eq!(err.rcode, ResponseCode::ServFail);
        assert!(
            err.message.contains("invalid name after rewrite"),
            "{}",
            err.message
        );
    }
}
