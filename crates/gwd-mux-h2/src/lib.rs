//! HTTP/2 (RFC 9113) for reverse-HTTP tunnels: a frame codec and a
//! connection state machine, both sans-I/O, built so that an idle
//! connection holds no buffers.
//!
//! A reverse-HTTP pair, roles swapped, with the two sockets replaced by a
//! loop that moves bytes:
//!
//! ```
//! use gwd_mux_h2::conn::{Config, Connection, Event};
//! use http::{HeaderMap, Method, StatusCode};
//!
//! // The origin dials (sends the preface) and then serves;
//! // the gateway accepts (expects the preface) and sends requests.
//! let mut origin = Connection::new(Config::reverse_dialer());
//! let mut gateway = Connection::new(Config::reverse_acceptor());
//!
//! // Stand-in for two sockets: move bytes until both sides are quiet.
//! let pump = |a: &mut Connection, b: &mut Connection| loop {
//!     let (mut ab, mut ba) = (a.take_output(), b.take_output());
//!     if ab.is_empty() && ba.is_empty() { break }
//!     b.recv(&mut ab).unwrap();
//!     a.recv(&mut ba).unwrap();
//! };
//! pump(&mut origin, &mut gateway);
//! assert!(gateway.can_open());
//!
//! let uri = "https://app.example/hello".parse().unwrap();
//! let id = gateway.send_request(&Method::GET, &uri, &HeaderMap::new(), true).unwrap();
//! assert_eq!(id, 1);
//! pump(&mut gateway, &mut origin);
//! let req = std::iter::from_fn(|| origin.poll_event())
//!     .find_map(|e| match e { Event::Request { head, .. } => Some(head), _ => None })
//!     .unwrap();
//! assert_eq!(req.uri.path(), "/hello");
//!
//! origin.send_response(id, StatusCode::OK, &HeaderMap::new(), true).unwrap();
//! pump(&mut gateway, &mut origin);
//! assert!(std::iter::from_fn(|| gateway.poll_event()).any(|e| matches!(
//!     e, Event::Response { head, end_stream: true, .. } if head.status == 200)));
//! assert_eq!(gateway.open_streams(), 0);
//! ```
//!
//! # Why not the `h2` crate
//!
//! `h2` allocates a 16 KiB write buffer, an 8 KiB read buffer and a 4 KiB
//! HPACK buffer per connection up front and keeps them for the
//! connection's life. A gateway holding thousands of idle tunnels pays
//! that for each (measured with heaptrack: about 29 KiB of `h2` buffers in
//! the 46 KiB of heap an idle gwd tunnel held). Here the state of an idle
//! connection is one struct of a few hundred bytes: output is handed to
//! the driver whole, events are queued only while undelivered, and the
//! stream table gives its memory back when empty. What a busy connection
//! keeps between bursts is two numbers: the size of its recent output and
//! event bursts, so that the next burst starts in a buffer of that size
//! instead of growing one by doubling.
//!
//! # Layers
//!
//! * [`frame`]: frames to and from bytes, with RFC 9113's per-frame checks
//!   (sizes, stream-0 rules, padding, SETTINGS values); zero-copy payloads.
//! * [`conn`]: the connection: preface and SETTINGS exchange, streams and
//!   their states, flow control, HPACK (crate `gwd-hpack`), PING, GOAWAY.
//! * [`head`]: heads in and out, decoded straight into gwd-head's
//!   `RequestHead` / `ResponseHead` / `Fields` (one buffer per head, order
//!   kept) and encoded from `Fields` or an `http::HeaderMap`, with the
//!   HTTP/2 rules on heads (pseudo-headers, forbidden fields,
//!   content-length).
//! * [`data`]: received DATA payloads handed on joined (one rule for every
//!   queue of received body pieces: up to 60 KiB, in order, trailers end
//!   a run).
//! * [`stream_map`]: a map keyed by stream id, hashed with one
//!   multiplication, for the I/O layers' per-stream state.
//!
//! Under them, `internal` (hidden, not API) holds the raw numbers (frame
//! types, flags, SETTINGS ids) and the bare 9-byte frame header, for this
//! crate's tests and benches.
//!
//! The crate is pure: no sockets, no async runtime, no clock. An I/O
//! driver feeds it bytes and writes out what it returns.

#![warn(missing_docs, unreachable_pub)]

pub mod conn;
pub mod data;
pub mod frame;
pub mod head;
#[doc(hidden)]
pub mod internal;
pub mod stream_map;
