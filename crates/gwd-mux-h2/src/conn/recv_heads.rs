//! Header blocks received: decoded (always, to keep HPACK in step) and
//! turned into a request, a response or trailers, or a stream reset when
//! malformed (see `crate::head`).

use super::*;

impl Connection {
    /// Decodes a complete header block and dispatches it.
    pub(super) fn on_header_block(
        &mut self,
        stream: u32,
        block: &[u8],
        end_stream: bool,
    ) -> Result<(), ConnError> {
        let (bytes, count) = self.head_hint;
        let mut fields = Block::with_capacity(bytes, count);
        let limit = self.max_header_list_size as usize;
        let decoded = self.decoder.decode(block, limit, &mut |f: Field<'_>| {
            fields.push(f.name, f.value);
        });
        // Bounded: a peer's one huge head does not set the room of every
        // head after it.
        let (bytes, count) = fields.size();
        self.head_hint = (bytes.min(4096), count.min(64));
        let too_large = match decoded {
            Ok(()) => false,
            Err(e) if e.is_compression_error() => {
                return Err(self.fail(ErrorCode::COMPRESSION_ERROR, "HPACK decoding failed"));
            }
            Err(_) => true,
        };
        let ours = (stream % 2 == 1) == (self.role == Role::Client);
        if ours {
            return self.on_response_block(stream, fields, end_stream, too_large);
        }
        // The peer opens a stream.
        if self.role == Role::Client {
            return Err(self.fail(
                ErrorCode::PROTOCOL_ERROR,
                "server-initiated stream without push",
            ));
        }
        if stream <= self.max_peer {
            // Trailers on a stream of the peer's, or a stream already gone.
            if self.streams.contains_key(&stream) {
                return self.on_trailers(stream, fields, end_stream, too_large);
            }
            return match self.closed.get(stream) {
                // Reset by us: its trailers may have been in flight.
                Closed::ByUs => Ok(()),
                // Trailers (no pseudo-header) on a stream too old to be
                // remembered: most likely one we reset, so ignored.
                Closed::Unknown if !fields.has_pseudo() => Ok(()),
                // RFC 9113 §5.1: HEADERS on a closed stream.
                Closed::Otherwise => {
                    Err(self.fail(ErrorCode::STREAM_CLOSED, "HEADERS on a closed stream"))
                }
                // §5.1.1: a new stream's id must exceed every earlier one.
                Closed::Unknown => Err(self.fail(
                    ErrorCode::PROTOCOL_ERROR,
                    "stream id lower than one already opened",
                )),
            };
        }
        self.max_peer = stream;
        if self.goaway_sent.is_some_and(|last| stream > last) {
            // Not processed: the peer may retry elsewhere.
            self.reset_local_gone(stream, ErrorCode::REFUSED_STREAM);
            return Ok(());
        }
        let limit = self.local.max_concurrent_streams.map(|m| m as usize);
        if too_large || limit.is_some_and(|m| self.streams.len() >= m) {
            self.reset_local_gone(stream, ErrorCode::REFUSED_STREAM);
            return Ok(());
        }
        let allow_protocol = self.local.enable_connect_protocol == Some(true);
        match fields.into_request(allow_protocol) {
            Ok((head, content_length, protocol)) => {
                let head_request = head.method == Method::HEAD;
                if end_stream && content_length.is_some_and(|c| c > 0) {
                    self.reset_local_gone(stream, ErrorCode::PROTOCOL_ERROR);
                    return Ok(());
                }
                self.streams.insert(
                    stream,
                    Stream {
                        local_end: false,
                        remote_end: end_stream,
                        head_sent: false,
                        head_received: true,
                        send_window: i64::from(self.peer.initial_window_size),
                        recv_window: i64::from(
                            self.local.initial_window_size.unwrap_or(DEFAULT_WINDOW),
                        ),
                        unannounced: 0,
                        content_length,
                        received: 0,
                        head_request,
                    },
                );
                self.push_event(Event::Request {
                    stream,
                    head,
                    protocol,
                    end_stream,
                });
            }
            Err(_) => self.reset_local_gone(stream, ErrorCode::PROTOCOL_ERROR),
        }
        Ok(())
    }

    fn on_response_block(
        &mut self,
        stream: u32,
        fields: Block,
        end_stream: bool,
        too_large: bool,
    ) -> Result<(), ConnError> {
        if self.is_idle(stream) {
            return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "HEADERS on an idle stream"));
        }
        let Some(s) = self.streams.get(&stream) else {
            return Ok(());
        };
        if s.head_received {
            return self.on_trailers(stream, fields, end_stream, too_large);
        }
        if too_large {
            self.reset_local(stream, ErrorCode::PROTOCOL_ERROR);
            return Ok(());
        }
        let Ok((head, content_length)) = fields.into_response() else {
            self.reset_local(stream, ErrorCode::PROTOCOL_ERROR);
            return Ok(());
        };
        let informational = head.status.is_informational();
        if informational && end_stream {
            self.reset_local(stream, ErrorCode::PROTOCOL_ERROR);
            return Ok(());
        }
        if let Some(s) = self.streams.get_mut(&stream)
            && !informational
        {
            s.head_received = true;
            s.content_length = content_length;
            if end_stream
                && !s.head_request
                && content_length.is_some_and(|c| c > 0)
                && head.status != StatusCode::NOT_MODIFIED
            {
                self.reset_local(stream, ErrorCode::PROTOCOL_ERROR);
                return Ok(());
            }
        }
        if end_stream {
            self.end_remote(stream);
        }
        self.push_event(Event::Response {
            stream,
            head,
            end_stream,
        });
        Ok(())
    }

    fn on_trailers(
        &mut self,
        stream: u32,
        fields: Block,
        end_stream: bool,
        too_large: bool,
    ) -> Result<(), ConnError> {
        let Some(s) = self.streams.get(&stream) else {
            return Ok(());
        };
        if s.remote_end {
            self.reset_local(stream, ErrorCode::STREAM_CLOSED);
            return Ok(());
        }
        let cl_short = s
            .content_length
            .is_some_and(|cl| !s.head_request && s.received != cl);
        if !end_stream || too_large || cl_short {
            self.reset_local(stream, ErrorCode::PROTOCOL_ERROR);
            return Ok(());
        }
        let Ok(trailers) = fields.into_trailers() else {
            self.reset_local(stream, ErrorCode::PROTOCOL_ERROR);
            return Ok(());
        };
        self.end_remote(stream);
        self.push_event(Event::Trailers { stream, trailers });
        Ok(())
    }
}
