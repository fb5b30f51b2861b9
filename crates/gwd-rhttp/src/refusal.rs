//! Telling an origin why the gateway refused it, in words an app developer
//! behind NAT can act on (the gateway's own log is out of their reach).
//!
//! - Refusals during the TLS handshake (a foreign CA, an expired or X.509
//!   v1 certificate, none at all) reach the origin as a TLS alert:
//!   [`alert_name`] and [`alert_meaning`] turn it into a sentence.
//! - Refusals after the handshake (no name the gateway allows, a `reject`
//!   rule) are a GOAWAY whose debug data names the reason:
//!   [`refuse_registration`] writes it (the gateway's SETTINGS first, as
//!   the handshake requires, then GOAWAY(0, [`REFUSAL_CODE`]) and a
//!   close). HAProxy ignores GOAWAY debug data, so the wire stays
//!   compatible; a gwd origin logs it through [`peer_text`], since it is
//!   peer-controlled: at most [`MAX_REASON`] bytes, control and non-ASCII
//!   bytes escaped.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use gwd_mux_h2::frame::{self, ErrorCode, Frame, Settings};
use rustls::AlertDescription;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The GOAWAY code of a refused registration: REFUSED_STREAM ("refused
/// before any application processing"), which an origin tells apart from
/// a gateway's graceful GOAWAY (NO_ERROR) and backs off on.
pub const REFUSAL_CODE: ErrorCode = ErrorCode::REFUSED_STREAM;

/// The most bytes of GOAWAY debug data sent or logged.
pub const MAX_REASON: usize = 256;

/// How long [`refuse_registration`] waits for the origin to close after
/// the GOAWAY, reading what it sends, so the close does not reset the
/// connection before the origin has read the reason.
pub const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// Refuses a registration connection whose TLS handshake succeeded (ALPN
/// `h2`): writes the gateway's SETTINGS and GOAWAY(last-stream-id 0,
/// [`REFUSAL_CODE`]) with `reason` as debug data (made printable ASCII and
/// cut at [`MAX_REASON`] bytes), closes the write side, and reads until
/// the origin closes, at most `linger`. Write errors are returned; the
/// origin may already be gone.
pub async fn refuse_registration<IO>(mut io: IO, reason: &str, linger: Duration) -> io::Result<()>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut out = BytesMut::new();
    frame::encode(
        &Frame::Settings {
            ack: false,
            settings: Settings {
                enable_push: Some(false),
                ..Settings::default()
            },
        },
        &mut out,
    );
    frame::encode(
        &Frame::GoAway {
            last_stream: 0,
            code: REFUSAL_CODE,
            debug: Bytes::from(peer_text(reason.as_bytes()).into_owned()),
        },
        &mut out,
    );
    io.write_all(&out).await?;
    io.flush().await?;
    let _ = io.shutdown().await;
    let _ = tokio::time::timeout(linger, async {
        let mut buf = [0u8; 2048];
        while let Ok(n) = io.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    Ok(())
}

/// Peer-controlled bytes made safe for one log line: printable ASCII kept
/// (a backslash doubled), every other byte written `\xNN`, cut at
/// [`MAX_REASON`] input bytes with `...` appended.
///
/// ```
/// assert_eq!(gwd_rhttp::peer_text(b"name 'a' not allowed"), "name 'a' not allowed");
/// assert_eq!(gwd_rhttp::peer_text(b"a\nb\\"), "a\\x0ab\\\\");
/// ```
pub fn peer_text(bytes: &[u8]) -> Cow<'_, str> {
    let cut = bytes.len() > MAX_REASON;
    let b = &bytes[..bytes.len().min(MAX_REASON)];
    let plain = |c: &u8| (0x20..0x7f).contains(c) && *c != b'\\';
    if !cut && b.iter().all(plain) {
        return Cow::Borrowed(std::str::from_utf8(b).expect("ASCII"));
    }
    let mut s = String::with_capacity(b.len() + 8);
    for c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            c if plain(c) => s.push(char::from(*c)),
            c => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    if cut {
        s.push_str("...");
    }
    Cow::Owned(s)
}

/// A TLS alert's name as RFC 8446 (and RFC 5246) spell it
/// (`unknown_ca`), or its number when it has none.
pub fn alert_name(alert: AlertDescription) -> Cow<'static, str> {
    let name = match u8::from(alert) {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        121 => "ech_required",
        n => return Cow::Owned(format!("alert {n}")),
    };
    Cow::Borrowed(name)
}

