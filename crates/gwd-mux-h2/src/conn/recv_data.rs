//! DATA received and the flow control of receiving: the connection and
//! stream windows, what is delivered, what is discarded (closed or reset
//! streams, bounded) and the WINDOW_UPDATEs that give space back.

use super::*;

impl Connection {
    /// Queues GOAWAY for a connection error and closes.
    /// Counts `n` bytes of DATA thrown away; past twice the connection
    /// window (plus 1 MiB) with nothing delivered in between, the peer is
    /// not winding down streams we reset but flooding: ENHANCE_YOUR_CALM.
    /// What the peer may still send on streams we reset (the rest of each
    /// one's window) is allowed on top (`discard_allowance`).
    pub(super) fn discard(&mut self, n: u32) -> Result<(), ConnError> {
        let n = u64::from(n);
        let allowed = n.min(self.discard_allowance);
        self.discard_allowance -= allowed;
        self.discarded_data += n - allowed;
        if self.discarded_data > 2 * u64::from(self.recv_target) + (1 << 20) {
            return Err(self.fail(
                ErrorCode::ENHANCE_YOUR_CALM,
                "DATA keeps coming on streams that are closed",
            ));
        }
        Ok(())
    }

    pub(super) fn on_window_update(&mut self, stream: u32, inc: u32) -> Result<(), ConnError> {
        if stream == 0 {
            self.send_window += i64::from(inc);
            if self.send_window > i64::from(MAX_WINDOW) {
                return Err(self.fail(
                    ErrorCode::FLOW_CONTROL_ERROR,
                    "connection send window above 2^31-1",
                ));
            }
            self.push_event(Event::Writable);
            return Ok(());
        }
        self.check_not_idle(stream)?;
        let Some(s) = self.streams.get_mut(&stream) else {
            // A closed stream: updates may still be in flight.
            return Ok(());
        };
        s.send_window += i64::from(inc);
        if s.send_window > i64::from(MAX_WINDOW) {
            self.reset_local(stream, ErrorCode::FLOW_CONTROL_ERROR);
            return Ok(());
        }
        self.push_event(Event::Writable);
        Ok(())
    }

    pub(super) fn on_data(
        &mut self,
        stream: u32,
        data: Bytes,
        end_stream: bool,
        flow_len: u32,
    ) -> Result<(), ConnError> {
        // Connection flow control counts every DATA frame, whatever the
        // stream's state.
        self.recv_window -= i64::from(flow_len);
        if self.recv_window < 0 {
            return Err(self.fail(
                ErrorCode::FLOW_CONTROL_ERROR,
                "DATA beyond the connection window",
            ));
        }
        self.check_not_idle(stream)?;
        let padding = flow_len - data.len() as u32;
        if !self.streams.get(&stream).is_some_and(|s| {
            !s.remote_end && s.head_received && s.recv_window >= i64::from(flow_len)
        }) {
            self.discard(flow_len)?;
        }
        let Some(s) = self.streams.get_mut(&stream) else {
            // Closed here: give the space back at once. After our reset
            // the peer's DATA may still be in flight (ignored); otherwise
            // it is a stream error (RFC 9113 §5.1, "closed").
            self.release_connection(flow_len);
            if self.closed.get(stream) != Closed::ByUs {
                // Not noted as reset by us: the stream stays the peer's
                // to have closed (HEADERS on it are still its error).
                frame::encode(
                    &Frame::RstStream {
                        stream,
                        code: ErrorCode::STREAM_CLOSED,
                    },
                    &mut self.out,
                );
            }
            return Ok(());
        };
        if s.remote_end || !s.head_received {
            let why = if s.remote_end {
                ErrorCode::STREAM_CLOSED
            } else {
                ErrorCode::PROTOCOL_ERROR
            };
            self.release_connection(flow_len);
            self.reset_local(stream, why);
            return Ok(());
        }
        s.recv_window -= i64::from(flow_len);
        if s.recv_window < 0 {
            self.release_connection(flow_len);
            self.reset_local(stream, ErrorCode::FLOW_CONTROL_ERROR);
            return Ok(());
        }
        s.received += data.len() as u64;
        let too_much = s.content_length.is_some_and(|cl| {
            !s.head_request && (s.received > cl || (end_stream && s.received != cl))
        });
        if too_much {
            self.release_connection(flow_len);
            self.reset_local(stream, ErrorCode::PROTOCOL_ERROR);
            return Ok(());
        }
        if padding > 0 {
            self.release(stream, padding as usize);
        }
        if end_stream {
            self.end_remote(stream);
        } else if data.is_empty() {
            // Nothing to deliver, and flow control does not bound such
            // frames (CVE-2019-9518): counted, never queued.
            self.empty_data_frames += 1;
            return Ok(());
        } else {
            self.empty_data_frames = self.empty_data_frames.saturating_sub(1);
        }
        self.discarded_data = 0;
        self.push_event(Event::Data {
            stream,
            data,
            end_stream,
        });
        Ok(())
    }

    /// Credits `n` consumed bytes to the connection window, announcing
    /// them in one WINDOW_UPDATE once half the window is owed.
    pub(super) fn release_connection(&mut self, n: u32) {
        self.unannounced = self.unannounced.saturating_add(n);
        if self.unannounced > 0 && i64::from(self.unannounced) >= i64::from(self.recv_target) / 2 {
            frame::encode(
                &Frame::WindowUpdate {
                    stream: 0,
                    increment: self.unannounced,
                },
                &mut self.out,
            );
            self.recv_window += i64::from(self.unannounced);
            self.unannounced = 0;
        }
    }

    /// Gives back `n` bytes of receive window on `stream` (and on the
    /// connection) once the application consumed them.
    pub fn release(&mut self, stream: u32, n: usize) {
        if self.phase == Phase::Closed {
            return;
        }
        let n = u32::try_from(n).unwrap_or(MAX_WINDOW);
        self.release_connection(n);
        let target = i64::from(self.local.initial_window_size.unwrap_or(DEFAULT_WINDOW));
        let Some(s) = self.streams.get_mut(&stream) else {
            return;
        };
        if s.remote_end {
            // Nothing more will arrive: no update needed.
            return;
        }
        s.unannounced = s.unannounced.saturating_add(n);
        if i64::from(s.unannounced) >= target / 2 {
            let inc = s.unannounced;
            s.unannounced = 0;
            s.recv_window += i64::from(inc);
            frame::encode(
                &Frame::WindowUpdate {
                    stream,
                    increment: inc,
                },
                &mut self.out,
            );
        }
    }
}
