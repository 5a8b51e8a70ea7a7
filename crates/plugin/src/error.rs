//! Errors of plugins: at setup (Corefile problems) and while serving (turned into an rcode).

use hickory_proto::op::ResponseCode;

/// A plugin could not be set up from its Corefile lines.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Located at a token: `Corefile:7 - Error during parsing: unknown property 'ttll'`.
    #[error(transparent)]
    Parse(#[from] corefile::Error),
    /// Not tied to one token (CoreDNS has such plain messages too).
    #[error("{0}")]
    Other(String),
}

impl SetupError {
    /// CoreDNS's `plugin.ErrOnce`, for directives allowed once per server block.
    pub fn once_per_block() -> Self {
        SetupError::Other("this plugin can only be used once per Server Block".into())
    }
}

/// A plugin failed to produce an answer. The server replies with `rcode`; the `errors` plugin
/// logs the message, as CoreDNS's does.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct PluginError {
    pub rcode: ResponseCode,
    pub message: String,
}

impl PluginError {
    /// An error with CoreDNS's `plugin/NAME: ` prefix (its `plugin.Error`).
    pub fn in_plugin(plugin: &str, rcode: ResponseCode, message: impl std::fmt::Display) -> Self {
        Self {
            rcode,
            message: format!("plugin/{plugin}: {message}"),
        }
    }

    /// CoreDNS's `NextOrFailure` error: the chain ended below `plugin`.
    pub fn no_next(plugin: &str) -> Self {
        Self::in_plugin(plugin, ResponseCode::ServFail, "no next plugin found")
    }
}
