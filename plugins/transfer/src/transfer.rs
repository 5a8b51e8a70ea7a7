//! The `transfer` handler: AXFR and IXFR over TCP from the block's zone holders.

use std::net::IpAddr;

use clusterdns_plugin::proto::op::{Message, ResponseCode};
use clusterdns_plugin::proto::rr::{Name, Record, RecordType};
use clusterdns_plugin::{
    Handler, Linked, Next, Notifier, PluginError, Reply, Request, Transferer, Transport, clog,
};

use crate::notify;
use crate::setup::{Config, Xfr};

/// A message is sent once more than this many records are gathered (CoreDNS's transfer).
const BATCH: usize = 500;

/// Answers transfers of its zones to the clients listed, and sends their NOTIFYs.
pub struct Transfer {
    config: Config,
    /// kubernetes, file, secondary: whichever the block has.
    holders: Vec<Linked<dyn Transferer>>,
}

impl Transfer {
    pub fn new(config: Config, holders: Vec<Linked<dyn Transferer>>) -> Self {
        Self { config, holders }
    }

    /// The `transfer` line with the longest zone holding `name` (CoreDNS's `longestMatch`).
    fn xfr(&self, name: &Name) -> Option<&Xfr> {
        self.config
            .xfrs
            .iter()
            .filter_map(|x| {
                let zone = x
                    .zones
                    .iter()
                    .filter(|z| z.zone_of(name))
                    .max_by_key(|z| z.num_labels())?;
                Some((zone.num_labels(), x))
            })
            .max_by_key(|(labels, _)| *labels)
            .map(|(_, x)| x)
    }
}

impl Xfr {
    fn allowed(&self, client: IpAddr) -> bool {
        self.anyone || self.to.iter().any(|a| a.ip() == client)
    }
}

#[async_trait::async_trait]
impl Handler for Transfer {
    fn name(&self) -> &'static str {
        "transfer"
    }

    async fn serve(&self, req: &mut Request, next: Next<'_>) -> Result<Reply, PluginError> {
        let qtype = req.qtype();
        if !matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
            return next.run(req).await;
        }
        if req.transport != Transport::Tcp {
            return Ok(Reply::NoAnswer(ResponseCode::Refused));
        }
        let zone = req.qname().to_lowercase();
        let Some(xfr) = self.xfr(&zone) else {
            return next.run(req).await;
        };
        if !xfr.allowed(req.client.ip()) {
            // Written here, so that log shows it (CoreDNS).
            let mut m = req.reply();
            m.metadata.response_code = ResponseCode::Refused;
            return Ok(Reply::Answer(m));
        }
        let serial = match qtype {
            RecordType::IXFR => match req.ixfr_serial {
                Some(serial) => Some(serial),
                None => return Ok(Reply::NoAnswer(ResponseCode::ServFail)),
            },
            _ => None,
        };
        let mut chunks = None;
        for holder in self.holders.iter().filter_map(Linked::get) {
            match holder.transfer(&zone, serial) {
                clusterdns_plugin::Transfer::NotAuthoritative => continue,
                clusterdns_plugin::Transfer::Failed(e) => {
                    return Err(PluginError::in_plugin("transfer", ResponseCode::ServFail, e));
                }
                clusterdns_plugin::Transfer::Records(records) => {
                    chunks = Some(records);
                    break;
                }
            }
        }
        let Some(chunks) = chunks else {
            return next.run(req).await;
        };
        let client = req.client.ip();
        let messages = batch(req, chunks);
        let serial = soa_serial(messages.first().and_then(|m| m.answers.first()));
        match messages.as_slice() {
            [only] if only.answers.len() == 1 && serial.is_some() => clog::info(
                Some("transfer"),
                format_args!(
                    "Outgoing noop, incremental transfer for up to date zone {:?} to {client} for {} SOA serial",
                    zone.to_string(),
                    serial.unwrap_or(0)
                ),
            ),
            _ => clog::info(
                Some("transfer"),
                format_args!(
                    "Outgoing transfer of {} records of zone {:?} to {client} for {} SOA serial",
                    messages.iter().map(|m| m.answers.len()).sum::<usize>(),
                    zone.to_string(),
                    serial.unwrap_or(0)
                ),
            ),
        }
        Ok(Reply::Transfer(messages))
    }
}

impl Notifier for Transfer {
    fn notify(&self, zone: &Name) {
        let zone = zone.to_lowercase();
        if let Some(x) = self.xfr(&zone).filter(|x| !x.to.is_empty()) {
            notify::send(zone, x.to.clone());
        }
    }
}

/// The zone's chunks in messages as CoreDNS's transfer cuts them: records gathered chunk by
/// chunk, a message sent whenever more than 500 are waiting, then the rest; each an
/// authoritative reply to the query.
fn batch(req: &Request, chunks: Vec<Vec<Record>>) -> Vec<Message> {
    let message = |answers: Vec<Record>| {
        let mut m = req.reply();
        m.metadata.authoritative = true;
        m.answers = answers;
        m
    };
    let mut messages = Vec::new();
    let mut waiting = Vec::new();
    for chunk in chunks {
        waiting.extend(chunk);
        if waiting.len() > BATCH {
            messages.push(message(std::mem::take(&mut waiting)));
        }
    }
    if !waiting.is_empty() {
        messages.push(message(waiting));
    }
    messages
}

fn soa_serial(record: Option<&Record>) -> Option<u32> {
    match record.map(|r| &r.data) {
        Some(clusterdns_plugin::proto::rr::RData::SOA(soa)) => Some(soa.serial),
        _ => None,
    }
}
