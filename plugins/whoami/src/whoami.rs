//! The `whoami` handler, as CoreDNS's: AA set, no answer, the client in the additional section.

use clusterdns_plugin::proto::op::ResponseCode;
use clusterdns_plugin::proto::rr::rdata::{A, AAAA, SRV};
use clusterdns_plugin::proto::rr::{Name, RData, Record};
use clusterdns_plugin::{Handler, Next, PluginError, Reply, Request};

/// Answers with the client's IP (A or AAAA) and `_udp|_tcp.<qname>` SRV carrying its port,
/// both with TTL 0 and the query's class.
pub struct Whoami;

#[async_trait::async_trait]
impl Handler for Whoami {
    fn name(&self) -> &'static str {
        "whoami"
    }

    async fn serve(&self, req: &mut Request, _next: Next<'_>) -> Result<Reply, PluginError> {
        let mut reply = req.reply();
        reply.metadata.authoritative = true;
        let qname = req.qname().clone();
        let ip = match req.client.ip() {
            std::net::IpAddr::V4(v4) => RData::A(A(v4)),
            std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => RData::A(A(v4)),
                None => RData::AAAA(AAAA(v6)),
            },
        };
        let mut addr = Record::from_rdata(qname.clone(), 0, ip);
        addr.dns_class = req.qclass();
        let proto = Name::from_ascii(format!("_{}", req.transport.as_str()))
            .and_then(|label| label.append_domain(&qname))
            .map_err(|e| PluginError::in_plugin("whoami", ResponseCode::ServFail, e))?;
        let mut srv = Record::from_rdata(
            proto,
            0,
            RData::SRV(SRV::new(0, 0, req.client.port(), Name::root())),
        );
        srv.dns_class = req.qclass();
        reply.additionals = vec![addr, srv];
        Ok(Reply::Answer(reply))
    }
}
