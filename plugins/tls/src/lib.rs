//! The `tls` directive: the certificate a server block's `tls://` and `https://` listeners
//! present, and which client certificates they ask for, as CoreDNS's.

mod certificate;
mod setup;
mod unverified;

pub use setup::{ClientAuth, Config, parse, setup};
