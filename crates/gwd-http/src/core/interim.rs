//! Interim (`1xx`) answers on their way from a server to the visitor.
//!
//! RFC 9110 §15.2: a proxy forwards the `1xx` responses a server sends
//! before its final answer (`103 Early Hints`, `102 Processing`, …),
//! except to an HTTP/1.0 client and except those it asked for itself.
//! gwd asks for one kind itself: a request with `Expect: 100-continue`
//! gets gwd's own `100` once the upstream wants the body, so a server's
//! `100` is not relayed again. `101` ends the exchange and is not interim.
//!
//! # Model
//!
//! The upstream runs inside the core's future, which the visitor's
//! connection driver polls. An upstream that reads a `1xx` head pushes it,
//! under the request's key (the HTTP/2 stream id; 0 over HTTP/1.1), onto
//! its connection's [`InterimHeads`]; after each poll of a request's
//! future the driver takes what arrived and writes it out before anything
//! of the final answer. Nothing is allocated per request: the list lives in
//! the connection's shared state, and a flag read without a lock says
//! whether it holds anything.

use std::sync::Arc;

use gwd_head::ResponseHead;

use crate::conn_io::ConnShared;

/// How many interim heads one connection holds before its driver takes
/// them; a server that sends more (a flood of `1xx`) has the rest
/// dropped, not queued.
pub(crate) const MAX_PENDING: usize = 16;

/// The interim heads of one visitor connection's requests, pushed by
/// upstreams and taken by the connection's driver, both on the
/// connection's task (the upstream runs inside the request's future, which
/// the driver polls).
///
/// One pointer while empty, which is nearly always: every idle connection
/// keeps this, and a list is made only when a server sends a `1xx`.
#[derive(Debug, Default)]
pub(crate) struct InterimHeads {
    heads: arc_swap::ArcSwapOption<parking_lot::Mutex<Vec<(u32, ResponseHead)>>>,
}

impl InterimHeads {
    /// Queues `head` for the request keyed `key`; false when the
    /// connection already holds [`MAX_PENDING`] (the head is dropped).
    pub(crate) fn push(&self, key: u32, head: ResponseHead) -> bool {
        match self.heads.load_full() {
            Some(list) => {
                let mut heads = list.lock();
                if heads.len() >= MAX_PENDING {
                    return false;
                }
                heads.push((key, head));
            }
            None => self
                .heads
                .store(Some(Arc::new(parking_lot::Mutex::new(vec![(key, head)])))),
        }
        true
    }

    /// Takes every waiting head, in arrival order.
    pub(crate) fn take_all(&self) -> Vec<(u32, ResponseHead)> {
        match self.heads.swap(None) {
            Some(list) => std::mem::take(&mut *list.lock()),
            None => Vec::new(),
        }
    }
}

/// Where a request's interim heads go, as its driver says.
#[derive(Debug, Clone)]
pub(crate) enum InterimRoute {
    /// The connection's list ([`InterimHeads`]), under this key, for the
    /// connection's driver to take.
    Key(u32),
    /// Straight onto the HTTP/2 stream the request came on, whose owner
    /// drives it (a reverse-HTTP origin's tunnel stream).
    Stream(gwd_h2_conn::InterimHandle),
}

/// Where a request's interim heads go: its connection's list under its
/// key, or its HTTP/2 stream. A request without one (an HTTP/1.0 visitor)
/// gets none.
#[derive(Debug, Clone)]
pub(crate) enum InterimTo {
    Driver { shared: Arc<ConnShared>, key: u32 },
    Stream(gwd_h2_conn::InterimHandle),
}

impl InterimTo {
    /// Hands a server's `1xx` head (other than `100` and `101`) to the
    /// visitor's driver, without the server hop's own fields and without
    /// framing (a `1xx` has no body, and HTTP/2 clients reset a stream
    /// whose interim HEADERS carry `content-length`: RFC 9110 §8.6).
    pub(crate) fn relay(&self, mut head: ResponseHead) {
        crate::headers::strip_all_hop_by_hop(&mut head.fields, false);
        head.fields.retain(|name, _| {
            !name.eq_ignore_ascii_case(b"content-length")
                && !name.eq_ignore_ascii_case(b"transfer-encoding")
        });
        match self {
            InterimTo::Driver { shared, key } => {
                if !shared.push_interim(*key, head) {
                    tracing::debug!(key, "interim answer dropped: too many waiting");
                }
            }
            InterimTo::Stream(stream) => {
                if let Err(e) = stream.send(head.status, &head.fields) {
                    tracing::debug!(error = %e, "interim answer not sent on its stream");
                }
            }
        }
    }
}

/// How many bytes of interim heads one request relays; later ones are
/// dropped. Clients cap the header bytes of a whole answer (curl's HTTP/2
/// side dropped a stream after 16 hints of 15 KB), so a server piling up
/// hints would cost the visitor its final answer.
pub(crate) const MAX_INTERIM_BYTES: usize = 64 * 1024;

