//! The `metadata` directive: labels about each query (the client pod's namespace, the parts of
//! a cluster name) collected for other plugins: `log`'s `{/label}` placeholders, `template`'s
//! `.Meta`.

mod metadata;
mod setup;

pub use metadata::Metadata;
pub use setup::{parse, setup};
