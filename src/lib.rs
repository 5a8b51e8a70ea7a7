//! The clusterdns server as a library: what the binary runs (assembling a Corefile's chains,
//! serving them, reloading), and the harness the fuzz targets drive it through.

pub mod capabilities;
pub mod harness;
pub mod nodecache;
pub mod registry;
pub mod reload;
pub mod server;
