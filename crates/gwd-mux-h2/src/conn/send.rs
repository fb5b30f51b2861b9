//! The commands that send heads and data: opening a stream with a
//! request, answering one, trailers, DATA, resets, PING and GOAWAY.

use super::*;

impl Connection {
    /// Opens a stream with a request head. `end_stream`: no body follows.
    /// The `:authority` is the URI's, or else the `host` field's (which is
    /// then not sent twice).
    pub fn send_request(
        &mut self,
        method: &Method,
        uri: &Uri,
        headers: &impl HeadFields,
        end_stream: bool,
    ) -> Result<u32, SendError> {
        self.open_stream(method, uri, headers, None, end_stream)
    }

    /// Client role: opens a stream with an extended CONNECT (RFC 8441:
    /// `:method CONNECT`, `:protocol`, `:scheme`, `:authority`, `:path`
    /// from `uri`), e.g. a WebSocket. Refused unless the peer announced
    /// `SETTINGS_ENABLE_CONNECT_PROTOCOL`. Returns the stream id.
    pub fn send_extended_connect(
        &mut self,
        protocol: &Protocol,
        uri: &Uri,
        headers: &impl HeadFields,
        end_stream: bool,
    ) -> Result<u32, SendError> {
        if !self.peer.enable_connect_protocol {
            return Err(SendError::new(SendErrorKind::ExtendedConnectRefused));
        }
        self.open_stream(&Method::CONNECT, uri, headers, Some(protocol), end_stream)
    }

    fn open_stream(
        &mut self,
        method: &Method,
        uri: &Uri,
        headers: &impl HeadFields,
        protocol: Option<&Protocol>,
        end_stream: bool,
    ) -> Result<u32, SendError> {
        if self.role != Role::Client {
            return Err(SendError::new(SendErrorKind::WrongRole));
        }
        if self.phase == Phase::Closed {
            return Err(SendError::new(SendErrorKind::Closed));
        }
        if self.goaway_sent.is_some() || self.goaway_received.is_some() {
            return Err(SendError::new(SendErrorKind::GoingAway));
        }
        if !self.can_open() {
            return Err(SendError::new(SendErrorKind::StreamLimit));
        }
        let host = headers.host();
        let authority: &[u8] = match (uri.authority(), host) {
            (Some(a), _) => a.as_str().as_bytes(),
            (None, Some(h)) => h,
            (None, None) if *method == Method::CONNECT => {
                return Err(SendError::new(SendErrorKind::InvalidHead));
            }
            (None, None) => b"",
        };
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let scheme = uri.scheme_str().unwrap_or("https");
        // A plain CONNECT carries only its authority; an extended one is
        // a full request (RFC 8441 §4).
        let full = *method != Method::CONNECT || protocol.is_some();
        // In this order; on the stack (no allocation per request).
        let pseudo: [Option<Field<'_>>; 5] = [
            Some(field(b":method", method.as_str().as_bytes())),
            protocol.map(|p| field(b":protocol", p.as_bytes())),
            full.then(|| field(b":scheme", scheme.as_bytes())),
            (!authority.is_empty()).then(|| field(b":authority", authority)),
            full.then(|| {
                field(
                    b":path",
                    if path.is_empty() {
                        b"/"
                    } else {
                        path.as_bytes()
                    },
                )
            }),
        ];
        let id = self.next_local;
        self.next_local += 2;
        let skip_host = uri.authority().is_none() && host.is_some();
        self.send_header_block(
            id,
            pseudo
                .into_iter()
                .flatten()
                .chain(regular_fields(headers, skip_host, false)),
            end_stream,
        );
        self.streams.insert(
            id,
            Stream {
                local_end: end_stream,
                remote_end: false,
                head_sent: true,
                head_received: false,
                send_window: i64::from(self.peer.initial_window_size),
                recv_window: i64::from(self.local.initial_window_size.unwrap_or(DEFAULT_WINDOW)),
                unannounced: 0,
                content_length: None,
                received: 0,
                head_request: *method == Method::HEAD,
            },
        );
        Ok(id)
    }

