//! Fuzz harnesses for gwd's parsers and state machines, one function per
//! target: each takes arbitrary bytes and must never panic, hang or grow
//! without bound; several also check a property (a parsed key is found
//! again, a decoded frame re-encodes to itself).
//!
//! The same functions run two ways:
//! * under libFuzzer, one binary per target in `fuzz_targets/` (built
//!   with the `libfuzzer` feature: `cargo fuzz run --sanitizer none
//!   --features libfuzzer <target>`; see docs/FUZZING.md);
//! * as ordinary tests (`tests/replay.rs`, part of `cargo test
//!   --workspace`): every seed in `seeds/<target>/` and a fixed number of
//!   deterministic mutations of it, so a regression a fuzzer once found
//!   (kept as a seed) fails CI without a fuzzer.

use bytes::{Bytes, BytesMut};

/// A fuzz target's harness: arbitrary bytes in, a panic on a defect.
pub type Harness = fn(&[u8]);

/// Every target: its name (the binary's and the seed folder's) and its
/// harness.
pub const TARGETS: &[(&str, Harness)] = &[
    ("h2_frame", h2_frame),
    ("h2_connection", h2_connection),
    ("hpack", hpack),
    ("h1_request", h1_request),
    ("h1_response", h1_response),
    ("h1_body", h1_body),
    ("config", config),
    ("haproxy_cfg", haproxy_cfg),
    ("expression", expression),
    ("runtime_api", runtime_api),
    ("map_file", map_file),
    ("acl_patterns", acl_patterns),
    ("x509_cert", x509_cert),
    ("client_hello", client_hello),
    ("deflate_roundtrip", deflate_roundtrip),
];

/// HTTP/2 frame decoder: decodes frames until the input runs out or an
/// error; every decoded frame encodes and decodes back to itself (DATA
/// and HEADERS without their padding).
pub fn h2_frame(data: &[u8]) {
    use gwd_mux_h2::frame::{self, Frame};
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let max = if sel & 1 == 0 { 16_384 } else { (1 << 24) - 1 };
    let mut buf = BytesMut::from(rest);
    for _ in 0..10_000 {
        match frame::decode(&mut buf, max) {
            Ok(Some(f)) => {
                let mut out = BytesMut::new();
                frame::encode(&f, &mut out);
                let again = frame::decode(&mut out, max)
                    .expect("a decoded frame re-encodes validly")
                    .expect("complete");
                match (&f, &again) {
                    (
                        Frame::Data {
                            stream,
                            data,
                            end_stream,
                            ..
                        },
                        Frame::Data {
                            stream: s2,
                            data: d2,
                            end_stream: e2,
                            ..
                        },
                    ) => assert_eq!((stream, data, end_stream), (s2, d2, e2)),
                    _ => assert_eq!(f, again),
                }
                assert!(out.is_empty());
            }
            Ok(None) => return,
            Err(_) => {
                // A stream error consumed the frame; a connection error
                // ends decoding, as the state machine does.
                if buf.is_empty() {
                    return;
                }
            }
        }
    }
}

