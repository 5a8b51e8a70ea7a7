//! The `autopath` directive: the client's search path walked on the server, so a pod's
//! `www.example.com` costs one query per type instead of one per search domain.

mod autopath;
mod metrics;
mod setup;

pub use autopath::AutoPath;
pub use setup::{Config, parse, setup};
