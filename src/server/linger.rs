//! Lingering close: how a connection's socket is closed once hyper is done
//! with it (after a `Connection: close`, a timeout, a parse error, or a
//! graceful shutdown).
//!
//! Closing a TCP socket that still has unread input makes the kernel send a
//! reset, and a reset throws away whatever of the last response had not yet
//! reached the client: a pipelining client cut off by a shutdown, or one sent
//! a `400` or `431` before its whole request was read, would get a truncated
//! response or none. So, as nginx's `lingering_close` does, the server first
//! ends its side (`shutdown(SHUT_WR)`: the client reads the rest of the
//! response and then the end), then reads and discards what the client
//! still sends, until the client closes too or [`LINGER`] passes, and only
//! then closes the socket.
//!
//! A client that keeps sending is cut off after [`LINGER`]; the time counts
//! against the connection's place under `max_connections` and within the
//! shutdown timeout, like any other.

use std::io;
use std::net::Shutdown;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

/// The longest a closing connection is read from before it is closed anyway.
pub(crate) const LINGER: Duration = Duration::from_secs(2);

/// Ends the server's side of `stream`, drains it for at most `limit`, and closes it.
pub(crate) async fn close(stream: TcpStream, limit: Duration) {
    // Already shut down by hyper after a clean end; an error here only means that.
    let _ = socket2::SockRef::from(&stream).shutdown(Shutdown::Write);
    let deadline = Instant::now() + limit;
    let mut discard = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.readable()).await {
            Ok(Ok(())) => match stream.try_read(&mut discard) {
                Ok(0) => return,
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            },
            Ok(Err(_)) | Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    use crate::server::tests_support::tcp_pair as pair;

    #[tokio::test]
    async fn unread_input_does_not_cost_the_client_the_response() {
        let (mut server, mut client) = pair().await;
        // The client sends more than the server reads, and reads the reply late.
        client.write_all(&[b'x'; 64 * 1024]).await.unwrap();
        let reply = vec![b'r'; 256 * 1024];
        server.write_all(&reply).await.unwrap();
        let closing = tokio::spawn(close(server, Duration::from_secs(5)));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut received = Vec::new();
        client
            .read_to_end(&mut received)
            .await
            .expect("an end, not a reset");
        assert_eq!(received, reply);
        drop(client);
        closing.await.unwrap();
    }

    #[tokio::test]
    async fn a_client_that_keeps_sending_is_cut_off_after_the_limit() {
        let (server, mut client) = pair().await;
        let closing = tokio::spawn(close(server, Duration::from_millis(300)));
        // Without the limit the close would wait on this client forever; the
        // deadline only bounds the test on a loaded machine, it measures nothing.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !closing.is_finished() && tokio::time::Instant::now() < deadline {
            if client.write_all(b"more").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::timeout_at(deadline, closing)
            .await
            .expect("the close ended while the client kept sending")
            .unwrap();
    }
}