/// The HTTP/2 state machine fed arbitrary bytes, in either role, after a
/// valid opening (so the fuzzer works on what follows it). It answers
/// every request it gets (head and some data) and opens streams as a
/// client, so flow control, resets and GOAWAY paths run.
pub fn h2_connection(data: &[u8]) {
    use gwd_mux_h2::conn::{Config, Connection, Event, Role};
    use gwd_mux_h2::frame::{self, Frame, Settings};
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let role = if sel & 1 == 0 {
        Role::Server
    } else {
        Role::Client
    };
    // Bit 7: reverse HTTP's configurations (the server role sends the
    // preface, the client role expects it).
    let mut cfg = match (sel & 0x80 != 0, role) {
        (false, _) => Config::new(role),
        (true, Role::Server) => Config::reverse_dialer(),
        (true, Role::Client) => Config::reverse_acceptor(),
    };
    if sel & 2 != 0 {
        cfg.connection_window = 1 << 20;
    }
    cfg.max_premature_resets = u32::from(sel >> 4 & 7) * 8;
    let expects_preface = !cfg.sends_preface();
    let mut conn = Connection::new(cfg);
    let mut input = BytesMut::new();
    if expects_preface {
        input.extend_from_slice(frame::PREFACE);
    }
    frame::encode(
        &Frame::Settings {
            ack: false,
            settings: Settings::default(),
        },
        &mut input,
    );
    if role == Role::Client {
        let _ = conn.send_request(
            &http::Method::POST,
            &"http://a/".parse().unwrap(),
            &http::HeaderMap::new(),
            false,
        );
    }
    // Fed in pieces of varying size, as reads arrive.
    let mut chunks = rest.chunks(1 + usize::from(sel >> 2 & 3) * 97);
    let mut turns = 0;
    loop {
        turns += 1;
        if turns > 10_000 {
            return;
        }
        if let Some(c) = chunks.next() {
            input.extend_from_slice(c);
        } else if input.is_empty() {
            return;
        }
        let before = input.len();
        if conn.recv(&mut input).is_err() {
            let _ = conn.take_output();
            return;
        }
        while let Some(ev) = conn.poll_event() {
            match ev {
                Event::Request { stream, .. } => {
                    let _ = conn.send_response(
                        stream,
                        http::StatusCode::OK,
                        &http::HeaderMap::new(),
                        false,
                    );
                    let _ = conn.send_data(stream, Bytes::from_static(&[b'x'; 1000]), true);
                }
                Event::Data { stream, data, .. } => conn.release(stream, data.len()),
                Event::Response { stream, .. } => {
                    let _ = conn.send_data(stream, Bytes::from_static(b"body"), true);
                }
                _ => {}
            }
        }
        let out = conn.take_output();
        assert!(out.len() < 64 << 20, "output grows without bound");
        if input.len() == before && chunks.len() == 0 {
            // Nothing consumed and nothing more to come: a partial frame.
            return;
        }
    }
}

/// HPACK: arbitrary blocks decode or fail without panicking; fields made
/// from the input encode and decode back to themselves.
pub fn hpack(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let table = usize::from(sel) * 64;
    let mut dec = gwd_hpack::Decoder::new(4096);
    dec.set_max_table_size(table);
    for block in rest.split(|&b| b == 0xff).take(64) {
        let mut n = 0usize;
        let _ = dec.decode(block, 16 * 1024, &mut |f| {
            n += f.name.len() + f.value.len();
        });
        assert!(n <= 64 * 1024 + rest.len() * 8);
    }
    // Round trip of fields cut from the input.
    let fields: Vec<(Vec<u8>, Vec<u8>)> = rest
        .chunks(7)
        .take(32)
        .map(|c| {
            let (n, v) = c.split_at(c.len().min(3));
            let name: Vec<u8> = n.iter().map(|b| b'a' + b % 26).collect();
            (name, v.to_vec())
        })
        .collect();
    let mut enc = gwd_hpack::Encoder::new();
    let mut block = BytesMut::new();
    enc.encode(
        fields.iter().map(|(n, v)| gwd_hpack::Field {
            name: n,
            value: v,
            never_index: false,
        }),
        &mut block,
    );
    let mut back = Vec::new();
    gwd_hpack::Decoder::new(4096)
        .decode(&block, usize::MAX, &mut |f| {
            back.push((f.name.to_vec(), f.value.to_vec()));
        })
        .expect("our own block decodes");
    assert_eq!(back, fields);
}

fn h1_limits(sel: u8) -> gwd_h1::Limits {
    let mut l = gwd_h1::Limits::default();
    if sel & 1 != 0 {
        l.max_head = 256;
        l.max_fields = 8;
    }
    l
}

/// HTTP/1.1 request heads: parsed at every split point the reads could
/// make, always the same answer once complete; the body that follows is
/// decoded as the head frames it.
pub fn h1_request(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let limits = h1_limits(sel);
    let whole = gwd_h1::parse_request(rest, &limits);
    if let Ok(Some(req)) = &whole {
        assert!(req.head_len <= rest.len());
        // A prefix ending before the head's end is incomplete or the same
        // error, never a different request.
        let cut = req.head_len - 1;
        if let Ok(Some(r)) = gwd_h1::parse_request(&rest[..cut], &limits) {
            panic!("a head shorter than the complete one parsed: {r:?}");
        }
        decode_all(req.body, &rest[req.head_len..], limits);
    }
}

/// HTTP/1.1 response heads for a GET or a HEAD, then their bodies.
pub fn h1_response(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let limits = h1_limits(sel);
    let method = if sel & 2 == 0 {
        gwd_head::Method::GET
    } else {
        gwd_head::Method::HEAD
    };
    if let Ok(Some(resp)) = gwd_h1::parse_response(rest, &method, &limits) {
        assert!(resp.head_len <= rest.len());
        decode_all(resp.body, &rest[resp.head_len..], limits);
    }
}

