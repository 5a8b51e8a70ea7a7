//! The client side of a zone transfer: AXFR over TCP (RFC 5936) and the SOA check before it.

use std::net::SocketAddr;
use std::time::Duration;

use clusterdns_plugin::proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use clusterdns_plugin::proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// miekg's dial timeout, and how long each message may take to arrive.
const TIMEOUT: Duration = Duration::from_secs(2);
/// The most a transfer may bring, in message bytes: what `file` reads at most from a zone
/// file (a primary sending without end must not fill memory).
const MAX_BYTES: usize = 64 << 20;

/// The zone's records as the primary sent them, both SOAs included (the first opens, the last
/// closes the transfer).
pub async fn axfr(zone: &Name, from: SocketAddr) -> Result<Vec<Record>, String> {
    let mut stream = connect(from).await?;
    let id = send(&mut stream, zone, RecordType::AXFR).await?;
    let mut records = Vec::new();
    let mut soas = 0;
    let mut read = 0;
    while soas < 2 {
        let (m, size) = receive(&mut stream, id).await?;
        read += size;
        if read > MAX_BYTES {
            return Err(format!("more than {MAX_BYTES} bytes"));
        }
        for r in m.answers {
            if r.record_type() == RecordType::SOA {
                soas += 1;
            } else if soas == 0 {
                return Err("the transfer does not start with the SOA".to_string());
            }
            if soas < 2 {
                records.push(r);
            }
        }
    }
    Ok(records)
}

/// The zone's serial at `from`, asked over TCP (CoreDNS: to make spoofing harder).
pub async fn serial(zone: &Name, from: SocketAddr) -> Result<u32, String> {
    let mut stream = connect(from).await?;
    let id = send(&mut stream, zone, RecordType::SOA).await?;
    let (m, _) = receive(&mut stream, id).await?;
    m.answers
        .iter()
        .find_map(|r| match &r.data {
            RData::SOA(soa) => Some(soa.serial),
            _ => None,
        })
        .ok_or_else(|| format!("no SOA for {zone} at {from}"))
}

async fn connect(to: SocketAddr) -> Result<TcpStream, String> {
    match tokio::time::timeout(TIMEOUT, TcpStream::connect(to)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(format!("dial tcp {to}: {e}")),
        Err(_) => Err(format!("dial tcp {to}: i/o timeout")),
    }
}

async fn send(stream: &mut TcpStream, zone: &Name, qtype: RecordType) -> Result<u16, String> {
    let id: u16 = rand::random();
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.queries.push(Query::query(zone.clone(), qtype));
    let bytes = m.to_vec().map_err(|e| e.to_string())?;
    let len = u16::try_from(bytes.len()).map_err(|e| e.to_string())?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    stream.write_all(&framed).await.map_err(|e| e.to_string())?;
    Ok(id)
}

/// The next message of the exchange and its size on the wire: it must answer the query,
/// NOERROR.
async fn receive(stream: &mut TcpStream, id: u16) -> Result<(Message, usize), String> {
    let read = async {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    let buf = match tokio::time::timeout(TIMEOUT, read).await {
        Ok(Ok(buf)) => buf,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err("i/o timeout".to_string()),
    };
    let m = Message::from_vec(&buf).map_err(|e| e.to_string())?;
    if m.metadata.id != id {
        return Err("id mismatch".to_string());
    }
    if m.metadata.response_code != ResponseCode::NoError {
        return Err(format!("bad xfr rcode: {}", u16::from(m.metadata.response_code)));
    }
    Ok((m, buf.len()))
}
