//! Negotiation and skip rules, each case as haproxy 2.6.12 behaves.

use gwd_config::CompressionAlgo::{self, *};
use gwd_head::{Fields, Method, RequestHead, ResponseHead, StatusCode, Version};

use super::*;

fn req(fields: &[(&str, &str)]) -> RequestHead {
    let mut f = Fields::default();
    for (n, v) in fields {
        f.append(n.as_bytes(), v.as_bytes());
    }
    RequestHead {
        method: Method::GET,
        uri: "/".parse().unwrap(),
        version: Version::HTTP_11,
        fields: f,
    }
}

fn settings<'a>(algos: &'a [CompressionAlgo], types: &'a [String]) -> Settings<'a> {
    Settings {
        algos,
        types,
        offload: false,
        minsize: gwd_config::DEFAULT_MINSIZE_RES,
    }
}

fn pick(algos: &[CompressionAlgo], ae: &str) -> Option<CompressionAlgo> {
    choose(&settings(algos, &[]), &req(&[("accept-encoding", ae)])).algo
}

#[test]
fn highest_q_wins_then_the_visitors_order() {
    let both = [Gzip, Deflate];
    assert_eq!(pick(&both, "gzip"), Some(Gzip));
    assert_eq!(pick(&both, "deflate, gzip"), Some(Deflate));
    assert_eq!(pick(&both, "gzip, deflate"), Some(Gzip));
    assert_eq!(pick(&both, "gzip;q=0.5, deflate;q=0.8"), Some(Deflate));
    assert_eq!(pick(&both, "deflate;q=1.0, gzip;q=1"), Some(Deflate));
    assert_eq!(pick(&both, "gzip ; q=0.9 , deflate;q=0.95"), Some(Deflate));
    assert_eq!(pick(&both, "br, gzip;q=0.001"), Some(Gzip));
}

#[test]
fn refused_and_unknown_codings_are_not_picked_and_case_does_not_matter() {
    let both = [Gzip, Deflate];
    assert_eq!(pick(&both, "gzip;q=0"), None);
    assert_eq!(pick(&both, "gzip;q=0.000, deflate;q=0"), None);
    // What HAProxy 2.6.12 compressed for.
    assert_eq!(pick(&both, "GZIP"), Some(Gzip));
    assert_eq!(pick(&both, "Deflate"), Some(Deflate));
    assert_eq!(pick(&both, "gzip;q=0, GZIP"), Some(Gzip));
    assert_eq!(pick(&both, "gzip;q="), Some(Gzip));
    assert_eq!(pick(&both, "x-gzip"), None);
    assert_eq!(pick(&both, "br, identity"), None);
    assert_eq!(choose(&settings(&both, &[]), &req(&[])).algo, None);
    assert_eq!(pick(&[], "gzip"), None);
}

#[test]
fn star_takes_the_last_configured_algorithm() {
    assert_eq!(pick(&[Gzip, Deflate], "*"), Some(Deflate));
    assert_eq!(pick(&[Deflate, Gzip], "*"), Some(Gzip));
    assert_eq!(pick(&[Gzip, Deflate], "br, *;q=0.5"), Some(Deflate));
    assert_eq!(pick(&[Gzip, Deflate], "*;q=0"), None);
}

#[test]
fn raw_deflate_answers_deflate_requests() {
    assert_eq!(pick(&[Gzip, RawDeflate], "deflate"), Some(RawDeflate));
}

#[test]
fn identity_is_the_fallback_when_configured() {
    assert_eq!(pick(&[Gzip, Identity], "br"), Some(Identity));
    assert_eq!(pick(&[Identity], "identity"), Some(Identity));
}

#[test]
fn offload_strips_accept_encoding_only_when_an_algorithm_matched() {
    let algos = [Gzip];
    let s = Settings {
        algos: &algos,
        types: &[],
        offload: true,
        minsize: 0,
    };
    let c = choose(&s, &req(&[("accept-encoding", "gzip")]));
    assert_eq!(c.algo, Some(Gzip));
    assert!(c.strip_accept_encoding);
    let c = choose(&s, &req(&[("accept-encoding", "br")]));
    assert!(!c.strip_accept_encoding);
}

