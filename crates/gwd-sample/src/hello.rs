//! A TLS ClientHello read from the first bytes a TCP-mode client sent,
//! without terminating TLS (the fetches `req.ssl_sni`, `req.ssl_ver`,
//! `req.ssl_hello_type`).
//!
//! Model: [`parse_client_hello`] is a pure function of the bytes received
//! so far. It answers [`HelloParse::Incomplete`] while the hello may still
//! be completed by more bytes, [`HelloParse::Invalid`] as soon as the bytes
//! cannot be the start of a TLS ClientHello, and [`HelloParse::Complete`]
//! once the whole handshake message is in. The handshake message may be
//! split over several TLS records (RFC 8446 §5.1 allows it); they are
//! joined, up to [`MAX_HELLO`] bytes.
//!
//! Invariants: every length read is checked against what is left of its
//! enclosing structure before use (no index can go out of bounds, whatever
//! the input); nothing here allocates more than [`MAX_HELLO`] bytes.

/// The largest ClientHello reassembled (bigger ones are [`HelloParse::Invalid`]).
/// Real hellos are a few hundred bytes to a few KiB (post-quantum key
/// shares included); this bounds the copy for a hello spread over records.
pub const MAX_HELLO: usize = 64 * 1024;

/// TLS record content type of a handshake.
const HANDSHAKE: u8 = 22;
/// Handshake message type of a ClientHello.
const CLIENT_HELLO: u8 = 1;
/// The `server_name` extension (RFC 6066).
const EXT_SERVER_NAME: u16 = 0;
/// The largest TLSPlaintext fragment a record may carry (2^14), plus the
/// slack HAProxy tolerates for broken clients.
const MAX_RECORD: usize = (1 << 14) + 2048;

/// The parts of a ClientHello the fetches read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    /// The hello's `legacy_version` (`0x0303` for TLS 1.2 and 1.3 hellos).
    pub version: u16,
    /// The `host_name` of the `server_name` extension, if any.
    pub sni: Option<Vec<u8>>,
}

/// What the bytes received so far are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelloParse {
    /// A ClientHello may still follow: wait for more bytes.
    Incomplete,
    /// Not a TLS ClientHello (another protocol, or a malformed hello).
    Invalid,
    /// A whole ClientHello.
    Complete(ClientHello),
}

/// The handshake type of the first handshake message (1: ClientHello,
/// 2: ServerHello), once the first record header and that byte are in.
/// `None` while fewer bytes arrived or when they are not a TLS handshake
/// record.
pub fn hello_type(buf: &[u8]) -> Option<u8> {
    let rec = buf.get(..6)?;
    (rec[0] == HANDSHAKE && rec[1] == 3).then_some(rec[5])
}

/// Reads the ClientHello at the start of `buf` (see the module docs).
pub fn parse_client_hello(buf: &[u8]) -> HelloParse {
    match reassemble(buf) {
        Ok(msg) => match parse_body(&msg) {
            Some(h) => HelloParse::Complete(h),
            None => HelloParse::Invalid,
        },
        Err(e) => e,
    }
}

/// The whole handshake message (type, length and body) joined from its
/// records, or why not.
fn reassemble(buf: &[u8]) -> Result<Vec<u8>, HelloParse> {
    let mut msg: Vec<u8> = Vec::new();
    let mut rest = buf;
    loop {
        // Each record header: type, version (3.x), length.
        let Some(hdr) = rest.get(..5) else {
            return Err(incomplete_unless_bad(rest));
        };
        if hdr[0] != HANDSHAKE || hdr[1] != 3 {
            return Err(HelloParse::Invalid);
        }
        let len = usize::from(u16::from_be_bytes([hdr[3], hdr[4]]));
        if len == 0 || len > MAX_RECORD {
            return Err(HelloParse::Invalid);
        }
        let Some(frag) = rest.get(5..5 + len) else {
            // Part of the record: enough to refuse a non-hello early.
            if msg.is_empty()
                && let Some(&t) = rest.get(5)
                && t != CLIENT_HELLO
            {
                return Err(HelloParse::Invalid);
            }
            return Err(HelloParse::Incomplete);
        };
        if msg.len() + frag.len() > MAX_HELLO + 4 {
            return Err(HelloParse::Invalid);
        }
        msg.extend_from_slice(frag);
        rest = &rest[5 + len..];
        if msg[0] != CLIENT_HELLO {
            return Err(HelloParse::Invalid);
        }
        if let Some(l) = msg.get(1..4) {
            let need = (usize::from(l[0]) << 16 | usize::from(l[1]) << 8 | usize::from(l[2])) + 4;
            if need > MAX_HELLO + 4 {
                return Err(HelloParse::Invalid);
            }
            if msg.len() >= need {
                msg.truncate(need);
                return Ok(msg);
            }
        }
    }
}

