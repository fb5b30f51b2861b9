//! Captures: the values a request keeps for its log line (HAProxy's
//! `capture request|response header`, `declare capture`, `http-request
//! capture`, `http-response capture`).
//!
//! # Model
//!
//! A frontend declares numbered slots per direction, in declaration order
//! (slot `i` is `%hr`'s `i`-th value and `capture.req.hdr(i)`). A request
//! gets one [`Captures`] with that many empty slots; filling a slot keeps at
//! most the slot's length in bytes of the value (HAProxy truncates the
//! same way, bytes not characters). A slot never filled is absent, which
//! log lines write differently from an empty value.
//!
//! # Invariants
//!
//! * A stored value is never longer than the length it was stored with.
//! * Every byte a visitor or server sent reaches a log line through
//!   [`push_encoded`]: control bytes, bytes from 0x7F up and `"`, `#`,
//!   `{`, `|`, `}` are written `#XX` (HAProxy's header encoding map), so a
//!   captured value can neither break the line, nor fake the `{a|b}`
//!   framing, nor inject a syslog field.

use std::fmt::Write as _;

/// Which direction a capture slot belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CaptureDir {
    /// Request slots (`%hr`, `capture.req.hdr`).
    Request,
    /// Response slots (`%hs`, `capture.res.hdr`).
    Response,
}

/// One request's captured values, slot by slot.
///
/// ```
/// use gwd_sample::{CaptureDir, Captures};
///
/// let mut c = Captures::new(2, 1);
/// c.set(CaptureDir::Request, 0, b"www.example.com", 5);
/// assert_eq!(c.get(CaptureDir::Request, 0), Some(&b"www.e"[..]));
/// assert_eq!(c.get(CaptureDir::Request, 1), None);
/// let mut line = String::new();
/// c.render_braces(CaptureDir::Request, false, &mut line);
/// assert_eq!(line, "{www.e|}");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Captures {
    req: Box<[Option<Box<[u8]>>]>,
    res: Box<[Option<Box<[u8]>>]>,
}

impl Captures {
    /// `req` request slots and `res` response slots, all empty.
    pub fn new(req: usize, res: usize) -> Captures {
        Captures {
            req: vec![None; req].into_boxed_slice(),
            res: vec![None; res].into_boxed_slice(),
        }
    }

    fn slots(&self, dir: CaptureDir) -> &[Option<Box<[u8]>>] {
        match dir {
            CaptureDir::Request => &self.req,
            CaptureDir::Response => &self.res,
        }
    }

    /// The number of slots of `dir`.
    pub fn len(&self, dir: CaptureDir) -> usize {
        self.slots(dir).len()
    }

    /// True when neither direction has a slot.
    pub fn is_empty(&self) -> bool {
        self.req.is_empty() && self.res.is_empty()
    }

    /// Stores at most `max` bytes of `value` in slot `idx` of `dir`,
    /// replacing what it held. Returns false (storing nothing) when there
    /// is no such slot: a backend's `capture ... id` rule may name a slot
    /// the frontend of a request lacks, which HAProxy ignores too.
    pub fn set(&mut self, dir: CaptureDir, idx: usize, value: &[u8], max: usize) -> bool {
        let slots = match dir {
            CaptureDir::Request => &mut self.req,
            CaptureDir::Response => &mut self.res,
        };
        match slots.get_mut(idx) {
            Some(slot) => {
                *slot = Some(value[..value.len().min(max)].into());
                true
            }
            None => false,
        }
    }

    /// The value of slot `idx` of `dir`, if it was filled.
    pub fn get(&self, dir: CaptureDir, idx: usize) -> Option<&[u8]> {
        self.slots(dir).get(idx)?.as_deref()
    }

    /// `%hr`/`%hs`: `{v1|v2|...}` with each value encoded (an absent one
    /// empty), in double quotes when `quote`; nothing when `dir` has no
    /// slot.
    pub fn render_braces(&self, dir: CaptureDir, quote: bool, out: &mut String) {
        let slots = self.slots(dir);
        if slots.is_empty() {
            return;
        }
        if quote {
            out.push('"');
        }
        out.push('{');
        for (i, v) in slots.iter().enumerate() {
            if i > 0 {
                out.push('|');
            }
            if let Some(v) = v {
                push_encoded(out, v);
            }
        }
        out.push('}');
        if quote {
            out.push('"');
        }
    }

    /// `%hrl`/`%hsl`: the values separated by spaces, each encoded, `-`
    /// for an absent one (`""` when `quote`, which quotes each value);
    /// nothing when `dir` has no slot.
    pub fn render_list(&self, dir: CaptureDir, quote: bool, out: &mut String) {
        for (i, v) in self.slots(dir).iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            if quote {
                out.push('"');
            }
            match v {
                Some(v) => push_encoded(out, v),
                None if !quote => out.push('-'),
                None => {}
            }
            if quote {
                out.push('"');
            }
        }
    }
}

/// Whether HAProxy's header encoding map escapes `b` in a log line.
fn must_encode(b: u8) -> bool {
    !(0x20..0x7F).contains(&b) || matches!(b, b'"' | b'#' | b'{' | b'|' | b'}')
}

