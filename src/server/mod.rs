//! The DNS server: assembling chains from a Corefile, dispatching queries, running listeners.

mod assemble;
mod dispatch;
mod https;
mod run;
pub(crate) mod tcp;
mod truncate;
mod udp;
mod wire;

pub use assemble::{Heritage, Plan, assemble};
pub use dispatch::{Dispatcher, Incoming};
pub use run::{Running, start};
