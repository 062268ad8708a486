//! Connections: the accept loop in front of the router, with time-outs and a cap, so that
//! slow or idle clients cannot hold every connection and starve Twilio's webhooks
//! (`axum::serve` has neither).
//!
//! Each connection is watched by its own task, from three facts it keeps up to date: the
//! requests in flight, when the head being read began, and when it last did anything.
//! - A request's head (request line and headers) must arrive within `header_timeout` of its
//!   first byte; a new connection must send its first head within `header_timeout` of
//!   connecting. A client trickling a header byte by byte is closed at that deadline.
//! - A keep-alive connection waiting for its next request is closed after `idle_timeout`.
//! - A connection with a request in flight is left to the request time-out (`TimeoutLayer`).
//! - At most `max_connections` are open. When all are taken, every connection that has had
//!   nothing in progress for a second (idle keep-alive, or connected and silent) is closed to
//!   make room, and new connections wait in the listen backlog until a slot is free.
//!
//! hyper's own `header_read_timeout` is not used: in hyper 1.x its clock also runs while a
//! keep-alive connection waits for its next request, so it would close idle connections at
//! the header time-out and make a separate idle time-out impossible.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::{Extension, Router};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tower::{Layer, Service, ServiceExt};

use crate::config::Settings;

/// How long clients may take, and how many may be connected at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Limits {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            header_timeout: settings.header_timeout,
            idle_timeout: settings.idle_timeout,
            max_connections: settings.max_connections,
        }
    }
}

/// Connections the kernel completes for us while we are busy (or at the cap) before it drops
/// new ones, capped by `net.core.somaxconn`. The default of the standard library and tokio,
/// 128, is a burst of webhooks; a dropped SYN costs a client a second or more.
const BACKLOG: u32 = 1024;

