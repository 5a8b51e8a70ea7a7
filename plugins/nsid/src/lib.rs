//! The `nsid` directive: identifies the answering server in replies (RFC 5001).

mod nsid;
mod setup;

pub use nsid::Nsid;
pub use setup::{parse, setup};
