//! Listening: one socket per worker, all bound to the same address with
//! `SO_REUSEPORT`, so that the kernel spreads connections over the workers
//! and no request crosses threads. Sockets have `TCP_NODELAY`.
//!
//! Because `SO_REUSEPORT` would let a second server of the same user share a
//! port silently, a port in use is first probed with a plain socket.
//!
//! Only binding lives here; accepting is the workers' (`worker.rs`).

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// One listener per worker, all on the same address; with port 0, the port
/// the first one got.
pub(crate) fn bind_all(addr: SocketAddr, count: usize) -> io::Result<Vec<TcpListener>> {
    if addr.port() != 0 {
        refuse_a_port_in_use(addr)?;
    }
    let first = bind_one(addr)?;
    let addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..count {
        listeners.push(bind_one(addr)?);
    }
    Ok(listeners)
}

/// SO_REUSEPORT would let this server share a port that another process of
/// the same user already listens on (say, a second broadsheet), splitting
/// connections between the two. A plain socket cannot bind a port in use, so
/// binding one first makes that an error.
fn refuse_a_port_in_use(addr: SocketAddr) -> io::Result<()> {
    let probe = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    probe.set_reuse_address(true)?;
    probe.bind(&addr.into())?;
    Ok(())
}

fn bind_one(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}
