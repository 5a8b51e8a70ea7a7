//! Listening sockets as CoreDNS opens them (`reuseport.Listen`): with SO_REUSEPORT, so a reload
//! can bind a listener's replacement before the old one closes (a block moved from `bind
//! 127.0.0.1` to every interface on the same port, a `ready` whose options changed).

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Connections waiting to be accepted (Go's listen backlog is the kernel's somaxconn).
const BACKLOG: i32 = 4096;

fn socket(addr: SocketAddr, kind: Type, protocol: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), kind, Some(protocol))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        // `[::]` takes IPv4 too, as Go's `:53` does.
        socket.set_only_v6(false)?;
    }
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// A TCP listener on `addr`, non-blocking, for tokio.
pub fn tcp(addr: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let socket = socket(addr, Type::STREAM, Protocol::TCP)?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(socket.into())
}

/// A UDP socket on `addr`, blocking.
pub fn udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    Ok(socket(addr, Type::DGRAM, Protocol::UDP)?.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listener's replacement binds while it still listens, as during a reload.
    #[tokio::test]
    async fn a_second_listener_binds_beside_the_first() {
        let first = tcp(SocketAddr::from(([127, 0, 0, 1], 0))).expect("tcp");
        let at = first.local_addr().expect("addr");
        let _second = tcp(at).expect("second tcp on the same address");
        let udp_first = udp(at).expect("udp");
        let _udp_second = udp(udp_first.local_addr().expect("addr")).expect("second udp");
    }
}
