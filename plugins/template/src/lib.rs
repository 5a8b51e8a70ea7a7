//! The `template` directive: answers written as Go templates, for names matching regular
//! expressions (AKS's default Corefile answers NXDOMAIN for cloud search-path noise with it).

mod metrics;
mod render;
mod setup;
mod template;

pub use setup::{Config, parse, setup};
pub use template::Template;
