//! Zone transfers between the plugins of a block: what holds a zone offers the `transfer`
//! plugin (CoreDNS's `Transferer`), and what `transfer` offers back to announce changes.

use hickory_proto::rr::{Name, Record};

/// What a zone's holder gives for a transfer request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transfer {
    /// Not this plugin's zone: the next holder of the block is asked.
    NotAuthoritative,
    /// The zone exists but cannot be sent (a secondary zone not transferred in yet).
    Failed(String),
    /// The zone in chunks, in the order CoreDNS's holders send them: the SOA first, the SOA
    /// again last; for an IXFR from the zone's own serial, the SOA alone.
    Records(Vec<Vec<Record>>),
}

/// A plugin whose zones can be transferred (file, secondary, kubernetes).
pub trait Transferer: Send + Sync {
    /// `zone`'s records; `serial` is an IXFR's (answered as an AXFR unless it is the zone's).
    fn transfer(&self, zone: &Name, serial: Option<u32>) -> Transfer;
}

/// What `transfer` offers the zone holders of its block: NOTIFY to the zone's secondaries.
pub trait Notifier: Send + Sync {
    /// Sends NOTIFY for `zone` to the addresses listed for it, in the background.
    fn notify(&self, zone: &Name);
}
