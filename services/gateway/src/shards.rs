//! Serving on N threads with a single-threaded runtime each (`gateway.shards`).
//!
//! On the multi-threaded runtime, one request can involve three threads: the client
//! connection's task, the upstream connection's task and the I/O driver may each run on another
//! worker. Waking an idle worker costs a context switch, and on a VM sometimes much more (see
//! BENCHMARKS.md, issue 3). Here the acceptor hands each connection to one shard, round-robin,
//! and everything for that connection stays on the shard's thread: its HTTP handling, the
//! handler, and the shard's own upstream connections.

use std::net::SocketAddr;
use std::thread;

use axum::Router;
use axum::serve::{Listener, ListenerExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Accepted sockets on their way to a shard; taken off the acceptor's runtime first, since a
/// socket is registered with the reactor of the runtime that polls it.
type Handoff = (std::net::TcpStream, SocketAddr);

/// One shard's end of the handoff, as a listener `axum::serve` can run on.
struct ShardListener {
    incoming: mpsc::UnboundedReceiver<Handoff>,
    local_addr: SocketAddr,
}

impl Listener for ShardListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let Some((socket, remote)) = self.incoming.recv().await else {
                // The acceptor stopped: no more connections, and the shutdown signal that
                // stopped it ends this shard's serve loop.
                return std::future::pending().await;
            };
            match TcpStream::from_std(socket) {
                Ok(stream) => return (stream, remote),
                Err(error) => tracing::warn!(%error, "cannot register an accepted connection"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local_addr)
    }
}

/// Serves `listener` on one shard per app until `stop` fires, then lets every shard finish its
/// in-flight requests (as `axum::serve`'s graceful shutdown does) before returning.
pub async fn serve(
    listener: TcpListener,
    apps: Vec<Router>,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let local_addr = listener.local_addr()?;
    let mut handoffs = Vec::with_capacity(apps.len());
    let mut finished = Vec::with_capacity(apps.len());
    for (index, app) in apps.into_iter().enumerate() {
        let (handoff, incoming) = mpsc::unbounded_channel();
        let (done, finished_rx) = oneshot::channel::<()>();
        let shard = ShardListener {
            incoming,
            local_addr,
        };
        let stop = stop.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        thread::Builder::new()
            .name(format!("gateway-shard-{index}"))
            .spawn(move || {
                let listener = shard.tap_io(|tcp| {
                    if let Err(error) = tcp.set_nodelay(true) {
                        tracing::debug!(%error, "cannot set TCP_NODELAY");
                    }
                });
                let served = runtime.block_on(
                    axum::serve(
                        listener,
                        app.into_make_service_with_connect_info::<SocketAddr>(),
                    )
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .into_future(),
                );
                if let Err(error) = served {
                    tracing::error!(%error, shard = index, "shard stopped");
                }
                // Tasks still on the runtime (idle upstream connections) are dropped with it.
                drop(runtime);
                let _ = done.send(());
            })?;
        handoffs.push(handoff);
        finished.push(finished_rx);
    }

    let mut listener = listener;
    let mut next = 0usize;
    loop {
        let (stream, remote) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = Listener::accept(&mut listener) => accepted,
        };
        let socket = match stream.into_std() {
            Ok(socket) => socket,
            Err(error) => {
                tracing::warn!(%error, "cannot hand over an accepted connection");
                continue;
            }
        };
        if handoffs[next % handoffs.len()]
            .send((socket, remote))
            .is_err()
        {
            tracing::warn!(
                shard = next % handoffs.len(),
                "shard is gone; connection dropped"
            );
        }
        next = next.wrapping_add(1);
    }
    drop(handoffs);
    drop(listener);
    for shard in finished {
        // An error means the shard's thread ended without reporting, e.g. after a panic.
        let _ = shard.await;
    }
    Ok(())
}
