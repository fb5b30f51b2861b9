//! Interim (`1xx`) answers on a stream the peer opened.

use gwd_mux_h2::conn::HeadFields;
use http::StatusCode;

#[cfg(doc)]
use crate::StreamRef;
use crate::error::BodyError;
use crate::mux::Mux;

/// Sends interim (`1xx`) heads on one stream the peer opened (server
/// role), each as a HEADERS frame that does not end it (RFC 9113 §8.1),
/// before the final answer ([`StreamRef::interim_handle`]).
#[derive(Debug, Clone)]
pub struct InterimHandle {
    mux: Mux,
    id: u32,
}

impl InterimHandle {
    pub(crate) fn new(mux: Mux, id: u32) -> InterimHandle {
        InterimHandle { mux, id }
    }

    /// Sends `status` (a `1xx` other than `101`: HTTP/2 has no protocol
    /// switch) with `fields`. Never waits: the head joins the connection's
    /// output. Fails for any other status, and once the stream or the
    /// connection is gone.
    pub fn send(&self, status: StatusCode, fields: &impl HeadFields) -> Result<(), BodyError> {
        if !status.is_informational() || status == StatusCode::SWITCHING_PROTOCOLS {
            return Err(BodyError::ConnectionClosed);
        }
        self.mux.send_interim(self.id, status, fields)
    }
}
