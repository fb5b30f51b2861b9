//! Reverse HTTP inside the proxy: what joins gwd-rhttp (the protocol,
//! which knows nothing of the proxy) to gwd-http (the proxy, which knows
//! nothing of gwd-rhttp).
//!
//! # Model
//!
//! * Gateway side, registration ([`serve_registration`]): one accepted
//!   connection of a registration frontend (one with `tcp-request.session`
//!   `attach-srv` rules) is never served as ordinary traffic: the rules
//!   attach it to an `rhttp@` server under the names they compute, or it
//!   is closed. Once the origin's first SETTINGS arrive it is a tunnel in
//!   that server's [`gwd_rhttp::TunnelRegistry`].
//! * Gateway side, requests ([`Tunnels`]): each `rhttp@` server's registry,
//!   wrapped as the server's [`gwd_http::named::NamedConns`], given to it
//!   when the proxy is built ([`TunnelRegistries`]). gwd-http's core names
//!   the request (`pool-conn-name`), takes a stream on a tunnel of that
//!   name through the seam and sends the request on it; the request path
//!   of every other server never sees this crate.
//! * Origin side ([`OriginService`]): the [`gwd_rhttp::TunnelService`] of
//!   an `rhttp@<backend>/<server>` bind: each request arriving on a dialed
//!   tunnel runs through that bind's frontend like an HTTP/2 visitor's
//!   ([`gwd_http::serve_stream`], on gwd-head heads as the tunnel's state
//!   machine decodes them: no header map per request). [`dialer`] builds the bind's
//!   [`gwd_rhttp::Dialer`] from the server it names; gwd-app runs it.
//! * Reloads: an `rhttp@` server whose registration rules are unchanged
//!   keeps its registry, so its tunnels stay; [`close_revoked`] sends
//!   GOAWAY on those the new configuration did not keep. An origin
//!   service follows the proxy in force from one request to the next.
//!
//! # Invariants
//!
//! * Counting (HAProxy's #2821 was gauges wrong across reversal): a
//!   registration connection counts on its frontend (`conn_tot`, and the
//!   current-connections gauge) only until it is reversed; from then on it
//!   is a connection of the `rhttp@` server, held by an RAII gauge until
//!   the tunnel closes. On the origin a tunnel is one connection of its
//!   rhttp bind's frontend from reversal to close. Requests are counted
//!   where they are served, once.
//! * A tunnel is in its server's registry before the "rhttp tunnel
//!   registered" line is logged: whoever reads the line can use it.
//! * Neither a tunnel nor a dialer keeps a replaced configuration alive:
//!   each keeps only what its end needs.
//!
//! Depends on gwd-http (the proxy and its seam), gwd-rhttp (tunnels,
//! registries, dialers), gwd-config, gwd-listen, gwd-tls, gwd-sample and
//! gwd-stats; gwd-app wires it in.

mod dialer;
mod origin;
mod registration;
mod tunnels;

pub use dialer::dialer;
pub use origin::OriginService;
pub use registration::serve_registration;
pub use tunnels::{TunnelRegistries, Tunnels, close_revoked, registry};
