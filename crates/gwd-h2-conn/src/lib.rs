//! An HTTP/2 connection over tokio I/O: `gwd-mux-h2`'s sans-I/O state
//! machine driven by one task, shared with per-stream handles, in either
//! role (client or server, with either preface direction, so the two ends
//! of a reverse-HTTP tunnel run on it as well as plain HTTP/2).
//!
//! A client and a server over an in-memory pipe, exchanging one request:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use gwd_h2_conn::{IncomingBody, IncomingRequest, Mux, NoObserver};
//! use gwd_head::{Fields, Method, StatusCode, Uri};
//! use gwd_mux_h2::conn::{Config, Connection, Role};
//!
//! let (client_io, server_io) = tokio::io::duplex(64 * 1024);
//! let client = Mux::new(Connection::new(Config::new(Role::Client)), Arc::new(NoObserver));
//! let server = Mux::new(Connection::new(Config::new(Role::Server)), Arc::new(NoObserver));
//!
//! // The server answers each request with its path.
//! let driver = server.clone();
//! tokio::spawn(async move {
//!     driver
//!         .drive(server_io, |req: IncomingRequest| {
//!             tokio::spawn(async move {
//!                 let text = format!("hello from {}", req.head.path());
//!                 let _ = req.stream.send_response(StatusCode::OK, &Fields::new(), false);
//!                 let _ = req.stream.send_data(Bytes::from(text), true).await;
//!             });
//!         })
//!         .await
//! });
//! let driver = client.clone();
//! tokio::spawn(async move { driver.drive(client_io, |_| {}).await });
//!
//! // The client waits for the server's SETTINGS, then sends a GET.
//! client.established().await?;
//! let uri = Uri::from_static("http://app.example/hi");
//! let stream = client
//!     .open(&Method::GET, &uri, &Fields::new(), None, true)
//!     .expect("the connection is open");
//! let head = stream.response().await.map_err(|(e, _)| e)?;
//! assert_eq!(head.status, StatusCode::OK);
//! let body = IncomingBody::new(stream).collect_bytes(1024).await?;
//! assert_eq!(body, "hello from /hi");
//! # Ok(())
//! # }
//! ```
//!
//! # Model
//!
//! A [`Mux`] is the state machine plus, per open stream, what its handles
//! wait for (response head, received body items, send capacity), under one
//! mutex per connection. Handles issue commands under the lock and wake the
//! driver; the driver ([`Mux::drive`]) reads the transport into a buffer on
//! the thread's stack (so a quiet connection keeps no read buffer), feeds
//! the bytes to the state machine, dispatches the events to the streams'
//! handles, writes out what the state machine produced, and is the only
//! code that waits on the transport. One exception to "the driver
//! writes": a burst of commands (a turn of the event loop that reads many
//! requests) would otherwise leave in one write once the burst is over,
//! so the command that makes about 16 exchanges' worth since the driver
//! last wrote (16 commands in the client role, 32 in the server role,
//! where an answer is a head and a body) writes the output from the
//! handle, when the driver is between passes and nothing older waits;
//! whatever the transport does not take then is left to the driver.
//!
//! What is particular to a use stays with its user, through neutral hooks:
//! a [`ConnObserver`] hears about bytes read, read errors, PING round
//! trips and the peer's first SETTINGS and GOAWAY (reverse HTTP publishes
//! them as tunnel events); a guard value attached to a stream
//! ([`StreamRef::hold`]) is dropped when its last handle goes (a tunnel's
//! stream slot); PINGs are sent on demand ([`Mux::ping`]), so a keepalive
//! is the user's loop around it.
//!
//! Heads are gwd-head's ([`gwd_head::RequestHead`],
//! [`gwd_head::ResponseHead`]), as the state machine decodes them; heads to
//! send are anything `gwd_mux_h2::conn::HeadFields` covers (gwd-head's
//! `Fields` or an `http::HeaderMap`). Bodies are [`http_body::Body`]s, with
//! trailers as an `http::HeaderMap`.
//!
//! # Invariants
//!
//! * The lock is never held across an await or an I/O call.
//! * Frames leave in the order the state machine queued them: output is
//!   taken from it only by whoever holds the transport (the driver in a
//!   pass, or a handle writing early), and what one could not write is
//!   written before anything taken later.
//! * Received DATA counts against the peer's window until the body handle
//!   hands it out; bytes nobody will read (a stream whose handles are gone)
//!   are given back at once, so a dropped body never starves the
//!   connection.
//! * Senders share the peer's window in turn: those waiting for it are
//!   woken in the order they began to wait (a ticket each, kept while they
//!   find no window), and while a woken one has not had its turn, a sender
//!   that sent a piece yields. No stream takes every opening of the window.
//! * A stream's entry lives while a handle refers to it; the last handle
//!   to go resets the stream (CANCEL) if it is still open, then drops the
//!   stream's guard outside the lock.
//! * When the driver ends (closed, failed or aborted), every waiting handle
//!   is woken and sees the connection closed.
//!
//! On top, [`handshake`] and [`Client`] are the client role on a plain
//! connection (to a server, not down a tunnel): any number of requests
//! at once, waiting for a free stream under the server's limit, with
//! errors that say whether the request can go elsewhere.
//!
//! It depends on tokio, `gwd-mux-h2`, `gwd-head` and the `http` /
//! `http-body` types; never on TLS, configuration or the proxy.

#![warn(missing_docs, unreachable_pub)]

mod body;
mod client;
mod error;
mod interim;
mod mux;
mod observer;
mod wire;

pub use body::{BoxError, IncomingBody, pump};
pub use client::{
    Client, ClientOptions, HandshakeError, RequestError, SendFailed, Unsent, handshake,
};
pub use error::BodyError;
pub use interim::InterimHandle;
pub use mux::{DriveEnd, IncomingRequest, MAX_INTERIM_WAITING, Mux, StreamRef};
pub use observer::{ConnObserver, NoObserver};
