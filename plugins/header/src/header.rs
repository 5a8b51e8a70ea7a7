//! The handler: CoreDNS's plugin/header. Query rules change the query before the rest of the
//! chain sees it; response rules change any reply a plugin writes.

use clusterdns_plugin::proto::op::Metadata;
use clusterdns_plugin::{Handler, Next, PluginError, Reply, Request};

/// A header flag the plugin can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// `aa`: authoritative answer.
    Authoritative,
    /// `ra`: recursion available.
    RecursionAvailable,
    /// `rd`: recursion desired.
    RecursionDesired,
}

/// Sets (`true`) or clears a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub flag: Flag,
    pub set: bool,
}

/// Applies `rules` in order (a later rule for the same flag wins).
pub fn apply(metadata: &mut Metadata, rules: &[Rule]) {
    for rule in rules {
        match rule.flag {
            Flag::Authoritative => metadata.authoritative = rule.set,
            Flag::RecursionAvailable => metadata.recursion_available = rule.set,
            Flag::RecursionDesired => metadata.recursion_desired = rule.set,
        }
    }
}

/// The handler.
pub struct Header {
    pub query: Vec<Rule>,
    pub response: Vec<Rule>,
}

#[async_trait::async_trait]
impl Handler for Header {
    fn name(&self) -> &'static str {
        "header"
    }

    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
        apply(&mut req.metadata, &self.query);
        Ok(match next.run(req).await? {
            Reply::Answer(mut m) => {
                apply(&mut m.metadata, &self.response);
                Reply::Answer(m)
            }
            other => other,
        })
    }
}