/// A listener on `address` with a backlog of [`BACKLOG`].
pub fn listen(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does on Unix: a restart may bind while old connections linger.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(BACKLOG)
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets the
/// requests in flight finish and closes idle connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    // Bumped when every slot is taken: connections with nothing in progress close.
    let (make_room, _) = watch::channel(0u64);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut http1 = hyper::server::conn::http1::Builder::new();
    // hyper's header time-out would also close idle keep-alive connections: see above.
    http1.header_read_timeout(None).keep_alive(true);
    let mut warned_full: Option<Instant> = None;
    'accept: loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                metrics::counter!("http_connection_cap_reached_total").increment(1);
                if warned_full.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                    warned_full = Some(Instant::now());
                    tracing::warn!(
                        max = limits.max_connections,
                        "every connection slot is taken: closing idle connections to make room"
                    );
                }
                // Asked again every second: a connection too young to be closed the first
                // time may be idle enough the next.
                loop {
                    make_room.send_modify(|n| *n += 1);
                    tokio::select! {
                        slot = slots.clone().acquire_owned() => {
                            break slot.expect("the semaphore is never closed");
                        }
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = &mut shutdown => break 'accept,
                    }
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break 'accept,
        };
        // What `ConnectInfo<SocketAddr>` extracts, as axum's connect-info service adds it.
        let service = Extension(ConnectInfo(peer))
            .layer(router.clone())
            .map_request(|req: hyper::Request<Incoming>| req.map(Body::new));
        let watch = Arc::new(Watch::new());
        let io = TokioIo::new(Watched {
            inner: stream,
            watch: watch.clone(),
        });
        let service = TowerToHyperService::new(Tracked {
            inner: service,
            watch: watch.clone(),
        });
        let connection = graceful.watch(http1.serve_connection(io, service));
        let room_wanted = make_room.subscribe();
        tokio::spawn(async move {
            let _slot = slot;
            let _open = OpenConnection::count();
            tokio::select! {
                result = connection => {
                    if let Err(e) = result {
                        tracing::trace!(error = %e, "connection ended with an error");
                    }
                }
                reason = watch.expired(limits, room_wanted) => {
                    tracing::debug!(%peer, reason, "connection closed");
                    metrics::counter!("http_connections_closed_total", "reason" => reason)
                        .increment(1);
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// As `axum::serve` does: a connection that failed before we took it is nothing to wait for;
/// anything else (too many open files) is waited out rather than spun on.
async fn accept_failed(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed; retrying in a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Counts open connections in `http_open_connections` for as long as it lives.
struct OpenConnection;

impl OpenConnection {
    fn count() -> Self {
        metrics::gauge!("http_open_connections").increment(1.0);
        Self
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!("http_open_connections").decrement(1.0);
    }
}

const NONE: u64 = u64::MAX;

/// How long a connection must have had nothing in progress to be closed to make room.
const MAKE_ROOM_AFTER: Duration = Duration::from_secs(1);

/// What a connection is doing, kept by its reads and its requests, read by its watcher (all
/// in the connection's task). Times are milliseconds since the connection was accepted.
struct Watch {
    accepted: Instant,
    in_flight: AtomicU32,
    /// When the head being awaited began: its first byte, or for a new connection its accept
    /// (it has to send a head, not only keep quiet); `NONE` while waiting for the next one.
    head_since: AtomicU64,
    /// Whether a byte of that head has come.
    head_bytes: AtomicBool,
    /// When the last request ended.
    idle_since: AtomicU64,
    /// Wakes the watcher when a head begins: its deadline is then sooner than the idle one.
    head_started: Notify,
}

impl Watch {
    fn new() -> Self {
        Self {
            accepted: Instant::now(),
            in_flight: AtomicU32::new(0),
            head_since: AtomicU64::new(0),
            head_bytes: AtomicBool::new(false),
            idle_since: AtomicU64::new(0),
            head_started: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        self.accepted.elapsed().as_millis() as u64
    }

    /// Bytes came in. Between requests they begin a head, whose clock starts now. (Bytes read
    /// while a request is in flight are its body, or a pipelined request: not counted.)
    fn read(&self) {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return;
        }
        self.head_bytes.store(true, Ordering::Relaxed);
        if self.head_since.load(Ordering::Relaxed) == NONE {
            self.head_since.store(self.now(), Ordering::Relaxed);
            self.head_started.notify_one();
        }
    }

    /// A request's head was read whole: the request is the handlers' now.
    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_since.store(NONE, Ordering::Relaxed);
        self.head_bytes.store(false, Ordering::Relaxed);
    }

    fn request_ended(&self) {
        self.idle_since.store(self.now(), Ordering::Relaxed);
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// Nothing in progress for a while: no request in flight, no byte of a head, for
    /// [`MAKE_ROOM_AFTER`] (a client that connected and sent nothing counts). The wait spares a
    /// client whose request is in the socket but not yet read.
    fn idle(&self) -> bool {
        let quiet_since = match self.in_flight.load(Ordering::Relaxed) {
            0 => self.idle_since.load(Ordering::Relaxed),
            _ => return false,
        };
        !self.head_bytes.load(Ordering::Relaxed)
            && self.now().saturating_sub(quiet_since) >= MAKE_ROOM_AFTER.as_millis() as u64
    }

    /// When this connection is due to be closed, and why; `None` while a request is in flight.
    fn deadline(&self, limits: Limits) -> Option<(u64, &'static str)> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let millis = |d: Duration| d.as_millis() as u64;
        Some(match self.head_since.load(Ordering::Relaxed) {
            NONE => (
                self.idle_since.load(Ordering::Relaxed) + millis(limits.idle_timeout),
                "idle_timeout",
            ),
            since => (since + millis(limits.header_timeout), "header_timeout"),
        })
    }

    /// Resolves, with the reason, when the connection should be closed.
    async fn expired(
        self: Arc<Self>,
        limits: Limits,
        mut room_wanted: watch::Receiver<u64>,
    ) -> &'static str {
        // A request in flight ends by itself (or by the request time-out); look again after
        // this long, never later than an idle or header deadline that may follow it.
        let busy_check = limits.header_timeout.min(limits.idle_timeout);
        let mut make_room = true;
        loop {
            let wait = match self.deadline(limits) {
                Some((at, reason)) => match at.checked_sub(self.now()) {
                    Some(left) if left > 0 => Duration::from_millis(left),
                    _ => return reason,
                },
                None => busy_check,
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.head_started.notified() => {}
                changed = room_wanted.changed(), if make_room => {
                    if changed.is_err() {
                        // The server stopped accepting: nobody will ask again.
                        make_room = false;
                    } else if self.idle() {
                        return "make_room";
                    }
                }
            }
        }
    }
}

/// The socket, telling its connection's [`Watch`] when bytes come in. Writes pass through.
struct Watched {
    inner: TcpStream,
    watch: Arc<Watch>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.watch.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The router, telling its connection's [`Watch`] when a request starts and ends.
#[derive(Clone)]
struct Tracked<S> {
    inner: S,
    watch: Arc<Watch>,
}

/// Ends the request for the watch however its future ends (answered or dropped).
struct InFlight(Arc<Watch>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

impl<S, R> Service<R> for Tracked<S>
where
    S: Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        self.watch.request_started();
        let in_flight = InFlight(self.watch.clone());
        let future = self.inner.call(req);
        Box::pin(async move {
            let response = future.await;
            drop(in_flight);
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        max_connections: 1,
    };

    #[test]
    fn each_phase_of_a_connection_has_its_deadline() {
        let watch = Watch::new();
        // A new connection owes its first head within the header time-out, bytes or not.
        assert_eq!(watch.deadline(LIMITS), Some((10_000, "header_timeout")));
        watch.read();
        assert_eq!(watch.deadline(LIMITS), Some((10_000, "header_timeout")));
        watch.request_started();
        assert_eq!(
            watch.deadline(LIMITS),
            None,
            "the request time-out's business"
        );
        watch.read(); // its body
        assert_eq!(watch.deadline(LIMITS), None);
        watch.request_ended();
        let (at, why) = watch.deadline(LIMITS).unwrap();
        assert_eq!(why, "idle_timeout");
        assert!((60_000..61_000).contains(&at), "{at}");
        assert!(!watch.idle(), "too recent to be closed to make room");
        // The next head's first byte starts its own clock.
        watch.read();
        let (at, why) = watch.deadline(LIMITS).unwrap();
        assert_eq!(why, "header_timeout");
        assert!((10_000..11_000).contains(&at), "{at}");
        watch.read(); // more of the same head: the clock does not restart
        assert_eq!(watch.deadline(LIMITS).unwrap().0, at);
    }
}
