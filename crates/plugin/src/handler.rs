//! The chain: `Handler`s called in order through `Next`, replies passed back up as values.

use std::sync::Arc;

use hickory_proto::op::{Message, ResponseCode};

use crate::error::PluginError;
use crate::request::Request;

/// What a handler gives back up the chain.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A complete answer; the server restores the ID and question, and fits it to the client.
    Answer(Message),
    /// No answer written: the server replies with this rcode and nothing else (CoreDNS's
    /// `!plugin.ClientWrite(rcode)` case). Not logged by `errors`.
    NoAnswer(ResponseCode),
    /// Nothing is sent back at all (acl's `drop`: CoreDNS returns success without writing).
    Dropped,
    /// Several messages, written one after another on the connection (a zone transfer); the
    /// server shapes each as it shapes an answer.
    Transfer(Vec<Message>),
}

impl Reply {
    /// The rcode the client will see.
    pub fn rcode(&self) -> ResponseCode {
        match self {
            Reply::Answer(m) => m.metadata.response_code,
            Reply::Transfer(ms) => ms
                .first()
                .map_or(ResponseCode::NoError, |m| m.metadata.response_code),
            Reply::NoAnswer(rc) => *rc,
            Reply::Dropped => ResponseCode::NoError,
        }
    }
}

/// One plugin's query handler. Plugins never know their neighbours: they get the rest of the
/// chain as `next`.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// The directive name (`cache`, `kubernetes`, ...), used in logs and errors.
    fn name(&self) -> &'static str;

    /// Answers `req`, or passes it on with `next.run(req)`.
    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError>;

    /// Readiness for the `ready` plugin: `None` for plugins that have no notion of it.
    fn ready(&self) -> Option<bool> {
        None
    }
}

/// A server block's handlers, in execution order, shared by every query.
pub type Chain = Arc<[Arc<dyn Handler>]>;

/// The rest of the chain after the calling handler.
#[derive(Clone, Copy)]
pub struct Next<'a> {
    caller: &'static str,
    chain: &'a Chain,
    at: usize,
}

impl<'a> Next<'a> {
    /// The whole chain of a server block, to be run from its head.
    pub fn chain(chain: &'a Chain) -> Self {
        Self {
            caller: "",
            chain,
            at: 0,
        }
    }

    /// Runs the next handler. Past the end of the chain this is CoreDNS's `NextOrFailure`
    /// error, which the server answers with SERVFAIL.
    pub async fn run(self, req: &mut Request) -> Result<Reply, PluginError> {
        let Some(head) = self.chain.get(self.at) else {
            return Err(PluginError::no_next(self.caller));
        };
        let reply = head
            .serve(
                req,
                Next {
                    caller: head.name(),
                    chain: self.chain,
                    at: self.at + 1,
                },
            )
            .await;
        // The innermost plugin that answered wrote the reply; outer ones only passed it on.
        if req.responder.is_none() && matches!(reply, Ok(Reply::Answer(_) | Reply::Transfer(_))) {
            req.responder = Some(head.name());
        }
        reply
    }

    /// True when no handler follows.
    pub fn is_empty(&self) -> bool {
        self.at >= self.chain.len()
    }

    /// The name of the next handler, if any (forward's `next` option looks for another forward).
    pub fn peek_name(&self) -> Option<&'static str> {
        self.chain.get(self.at).map(|h| h.name())
    }

    /// An owned handle on the rest of the chain, for work that outlives the query (a cache
    /// refresh after the reply went out).
    pub fn detach(&self) -> DetachedNext {
        DetachedNext {
            caller: self.caller,
            chain: self.chain.clone(),
            at: self.at,
        }
    }
}

/// The rest of a chain, owned: runs as [`Next`] does.
#[derive(Clone)]
pub struct DetachedNext {
    caller: &'static str,
    chain: Chain,
    at: usize,
}

impl DetachedNext {
    pub async fn run(&self, req: &mut Request) -> Result<Reply, PluginError> {
        Next {
            caller: self.caller,
            chain: &self.chain,
            at: self.at,
        }
        .run(req)
        .await
    }
}
