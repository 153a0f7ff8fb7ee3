//! One HTTP/2 connection to an upstream, opened on first use and reopened after it fails.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use h2::{Ping, PingPong};
use http::uri::Authority;
use http::{HeaderMap, Request, StatusCode};
use tokio::net::TcpStream;

/// A connection attempt that takes longer than this counts as the service being down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Keeps idle connections alive through NATs and finds peers that vanished without a FIN.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// A keepalive ping unanswered this long closes the connection.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// Large enough that a page of records never waits for a window update.
const STREAM_WINDOW: u32 = 2 * 1024 * 1024;
const CONNECTION_WINDOW: u32 = 5 * 1024 * 1024;

/// Why a call got no reply: the connection could not be opened, or HTTP/2 failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("connect: {0}")]
    Connect(#[from] std::io::Error),
    #[error("http/2: {0}")]
    Http2(#[from] h2::Error),
}

/// What came back: the status and headers, the body, and the trailers if the body had any.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub trailers: Option<HeaderMap>,
}

/// The open connection's request handle and its number.
type Slot = Mutex<Option<(u64, SendRequest<Bytes>)>>;

#[derive(Debug)]
pub struct Link {
    authority: Authority,
    /// The open connection's request handle and its number; `None` before the first call and
    /// after the connection failed (its driver task clears the slot when it ends).
    sender: Arc<Slot>,
    opened: AtomicU64,
    /// One connect at a time, so a burst after a failure opens one connection, not one per call.
    connecting: tokio::sync::Mutex<()>,
}

impl Link {
    pub fn new(authority: Authority) -> Self {
        Self {
            authority,
            sender: Arc::new(Mutex::new(None)),
            opened: AtomicU64::new(0),
            connecting: tokio::sync::Mutex::new(()),
        }
    }

    /// Sends one request with its whole body and reads the whole reply.
    pub async fn call(&self, request: Request<()>, body: Bytes) -> Result<Reply, CallError> {
        let (number, sender) = self.ready_sender().await?;
        let result = exchange(sender, request, body).await;
        if let Err(error) = &result
            && (error.is_io() || error.is_go_away())
        {
            forget(&self.sender, number);
        }
        Ok(result?)
    }

    /// A connection ready for a new stream. One the server is closing (GOAWAY, as services do
    /// at their maximum connection age) refuses new streams until its driver ends: the call then
    /// goes on a new connection, which the load balancer may send to a newer pod. Nothing was
    /// sent on the old one, so this cannot run a call twice.
    /// Starts a call whose reply is read as it comes (server streaming): sends the request and
    /// waits for the reply head only.
    pub async fn open(
        &self,
        request: Request<()>,
        body: Bytes,
    ) -> Result<(http::response::Parts, h2::RecvStream), CallError> {
        let (number, mut sender) = self.ready_sender().await?;
        let opened = async {
            let (response, mut stream) = sender.send_request(request, false)?;
            stream.send_data(body, true)?;
            Ok::<_, h2::Error>(response.await?.into_parts())
        }
        .await;
        if let Err(error) = &opened
            && (error.is_io() || error.is_go_away())
        {
            forget(&self.sender, number);
        }
        Ok(opened?)
    }

    async fn ready_sender(&self) -> Result<(u64, SendRequest<Bytes>), CallError> {
        let (number, sender) = self.sender().await?;
        let error = match sender.ready().await {
            Ok(ready) => return Ok((number, ready)),
            Err(error) => error,
        };
        forget(&self.sender, number);
        tracing::debug!(%error, authority = %self.authority, "connection closing, opening another");
        let (number, sender) = self.sender().await?;
        match sender.ready().await {
            Ok(ready) => Ok((number, ready)),
            Err(error) => {
                forget(&self.sender, number);
                Err(error.into())
            }
        }
    }

    async fn sender(&self) -> Result<(u64, SendRequest<Bytes>), CallError> {
        if let Some(open) = self.current() {
            return Ok(open);
        }
        let _connecting = self.connecting.lock().await;
        if let Some(open) = self.current() {
            return Ok(open);
        }
        let number = self.opened.fetch_add(1, Ordering::Relaxed) + 1;
        let sender = connect(&self.authority, number, self.sender.clone()).await?;
        Ok((number, sender))
    }

    fn current(&self) -> Option<(u64, SendRequest<Bytes>)> {
        self.sender.lock().ok().and_then(|slot| slot.clone())
    }
}

/// Empties the slot if it still holds connection `number` (a newer one stays).
fn forget(slot: &Slot, number: u64) {
    if let Ok(mut slot) = slot.lock()
        && slot.as_ref().is_some_and(|(held, _)| *held == number)
    {
        *slot = None;
    }
}