    /// Sends the response head on a stream the peer opened. A 1xx status
    /// may be sent before the final one; nothing of the kind after it (a
    /// HEADERS frame after the final head would read as trailers).
    pub fn send_response(
        &mut self,
        stream: u32,
        status: StatusCode,
        headers: &impl HeadFields,
        end_stream: bool,
    ) -> Result<(), SendError> {
        if self.role != Role::Server {
            return Err(SendError::new(SendErrorKind::WrongRole));
        }
        let s = self.writable(stream, false)?;
        let informational = status.is_informational();
        if (informational && end_stream) || s.head_sent {
            return Err(SendError::new(SendErrorKind::InvalidHead));
        }
        if !informational {
            s.head_sent = true;
        }
        let status_field = [field(b":status", status.as_str().as_bytes())];
        self.send_header_block(
            stream,
            status_field
                .into_iter()
                .chain(regular_fields(headers, false, true)),
            end_stream,
        );
        if end_stream {
            self.end_local(stream);
        }
        Ok(())
    }

    /// Sends trailing fields, ending this side of the stream.
    pub fn send_trailers(
        &mut self,
        stream: u32,
        trailers: &impl HeadFields,
    ) -> Result<(), SendError> {
        self.writable(stream, true)?;
        // Whatever the trailers came from, framing, routing and
        // credentials never go out after the body.
        let mut kept = regular_fields(trailers, false, true)
            .filter(|f| gwd_head::allowed_in_trailers(f.name))
            .peekable();
        if kept.peek().is_none() {
            // Nothing left to send after the body: the stream ends with
            // an empty DATA frame, not an empty HEADERS block.
            drop(kept);
            return self.send_data(stream, Bytes::new(), true).map(drop);
        }
        self.send_header_block(stream, kept, true);
        self.end_local(stream);
        Ok(())
    }

    /// Sends as much of `data` as the windows allow, at most the peer's
    /// frame size per frame; END_STREAM goes with the last byte when
    /// `end_stream`. Returns what could not be sent yet (wait for
    /// [`Event::Writable`]); an empty `data` with `end_stream` sends an
    /// empty final frame.
    pub fn send_data(
        &mut self,
        stream: u32,
        mut data: Bytes,
        end_stream: bool,
    ) -> Result<Bytes, SendError> {
        self.writable(stream, true)?;
        let max = self.peer.max_frame_size as usize;
        loop {
            let cap = self.send_capacity(stream);
            let n = data.len().min(cap).min(max);
            if n == 0 && !(data.is_empty() && end_stream) {
                return Ok(data);
            }
            let chunk = data.split_to(n);
            let last = data.is_empty() && end_stream;
            frame::encode(
                &Frame::Data {
                    stream,
                    data: chunk,
                    end_stream: last,
                    flow_len: n as u32,
                },
                self.out_with_room(),
            );
            self.send_window -= n as i64;
            if let Some(s) = self.streams.get_mut(&stream) {
                s.send_window -= n as i64;
            }
            if last {
                self.end_local(stream);
                return Ok(data);
            }
            if data.is_empty() {
                return Ok(data);
            }
        }
    }

    /// Resets a stream (RST_STREAM `code`); later frames on it are
    /// ignored. Unknown streams are ignored.
    pub fn reset(&mut self, stream: u32, code: ErrorCode) {
        if let Some(s) = self.drop_stream(stream) {
            frame::encode(&Frame::RstStream { stream, code }, &mut self.out);
            // The peer may have the rest of the stream's window in flight
            // already: throwing that away is no flood.
            if !s.remote_end {
                let left = u64::try_from(s.recv_window).unwrap_or(0);
                self.discard_allowance = (self.discard_allowance + left).min(MAX_DISCARD_ALLOWANCE);
            }
            // Frames the peer sent before it saw the reset are ignored.
            self.closed.note(stream, true);
        }
    }

    /// Queues a PING with `payload`; its ACK arrives as [`Event::PingAck`].
    pub fn send_ping(&mut self, payload: [u8; 8]) -> Result<(), SendError> {
        if self.phase == Phase::Closed {
            return Err(SendError::new(SendErrorKind::Closed));
        }
        frame::encode(
            &Frame::Ping {
                ack: false,
                payload,
            },
            &mut self.out,
        );
        Ok(())
    }

