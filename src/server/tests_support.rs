//! Helpers for the server modules' unit tests; never built outside tests.

use tokio::net::{TcpListener, TcpStream};

/// A connected pair of sockets on loopback: (server's end, client's end).
pub(crate) async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (server, client)
}
