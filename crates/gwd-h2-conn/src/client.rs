//! The client role on a plain HTTP/2 connection (to a server, not down a
//! reverse tunnel): [`handshake`] over any byte stream, then
//! [`Client::send_request`], any number at once.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use gwd_h2_conn::{ClientOptions, IncomingBody, IncomingRequest, Mux, NoObserver, handshake};
//! use gwd_head::{Fields, Method, RequestHead, StatusCode, Uri, Version};
//! use gwd_mux_h2::conn::{Config, Connection, Role};
//!
//! let (client_io, server_io) = tokio::io::duplex(64 * 1024);
//! // A server echoing the request body.
//! let server = Mux::new(Connection::new(Config::new(Role::Server)), Arc::new(NoObserver));
//! let driver = server.clone();
//! tokio::spawn(async move {
//!     driver
//!         .drive(server_io, |req: IncomingRequest| {
//!             tokio::spawn(async move {
//!                 let body = IncomingBody::new(req.stream.clone());
//!                 let got = body.collect_bytes(1024).await.unwrap_or_default();
//!                 let _ = req.stream.send_response(StatusCode::OK, &Fields::new(), false);
//!                 let _ = req.stream.send_data(got, true).await;
//!             });
//!         })
//!         .await
//! });
//!
//! let client = handshake(client_io, &ClientOptions::default(), ()).await?;
//! let head = RequestHead {
//!     method: Method::POST,
//!     uri: Uri::from_static("http://app.example/echo"),
//!     version: Version::HTTP_2,
//!     fields: Fields::new(),
//! };
//! let body = http_body_util::Full::new(Bytes::from_static(b"ping"));
//! let (resp, body) = client.send_request(head, Some(body)).await?;
//! assert_eq!(resp.status, StatusCode::OK);
//! assert_eq!(body.collect_bytes(1024).await?, "ping");
//! # Ok(())
//! # }
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use gwd_head::{RequestHead, ResponseHead};
use gwd_mux_h2::conn::{Config, Connection, GoAway, Role, SendErrorKind};
use gwd_mux_h2::frame::{ErrorCode, Settings};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::AbortHandle;

use crate::body::{BoxError, IncomingBody, pump};
use crate::error::BodyError;
use crate::mux::Mux;
use crate::observer::ConnObserver;

/// What this side announces on a client connection.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Our SETTINGS_INITIAL_WINDOW_SIZE: how much of each response body
    /// the server may send before it is read.
    pub initial_window_size: u32,
    /// Our connection-level receive window (all responses together).
    pub connection_window: u32,
}

impl Default for ClientOptions {
    /// 1 MiB per stream, 4 MiB per connection.
    fn default() -> Self {
        ClientOptions {
            initial_window_size: 1 << 20,
            connection_window: 4 << 20,
        }
    }
}

/// Why [`handshake`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// Reading the connection failed before the server's SETTINGS.
    #[error("{0}")]
    Io(std::io::Error),
    /// The server closed the connection (or broke HTTP/2) before its
    /// SETTINGS.
    #[error("connection closed before the server's SETTINGS")]
    Closed,
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The request never left: the connection was closed or going away
    /// (or the head cannot be sent in HTTP/2: [`SendErrorKind::InvalidHead`]).
    #[error("request not sent: {0:?}")]
    NotSent(SendErrorKind),
    /// The server refused the stream unprocessed (REFUSED_STREAM, or a
    /// GOAWAY below its id): it may go elsewhere.
    #[error("stream refused by the server before processing")]
    Refused,
    /// The connection ended after the request left, before the response
    /// head.
    #[error("HTTP/2 connection closed before the response")]
    ConnectionClosed,
    /// The server reset the stream.
    #[error("stream reset by the server with {0}")]
    Reset(ErrorCode),
    /// This side reset the stream: the server's answer broke HTTP/2 (a
    /// malformed head, a body longer than announced: PROTOCOL_ERROR), or
    /// the request body failed (CANCEL).
    #[error("stream reset by this side with {0}")]
    ResetHere(ErrorCode),
}

impl RequestError {
    /// True when the server certainly did not process the request.
    pub fn is_retryable(&self) -> bool {
        match self {
            RequestError::Refused => true,
            RequestError::NotSent(k) => *k != SendErrorKind::InvalidHead,
            _ => false,
        }
    }

    fn from_stream(e: BodyError) -> RequestError {
        match e {
            BodyError::Reset { code, remote: true } => RequestError::Reset(code),
            BodyError::Reset { code, .. } => RequestError::ResetHere(code),
            _ => RequestError::ConnectionClosed,
        }
    }
}

/// A request given back whole: no byte of it was written, or the server
/// refused a bodiless one unprocessed.
#[derive(Debug)]
pub struct Unsent<B> {
    /// The head as it was given.
    pub head: RequestHead,
    /// The body, never polled.
    pub body: Option<B>,
}

/// A failed [`Client::send_request`], with the request when it can go
/// elsewhere as it is (tokio's `SendError<T>` idea).
#[derive(Debug)]
pub struct SendFailed<B> {
    /// What went wrong.
    pub error: RequestError,
    /// The request, when it never reached the server.
    pub request: Option<Unsent<B>>,
}

impl<B> std::fmt::Display for SendFailed<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl<B: std::fmt::Debug> std::error::Error for SendFailed<B> {}

/// What the client hears from its driver.
#[derive(Debug, Default)]
struct Watch {
    goaway: AtomicBool,
    read_error: Mutex<Option<std::io::Error>>,
}

impl ConnObserver for Watch {
    fn read_failed(&self, error: std::io::Error) {
        *self.read_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
    }

    fn peer_news(&self, _first_settings: Option<Settings>, goaway: Option<GoAway>) {
        if goaway.is_some() {
            self.goaway.store(true, Ordering::Release);
        }
    }
}

