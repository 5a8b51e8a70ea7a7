//! The `log` handler: runs the rest of the chain, then writes one line for the query.

use std::collections::HashSet;
use std::time::Instant;

use clusterdns_plugin::proto::rr::Name;
use clusterdns_plugin::response::{ReplyClass, typify};
use clusterdns_plugin::{Handler, Next, PluginError, Reply, Request, clog};

use crate::format::{Entry, Format, reply_message};

/// One name scope with its format and class filter (`None`: every class).
#[derive(Debug, Clone)]
pub struct Rule {
    pub scope: Name,
    pub format: Format,
    pub classes: Option<HashSet<ReplyClass>>,
}

/// The `log` handler: the first rule whose scope holds the query name decides.
pub struct Log {
    rules: Vec<Rule>,
}

impl Log {
    pub fn new(rules: Vec<Rule>) -> Self {
        Self { rules }
    }
}

#[async_trait::async_trait]
impl Handler for Log {
    fn name(&self) -> &'static str {
        "log"
    }

    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
        let Some(rule) = self.rules.iter().find(|r| r.scope.zone_of(req.qname())) else {
            return next.run(req).await;
        };
        let start = Instant::now();
        // The name is logged as it arrived, whatever later plugins rewrite.
        let query = req.query.clone();
        let result = next.run(req).await;
        let reply = result.as_ref().ok().and_then(reply_message);
        // A chain that wrote nothing is an error, as CoreDNS's Typify(nil).
        let class = reply.map_or(ReplyClass::Error, |m| typify(m).class());
        if rule.classes.as_ref().is_some_and(|c| !c.contains(&class)) {
            return result;
        }
        // Every message written counts, as in CoreDNS's recorder (a zone transfer's several).
        let reply_size = match &result {
            Ok(Reply::Transfer(messages)) => messages.iter().map(clusterdns_plugin::size::message_len).sum(),
            _ => reply.map_or(0, clusterdns_plugin::size::message_len),
        };
        let line = rule.format.render(&Entry {
            query: &query,
            req,
            reply,
            reply_size,
            took: start.elapsed(),
        });
        clog::info(None, format_args!("{line}"));
        result
    }
}
