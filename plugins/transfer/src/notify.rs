//! NOTIFY (RFC 1996) to a zone's secondaries, as CoreDNS's transfer sends it: over UDP, three
//! tries per address, until one is answered NOERROR.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use clusterdns_plugin::clog;
use clusterdns_plugin::proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use clusterdns_plugin::proto::rr::{Name, RecordType};

/// miekg's client timeout for each try.
const TIMEOUT: Duration = Duration::from_secs(2);
const TRIES: usize = 3;

/// Sends NOTIFY for `zone` to every address, in the background.
pub fn send(zone: Name, to: Vec<SocketAddr>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        for addr in to {
            if let Err(e) = notify(&zone, addr).await {
                clog::warning(Some("transfer"), format_args!("Failed sending notifies: {e}"));
            }
        }
    });
}

async fn notify(zone: &Name, to: SocketAddr) -> Result<(), String> {
    let mut m = Message::new(rand::random(), MessageType::Query, OpCode::Notify);
    m.metadata.authoritative = true;
    m.queries.push(Query::query(zone.clone(), RecordType::SOA));
    let bytes = m.to_vec().map_err(|e| e.to_string())?;
    let local: SocketAddr = match to {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let mut last = format!("rcode was {:?}", ResponseCode::ServFail.to_str());
    for _ in 0..TRIES {
        let socket = tokio::net::UdpSocket::bind(local)
            .await
            .map_err(|e| e.to_string())?;
        if let Err(e) = socket.send_to(&bytes, to).await {
            last = e.to_string();
            continue;
        }
        let mut buf = [0u8; 512];
        match tokio::time::timeout(TIMEOUT, socket.recv_from(&mut buf)).await {
            Ok(Ok((n, from))) if from == to => match Message::from_vec(&buf[..n]) {
                Ok(reply) if reply.metadata.id == m.metadata.id => {
                    if reply.metadata.response_code == ResponseCode::NoError {
                        return Ok(());
                    }
                    last = format!("rcode was {:?}", reply.metadata.response_code.to_str());
                }
                _ => last = "a reply that is not one".to_string(),
            },
            Ok(Ok(_)) => last = "a reply from elsewhere".to_string(),
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = "i/o timeout".to_string(),
        }
    }
    Err(format!(
        "notify for zone {:?} was not accepted by {:?}: {last}",
        zone.to_string(),
        to.to_string()
    ))
}