#[test]
fn old_mozilla_user_agents_get_nothing() {
    let algos = [Gzip];
    let s = settings(&algos, &[]);
    let with_ua =
        |ua: &str| choose(&s, &req(&[("user-agent", ua), ("accept-encoding", "gzip")])).algo;
    assert_eq!(with_ua("Mozilla/4.0 (compatible)"), None);
    assert_eq!(
        with_ua("Mozilla/4.0 (compatible; MSIE 5.5; Windows 98)"),
        None
    );
    assert_eq!(
        with_ua("Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1)"),
        Some(Gzip)
    );
    assert_eq!(
        with_ua("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)"),
        Some(Gzip)
    );
    assert_eq!(
        with_ua("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; XX)"),
        None
    );
    assert_eq!(with_ua("Mozilla/5.0 (X11)"), Some(Gzip));
}

#[test]
fn backend_settings_win_field_by_field() {
    let fe = Compression {
        algos: vec![Gzip],
        types: vec!["text/html".into()],
        offload: true,
        minsize_res: None,
    };
    let be = Compression {
        algos: vec![Deflate],
        types: vec![],
        offload: false,
        minsize_res: None,
    };
    let s = Settings::of(&fe, &be);
    assert_eq!(s.algos, [Deflate]);
    assert_eq!(s.types, ["text/html"]);
    assert!(s.offload);
}

fn resp(status: u16, fields: &[(&str, &str)]) -> ResponseHead {
    let mut h = ResponseHead::new(StatusCode::from_u16(status).unwrap());
    h.version = Version::HTTP_11;
    for (n, v) in fields {
        h.fields.append(n.as_bytes(), v.as_bytes());
    }
    h
}

fn ex() -> Exchange {
    Exchange {
        algo: Some(Gzip),
        method_head: false,
        request_http10: false,
        streamed_body: true,
    }
}

const LEN: (&str, &str) = ("content-length", "1200");
const HTML: (&str, &str) = ("content-type", "text/html; charset=utf-8");

fn planned(types: &[String], ex: Exchange, head: &ResponseHead) -> Option<CompressionAlgo> {
    let algos = [Gzip, Deflate];
    plan(&settings(&algos, types), &ex, head)
}

#[test]
fn an_ordinary_answer_is_compressed() {
    assert_eq!(planned(&[], ex(), &resp(200, &[LEN, HTML])), Some(Gzip));
    assert_eq!(
        planned(&[], ex(), &resp(203, &[("transfer-encoding", "chunked")])),
        Some(Gzip)
    );
    let mut h2 = resp(200, &[HTML]);
    h2.version = Version::HTTP_2;
    assert_eq!(planned(&[], ex(), &h2), Some(Gzip));
}

#[test]
fn skipped_statuses_methods_versions_and_bodies() {
    for status in [100, 101, 204, 206, 301, 304, 404, 500] {
        assert_eq!(planned(&[], ex(), &resp(status, &[LEN])), None, "{status}");
    }
    let head = Exchange {
        method_head: true,
        ..ex()
    };
    assert_eq!(planned(&[], head, &resp(200, &[LEN])), None);
    let old = Exchange {
        request_http10: true,
        ..ex()
    };
    assert_eq!(planned(&[], old, &resp(200, &[LEN])), None);
    let mut h10 = resp(200, &[LEN]);
    h10.version = Version::HTTP_10;
    assert_eq!(planned(&[], ex(), &h10), None);
    let empty = Exchange {
        streamed_body: false,
        ..ex()
    };
    assert_eq!(planned(&[], empty, &resp(200, &[LEN])), None);
    assert_eq!(
        planned(&[], ex(), &resp(200, &[("content-length", "0")])),
        None
    );
    // Delimited by the close (HTTP/1.1, neither length nor chunked).
    assert_eq!(planned(&[], ex(), &resp(200, &[HTML])), None);
    let identity = Exchange {
        algo: Some(Identity),
        ..ex()
    };
    assert_eq!(planned(&[], identity, &resp(200, &[LEN])), None);
}

