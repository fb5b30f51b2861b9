//! Body framing: a sans-I/O decoder for what a head announced, and the
//! few bytes chunked encoding writes.
//!
//! The decoder never copies: each [`Step`] says how many input bytes are
//! framing to skip or body data to hand on, so a caller holding a read
//! buffer slices the data out of it. It keeps no buffer itself; a chunk
//! size line or a trailer section split across reads is simply asked for
//! again ([`Step::NeedMore`]) with more bytes appended, within limits.

pub use gwd_head::allowed_in_trailers;
use gwd_head::{Fields, trim_ows};

use crate::error::BodyError;
use crate::head::{BodyKind, Limits};

/// Longest chunk-size line accepted, extensions included. Extensions are
/// not forwarded (gwd writes its own chunk framing), so a long line only
/// costs buffer space: bound it.
pub const MAX_CHUNK_LINE: usize = 4096;

/// One step of decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing can be decoded from these bytes yet: read more and call
    /// again with them appended.
    NeedMore,
    /// This many input bytes are framing: drop them.
    Skip(usize),
    /// This many input bytes, from the start, are body data.
    Data(usize),
    /// The body is complete; `consumed` bytes of input were its last
    /// framing (last chunk, trailer section). What follows belongs to the
    /// next message.
    End {
        consumed: usize,
        /// The trailer section of a chunked body, when it had fields.
        trailers: Option<Fields>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length { remaining: u64 },
    ChunkSize,
    ChunkData { remaining: u64 },
    ChunkDataEnd,
    Trailers,
    UntilClose,
    Done,
}

/// Decodes one message body (RFC 9112 §6, §7.1).
///
/// ```
/// use gwd_h1::{BodyDecoder, BodyKind, Limits, Step};
/// let mut d = BodyDecoder::new(BodyKind::Chunked, Limits::default());
/// let mut input: &[u8] = b"3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\nNEXT";
/// let mut data = Vec::new();
/// loop {
///     match d.decode(input).unwrap() {
///         Step::Skip(n) => input = &input[n..],
///         Step::Data(n) => { data.extend_from_slice(&input[..n]); input = &input[n..] }
///         Step::End { consumed, trailers } => {
///             input = &input[consumed..];
///             assert_eq!(trailers.unwrap().get("x-t"), Some(&b"1"[..]));
///             break;
///         }
///         Step::NeedMore => unreachable!("all input is here"),
///     }
/// }
/// assert_eq!(data, b"abc");
/// assert_eq!(input, b"NEXT");
/// ```
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: State,
    limits: Limits,
    /// Data bytes handed out so far.
    received: u64,
}

impl BodyDecoder {
    /// A decoder for a body framed as `kind`; `limits` bound the trailer
    /// section.
    pub fn new(kind: BodyKind, limits: Limits) -> BodyDecoder {
        let state = match kind {
            BodyKind::None | BodyKind::Length(0) => State::Done,
            BodyKind::Length(n) => State::Length { remaining: n },
            BodyKind::Chunked => State::ChunkSize,
            BodyKind::UntilClose => State::UntilClose,
        };
        BodyDecoder {
            state,
            limits,
            received: 0,
        }
    }

    /// True once the body's end was decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// True when the next [`decode`](Self::decode) with input returns
    /// data (inside a length-delimited body, a chunk, or a close-delimited
    /// body), as opposed to framing or the end. Each data byte is handed
    /// out once: a caller that cannot take data yet asks this first.
    pub fn expects_data(&self) -> bool {
        match self.state {
            State::Length { remaining } | State::ChunkData { remaining } => remaining > 0,
            State::UntilClose => true,
            _ => false,
        }
    }

    /// Data bytes decoded so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Data bytes still expected, when the framing says (content-length,
    /// or inside a chunk).
    pub fn remaining_in_frame(&self) -> Option<u64> {
        match self.state {
            State::Length { remaining } | State::ChunkData { remaining } => Some(remaining),
            State::Done => Some(0),
            _ => None,
        }
    }