/// Chunked (and length, until-close) body decoding of arbitrary bytes,
/// fed whole and in small reads: the same data either way.
pub fn h1_body(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let kind = match sel & 3 {
        0 | 1 => gwd_h1::BodyKind::Chunked,
        2 => gwd_h1::BodyKind::Length(u64::from(sel)),
        _ => gwd_h1::BodyKind::UntilClose,
    };
    let limits = h1_limits(sel >> 2);
    let whole = decode_all(kind, rest, limits);
    let split = decode_split(kind, rest, limits, 1 + usize::from(sel >> 4));
    assert_eq!(whole, split, "whole and split reads decode alike");
}

/// Decodes `input` as one body; the data, or `None` on an error.
fn decode_all(kind: gwd_h1::BodyKind, input: &[u8], limits: gwd_h1::Limits) -> Option<Vec<u8>> {
    decode_split(kind, input, limits, usize::MAX)
}

/// Decodes `input` given `step` bytes at a time, the unconsumed rest
/// kept, as a connection's buffer does.
fn decode_split(
    kind: gwd_h1::BodyKind,
    input: &[u8],
    limits: gwd_h1::Limits,
    step: usize,
) -> Option<Vec<u8>> {
    use gwd_h1::Step;
    let mut dec = gwd_h1::BodyDecoder::new(kind, limits);
    let mut out = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    for _ in 0..1_000_000 {
        match dec.decode(&buf) {
            Err(_) => return None,
            Ok(Step::Data(n)) => {
                assert!(n > 0 && n <= buf.len());
                out.extend_from_slice(&buf[..n]);
                buf.drain(..n);
            }
            Ok(Step::Skip(n)) => {
                assert!(n > 0 && n <= buf.len());
                buf.drain(..n);
            }
            Ok(Step::End { consumed, .. }) => {
                assert!(consumed <= buf.len());
                return Some(out);
            }
            Ok(Step::NeedMore) => {
                if fed == input.len() {
                    return dec.eof().ok().map(|()| out);
                }
                let n = step.min(input.len() - fed);
                buf.extend_from_slice(&input[fed..fed + n]);
                fed += n;
            }
        }
    }
    panic!("the body decoder made no progress");
}