/// One request's interim heads as an upstream that decodes them (an
/// HTTP/2 server, a reverse-HTTP tunnel) hands them over: each goes on to
/// the visitor unless it is a `100` (gwd sends its own) or a `101` (not
/// interim), or the request has relayed 64 KiB of them already. A request whose visitor takes none (an
/// HTTP/1.0 one) drops them all.
#[derive(Debug, Default)]
pub struct InterimSink {
    to: Option<InterimTo>,
    relayed: usize,
}

impl InterimSink {
    /// A sink that drops every head, for a request nobody relays to.
    pub fn none() -> InterimSink {
        InterimSink::default()
    }

    pub(crate) fn new(to: Option<InterimTo>) -> InterimSink {
        InterimSink { to, relayed: 0 }
    }

    /// Where the heads went, for a request handed back to go elsewhere.
    pub(crate) fn into_to(self) -> Option<InterimTo> {
        self.to
    }

    /// Takes one interim head from the server, in arrival order.
    pub fn offer(&mut self, head: ResponseHead) {
        let Some(to) = &self.to else {
            return;
        };
        if head.status == http::StatusCode::CONTINUE
            || head.status == http::StatusCode::SWITCHING_PROTOCOLS
        {
            return;
        }
        // The size it takes on an HTTP/1.1 visitor's wire: the status line
        // and the fields.
        let size = 16 + head.fields.wire_len();
        if self.relayed + size > MAX_INTERIM_BYTES {
            tracing::debug!(
                status = %head.status,
                "interim answer dropped: the request relayed enough"
            );
            return;
        }
        self.relayed += size;
        to.relay(head);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gwd_head::{Fields, StatusCode};

    fn head(status: u16, link: &[u8]) -> ResponseHead {
        let mut fields = Fields::new();
        fields.append(b"link", link);
        fields.append(b"connection", b"keep-alive, x-hop");
        fields.append(b"x-hop", b"1");
        fields.append(b"keep-alive", b"timeout=5");
        fields.append(b"Content-Length", b"0");
        let mut h = ResponseHead::new(StatusCode::from_u16(status).unwrap());
        h.fields = fields;
        h
    }

    #[test]
    fn a_sink_drops_100_101_and_what_passes_the_budget() {
        let shared = Arc::new(ConnShared::default());
        let mut sink = InterimSink::new(Some(InterimTo::Driver {
            shared: shared.clone(),
            key: 5,
        }));
        sink.offer(head(100, b"</x>"));
        sink.offer(head(101, b"</x>"));
        assert!(!shared.has_interim());
        let big = vec![b'a'; 20 * 1024];
        for _ in 0..5 {
            sink.offer(head(103, &big));
        }
        let got = shared.take_interim();
        // Three heads of 20 KiB fit in 64 KiB, the fourth does not.
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|(k, h)| *k == 5 && h.status.as_u16() == 103));
        // A small one still fits.
        sink.offer(head(103, b"</y>"));
        assert_eq!(shared.take_interim().len(), 1);
        // A sink with no visitor to relay to drops everything.
        let mut none = InterimSink::none();
        none.offer(head(103, b"</z>"));
        assert!(!shared.has_interim());
    }

    #[test]
    fn heads_come_out_in_order_with_their_keys_and_the_flag_follows() {
        let shared = Arc::new(ConnShared::default());
        assert!(!shared.has_interim());
        assert!(shared.take_interim().is_empty());
        let a = InterimTo::Driver {
            shared: shared.clone(),
            key: 1,
        };
        let b = InterimTo::Driver {
            shared: shared.clone(),
            key: 3,
        };
        a.relay(head(103, b"</a.css>; rel=preload"));
        b.relay(head(102, b"</b>"));
        a.relay(head(103, b"</c.js>; rel=preload"));
        assert!(shared.has_interim());
        let got = shared.take_interim();
        let keys: Vec<(u32, u16)> = got.iter().map(|(k, h)| (*k, h.status.as_u16())).collect();
        assert_eq!(keys, [(1, 103), (3, 102), (1, 103)]);
        assert_eq!(
            got[2].1.fields.get("link"),
            Some(&b"</c.js>; rel=preload"[..])
        );
        assert!(!shared.has_interim());
        assert!(shared.take_interim().is_empty());
    }

    #[test]
    fn the_server_hops_fields_stay_behind() {
        let shared = Arc::new(ConnShared::default());
        InterimTo::Driver {
            shared: shared.clone(),
            key: 0,
        }
        .relay(head(103, b"</a.css>"));
        let (_, h) = shared.take_interim().pop().unwrap();
        assert!(h.fields.get("connection").is_none());
        assert!(h.fields.get("keep-alive").is_none());
        assert!(h.fields.get("x-hop").is_none(), "named by Connection");
        assert!(h.fields.get("content-length").is_none(), "framing");
        assert_eq!(h.fields.get("link"), Some(&b"</a.css>"[..]));
    }

    #[test]
    fn a_flood_is_bounded() {
        let shared = Arc::new(ConnShared::default());
        let to = InterimTo::Driver {
            shared: shared.clone(),
            key: 0,
        };
        for _ in 0..MAX_PENDING + 10 {
            to.relay(head(103, b"</x>"));
        }
        assert_eq!(shared.take_interim().len(), MAX_PENDING);
        to.relay(head(103, b"</x>"));
        assert_eq!(shared.take_interim().len(), 1, "room again once taken");
    }
}
