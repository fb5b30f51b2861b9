//! Unit tests of log-format parsing and rendering.
use super::*;
use crate::context::SampleContext;

/// A request with an empty `x-empty` header and a `x-a: ab` header.
struct Req;
impl SampleContext for Req {
    fn method(&self) -> Option<&str> {
        Some("GET")
    }
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        match name {
            "x-empty" => vec![b""],
            "x-a" => vec![b"ab"],
            _ => Vec::new(),
        }
    }
}

fn text(f: &str) -> String {
    LogFormat::parse(f).unwrap().render(&Req, RenderMode::Text)
}

fn log(f: &str) -> String {
    LogFormat::parse(f).unwrap().render(&Req, RenderMode::Log)
}

/// Checked against HAProxy 2.6.12: `lf-string "[%[req.hdr(x-miss)]]"`
/// in `http-request return` answers `[]`, with or without `+Q`, for a
/// missing header and for an empty one; `set-header x-set2
/// "a%[req.hdr(x-miss)]b"` sets `ab`; `redirect location
/// "/r%[req.hdr(x-miss)]x"` sends `/rx`; `+Q` on `ab` gives `ab` in a
/// return body, a set-header value and a redirect location, `+E`
/// escapes there too.
#[test]
fn text_mode_renders_missing_and_empty_as_nothing() {
    assert_eq!(text("[%[req.hdr(x-miss)]]"), "[]");
    assert_eq!(text("[%[req.hdr(x-empty)]]"), "[]");
    assert_eq!(text("[%{+Q}[req.hdr(x-miss)]]"), "[]");
    assert_eq!(text("[%{+Q}[req.hdr(x-empty)]]"), "[]");
    assert_eq!(text("a%[req.hdr(x-miss)]b"), "ab");
    assert_eq!(text("/r%[req.hdr(x-miss)]x"), "/rx");
    assert_eq!(text("%{+Q}[req.hdr(x-a)]"), "ab");
    assert_eq!(text("%{+Q}[method]"), "GET");
    assert_eq!(text("%[method] %[req.hdr(x-a)]"), "GET ab");
}

/// Checked against HAProxy 2.6.12 with `log-format "[%[var(txn.nope)]]
/// [%{+Q}[var(txn.nope)]] [%[var(txn.empty)]] [%{+Q}[var(txn.empty)]]"`:
/// `[-] [""] [-] [""]`, and `%{+Q}` on `ab` logs `"ab"`.
#[test]
fn log_mode_keeps_dashes_and_quotes() {
    assert_eq!(
        log(
            "[%[req.hdr(x-miss)]] [%{+Q}[req.hdr(x-miss)]] [%[req.hdr(x-empty)]] [%{+Q}[req.hdr(x-empty)]]"
        ),
        "[-] [\"\"] [-] [\"\"]"
    );
    assert_eq!(log("%{+Q}[req.hdr(x-a)]"), "\"ab\"");
}

struct Vars;
impl LogVars for Vars {
    fn var(&self, v: LogVar) -> Option<Sample<'_>> {
        match v {
            LogVar::ClientIp => Some(Sample::from("127.0.0.1")),
            LogVar::ClientPort => Some(Sample::Int(40170)),
            LogVar::Status => Some(Sample::Int(200)),
            LogVar::Tw => Some(Sample::Int(0)),
            LogVar::Tc => Some(Sample::Int(1)),
            LogVar::RequestLine => Some(Sample::from("GET / HTTP/1.1")),
            LogVar::ReqCounter => Some(Sample::Int(26)),
            _ => None,
        }
    }
}

fn lf(f: &str) -> String {
    let fmt = LogFormat::parse_log_in(f, &mut ParseEnv::none()).unwrap();
    let mut out = String::new();
    let exprs = fmt.eval_exprs(&Req);
    fmt.render_log(&Vars, &exprs, &mut out);
    out
}

#[test]
fn log_variables_render_from_the_record() {
    assert_eq!(
        lf("%ci:%cp %ST %Tw/%Tc %{+Q}r"),
        "127.0.0.1:40170 200 0/1 \"GET / HTTP/1.1\""
    );
    assert_eq!(
        lf("%ci %[method] %[req.hdr(x-miss)] 100%%"),
        "127.0.0.1 GET - 100%"
    );
    // Captures write nothing, and the separators around them collapse
    // (httplog's `%sq/%bq %hr %hs %{+Q}r` without captures).
    assert_eq!(lf("%ST %hr %hs %{+Q}r"), "200 \"GET / HTTP/1.1\"");
    // Missing values write `-`; runs of spaces are one separator.
    assert_eq!(lf("%ST   %b %ID"), "200 - -");
    // `%{+X}o` applies to every later variable.
    assert_eq!(lf("%{+X}o %cp_%rt"), "9CEA_1A");
}

struct WithCaptures(crate::Captures);
impl LogVars for WithCaptures {
    fn var(&self, v: LogVar) -> Option<Sample<'_>> {
        Vars.var(v)
    }
    fn captures(&self) -> Option<&crate::Captures> {
        Some(&self.0)
    }
}