#[derive(Debug)]
struct ClientInner {
    mux: Mux,
    watch: Arc<Watch>,
    driver: AbortHandle,
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        // The last handle is gone: streams in flight finish, then GOAWAY
        // closes the connection.
        self.mux.go_away();
    }
}

/// The client side of an HTTP/2 connection. Cheap to clone; all clones
/// are the same connection. Dropping every clone closes it gracefully
/// (GOAWAY) once the streams in flight are done.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

/// Opens the client side of an HTTP/2 connection over `io` (a TCP or TLS
/// stream the caller connected): spawns the task that drives it (which
/// keeps `guard`, say a count of open connections, until the connection
/// ends), sends the client preface and SETTINGS, and waits for the
/// server's SETTINGS. Not bounded here: bound it with a timeout; the
/// driver stops if this future is dropped before it completes.
pub async fn handshake<IO, G>(
    io: IO,
    opts: &ClientOptions,
    guard: G,
) -> Result<Client, HandshakeError>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    G: Send + 'static,
{
    let mut cfg = Config::new(Role::Client);
    cfg.settings = Settings {
        enable_push: Some(false),
        initial_window_size: Some(opts.initial_window_size),
        ..cfg.settings
    };
    cfg.connection_window = opts.connection_window;
    let watch = Arc::new(Watch::default());
    let mux = Mux::new(Connection::new(cfg), watch.clone());
    let driving = mux.clone();
    let driver = tokio::spawn(async move {
        let _guard = guard;
        if driving.drive(io, |_| {}).await == crate::DriveEnd::Failed {
            tracing::debug!("HTTP/2 client connection ended with an error");
        }
    });
    let client = Client {
        inner: Arc::new(ClientInner {
            mux,
            watch,
            driver: driver.abort_handle(),
        }),
    };
    // Aborts the driver unless the handshake completes.
    struct Abort(Option<AbortHandle>);
    impl Drop for Abort {
        fn drop(&mut self) {
            if let Some(a) = self.0.take() {
                a.abort();
            }
        }
    }
    let mut abort = Abort(Some(driver.abort_handle()));
    match client.inner.mux.established().await {
        Ok(()) => {
            abort.0 = None;
            Ok(client)
        }
        Err(_) => {
            let e = client
                .inner
                .watch
                .read_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            Err(e.map_or(HandshakeError::Closed, HandshakeError::Io))
        }
    }
}

impl Client {
    /// True when no new request can go on this connection (closed, or
    /// going away); requests in flight may still finish.
    pub fn is_closed(&self) -> bool {
        self.inner.watch.goaway.load(Ordering::Acquire) || self.inner.mux.is_closed()
    }

    /// Streams open on the connection.
    pub fn open_streams(&self) -> usize {
        self.inner.mux.open_streams()
    }

    /// Ends the connection now: the driver stops, requests in flight fail.
    pub fn abort(&self) {
        self.inner.driver.abort();
    }

    /// Sends a request and waits for the final response head; returns it
    /// with the response body.
    ///
    /// The head's URI gives `:scheme`, `:authority` and `:path` (without
    /// an authority, the `host` field gives `:authority`); its fields go
    /// as they are, less those HTTP/2 forbids. `body`, if any and not
    /// already at its end, is streamed by a spawned task as the server's
    /// flow control allows; it ends the stream (with trailers if it has
    /// some). Waits while the server's stream limit is reached.
    ///
    /// A request that never left, or a bodiless one the server refused
    /// unprocessed, comes back in [`SendFailed::request`].
    pub async fn send_request<B>(
        &self,
        head: RequestHead,
        body: Option<B>,
    ) -> Result<(ResponseHead, IncomingBody), SendFailed<B>>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.send_request_relaying(head, body, &mut |_| {}).await
    }

    /// [`Client::send_request`], handing the server's interim (1xx)
    /// heads to `on_interim` as they come, before the final one
    /// ([`crate::StreamRef::response_relaying`]).
    pub async fn send_request_relaying<B>(
        &self,
        head: RequestHead,
        body: Option<B>,
        on_interim: &mut (dyn FnMut(ResponseHead) + Send),
    ) -> Result<(ResponseHead, IncomingBody), SendFailed<B>>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let eos = body.as_ref().is_none_or(|b| b.is_end_stream());
        let mux = &self.inner.mux;
        let opened = if self.inner.watch.goaway.load(Ordering::Acquire) {
            Err(SendErrorKind::GoingAway)
        } else {
            mux.open_when_ready(&head.method, &head.uri, &head.fields, None, eos)
                .await
        };
        let stream = match opened {
            Ok(s) => s,
            Err(kind) => {
                return Err(SendFailed {
                    error: RequestError::NotSent(kind),
                    request: Some(Unsent { head, body }),
                });
            }
        };
        // A bodiless request can go elsewhere if the server refuses it
        // unprocessed (its GOAWAY crossed our HEADERS): keep it until the
        // answer.
        let mut kept = Some(Unsent { head, body: None });
        match body {
            Some(b) if !eos => {
                kept = None;
                let s2 = stream.clone();
                tokio::spawn(async move {
                    if let Err(e) = pump(b, s2).await {
                        tracing::debug!(error = %e, "HTTP/2 request body not fully sent");
                    }
                });
            }
            b => {
                if let Some(k) = &mut kept {
                    k.body = b;
                }
            }
        }
        match stream.response_relaying(on_interim).await {
            Ok(h) => Ok((h, IncomingBody::new(stream))),
            Err((_, true)) => Err(SendFailed {
                error: RequestError::Refused,
                request: kept,
            }),
            Err((e, false)) => Err(SendFailed {
                error: RequestError::from_stream(e),
                request: None,
            }),
        }
    }
}