/// A header shorter than 5 bytes: invalid as soon as what is there
/// cannot start a handshake record.
fn incomplete_unless_bad(rest: &[u8]) -> HelloParse {
    match rest {
        [t, ..] if *t != HANDSHAKE => HelloParse::Invalid,
        [_, v, ..] if *v != 3 => HelloParse::Invalid,
        _ => HelloParse::Incomplete,
    }
}

/// A bounds-checked reader over one structure.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    /// A vector with a `width`-byte length prefix.
    fn vec(&mut self, width: usize) -> Option<&'a [u8]> {
        let n = match width {
            1 => usize::from(self.u8()?),
            _ => usize::from(self.u16()?),
        };
        self.take(n)
    }
}

/// The ClientHello fields after the 4-byte handshake header.
fn parse_body(msg: &[u8]) -> Option<ClientHello> {
    let mut r = Reader(msg.get(4..)?);
    let version = r.u16()?;
    r.take(32)?; // random
    r.vec(1)?; // legacy_session_id
    r.vec(2)?; // cipher_suites
    r.vec(1)?; // legacy_compression_methods
    let mut sni = None;
    // Extensions are optional in a (pre-TLS 1.3) hello.
    if !r.0.is_empty() {
        let mut exts = Reader(r.vec(2)?);
        while !exts.0.is_empty() {
            let ty = exts.u16()?;
            let data = exts.vec(2)?;
            if ty == EXT_SERVER_NAME {
                sni = server_name(data);
            }
        }
    }
    Some(ClientHello { version, sni })
}