/// HAProxy 2.6.12's httplog tail with two request slots (the second
/// not filled) and one response slot: `{Host|} {srv} "GET ..."`, and a
/// value that tries to fake the framing is encoded.
#[test]
fn captures_render_in_log_lines() {
    use crate::CaptureDir::{Request, Response};
    let mut c = crate::Captures::new(2, 1);
    c.set(Request, 0, b"a|b}\n{", 64);
    c.set(Response, 0, b"srv", 64);
    let fmt = LogFormat::parse_log_in("%ST %hr %hs %{+Q}r %hrl", &mut ParseEnv::none()).unwrap();
    let mut out = String::new();
    fmt.render_log(&WithCaptures(c), &[], &mut out);
    assert_eq!(
        out,
        "200 {a#7Cb#7D#0A#7B|} {srv} \"GET / HTTP/1.1\" a#7Cb#7D#0A#7B -"
    );
}

#[test]
fn log_variable_errors_point_at_the_percent() {
    let e = LogFormat::parse_log_in("%ci %Tx", &mut ParseEnv::none()).unwrap_err();
    assert!(
        e.to_string().contains("unknown log-format variable `%Tx`"),
        "{e}"
    );
    assert!(e.to_string().starts_with("column 5:"), "{e}");
    let e = LogFormat::parse_log_in("%ci %{+Z}ST", &mut ParseEnv::none()).unwrap_err();
    assert!(e.to_string().contains("`Z`"), "{e}");
    // Outside log lines the variables stay unavailable.
    assert!(LogFormat::parse("%ST").is_err());
}

/// `%{+json}o` lines, checked against HAProxy 3.0.11 with the same
/// format (`log stdout format raw`): named items only, in order, with
/// HAProxy's `": "` and `", "` spacing; the `%o` may come anywhere.
#[test]
fn json_lines_hold_the_named_items() {
    assert_eq!(
        lf(
            "%{+json}o %(client_ip)ci %(cport)cp %(st)ST %(req){+Q}r lit %[method] %(m)[method] %(none)[req.hdr(x-miss)] %(be)b"
        ),
        r#"{"client_ip": "127.0.0.1", "cport": 40170, "st": 200, "req": "GET / HTTP/1.1", "m": "GET", "none": "", "be": ""}"#
    );
    assert_eq!(
        lf("lit %(a)ci %{+json}o %(b)cp"),
        r#"{"a": "127.0.0.1", "b": 40170}"#
    );
    // Types, `+X` on variables (a hexadecimal string), ignored on samples.
    assert_eq!(
        lf(
            "%{+json}o %(s:str)ST %(b:bool)ST %(x){+X}cp %(y){+X}[int(255)] %(n:sint)[req.hdr(x-a)] %(r:raw)[req.hdr(x-a)]"
        ),
        r#"{"s": "200", "b": true, "x": "9CEA", "y": 255, "n": 0, "r": ab}"#
    );
    // Captures: `null` without slots; an empty name leaves an item out;
    // duplicate names are kept, as HAProxy keeps them.
    assert_eq!(
        lf("%{+json}o %(h)hr %()ci %(a)ci %(a)cp"),
        r#"{"h": null, "a": "127.0.0.1", "a": 40170}"#
    );
    assert_eq!(lf("%{+json}o"), "{}");
    // Outside a JSON line a name is not written, and `+json` on one item
    // encodes that value alone.
    assert_eq!(
        lf("%(a)ci %(b){+json}cp %{+json}[method] lit"),
        "127.0.0.1 40170 \"GET\" lit"
    );
    assert_eq!(text("x=%{+json}[req.hdr(x-a)]"), "x=\"ab\"");
    // An unnamed `%[expr]` keeps its place among the evaluated samples.
    assert_eq!(
        lf("%{+json}o %[req.hdr(x-a)] %(m)[method]"),
        r#"{"m": "GET"}"#
    );
}

#[test]
fn json_line_errors() {
    let err = |f: &str| {
        LogFormat::parse_log_in(f, &mut ParseEnv::none())
            .unwrap_err()
            .to_string()
    };
    assert!(err("%{+json}o %(a.b)ci").contains("invalid character"));
    assert!(err("%{+json}o %(a:int)ci").contains("unknown log-format item type `int`"));
    assert!(err("%{+json}o %(a ci").contains("unclosed `(`"));
    assert!(err("%{+json}o %(a) ci").contains("must be followed by an item"));
    assert!(err("%{+cbor}o %(a)ci").contains("not supported yet"));
    assert!(err("%(a){+json}o").contains("cannot be named"));
}

/// A JSON line renders through [`LogFormat::render`] too (a log format
/// rendered against a request, as `http-error` pages may be).
#[test]
fn json_line_renders_against_a_request() {
    let f = LogFormat::parse_log_in(
        "%{+json}o %(m)[method] %(h)[req.hdr(x-a)]",
        &mut ParseEnv::none(),
    )
    .unwrap();
    assert!(!f.is_literal());
    assert_eq!(
        f.render(&Req, RenderMode::Log),
        r#"{"m": "GET", "h": "ab"}"#
    );
}

/// A line for a request that never came whole has no evaluated samples:
/// in a JSON line they are `""`, never a bare `-` (invalid JSON).
#[test]
fn json_lines_without_a_request_stay_json() {
    let fmt = LogFormat::parse_log_in(
        "%{+json}o %(ci)ci %(src)[src] %(st)ST",
        &mut ParseEnv::none(),
    )
    .unwrap();
    let mut out = String::new();
    fmt.render_log(&Vars, &[], &mut out);
    assert_eq!(out, r#"{"ci": "127.0.0.1", "src": "", "st": 200}"#);
    let plain = LogFormat::parse_log_in("%ci %[src]", &mut ParseEnv::none()).unwrap();
    let mut out = String::new();
    plain.render_log(&Vars, &[], &mut out);
    assert_eq!(out, "127.0.0.1 -");
}