/// `minsize-res`: an answer whose `Content-Length` is below the minimum
/// (gwd's default 256 bytes) is relayed as it is; one of unknown length
/// is compressed; `minsize-res = 0` is HAProxy 2.6's "any size".
#[test]
fn small_answers_are_left_alone() {
    let algos = [Gzip];
    let len = |n: &str| resp(200, &[("content-length", n)]);
    let mut s = settings(&algos, &[]);
    assert_eq!(plan(&s, &ex(), &len("255")), None);
    assert_eq!(plan(&s, &ex(), &len("256")), Some(Gzip));
    assert_eq!(
        plan(&s, &ex(), &resp(200, &[("transfer-encoding", "chunked")])),
        Some(Gzip)
    );
    s.minsize = 0;
    assert_eq!(plan(&s, &ex(), &len("2")), Some(Gzip));
    assert_eq!(plan(&s, &ex(), &len("0")), None);
    s.minsize = 4096;
    assert_eq!(plan(&s, &ex(), &len("4095")), None);
    // The backend's setting wins over the frontend's.
    let fe = gwd_config::Compression {
        minsize_res: Some(10),
        ..Default::default()
    };
    let be = gwd_config::Compression {
        minsize_res: Some(20),
        ..Default::default()
    };
    assert_eq!(Settings::of(&fe, &be).minsize, 20);
    assert_eq!(Settings::of(&fe, &Default::default()).minsize, 10);
}

#[test]
fn skipped_by_fields() {
    for f in [
        ("content-encoding", "br"),
        ("cache-control", "public, no-transform"),
        ("content-range", "bytes 0-9/100"),
        ("content-type", "multipart/mixed; boundary=x"),
        ("etag", "abc"),
    ] {
        assert_eq!(planned(&[], ex(), &resp(200, &[LEN, f])), None, "{f:?}");
    }
    let two = resp(200, &[LEN, ("etag", "\"a\""), ("etag", "\"b\"")]);
    assert_eq!(planned(&[], ex(), &two), None);
    let weak = resp(200, &[LEN, ("etag", "W/\"a\"")]);
    assert_eq!(planned(&[], ex(), &weak), Some(Gzip));
}

#[test]
fn types_are_case_insensitive_prefixes_and_required_when_set() {
    let types = vec!["text/html".to_owned(), "text/plain".to_owned()];
    assert_eq!(planned(&types, ex(), &resp(200, &[LEN, HTML])), Some(Gzip));
    let plain = resp(200, &[LEN, ("content-type", "TEXT/PLAIN;x=y")]);
    assert_eq!(planned(&types, ex(), &plain), Some(Gzip));
    let htmlx = resp(200, &[LEN, ("content-type", "text/htmlx")]);
    assert_eq!(planned(&types, ex(), &htmlx), Some(Gzip));
    let png = resp(200, &[LEN, ("content-type", "image/png")]);
    assert_eq!(planned(&types, ex(), &png), None);
    assert_eq!(planned(&types, ex(), &resp(200, &[LEN])), None);
    assert_eq!(planned(&[], ex(), &resp(200, &[LEN])), Some(Gzip));
}

#[test]
fn the_head_of_a_compressed_answer() {
    let mut h = resp(200, &[LEN, HTML, ("etag", "\"v1\"")]);
    apply_head(&mut h.fields, RawDeflate);
    assert!(!h.fields.contains("content-length"));
    assert_eq!(h.fields.get("etag"), Some(&b"W/\"v1\""[..]));
    assert_eq!(h.fields.get("vary"), Some(&b"Accept-Encoding"[..]));
    assert_eq!(h.fields.get("content-encoding"), Some(&b"deflate"[..]));
    let mut w = resp(200, &[("etag", "W/\"v1\"")]);
    apply_head(&mut w.fields, Gzip);
    assert_eq!(w.fields.get("etag"), Some(&b"W/\"v1\""[..]));
}