    /// The peer closed the connection: fine only for a close-delimited
    /// body (which ends here) or a complete one.
    pub fn eof(&mut self) -> Result<(), BodyError> {
        match self.state {
            State::UntilClose | State::Done => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(BodyError::Truncated),
        }
    }

    /// Decodes from the start of `input`. See [`Step`].
    pub fn decode(&mut self, input: &[u8]) -> Result<Step, BodyError> {
        match self.state {
            State::Done => Ok(Step::End {
                consumed: 0,
                trailers: None,
            }),
            State::Length { remaining } => {
                if remaining == 0 {
                    self.state = State::Done;
                    return self.decode(input);
                }
                if input.is_empty() {
                    return Ok(Step::NeedMore);
                }
                let n = take(remaining, input.len());
                self.state = if remaining == n as u64 {
                    State::Done
                } else {
                    State::Length {
                        remaining: remaining - n as u64,
                    }
                };
                self.received += n as u64;
                Ok(Step::Data(n))
            }
            State::UntilClose => {
                if input.is_empty() {
                    return Ok(Step::NeedMore);
                }
                self.received += input.len() as u64;
                Ok(Step::Data(input.len()))
            }
            State::ChunkData { remaining } => {
                if input.is_empty() {
                    return Ok(Step::NeedMore);
                }
                let n = take(remaining, input.len());
                self.state = if remaining == n as u64 {
                    State::ChunkDataEnd
                } else {
                    State::ChunkData {
                        remaining: remaining - n as u64,
                    }
                };
                self.received += n as u64;
                Ok(Step::Data(n))
            }
            State::ChunkDataEnd => match input {
                [b'\r', b'\n', ..] => {
                    self.state = State::ChunkSize;
                    Ok(Step::Skip(2))
                }
                [] | [b'\r'] => Ok(Step::NeedMore),
                _ => Err(BodyError::ChunkDataEnd),
            },
            State::ChunkSize => {
                let window = &input[..input.len().min(MAX_CHUNK_LINE)];
                let Some(lf) = window.iter().position(|&b| b == b'\n') else {
                    if input.len() >= MAX_CHUNK_LINE {
                        return Err(BodyError::ChunkLineTooLong);
                    }
                    // Fail early on a byte no size line may hold.
                    if let Some(&b) = window.first()
                        && !b.is_ascii_hexdigit()
                    {
                        return Err(BodyError::ChunkSize);
                    }
                    return Ok(Step::NeedMore);
                };
                if lf == 0 || window[lf - 1] != b'\r' {
                    return Err(BodyError::ChunkSize);
                }
                let size = parse_chunk_size(&window[..lf - 1])?;
                self.state = if size == 0 {
                    State::Trailers
                } else {
                    State::ChunkData { remaining: size }
                };
                Ok(Step::Skip(lf + 1))
            }
            State::Trailers => {
                if input.starts_with(b"\r\n") {
                    self.state = State::Done;
                    return Ok(Step::End {
                        consumed: 2,
                        trailers: None,
                    });
                }
                if input.is_empty() || input == b"\r" {
                    return Ok(Step::NeedMore);
                }
                let mut storage = vec![httparse::EMPTY_HEADER; self.limits.max_fields];
                match httparse::parse_headers(input, &mut storage) {
                    Ok(httparse::Status::Complete((n, headers))) => {
                        if n > self.limits.max_head {
                            return Err(BodyError::TrailersTooLarge);
                        }
                        let mut fields = Fields::new();
                        for h in headers {
                            // Fields that frame, route or authenticate a
                            // message may not come as trailers (RFC 9110
                            // §6.5.1): dropped, never forwarded.
                            if !allowed_in_trailers(h.name.as_bytes()) {
                                continue;
                            }
                            fields.append(h.name.as_bytes(), trim_ows(h.value));
                        }
                        self.state = State::Done;
                        Ok(Step::End {
                            consumed: n,
                            trailers: (!fields.is_empty()).then_some(fields),
                        })
                    }
                    Ok(httparse::Status::Partial) => {
                        if input.len() > self.limits.max_head {
                            Err(BodyError::TrailersTooLarge)
                        } else {
                            Ok(Step::NeedMore)
                        }
                    }
                    Err(httparse::Error::TooManyHeaders) => Err(BodyError::TrailersTooLarge),
                    Err(_) => Err(BodyError::Trailers),
                }
            }
        }
    }
}