/// One call on a sender that is ready for it.
async fn exchange(
    mut sender: SendRequest<Bytes>,
    request: Request<()>,
    body: Bytes,
) -> Result<Reply, h2::Error> {
    let (response, mut stream) = sender.send_request(request, false)?;
    // Queued without reserving capacity: h2 sends it with the HEADERS frame when the window
    // allows (a request is far below the initial 64 KiB window).
    stream.send_data(body, true)?;
    let (parts, mut received) = response.await?.into_parts();
    // Most replies arrive as one DATA frame: keep it as is and copy only when more follow.
    let mut first: Option<Bytes> = None;
    let mut joined = bytes::BytesMut::new();
    while let Some(chunk) = received.data().await {
        let chunk = chunk?;
        received.flow_control().release_capacity(chunk.len())?;
        match first.take() {
            None if joined.is_empty() => first = Some(chunk),
            earlier => {
                if let Some(earlier) = earlier {
                    joined.extend_from_slice(&earlier);
                }
                joined.extend_from_slice(&chunk);
            }
        }
    }
    let trailers = received.trailers().await?;
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body: first.unwrap_or_else(|| joined.freeze()),
        trailers,
    })
}

/// Opens connection `number`, puts it in `slot`, and spawns its driver, which empties `slot` when
/// it ends. The slot is filled before the driver starts, so a connection that dies at once cannot
/// be stored after its driver has already cleared it.
async fn connect(
    authority: &Authority,
    number: u64,
    slot: Arc<Slot>,
) -> Result<SendRequest<Bytes>, CallError> {
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(authority.as_str()))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    tcp.set_nodelay(true)?;
    let (sender, mut connection) = h2::client::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .handshake::<_, Bytes>(tcp)
        .await?;
    if let Ok(mut held) = slot.lock() {
        *held = Some((number, sender.clone()));
    }
    let keepalive = connection.ping_pong().map(keep_alive);
    let authority = authority.clone();
    tokio::spawn(async move {
        let outcome = match keepalive {
            Some(keepalive) => tokio::select! {
                outcome = &mut connection => outcome,
                () = keepalive => {
                    tracing::debug!(%authority, "keepalive ping unanswered, closing");
                    Ok(())
                }
            },
            None => connection.await,
        };
        forget(&slot, number);
        if let Err(error) = outcome {
            tracing::debug!(%error, %authority, "upstream connection closed");
        }
    });
    Ok(sender)
}