/// What an alert from the gateway means for the origin that received it,
/// and what to check.
pub fn alert_meaning(alert: AlertDescription) -> &'static str {
    match u8::from(alert) {
        48 => {
            "the gateway does not trust this origin's CA: its client certificate must be signed by a CA in the gateway's `ca-file`"
        }
        45 => {
            "this origin's certificate has expired or is not yet valid: renew it, or check the clocks"
        }
        44 => "this origin's certificate was revoked",
        42 => "the gateway found this origin's certificate malformed or not valid for this use",
        43 => {
            "the gateway does not accept this kind of certificate (key usage, or an extended key usage without clientAuth)"
        }
        46 => {
            "the gateway could not accept this origin's certificate (an X.509 v1 certificate, for one); its log says why"
        }
        116 | 41 => {
            "the gateway requires a client certificate and this origin sent none: set `crt` and `key`"
        }
        51 => {
            "a signature did not verify: this origin's certificate is signed by a CA the gateway does not trust but which has the name of one it does, or does not match its key"
        }
        49 => "the gateway denied access",
        40 => {
            "no TLS parameters in common with the gateway (cipher suites, signature algorithms, key types)"
        }
        70 => "no TLS version in common with the gateway",
        112 => "the gateway serves no certificate for the name sent as SNI",
        120 => {
            "the gateway does not offer HTTP/2 (ALPN h2) on this port: is it a registration bind?"
        }
        80 => "the gateway failed internally",
        _ => "the gateway ended the TLS handshake",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_text_escapes_and_cuts() {
        assert_eq!(peer_text(b""), "");
        assert_eq!(peer_text(b"plain ascii"), "plain ascii");
        assert!(matches!(peer_text(b"plain"), Cow::Borrowed(_)));
        assert_eq!(peer_text(b"\x1b[31mred\r\n"), "\\x1b[31mred\\x0d\\x0a");
        assert_eq!(peer_text("é".as_bytes()), "\\xc3\\xa9");
        assert_eq!(peer_text(b"\\x41"), "\\\\x41");
        let long = vec![b'a'; 1000];
        let t = peer_text(&long);
        assert_eq!(t.len(), MAX_REASON + 3);
        assert!(t.ends_with("aaa..."));
        // Every byte value comes out printable, on one line.
        let all: Vec<u8> = (0..=255).collect();
        let t = peer_text(&all);
        assert!(t.bytes().all(|c| (0x20..0x7f).contains(&c)), "{t}");
    }

    #[test]
    fn alerts_have_rfc_names_and_meanings() {
        assert_eq!(alert_name(AlertDescription::UnknownCA), "unknown_ca");
        assert_eq!(
            alert_name(AlertDescription::CertificateExpired),
            "certificate_expired"
        );
        assert_eq!(
            alert_name(AlertDescription::CertificateRequired),
            "certificate_required"
        );
        assert_eq!(alert_name(AlertDescription::Unknown(200)), "alert 200");
        assert!(alert_meaning(AlertDescription::UnknownCA).contains("does not trust"));
        assert!(alert_meaning(AlertDescription::CertificateExpired).contains("expired"));
    }

    #[tokio::test]
    async fn refusal_is_settings_then_goaway_with_the_reason() {
        let (gw, mut origin) = tokio::io::duplex(4096);
        let task = tokio::spawn(async move {
            refuse_registration(gw, "name 'x\n' is not allowed", Duration::from_secs(5)).await
        });
        let mut got = Vec::new();
        origin.read_to_end(&mut got).await.unwrap();
        drop(origin);
        task.await.unwrap().unwrap();
        let mut buf = BytesMut::from(&got[..]);
        let first = frame::decode(&mut buf, 16_384).unwrap().unwrap();
        assert!(matches!(first, Frame::Settings { ack: false, .. }));
        match frame::decode(&mut buf, 16_384).unwrap().unwrap() {
            Frame::GoAway {
                last_stream,
                code,
                debug,
            } => {
                assert_eq!(last_stream, 0);
                assert_eq!(code, REFUSAL_CODE);
                assert_eq!(&debug[..], b"name 'x\\x0a' is not allowed");
            }
            other => panic!("{other:?}"),
        }
        assert!(buf.is_empty());
    }
}