/// The config loader on arbitrary text: a config or located errors,
/// never a panic.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match gwd_config::parse_str(&text, std::path::Path::new("fuzz.toml")) {
        Ok(cfg) => {
            for w in &cfg.warnings {
                let _ = w.render();
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// `gwd translate`: any text becomes valid TOML, each line left behind
/// is named once, and the loader reads what the translation wrote
/// without panicking.
pub fn haproxy_cfg(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let t = gwd_config::translate::translate_haproxy_cfg(&text);
    if let Err(e) = t.toml.parse::<toml::Table>() {
        panic!(
            "translation is not TOML: {e}
{}",
            t.toml
        );
    }
    let lines = text.lines().count();
    let mut named = std::collections::HashSet::new();
    for n in &t.notes {
        assert!(n.line >= 1 && n.line <= lines, "{n}");
        assert!(named.insert(n.line), "line {} named twice", n.line);
    }
    match gwd_config::parse_str(&t.toml, std::path::Path::new("fuzz.toml")) {
        Ok(cfg) => {
            for w in &cfg.warnings {
                let _ = w.render();
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// Sample expressions, conditions and log formats: parsed, and what
/// parses is evaluated against a request.
pub fn expression(data: &[u8]) {
    use gwd_sample::{Acls, Condition, Expr, LogFormat, RenderMode, SampleContext};
    struct Req;
    impl SampleContext for Req {
        fn method(&self) -> Option<&str> {
            Some("GET")
        }
        fn url(&self) -> Option<&str> {
            Some("/a/b?x=1&y=2")
        }
        fn path(&self) -> Option<&str> {
            Some("/a/b")
        }
        fn src(&self) -> Option<std::net::SocketAddr> {
            Some("127.0.0.1:4000".parse().unwrap())
        }
    }
    let text = String::from_utf8_lossy(data);
    let mut acls = Acls::new();
    for line in text.lines().take(16) {
        if let Some(def) = line.strip_prefix("acl ") {
            let (name, body) = def.split_once(' ').unwrap_or((def, ""));
            let _ = acls.define(name, body);
        } else if let Ok(e) = Expr::parse(line) {
            let _ = e.eval(&Req);
        } else if let Ok(c) = Condition::parse(line, &acls) {
            let _ = c.eval(&Req);
        } else if let Ok(f) = LogFormat::parse(line) {
            let _ = f.render(&Req, RenderMode::Log);
        }
    }
}

/// The runtime API: one admin session fed arbitrary lines (commands,
/// `<<` payloads, prompt mode) on a registry with a map and an ACL.
pub fn runtime_api(data: &[u8]) {
    use gwd_config::{AdminLevel, MapRegistry, MapUse};
    use gwd_maps::{MatchKind, MatchSpec};
    let mut reg = MapRegistry::new();
    for (name, kind) in [("hosts.map", MatchKind::Str), ("paths.map", MatchKind::Beg)] {
        reg.resolve_with(name, MapUse::Converter, MatchSpec::new(kind), "fuzz", |m| {
            m.load_map_str(name, b"a.local app\n/api api\n")
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .unwrap();
    }
    let cli = gwd_admin::Cli::new(reg);
    let text = String::from_utf8_lossy(data);
    let mut s = cli.session(AdminLevel::Admin);
    for line in text.split('\n').take(256) {
        let mut pending = s.start_line(line);
        let mut out = 0usize;
        while let Some(o) = s.next_output(&mut pending) {
            out += o.len();
            assert!(out < 64 << 20, "a reply grows without bound");
        }
        if s.is_closed() {
            s = cli.session(AdminLevel::Admin);
        }
    }
}

/// Map-file parser and loader: every parsed line is found again by an
/// exact lookup after loading.
pub fn map_file(data: &[u8]) {
    use gwd_maps::{MapRef, MatchKind, MatchSpec, RefKind};
    let lines = gwd_maps::file::map_lines(data);
    let map = MapRef::new("fuzz.map", RefKind::Map);
    let str_m = map.matcher(MatchSpec::new(MatchKind::Str)).unwrap();
    let beg = map.matcher(MatchSpec::new(MatchKind::Beg)).unwrap();
    let dom = map.matcher(MatchSpec::icase(MatchKind::Dom)).unwrap();
    let n = map.load_map_str("fuzz.map", data).unwrap();
    assert_eq!(n, lines.len());
    for l in &lines {
        assert!(!l.key.is_empty());
        assert!(
            !l.key
                .iter()
                .any(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        );
        let hit = str_m.lookup(l.key).expect("every key is found");
        assert_eq!(hit.key(), l.key);
        assert!(beg.lookup(l.key).is_some());
        let _ = dom.lookup(l.key);
    }
    // Typed kinds may reject keys, but must not panic.
    for kind in [MatchKind::Int, MatchKind::Ip, MatchKind::Reg] {
        let _ = map.matcher(MatchSpec::new(kind));
    }
}

/// ACL-file parser and typed pattern parsers (int, ip, reg) with
/// arbitrary lookups: text before the first NUL is the file, the rest
/// the looked-up input.
pub fn acl_patterns(data: &[u8]) {
    use gwd_maps::{MapRef, MatchKind, MatchSpec, RefKind};
    let (text, input) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let lines = gwd_maps::file::acl_lines(text);
    for kind in MatchKind::ALL {
        for icase in [false, true] {
            let acl = MapRef::new("fuzz.acl", RefKind::Acl);
            let spec = if icase {
                MatchSpec::icase(kind)
            } else {
                MatchSpec::new(kind)
            };
            let m = acl.matcher(spec).unwrap();
            if acl.load_acl_str("fuzz.acl", text).is_ok() {
                assert_eq!(acl.len(), lines.len());
                let _ = m.lookup(input);
                let _ = m.get(input).acl_line();
                if let Some(l) = lines.first() {
                    let _ = acl.del(l.pattern);
                    let _ = m.lookup(input);
                }
            }
        }
    }
}

/// gwd-tls's DER walk to a certificate's facts (names, version, expiry):
/// no panic on any input, every prefix of the input included, and what it
/// reads is bounded by the input.
pub fn x509_cert(data: &[u8]) {
    for input in [data, &data[..data.len() / 2]] {
        if let Some(info) = gwd_tls::cert_info(input) {
            let text: usize = info
                .subject
                .iter()
                .chain(&info.issuer)
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
                + info.dns_sans.iter().map(String::len).sum::<usize>();
            // Values decode to at most 3 UTF-8 bytes per input byte
            // (a lossy replacement character per byte); dotted OIDs to at
            // most 4 bytes per input byte (a separator and 3 digits).
            assert!(text <= 4 * input.len() + 64, "{text} from {}", input.len());
        }
        let _ = gwd_tls::is_x509_v1(input);
    }
}

/// TLS ClientHello reader of TCP mode (`req.ssl_sni`, `req.ssl_ver`,
/// `req.ssl_hello_type`), fed what a client may send: never a panic; the
/// answer only moves forward as bytes arrive (a prefix of a complete
/// hello is incomplete, never invalid; once invalid, more bytes never make
/// it valid; bytes after a complete hello change nothing), and a complete
/// hello's first record says it is a ClientHello.
pub fn client_hello(data: &[u8]) {
    use gwd_sample::hello::{HelloParse, hello_type, parse_client_hello};
    let whole = parse_client_hello(data);
    // Every cut point up to 600 bytes, then every 61st.
    let cuts = (0..data.len().min(600)).chain((600..data.len()).step_by(61));
    let mut seen_invalid = false;
    for cut in cuts {
        let p = parse_client_hello(&data[..cut]);
        match (&p, &whole) {
            (HelloParse::Invalid, HelloParse::Invalid) => seen_invalid = true,
            (HelloParse::Invalid, w) => panic!("prefix of {cut} bytes invalid, the whole {w:?}"),
            (HelloParse::Complete(h), HelloParse::Complete(w)) => {
                assert_eq!(h, w, "bytes after a complete hello changed it (cut {cut})")
            }
            (HelloParse::Complete(h), w) => {
                panic!("prefix of {cut} bytes complete ({h:?}), the whole {w:?}")
            }
            (HelloParse::Incomplete, _) => {
                assert!(
                    !seen_invalid,
                    "incomplete after a shorter prefix was invalid"
                )
            }
        }
    }
    if let HelloParse::Complete(h) = &whole {
        assert_eq!(hello_type(data), Some(1));
        if let Some(sni) = &h.sni {
            assert!(sni.len() <= data.len());
        }
    }
}

/// gwd-deflate's encoder: the first byte picks the format, whether the
/// data is repeated past 64 KiB (several pieces, stored and coded ones
/// mixed) and how many of the next bytes (1 to 8) make the call
/// pattern; each pattern byte is a chunk size (1 to 15,877 bytes) and
/// whether a flush and an empty `encode` follow it. The rest is the
/// data. flate2 must decode the stream back to the data, and the output
/// stays within the expansion bound (stored blocks, flushes, header and
/// trailer).
pub fn deflate_roundtrip(data: &[u8]) {
    use gwd_deflate::{Encoder, Format};
    use std::io::Read;

    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let format = [Format::Gzip, Format::Zlib, Format::Raw][usize::from(sel % 3)];
    let n_pattern = (usize::from(sel >> 2) & 7) + 1;
    let (pattern, payload) = rest.split_at(n_pattern.min(rest.len()));
    let input: Vec<u8> = if sel & 0x80 != 0 && !payload.is_empty() {
        payload
            .iter()
            .copied()
            .cycle()
            .take(payload.len().max(70_000))
            .collect()
    } else {
        payload.to_vec()
    };

    let mut enc = Encoder::new(format);
    let mut out = Vec::new();
    let mut calls = 0usize;
    let mut left = &input[..];
    while !left.is_empty() {
        let p = pattern
            .get(calls % pattern.len().max(1))
            .copied()
            .unwrap_or(0);
        let v = usize::from(p & 0x3f);
        let (chunk, next) = left.split_at((1 + 4 * v * v).min(left.len()));
        enc.encode(chunk, &mut out);
        if p & 0x40 != 0 {
            enc.flush(&mut out);
        }
        if p & 0x80 != 0 {
            enc.encode(&[], &mut out);
        }
        left = next;
        calls += 1;
    }
    enc.finish(&mut out);
    assert_eq!(enc.total_in(), input.len() as u64);
    assert_eq!(enc.total_out(), out.len() as u64);
    let bound = input.len() + 11 * (calls + 1) + 5 * (input.len() / 65_535) + 20;
    assert!(
        out.len() <= bound,
        "{} bytes out of {}",
        out.len(),
        input.len()
    );

    let mut back = Vec::with_capacity(input.len());
    let mut src = &out[..];
    match format {
        Format::Gzip => flate2::bufread::GzDecoder::new(&mut src).read_to_end(&mut back),
        Format::Zlib => flate2::bufread::ZlibDecoder::new(&mut src).read_to_end(&mut back),
        Format::Raw => flate2::bufread::DeflateDecoder::new(&mut src).read_to_end(&mut back),
    }
    .expect("gwd-deflate's stream decodes");
    assert!(src.is_empty(), "bytes after the stream");
    assert!(back == input, "decodes to something else");
}