/// Appends `v` to a log line, every control byte, byte from 0x7F up and
/// `"`, `#`, `{`, `|`, `}` written `#XX` (upper-case hex), as HAProxy
/// writes captured headers.
///
/// ```
/// let mut s = String::new();
/// gwd_sample::push_encoded(&mut s, b"a\"b#{|}\x01\xc3\xa9");
/// assert_eq!(s, "a#22b#23#7B#7C#7D#01#C3#A9");
/// ```
pub fn push_encoded(out: &mut String, v: &[u8]) {
    for &b in v {
        if must_encode(b) {
            let _ = write!(out, "#{b:02X}");
        } else {
            out.push(char::from(b));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_truncated_to_their_slot_length_in_bytes() {
        let mut c = Captures::new(3, 0);
        assert!(c.set(CaptureDir::Request, 0, b"abcdefghij", 5));
        assert!(c.set(CaptureDir::Request, 1, "é".as_bytes(), 1));
        assert!(c.set(CaptureDir::Request, 2, b"", 9));
        assert!(!c.set(CaptureDir::Request, 3, b"x", 9));
        assert!(!c.set(CaptureDir::Response, 0, b"x", 9));
        assert_eq!(c.get(CaptureDir::Request, 0), Some(&b"abcde"[..]));
        assert_eq!(c.get(CaptureDir::Request, 1), Some(&b"\xc3"[..]));
        assert_eq!(c.get(CaptureDir::Request, 2), Some(&b""[..]));
        // A later value replaces the earlier one (the last header wins).
        c.set(CaptureDir::Request, 0, b"z", 5);
        assert_eq!(c.get(CaptureDir::Request, 0), Some(&b"z"[..]));
    }

    /// The forms HAProxy 2.6.12 wrote for `%hr|%hrl|%{+Q}hr|%{+Q}hrl`
    /// with three request slots, the third never filled.
    #[test]
    fn renders_as_haproxy() {
        let mut c = Captures::new(3, 0);
        c.set(CaptureDir::Request, 0, b"abcde", 5);
        c.set(CaptureDir::Request, 1, "x\"y#z{a|b}c\x01é".as_bytes(), 40);
        let mut s = String::new();
        c.render_braces(CaptureDir::Request, false, &mut s);
        s.push('|');
        c.render_list(CaptureDir::Request, false, &mut s);
        s.push('|');
        c.render_braces(CaptureDir::Request, true, &mut s);
        s.push('|');
        c.render_list(CaptureDir::Request, true, &mut s);
        assert_eq!(
            s,
            "{abcde|x#22y#23z#7Ba#7Cb#7Dc#01#C3#A9|}|abcde x#22y#23z#7Ba#7Cb#7Dc#01#C3#A9 -|\
             \"{abcde|x#22y#23z#7Ba#7Cb#7Dc#01#C3#A9|}\"|\"abcde\" \"x#22y#23z#7Ba#7Cb#7Dc#01#C3#A9\" \"\""
        );
        // No slot in a direction: nothing at all.
        let mut s = String::new();
        c.render_braces(CaptureDir::Response, true, &mut s);
        c.render_list(CaptureDir::Response, true, &mut s);
        assert_eq!(s, "");
    }

    struct Empty;
    impl crate::SampleContext for Empty {}

    struct Req(Captures);
    impl crate::SampleContext for Req {
        fn captures(&self) -> Option<&Captures> {
            Some(&self.0)
        }
        fn unique_id(&self) -> Option<&str> {
            Some("7F000001:C350_id")
        }
    }

    #[test]
    fn fetches_read_slots_and_the_unique_id() {
        let mut c = Captures::new(2, 1);
        c.set(CaptureDir::Request, 1, b"Mozilla", 3);
        c.set(CaptureDir::Response, 0, b"nginx", 9);
        let r = Req(c);
        let one = |e: &str| {
            crate::Expr::parse(e)
                .unwrap()
                .eval(&r)
                .map(|s| s.to_string())
        };
        assert_eq!(one("capture.req.hdr(1)").as_deref(), Some("Moz"));
        assert_eq!(one("capture.req.hdr(0)"), None);
        assert_eq!(one("capture.req.hdr(7)"), None);
        assert_eq!(one("capture.res.hdr(0),upper").as_deref(), Some("NGINX"));
        assert_eq!(one("unique-id").as_deref(), Some("7F000001:C350_id"));
        let e = crate::Expr::parse("capture.req.hdr(-1)").unwrap_err();
        assert!(e.to_string().contains("capture slot"), "{e}");
        assert!(crate::Expr::parse("capture.res.hdr").is_err());
        // No captures in the context: no sample.
        assert_eq!(
            crate::Expr::parse("capture.req.hdr(0)")
                .unwrap()
                .eval(&Empty),
            None
        );
    }

    #[test]
    fn every_unsafe_byte_is_encoded() {
        for b in 0..=255u8 {
            let mut s = String::new();
            push_encoded(&mut s, &[b]);
            if must_encode(b) {
                assert_eq!(s, format!("#{b:02X}"));
            } else {
                assert_eq!(s.as_bytes(), [b]);
                assert!(b.is_ascii_graphic() || b == b' ');
            }
        }
    }
}