fn take(remaining: u64, available: usize) -> usize {
    usize::try_from(remaining).map_or(available, |r| r.min(available))
}

/// `chunk-size [ chunk-ext ]` (the line without its CRLF): hex digits,
/// then nothing, or optional whitespace and `;` extensions made of
/// visible characters, spaces and tabs.
fn parse_chunk_size(line: &[u8]) -> Result<u64, BodyError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(BodyError::ChunkSize);
    }
    let significant = &line[..digits];
    let significant = &significant[significant
        .iter()
        .position(|&b| b != b'0')
        .unwrap_or(significant.len())..];
    if significant.len() > 16 {
        return Err(BodyError::ChunkSizeOverflow);
    }
    let mut size: u64 = 0;
    for &b in significant {
        let v = (b as char).to_digit(16).expect("a hex digit") as u64;
        size = (size << 4) | v;
    }
    // Optional whitespace (BWS), then nothing or `;` extensions.
    let rest = &line[digits..];
    let ext = &rest[rest
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(rest.len())..];
    match ext.first() {
        None => {}
        Some(b';') if !ext.iter().any(|&b| b != b'\t' && (b < 0x20 || b == 0x7f)) => {}
        Some(_) => return Err(BodyError::ChunkSize),
    }
    Ok(size)
}

/// The size line written before a chunk of `len` bytes: `<hex>\r\n`.
///
/// ```
/// assert_eq!(gwd_h1::ChunkHeader::new(300).as_bytes(), b"12c\r\n");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ChunkHeader {
    bytes: [u8; 18],
    len: u8,
}