/// Pings every interval; returns when a ping goes unanswered, which ends the connection.
async fn keep_alive(mut pings: PingPong) {
    loop {
        tokio::time::sleep(KEEPALIVE_INTERVAL).await;
        match tokio::time::timeout(KEEPALIVE_TIMEOUT, pings.ping(Ping::opaque())).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    const REPLY: &[u8] = &[0, 0, 0, 0, 2, 8, 1];

    /// Serves one connection: answers each request with a framed `[8, 1]` message (in one DATA
    /// frame) and an OK status, and closes the connection after `requests` requests.
    async fn serve_one_connection(listener: &TcpListener, requests: usize) {
        serve_in_frames(listener, requests, &[REPLY]).await;
    }

    /// As `serve_one_connection`, sending the reply body as the given DATA frames.
    async fn serve_in_frames(listener: &TcpListener, requests: usize, frames: &[&'static [u8]]) {
        let (tcp, _) = listener.accept().await.expect("accept");
        let mut connection = h2::server::handshake(tcp).await.expect("handshake");
        for _ in 0..requests {
            let Some(accepted) = connection.accept().await else {
                return;
            };
            let (request, mut respond) = accepted.expect("request");
            let mut body = request.into_body();
            while let Some(chunk) = body.data().await {
                let chunk = chunk.expect("chunk");
                let _ = body.flow_control().release_capacity(chunk.len());
            }
            let mut stream = respond
                .send_response(http::Response::new(()), false)
                .expect("headers");
            for frame in frames {
                stream
                    .send_data(Bytes::from_static(frame), false)
                    .expect("data");
            }
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
            stream.send_trailers(trailers).expect("trailers");
        }
        // Let the last reply leave before the connection is dropped.
        let _ = tokio::time::timeout(Duration::from_millis(200), connection.accept()).await;
    }

    fn request(authority: &Authority) -> Request<()> {
        Request::builder()
            .method("POST")
            .uri(format!("http://{authority}/pkg.Service/Method"))
            .body(())
            .expect("request")
    }

    /// A loopback listener for a test server, and the authority that reaches it.
    async fn listen() -> (TcpListener, Authority) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let authority = listener
            .local_addr()
            .expect("address")
            .to_string()
            .parse()
            .expect("authority");
        (listener, authority)
    }

    #[tokio::test]
    async fn a_closed_connection_is_reopened_by_the_next_call() {
        let (listener, authority) = listen().await;
        let server = tokio::spawn(async move {
            serve_one_connection(&listener, 1).await;
            serve_one_connection(&listener, 1).await;
        });
        let link = Link::new(authority.clone());
        let body = Bytes::from_static(&[0, 0, 0, 0, 0]);
        let first = link
            .call(request(&authority), body.clone())
            .await
            .expect("first call");
        assert_eq!(first.body, Bytes::from_static(REPLY));
        // The server closed its end; the driver empties the slot and the next call reconnects
        // (a call racing the close may fail once: that is the 503 the client retries).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let second = loop {
            match link.call(request(&authority), body.clone()).await {
                Ok(reply) => break reply,
                Err(error) if tokio::time::Instant::now() < deadline => {
                    tracing::debug!(%error, "retrying");
                    tokio::task::yield_now().await;
                }
                Err(error) => panic!("never reconnected: {error}"),
            }
        };
        assert_eq!(
            second.trailers.expect("trailers")["grpc-status"],
            "0",
            "the second connection answered"
        );
        assert_eq!(link.opened.load(Ordering::Relaxed), 2);
        server.await.expect("server");
    }

    #[tokio::test]
    async fn a_reply_in_several_frames_is_joined() {
        let (listener, authority) = listen().await;
        let server = tokio::spawn(async move {
            serve_in_frames(&listener, 1, &[&REPLY[..3], &REPLY[3..6], &REPLY[6..]]).await;
        });
        let reply = Link::new(authority.clone())
            .call(request(&authority), Bytes::from_static(&[0, 0, 0, 0, 0]))
            .await
            .expect("call");
        assert_eq!(reply.body, Bytes::from_static(REPLY));
        server.await.expect("server");
    }

    /// Answers `respond` with an OK status and the framed reply.
    fn answer(mut respond: h2::server::SendResponse<Bytes>) {
        let mut stream = respond
            .send_response(http::Response::new(()), false)
            .expect("headers");
        stream
            .send_data(Bytes::from_static(REPLY), false)
            .expect("data");
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        stream.send_trailers(trailers).expect("trailers");
    }

    #[tokio::test]
    async fn a_call_after_the_server_said_goaway_goes_on_a_new_connection() {
        let (listener, authority) = listen().await;
        let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.expect("accept");
            let mut closing = h2::server::handshake(tcp).await.expect("handshake");
            let mut pings = closing.ping_pong().expect("ping-pong");
            let (_, respond) = closing.accept().await.expect("a call").expect("request");
            // GOAWAY while the first call is in flight, as at a maximum connection age: the
            // connection stays open until that call is answered.
            closing.graceful_shutdown();
            let (served_tx, served_rx) = tokio::sync::oneshot::channel();
            let drive = async { while closing.accept().await.is_some() {} };
            let first = async {
                // The pong comes after the client has read the GOAWAY sent before the ping.
                pings.ping(Ping::opaque()).await.expect("pong");
                let _ = seen_tx.send(());
                let _ = served_rx.await;
                answer(respond);
            };
            let second = async {
                serve_one_connection(&listener, 1).await;
                let _ = served_tx.send(());
            };
            tokio::join!(drive, first, second);
        });
        let link = Arc::new(Link::new(authority.clone()));
        let body = Bytes::from_static(&[0, 0, 0, 0, 0]);
        let in_flight = tokio::spawn({
            let (link, authority, body) = (link.clone(), authority.clone(), body.clone());
            async move { link.call(request(&authority), body).await }
        });
        seen_rx.await.expect("the client read the GOAWAY");

        let second = link
            .call(request(&authority), body)
            .await
            .expect("the call went on a new connection");
        assert_eq!(second.body, Bytes::from_static(REPLY));
        assert_eq!(link.opened.load(Ordering::Relaxed), 2);
        let first = in_flight
            .await
            .expect("task")
            .expect("the in-flight call finished");
        assert_eq!(first.body, Bytes::from_static(REPLY));
        server.await.expect("server");
    }

    #[tokio::test]
    async fn nothing_listening_is_a_connect_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let authority: Authority = format!("127.0.0.1:{port}").parse().expect("authority");
        let link = Link::new(authority.clone());
        let error = link
            .call(request(&authority), Bytes::new())
            .await
            .err()
            .expect("no server");
        assert!(matches!(error, CallError::Connect(_)), "{error}");
    }
}
