//! The handler: CoreDNS's plugin/autopath. For a name under the first element of the client's
//! search path, the rest of the chain is asked for the name under each element in turn; the
//! first reply that is not NXDOMAIN goes back with a CNAME from the name asked.

use clusterdns_plugin::proto::op::{Message, ResponseCode};
use clusterdns_plugin::proto::rr::rdata::CNAME;
use clusterdns_plugin::proto::rr::{Name, RData, Record};
use clusterdns_plugin::{
    AutoPather, Handler, Linked, Next, PluginError, Reply, Request, Zones, lowercase_ascii,
};

use crate::metrics;
use crate::setup::Config;

/// The handler.
pub struct AutoPath {
    zones: Zones,
    /// The resolv.conf search list, used when no plugin gives one.
    search: Vec<String>,
    /// The plugin named with `@`, once the block is linked (empty if it is not in the block).
    pather: Option<Linked<dyn AutoPather>>,
}

impl AutoPath {
    pub fn new(config: Config, pather: Option<Linked<dyn AutoPather>>) -> Self {
        Self {
            zones: config.zones,
            search: config.search,
            pather,
        }
    }
}

/// CoreDNS's `cnamer`: a CNAME from `original` to the owner of the first answer record named
/// otherwise, case aside (with its TTL), goes first; the question is the original again.
fn cnamer(m: &mut Message, original: &Name) {
    if let Some(target) = m.answers.iter().find(|r| r.name != *original) {
        let cname = Record::from_rdata(
            original.clone(),
            target.ttl,
            RData::CNAME(CNAME(target.name.clone())),
        );
        m.answers.insert(0, cname);
    }
    if let Some(q) = m.queries.first_mut() {
        q.set_name(original.clone());
    }
}

#[async_trait::async_trait]
impl Handler for AutoPath {
    fn name(&self) -> &'static str {
        "autopath"
    }

    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
        if self.zones.matches(req.qname()).is_none() {
            return next.run(req).await;
        }
        let lower = lowercase_ascii(req.qname());
        // The resolv.conf list is borrowed, not copied, on every query.
        let search: Option<std::borrow::Cow<'_, [String]>> = match self.pather.as_ref().and_then(Linked::get)
        {
            Some(pather) => pather.search_path(req, &lower).map(std::borrow::Cow::Owned),
            None => Some(std::borrow::Cow::Borrowed(self.search.as_slice())).filter(|s| !s.is_empty()),
        };
        let Some(search) = search else {
            return next.run(req).await;
        };
        let Some(first) = search.first() else {
            return next.run(req).await;
        };
        if !clusterdns_plugin::text_in_zone(&lower, first) {
            return next.run(req).await;
        }
        let original = req.qname().clone();
        // The name without the first element, in the client's case. The first element itself
        // has nothing to trim: CoreDNS's TrimZone fails and the query with it (SERVFAIL).
        let asked = original.to_ascii();
        let Some(base) = asked
            .len()
            .checked_sub(first.len() + 1)
            .filter(|_| lower != *first)
            .map(|at| &asked[..at])
        else {
            return Err(PluginError {
                rcode: ResponseCode::ServFail,
                message: format!("trimzone: overshot qname: {asked}for zone {first}"),
            });
        };
        let mut first_reply = None;
        let mut found = None;
        for (i, suffix) in search.iter().enumerate() {
            // A name that cannot be made (too long) is one that does not exist.
            let Ok(name) = Name::from_ascii(format!("{base}.{suffix}")) else {
                continue;
            };
            req.query.set_name(name);
            let reply = match next.run(req).await {
                Ok(reply) => reply,
                Err(e) => {
                    req.query.set_name(original);
                    return Err(e);
                }
            };
            if i == 0 {
                first_reply = Some(reply.clone());
            }
            match reply {
                Reply::Answer(m) if m.metadata.response_code != ResponseCode::NXDomain => {
                    found = Some(m);
                    break;
                }
                _ => continue,
            }
        }
        req.query.set_name(original.clone());
        if let Some(mut m) = found {
            cnamer(&mut m, &original);
            if let Some(c) = metrics::SUCCESS.as_ref() {
                c.with_label_values(&[&*req.server]).inc();
            }
            return Ok(Reply::Answer(m));
        }
        // All NXDOMAIN: the first reply as it was; the client walks its list itself.
        Ok(first_reply.unwrap_or(Reply::NoAnswer(ResponseCode::ServFail)))
    }
}
