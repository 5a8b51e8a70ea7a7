//! The `rewrite` directive: rewrites queries on the way down and replies on the way back up,
//! invisibly to the client, as CoreDNS's.

mod edns0;
mod names;
mod rewrite;
mod rules;
mod setup;

pub use names::{Matcher, StringRewriter};
pub use rewrite::Rewrite;
pub use rules::{Kind, Mode, ResponseRule, Rule, new_rule};
pub use setup::{parse, setup};