/// The first `host_name` of a `server_name` extension.
fn server_name(data: &[u8]) -> Option<Vec<u8>> {
    let mut list = Reader(Reader(data).vec(2)?);
    while !list.0.is_empty() {
        let kind = list.u8()?;
        let name = list.vec(2)?;
        if kind == 0 && !name.is_empty() {
            return Some(name.to_vec());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello body with the given SNI (or none), as a handshake
    /// message (type + length + body).
    fn hello_msg(sni: Option<&str>) -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend([7u8; 32]);
        body.extend([32]);
        body.extend([1u8; 32]);
        body.extend([0, 4, 0x13, 0x01, 0x13, 0x02]);
        body.extend([1, 0]);
        let mut exts = Vec::new();
        // An unrelated extension first (supported_versions).
        exts.extend([0, 0x2b, 0, 3, 2, 3, 4]);
        if let Some(name) = sni {
            let n = name.len() as u16;
            let mut e = Vec::new();
            e.extend((n + 3).to_be_bytes());
            e.push(0);
            e.extend(n.to_be_bytes());
            e.extend(name.as_bytes());
            exts.extend([0, 0]);
            exts.extend((e.len() as u16).to_be_bytes());
            exts.extend(e);
        }
        body.extend((exts.len() as u16).to_be_bytes());
        body.extend(exts);
        let mut msg = vec![CLIENT_HELLO];
        msg.extend(&(body.len() as u32).to_be_bytes()[1..]);
        msg.extend(body);
        msg
    }

    /// `msg` in records of at most `chunk` bytes.
    fn records(msg: &[u8], chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for c in msg.chunks(chunk) {
            out.extend([HANDSHAKE, 3, 1]);
            out.extend((c.len() as u16).to_be_bytes());
            out.extend(c);
        }
        out
    }

    fn complete(buf: &[u8]) -> ClientHello {
        match parse_client_hello(buf) {
            HelloParse::Complete(h) => h,
            other => panic!("expected a hello, got {other:?}"),
        }
    }

    #[test]
    fn reads_the_server_name_and_version() {
        let buf = records(&hello_msg(Some("a.example")), 1 << 14);
        let h = complete(&buf);
        assert_eq!(h.sni.as_deref(), Some(&b"a.example"[..]));
        assert_eq!(h.version, 0x0303);
        assert_eq!(hello_type(&buf), Some(1));
    }

    #[test]
    fn a_hello_without_server_name_has_none() {
        let h = complete(&records(&hello_msg(None), 1 << 14));
        assert_eq!(h.sni, None);
    }

    #[test]
    fn every_prefix_is_incomplete_and_bytes_after_are_ignored() {
        let mut buf = records(&hello_msg(Some("b.example")), 1 << 14);
        for n in 0..buf.len() {
            assert_eq!(parse_client_hello(&buf[..n]), HelloParse::Incomplete, "{n}");
        }
        buf.extend(b"application data follows");
        assert_eq!(complete(&buf).sni.as_deref(), Some(&b"b.example"[..]));
    }

    #[test]
    fn a_hello_split_over_records_is_joined() {
        let msg = hello_msg(Some("split.example"));
        for chunk in [1, 3, 17, 100] {
            let buf = records(&msg, chunk);
            assert_eq!(
                complete(&buf).sni.as_deref(),
                Some(&b"split.example"[..]),
                "{chunk}"
            );
            assert_eq!(
                parse_client_hello(&buf[..buf.len() - 1]),
                HelloParse::Incomplete
            );
        }
    }

    #[test]
    fn other_protocols_are_invalid_from_their_first_bytes() {
        assert_eq!(parse_client_hello(b"G"), HelloParse::Invalid);
        assert_eq!(
            parse_client_hello(b"GET / HTTP/1.1\r\n"),
            HelloParse::Invalid
        );
        assert_eq!(parse_client_hello(&[HANDSHAKE, 2]), HelloParse::Invalid);
        assert_eq!(hello_type(b"GET / HTTP/1.1"), None);
        // A handshake record carrying a ServerHello.
        assert_eq!(
            parse_client_hello(&[HANDSHAKE, 3, 3, 0, 40, 2]),
            HelloParse::Invalid
        );
        assert_eq!(hello_type(&[HANDSHAKE, 3, 3, 0, 40, 2]), Some(2));
        // Zero-length and oversized records.
        assert_eq!(
            parse_client_hello(&[HANDSHAKE, 3, 1, 0, 0]),
            HelloParse::Invalid
        );
        assert_eq!(
            parse_client_hello(&[HANDSHAKE, 3, 1, 0xff, 0xff]),
            HelloParse::Invalid
        );
    }

    #[test]
    fn lengths_that_overrun_their_structure_are_invalid() {
        let msg = hello_msg(Some("a.example"));
        // Inflate the SNI name length: it now runs past its extension.
        let mut bad = msg.clone();
        let at = bad.windows(9).position(|w| w == b"a.example").unwrap();
        bad[at - 1] = 0xff;
        // The name list is read inside its extension's bounds: unreadable.
        assert_eq!(
            parse_client_hello(&records(&bad, 1 << 14)),
            HelloParse::Complete(ClientHello {
                version: 0x0303,
                sni: None
            })
        );
        // A session id longer than the body.
        let mut bad = msg.clone();
        bad[4 + 2 + 32] = 0xff;
        assert_eq!(
            parse_client_hello(&records(&bad, 1 << 14)),
            HelloParse::Invalid
        );
        // A handshake length beyond the cap.
        let huge = [HANDSHAKE, 3, 1, 0, 4, CLIENT_HELLO, 0xff, 0xff, 0xff];
        assert_eq!(parse_client_hello(&huge), HelloParse::Invalid);
    }

    #[test]
    fn garbage_never_panics() {
        // A deterministic walk over many byte strings, some starting
        // like a hello, with every prefix of each.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let base = records(&hello_msg(Some("fuzz.example")), 50);
        for round in 0..2000 {
            let mut buf = if round % 2 == 0 {
                base.clone()
            } else {
                Vec::new()
            };
            for _ in 0..(round % 64) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let v = (x >> 24) as u8;
                if buf.is_empty() || round % 2 == 1 {
                    buf.push(v);
                } else {
                    let i = (x as usize) % buf.len();
                    buf[i] = v;
                }
            }
            for n in 0..=buf.len() {
                let _ = parse_client_hello(&buf[..n]);
                let _ = hello_type(&buf[..n]);
            }
        }
    }
}
