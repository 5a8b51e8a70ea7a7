//! The link holding node-cache's local IPs (kubernetes/dns pkg/netif): a dummy link, never set
//! up, each IP on it as a host address; an existing link of the name is reused, whatever its
//! kind. Through rtnetlink, as node-cache uses netlink.

use std::net::IpAddr;

use futures::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags};
use rtnetlink::{Handle, LinkDummy};

/// A netlink failure, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("opening a netlink socket: {0}")]
    Connect(#[from] std::io::Error),
    #[error("{doing}: {source}")]
    Netlink {
        doing: String,
        #[source]
        source: rtnetlink::Error,
    },
}

fn failed(doing: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> LinkError {
    let doing = doing.into();
    move |source| LinkError::Netlink { doing, source }
}

/// Creates, checks and removes the link.
pub struct LinkManager {
    ips: Vec<IpAddr>,
}

/// A netlink connection for one check, served by a task on the current runtime; it ends when
/// its handle is dropped, so its buffers are not held between checks (once a minute).
struct Session {
    handle: Handle,
    ips: Vec<IpAddr>,
}

impl LinkManager {
    pub fn new(ips: Vec<IpAddr>) -> Self {
        Self { ips }
    }

    fn session(&self) -> Result<Session, LinkError> {
        let (connection, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(connection);
        Ok(Session {
            handle,
            ips: self.ips.clone(),
        })
    }

    /// node-cache's `EnsureDummyDevice`: an existing link gets each address (again; errors
    /// ignored, as there) and `Ok(true)`; otherwise a dummy link is made with the addresses
    /// (`Ok(false)`).
    pub async fn ensure(&self, name: &str) -> Result<bool, LinkError> {
        self.session()?.ensure(name).await
    }

    /// Deletes the link called `name` (with its addresses).
    pub async fn remove(&self, name: &str) -> Result<(), LinkError> {
        self.session()?.remove(name).await
    }
}

impl Session {
    /// The index of the link called `name`, if there is one.
    async fn index_of(&self, name: &str) -> Result<Option<u32>, LinkError> {
        let mut links = self.handle.link().get().match_name(name.to_string()).execute();
        match links.try_next().await {
            Ok(link) => Ok(link.map(|l| l.header.index)),
            // ENODEV: no such link.
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -19 => Ok(None),
            Err(e) => Err(failed(format!("looking up link {name}"))(e)),
        }
    }

    async fn add_addresses(&self, index: u32) -> Result<(), LinkError> {
        for ip in &self.ips {
            let prefix = if ip.is_ipv4() { 32 } else { 128 };
            let mut request = self.handle.address().add(index, *ip, prefix).replace();
            if ip.is_ipv6() {
                // No duplicate address detection, as on a dummy link (NOARP): on a reused link
                // that does neighbour discovery, the address would stay tentative while the
                // link is down, and binding it would fail.
                request
                    .message_mut()
                    .attributes
                    .push(AddressAttribute::Flags(AddressFlags::Nodad));
            }
            request
                .execute()
                .await
                .map_err(failed(format!("adding {ip}/{prefix}")))?;
        }
        Ok(())
    }

    async fn ensure(&self, name: &str) -> Result<bool, LinkError> {
        if let Some(index) = self.index_of(name).await? {
            let _ = self.add_addresses(index).await;
            return Ok(true);
        }
        self.handle
            .link()
            .add(LinkDummy::new(name).build())
            .execute()
            .await
            .map_err(failed(format!("adding dummy link {name}")))?;
        let index = self
            .index_of(name)
            .await?
            .ok_or_else(|| failed(format!("finding new link {name}"))(rtnetlink::Error::RequestFailed))?;
        self.add_addresses(index).await?;
        Ok(false)
    }

    async fn remove(&self, name: &str) -> Result<(), LinkError> {
        let index = self
            .index_of(name)
            .await?
            .ok_or_else(|| failed(format!("finding link {name}"))(rtnetlink::Error::RequestFailed))?;
        self.handle
            .link()
            .del(index)
            .execute()
            .await
            .map_err(failed(format!("deleting link {name}")))
    }
}