    /// The first step of a two-step graceful shutdown (RFC 9113 section
    /// 6.8): GOAWAY with the highest possible stream id, so the peer stops
    /// opening streams while any it already sent are still served. Send a
    /// PING next and call [`go_away`](Self::go_away) once it is answered:
    /// by then every stream the peer opened before seeing this has arrived.
    pub fn announce_go_away(&mut self) {
        if self.phase == Phase::Closed || self.goaway_sent.is_some() {
            return;
        }
        frame::encode(
            &Frame::GoAway {
                last_stream: MAX_WINDOW,
                code: ErrorCode::NO_ERROR,
                debug: Bytes::new(),
            },
            &mut self.out,
        );
    }

    /// Starts a graceful shutdown: GOAWAY with the highest stream the peer
    /// opened; streams already open finish, new ones are refused.
    /// [`is_closed`](Self::is_closed) turns true once they are done.
    pub fn go_away(&mut self, code: ErrorCode) {
        if self.phase == Phase::Closed || self.goaway_sent.is_some() {
            return;
        }
        self.goaway_sent = Some(self.max_peer);
        frame::encode(
            &Frame::GoAway {
                last_stream: self.max_peer,
                code,
                debug: Bytes::new(),
            },
            &mut self.out,
        );
        if code != ErrorCode::NO_ERROR {
            self.phase = Phase::Closed;
            self.streams.clear();
        }
    }

    fn writable(&mut self, stream: u32, need_head: bool) -> Result<&mut Stream, SendError> {
        if self.phase == Phase::Closed {
            return Err(SendError::new(SendErrorKind::Closed));
        }
        match self.streams.get_mut(&stream) {
            None => Err(SendError::new(SendErrorKind::UnknownStream)),
            Some(s) if s.local_end || (need_head && !s.head_sent) => {
                Err(SendError::new(SendErrorKind::NotWritable))
            }
            Some(s) => Ok(s),
        }
    }

    fn end_local(&mut self, stream: u32) {
        if self.role == Role::Server {
            // A stream answered in full pays back one premature reset.
            self.premature_resets = self.premature_resets.saturating_sub(1);
        }
        if let Some(s) = self.streams.get_mut(&stream) {
            s.local_end = true;
            if s.remote_end {
                self.drop_stream(stream);
            }
        }
    }

    /// Writes HEADERS (+ CONTINUATION) frames for a whole block.
    /// Encodes `fields` straight into the output, behind room kept for
    /// the HEADERS frame header, written once the block's length is
    /// known: no buffer of its own per block, and no copy. A block longer
    /// than the peer's frame size (rare) is taken back out and split into
    /// HEADERS and CONTINUATION frames.
    fn send_header_block<'a>(
        &mut self,
        stream: u32,
        fields: impl IntoIterator<Item = Field<'a>>,
        end_stream: bool,
    ) {
        use crate::internal::{FrameHeader, HEADER_LEN, flags, header_bytes, kind};
        let start = self.out_with_room().len();
        self.out.extend_from_slice(&[0; HEADER_LEN]);
        self.encoder.encode(fields, &mut self.out);
        let len = self.out.len() - start - HEADER_LEN;
        if len <= self.peer.max_frame_size as usize {
            let h = FrameHeader {
                len: len as u32,
                kind: kind::HEADERS,
                flags: flags::END_HEADERS | if end_stream { flags::END_STREAM } else { 0 },
                stream,
            };
            self.out[start..start + HEADER_LEN].copy_from_slice(&header_bytes(h));
        } else {
            let block = self.out.split_off(start + HEADER_LEN).freeze();
            self.out.truncate(start);
            self.write_header_block(stream, block, end_stream);
        }
    }

    fn write_header_block(&mut self, stream: u32, mut block: Bytes, end_stream: bool) {
        let max = self.peer.max_frame_size as usize;
        let first = block.split_to(block.len().min(max));
        frame::encode(
            &Frame::Headers {
                stream,
                block: first,
                end_stream,
                end_headers: block.is_empty(),
                priority: None,
            },
            &mut self.out,
        );
        while !block.is_empty() {
            let chunk = block.split_to(block.len().min(max));
            frame::encode(
                &Frame::Continuation {
                    stream,
                    block: chunk,
                    end_headers: block.is_empty(),
                },
                &mut self.out,
            );
        }
    }
}

fn field<'a>(name: &'a [u8], value: &'a [u8]) -> Field<'a> {
    Field {
        name,
        value,
        never_index: false,
    }
}