impl ChunkHeader {
    pub fn new(len: usize) -> ChunkHeader {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut digits = [0u8; 16];
        let mut n = len as u64;
        let mut i = 16;
        loop {
            i -= 1;
            digits[i] = HEX[(n & 0xf) as usize];
            n >>= 4;
            if n == 0 {
                break;
            }
        }
        let mut bytes = [0u8; 18];
        let count = 16 - i;
        bytes[..count].copy_from_slice(&digits[i..]);
        bytes[count] = b'\r';
        bytes[count + 1] = b'\n';
        ChunkHeader {
            bytes,
            len: (count + 2) as u8,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// The CRLF after a chunk's data.
pub const CHUNK_END: &[u8] = b"\r\n";

/// The last chunk and an empty trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Writes the last chunk with `trailers` (or none), leaving out every
/// field a trailer section may not carry ([`allowed_in_trailers`]):
/// whatever the trailers came from (an HTTP/2 peer, a rule), framing,
/// routing and credentials never go out after the body.
pub fn write_last_chunk(out: &mut Vec<u8>, trailers: Option<&Fields>) {
    out.extend_from_slice(b"0\r\n");
    if let Some(t) = trailers {
        for (name, value) in t.iter().filter(|(n, _)| allowed_in_trailers(n)) {
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feeds `input` in pieces of the given sizes, the way reads would
    /// arrive, keeping undecoded bytes; returns data and trailers.
    fn feed(
        kind: BodyKind,
        input: &[u8],
        pieces: &[usize],
    ) -> Result<(Vec<u8>, Option<Fields>, usize), BodyError> {
        let mut d = BodyDecoder::new(kind, Limits::default());
        let mut buf: Vec<u8> = Vec::new();
        let mut fed = 0;
        let mut sizes = pieces.iter().copied().chain(std::iter::repeat(usize::MAX));
        let mut data = Vec::new();
        loop {
            match d.decode(&buf)? {
                Step::Skip(n) => {
                    buf.drain(..n);
                }
                Step::Data(n) => {
                    data.extend(buf.drain(..n));
                }
                Step::End { consumed, trailers } => {
                    buf.drain(..consumed);
                    let left = buf.len() + input.len() - fed;
                    return Ok((data, trailers, left));
                }
                Step::NeedMore => {
                    if fed == input.len() {
                        d.eof()?;
                        return Ok((data, None, 0));
                    }
                    let n = sizes.next().unwrap().max(1).min(input.len() - fed);
                    buf.extend_from_slice(&input[fed..fed + n]);
                    fed += n;
                }
            }
        }
    }

    #[test]
    fn length_bodies_stop_at_their_length() {
        let (data, _, left) = feed(BodyKind::Length(3), b"abcdef", &[1, 1, 1, 1]).unwrap();
        assert_eq!((data.as_slice(), left), (&b"abc"[..], 3));
        assert_eq!(
            feed(BodyKind::Length(5), b"abc", &[]).unwrap_err(),
            BodyError::Truncated
        );
        let mut d = BodyDecoder::new(BodyKind::None, Limits::default());
        assert!(d.is_done());
        assert_eq!(
            d.decode(b"x").unwrap(),
            Step::End {
                consumed: 0,
                trailers: None
            }
        );
    }

    #[test]
    fn expects_data_says_what_the_next_step_is() {
        let mut d = BodyDecoder::new(BodyKind::Chunked, Limits::default());
        assert!(!d.expects_data(), "a size line first");
        assert_eq!(d.decode(b"2\r\nab\r\n0\r\n\r\n").unwrap(), Step::Skip(3));
        assert!(d.expects_data());
        assert_eq!(d.decode(b"ab\r\n0\r\n\r\n").unwrap(), Step::Data(2));
        assert!(!d.expects_data(), "the chunk's CRLF");
        let mut d = BodyDecoder::new(BodyKind::Length(1), Limits::default());
        assert!(d.expects_data());
        assert_eq!(d.decode(b"x").unwrap(), Step::Data(1));
        assert!(!d.expects_data());
        assert!(BodyDecoder::new(BodyKind::UntilClose, Limits::default()).expects_data());
        assert!(!BodyDecoder::new(BodyKind::None, Limits::default()).expects_data());
    }

    #[test]
    fn until_close_takes_everything() {
        let (data, _, _) = feed(BodyKind::UntilClose, b"all of it", &[2, 3]).unwrap();
        assert_eq!(data, b"all of it");
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let input = b"4\r\nWiki\r\n5;name=\"va lue\"\r\npedia\r\nE ; x\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\nX-A: 1\r\n\r\nNEXT";
        for pieces in [&[][..], &[1][..], &[3, 1, 7][..]] {
            let (data, trailers, left) = feed(BodyKind::Chunked, input, pieces).unwrap();
            assert_eq!(data, b"Wikipedia in\r\n\r\nchunks.");
            let t = trailers.unwrap();
            assert_eq!(t.get("expires"), Some(&b"never"[..]));
            assert_eq!(t.get("x-a"), Some(&b"1"[..]));
            assert_eq!(left, 4);
        }
    }

    #[test]
    fn forbidden_trailer_fields_are_dropped() {
        let input = b"1\r\na\r\n0\r\nContent-Length: 9\r\nHost: evil\r\nX-Sum: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let (_, trailers, _) = feed(BodyKind::Chunked, input, &[]).unwrap();
        let t = trailers.unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t.get("x-sum"), Some(&b"1"[..]));
    }

    #[test]
    fn chunked_errors() {
        let cases: &[(&[u8], BodyError)] = &[
            (b"x\r\n", BodyError::ChunkSize),
            (b" 1\r\na\r\n0\r\n\r\n", BodyError::ChunkSize),
            (b"1\na\r\n0\r\n\r\n", BodyError::ChunkSize),
            (b"1 x\r\na\r\n", BodyError::ChunkSize),
            (b"1;a\0\r\na\r\n", BodyError::ChunkSize),
            (b"-1\r\n", BodyError::ChunkSize),
            (b"+1\r\n", BodyError::ChunkSize),
            (b"0x1\r\n", BodyError::ChunkSize),
            (b"1\r\nabc\r\n", BodyError::ChunkDataEnd),
            (b"1\r\na\n0\r\n\r\n", BodyError::ChunkDataEnd),
            (b"11111111111111111\r\n", BodyError::ChunkSizeOverflow),
            (b"3\r\nab", BodyError::Truncated),
            (b"0\r\nbad header\r\n\r\n", BodyError::Trailers),
        ];
        for (input, want) in cases {
            assert_eq!(
                feed(BodyKind::Chunked, input, &[]).map(|r| r.0),
                Err(*want),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        // Leading zeros do not overflow.
        let (data, _, _) = feed(
            BodyKind::Chunked,
            b"00000000000000000001\r\na\r\n0\r\n\r\n",
            &[],
        )
        .unwrap();
        assert_eq!(data, b"a");
        // Whitespace before the CRLF is allowed (BWS).
        let (data, _, _) = feed(BodyKind::Chunked, b"1 \r\na\r\n0\r\n\r\n", &[]).unwrap();
        assert_eq!(data, b"a");
    }

    #[test]
    fn an_endless_size_line_is_refused() {
        let mut line = b"1;".to_vec();
        line.resize(MAX_CHUNK_LINE + 10, b'a');
        assert_eq!(
            feed(BodyKind::Chunked, &line, &[]).unwrap_err(),
            BodyError::ChunkLineTooLong
        );
    }

    #[test]
    fn chunk_headers_are_lower_hex() {
        assert_eq!(ChunkHeader::new(0).as_bytes(), b"0\r\n");
        assert_eq!(ChunkHeader::new(15).as_bytes(), b"f\r\n");
        assert_eq!(ChunkHeader::new(4096).as_bytes(), b"1000\r\n");
        assert_eq!(
            ChunkHeader::new(usize::MAX).as_bytes(),
            b"ffffffffffffffff\r\n"
        );
    }

    /// Trailers from anywhere (an HTTP/2 peer) go out without the fields
    /// a trailer section may not carry.
    #[test]
    fn the_last_chunk_leaves_out_forbidden_trailers() {
        let mut t = Fields::new();
        for (n, v) in [
            ("Content-Length", "99"),
            ("X-Checksum", "abc"),
            ("host", "evil"),
            ("Set-Cookie", "sid=evil"),
        ] {
            t.append(n.as_bytes(), v.as_bytes());
        }
        let mut out = Vec::new();
        write_last_chunk(&mut out, Some(&t));
        assert_eq!(out, b"0\r\nX-Checksum: abc\r\n\r\n");
        let mut out = Vec::new();
        write_last_chunk(&mut out, None);
        assert_eq!(out, LAST_CHUNK);
    }

    fn encode_chunked(chunks: &[Vec<u8>], trailers: Option<&Fields>) -> Vec<u8> {
        let mut out = Vec::new();
        for c in chunks.iter().filter(|c| !c.is_empty()) {
            out.extend_from_slice(ChunkHeader::new(c.len()).as_bytes());
            out.extend_from_slice(c);
            out.extend_from_slice(CHUNK_END);
        }
        write_last_chunk(&mut out, trailers);
        out
    }

    proptest! {
        /// What the encoder writes, the decoder reads back, however the
        /// bytes are split across reads.
        #[test]
        fn chunked_round_trips_across_any_split(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
            pieces in proptest::collection::vec(1usize..64, 0..64),
            with_trailer in any::<bool>(),
        ) {
            let mut t = Fields::new();
            t.append(b"X-Sum", b"42");
            let wire = encode_chunked(&chunks, with_trailer.then_some(&t));
            let (data, trailers, left) = feed(BodyKind::Chunked, &wire, &pieces).unwrap();
            prop_assert_eq!(data, chunks.concat());
            prop_assert_eq!(trailers.is_some(), with_trailer);
            prop_assert_eq!(left, 0);
        }

        /// Random bytes never panic the decoder, and it never hands out
        /// more data than it was given.
        #[test]
        fn random_input_never_panics(input in proptest::collection::vec(any::<u8>(), 0..512),
                                     pieces in proptest::collection::vec(1usize..32, 0..32)) {
            if let Ok((data, _, _)) = feed(BodyKind::Chunked, &input, &pieces) {
                prop_assert!(data.len() <= input.len());
            }
        }
    }
}
