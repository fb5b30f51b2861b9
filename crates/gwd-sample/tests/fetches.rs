//! One test per fetch, through `Expr::eval` (sample context semantics).

mod common;

use common::{Ctx, tls_with_cert};
use gwd_sample::{Expr, Sample, SampleType, TlsInfo};

fn ev(expr: &str, ctx: &Ctx) -> Option<String> {
    Expr::parse(expr)
        .unwrap_or_else(|e| panic!("{expr}: {e}"))
        .eval(ctx)
        .map(|s| s.to_string())
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

#[test]
fn req_hdr_splits_commas_and_returns_last_occurrence() {
    let c = Ctx::get("/")
        .hdr("X-A", "1, 2")
        .hdr("x-a", "3")
        .hdr("Host", "h");
    assert_eq!(ev("req.hdr(x-a)", &c), s("3"));
    assert_eq!(ev("hdr(X-A)", &c), s("3"));
    assert_eq!(ev("req.hdr(x-a,1)", &c), s("1"));
    assert_eq!(ev("req.hdr(x-a,2)", &c), s("2"));
    assert_eq!(ev("req.hdr(x-a,-2)", &c), s("2"));
    assert_eq!(ev("req.hdr(x-a,-3)", &c), s("1"));
    assert_eq!(ev("req.hdr(x-a,4)", &c), None);
    assert_eq!(ev("req.hdr(x-a,-4)", &c), None);
    assert_eq!(ev("req.hdr(missing)", &c), None);
}

#[test]
fn quoted_commas_are_not_split() {
    let c = Ctx::get("/").hdr("x", r#"a, "b, c""#);
    assert_eq!(ev("req.hdr(x)", &c), s(r#""b, c""#));
    assert_eq!(ev("req.hdr_cnt(x)", &c), s("2"));
}

#[test]
fn req_fhdr_keeps_full_lines() {
    let c = Ctx::get("/")
        .hdr("date", "Tue, 01 Jan 2030")
        .hdr("date", " x ");
    assert_eq!(ev("req.fhdr(date,1)", &c), s("Tue, 01 Jan 2030"));
    assert_eq!(ev("req.fhdr(date)", &c), s("x"));
    assert_eq!(ev("req.hdr(date,1)", &c), s("Tue"));
    assert_eq!(ev("req.fhdr_cnt(date)", &c), s("2"));
}

#[test]
fn hdr_counts() {
    let c = Ctx::get("/").hdr("a", "1,2").hdr("a", "3");
    assert_eq!(ev("req.hdr_cnt(a)", &c), s("3"));
    assert_eq!(ev("hdr_cnt(a)", &c), s("3"));
    assert_eq!(ev("hdr_cnt(b)", &c), s("0"));
}

#[test]
fn hdr_val_and_hdr_ip() {
    let c = Ctx::get("/")
        .hdr("content-length", "42")
        .hdr("x-forwarded-for", "10.0.0.1, 192.0.2.9:1234");
    assert_eq!(
        Expr::parse("req.hdr_val(content-length)").unwrap().eval(&c),
        Some(Sample::Int(42))
    );
    assert_eq!(ev("hdr_ip(x-forwarded-for)", &c), s("192.0.2.9"));
    assert_eq!(ev("req.hdr_ip(x-forwarded-for,1)", &c), s("10.0.0.1"));
    assert_eq!(
        Expr::parse("hdr_ip(x)").unwrap().output_type(),
        SampleType::Ip
    );
}

#[test]
fn cookies() {
    let c = Ctx::get("/")
        .hdr("cookie", "a=1; SESS=abc; b=")
        .hdr("cookie", "SESS=def");
    assert_eq!(ev("req.cook(SESS)", &c), s("def"));
    assert_eq!(ev("cook(a)", &c), s("1"));
    assert_eq!(ev("cook(b)", &c), s(""));
    assert_eq!(ev("cook(sess)", &c), None);
    assert_eq!(ev("req.cook", &c), s("1"));
    assert_eq!(ev("req.cook_cnt(SESS)", &c), s("2"));
}

#[test]
fn url_params() {
    let c = Ctx::get("/p?a=1&b=2&a=3&flag");
    assert_eq!(ev("urlp(a)", &c), s("1"));
    assert_eq!(ev("url_param(b)", &c), s("2"));
    assert_eq!(ev("urlp(flag)", &c), s(""));
    assert_eq!(ev("urlp(zz)", &c), None);
    let c = Ctx::get("/p?a=1;b=2");
    assert_eq!(ev("urlp(b,;)", &c), s("2"));
}

#[test]
fn request_line_fetches() {
    let c = Ctx::get("/a/b?x=1&y").hdr("host", "example.com");
    assert_eq!(ev("method", &c), s("GET"));
    assert_eq!(ev("path", &c), s("/a/b"));
    assert_eq!(ev("url", &c), s("/a/b?x=1&y"));
    assert_eq!(ev("query", &c), s("x=1&y"));
    assert_eq!(ev("base", &c), s("example.com/a/b"));
    assert_eq!(ev("req.ver", &c), s("1.1"));
    assert_eq!(ev("req.proto_http", &c), s("1"));
    assert_eq!(ev("query", &Ctx::get("/a")), None);
}

#[test]
fn path_is_derived_from_url_when_context_has_none() {
    let mut c = Ctx::get("http://h.example/x/y?z");
    c.path = None;
    assert_eq!(ev("path", &c), s("/x/y"));
    assert_eq!(ev("base", &c), s("/x/y"));
}

#[test]
fn addresses_and_ports() {
    let c = Ctx::get("/")
        .src("192.0.2.1:40000")
        .dst("[2001:db8::1]:443");
    assert_eq!(
        Expr::parse("src").unwrap().eval(&c),
        Some(Sample::Ip("192.0.2.1".parse().unwrap()))
    );
    assert_eq!(ev("dst", &c), s("2001:db8::1"));
    assert_eq!(
        Expr::parse("src_port").unwrap().eval(&c),
        Some(Sample::Int(40000))
    );
    assert_eq!(ev("dst_port", &c), s("443"));
    assert_eq!(ev("src", &Ctx::default()), None);
}

#[test]
fn tls_fetches() {
    let clear = Ctx::get("/");
    assert_eq!(
        Expr::parse("ssl_fc").unwrap().eval(&clear),
        Some(Sample::Bool(false))
    );
    assert_eq!(
        Expr::parse("ssl_c_used").unwrap().eval(&clear),
        Some(Sample::Bool(false))
    );
    assert_eq!(ev("ssl_fc_sni", &clear), None);
    assert_eq!(ev("ssl_c_s_dn", &clear), None);

    let c = Ctx::get("/").tls(tls_with_cert());
    assert_eq!(
        Expr::parse("ssl_fc").unwrap().eval(&c),
        Some(Sample::Bool(true))
    );
    assert_eq!(
        Expr::parse("ssl_c_used").unwrap().eval(&c),
        Some(Sample::Bool(true))
    );
    assert_eq!(ev("ssl_fc_sni", &c), s("www.example.com"));
    assert_eq!(ev("ssl_fc_alpn", &c), s("h2"));

    let no_cert = Ctx::get("/").tls(TlsInfo::default());
    assert_eq!(
        Expr::parse("ssl_c_used").unwrap().eval(&no_cert),
        Some(Sample::Bool(false))
    );
    assert_eq!(ev("ssl_fc_sni", &no_cert), None);
}

#[test]
fn client_cert_dn() {
    let c = Ctx::get("/").tls(tls_with_cert());
    assert_eq!(
        ev("ssl_c_s_dn", &c),
        s("/C=FR/O=Example/OU=Ops/OU=Web/CN=client1")
    );
    assert_eq!(ev("ssl_c_s_dn(CN)", &c), s("client1"));
    assert_eq!(ev("ssl_c_s_dn(cn)", &c), s("client1"));
    assert_eq!(ev("ssl_c_s_dn(OU)", &c), s("Ops"));
    assert_eq!(ev("ssl_c_s_dn(OU,2)", &c), s("Web"));
    assert_eq!(ev("ssl_c_s_dn(OU,-1)", &c), s("Web"));
    assert_eq!(ev("ssl_c_s_dn(OU,-2)", &c), s("Ops"));
    assert_eq!(ev("ssl_c_s_dn(OU,3)", &c), None);
    assert_eq!(ev("ssl_c_s_dn(L)", &c), None);
    assert_eq!(
        ev("ssl_c_s_dn(,,rfc2253)", &c),
        s("CN=client1,OU=Web,OU=Ops,O=Example,C=FR")
    );
    assert_eq!(ev("ssl_c_i_dn", &c), s("/C=US/CN=Test CA"));
    assert_eq!(ev("ssl_c_i_dn(CN)", &c), s("Test CA"));
}

#[test]
fn proxy_fetches() {
    let c = Ctx::get("/").fe("www", 1).be("app", 3);
    assert_eq!(ev("fe_name", &c), s("www"));
    assert_eq!(ev("fe_id", &c), s("1"));
    assert_eq!(ev("be_name", &c), s("app"));
    assert_eq!(Expr::parse("be_id").unwrap().eval(&c), Some(Sample::Int(3)));
    assert_eq!(ev("be_name", &Ctx::get("/")), None);
}

#[test]
fn constants() {
    let c = Ctx::default();
    assert_eq!(ev("str(hello world)", &c), s("hello world"));
    assert_eq!(ev("str(\"a,b\")", &c), s("a,b"));
    assert_eq!(
        Expr::parse("int(-12)").unwrap().eval(&c),
        Some(Sample::Int(-12))
    );
    assert_eq!(
        Expr::parse("bool(1)").unwrap().eval(&c),
        Some(Sample::Bool(true))
    );
    assert_eq!(
        Expr::parse("always_true").unwrap().eval(&c),
        Some(Sample::Bool(true))
    );
    assert_eq!(
        Expr::parse("always_false").unwrap().eval(&c),
        Some(Sample::Bool(false))
    );
    assert_eq!(ev("ipv4(10.1.2.3)", &c), s("10.1.2.3"));
    assert_eq!(ev("ipv6(::1)", &c), s("::1"));
}

#[test]
fn string_samples_borrow_from_the_context() {
    let c = Ctx::get("/Static/x").hdr("host", "a.example");
    for e in [
        "path",
        "req.hdr(host)",
        "path,field(2,/)",
        "req.hdr(host),lower",
    ] {
        match Expr::parse(e).unwrap().eval(&c) {
            Some(Sample::Str(std::borrow::Cow::Borrowed(_))) => {}
            other => panic!("{e}: expected a borrowed string, got {other:?}"),
        }
    }
    match Expr::parse("path,lower").unwrap().eval(&c) {
        Some(Sample::Str(std::borrow::Cow::Owned(v))) => assert_eq!(v, b"/static/x"),
        other => panic!("expected an owned string, got {other:?}"),
    }
}

#[test]
fn every_listed_fetch_parses() {
    let ctx = Ctx::get("/").tls(tls_with_cert());
    for name in gwd_sample::fetch_names() {
        let e = match name {
            "str" => "str(x)".to_string(),
            "int" | "bool" => format!("{name}(1)"),
            "ipv4" => "ipv4(1.2.3.4)".into(),
            "ipv6" => "ipv6(::1)".into(),
            "var" => "var(txn.x)".into(),
            n if n.starts_with("capture.") => format!("{n}(0)"),
            n if n.starts_with("http_auth") => format!("{n}(admins)"),
            n if n.contains("hdr") => format!("{n}(host)"),
            n if n.contains("cook") || n.starts_with("url_") || n == "urlp" => format!("{n}(x)"),
            n => n.to_string(),
        };
        let parsed = Expr::parse(&e).unwrap_or_else(|err| panic!("{e}: {err}"));
        if let Some(v) = parsed.eval(&ctx) {
            assert_eq!(v.sample_type(), parsed.output_type(), "{e}");
        }
    }
}

#[test]
fn rhttp_name_is_the_tunnel_name_being_checked() {
    let c = Ctx::default().tunnel("app.apps.localhost");
    assert_eq!(ev("rhttp_name", &c), s("app.apps.localhost"));
    assert_eq!(ev("rhttp_name,field(1,.)", &c), s("app"));
    assert_eq!(ev("rhttp_name", &Ctx::get("/")), None);
    let acls = gwd_sample::Acls::new();
    let cond =
        gwd_sample::Condition::parse("{ rhttp_name -m end .apps.localhost }", &acls).unwrap();
    assert!(cond.eval(&c));
    assert!(!cond.eval(&Ctx::default().tunnel("evil.localhost")));
    assert!(!cond.eval(&Ctx::get("/")));
    let e = Expr::parse("rhttp_name").unwrap();
    assert_eq!(e.output_type(), SampleType::Str);
    assert_eq!(e.scope(), gwd_sample::FetchScope::TunnelName);
    assert_eq!(e.fetch_name(), "rhttp_name");
}

/// Header values with obs-text that is not UTF-8 (Latin-1 `é` is one byte,
/// 0xE9) reach fetches, matchers and converters as bytes, as in HAProxy:
/// found, counted, matched on their ASCII parts, measured in bytes and
/// rendered back byte for byte.
#[test]
fn latin1_obs_text_header_values_are_bytes() {
    use gwd_sample::{Acls, Condition, LogFormat, RenderMode};
    let c = Ctx::get("/")
        .hdr_bytes("X-Name", b"Jos\xe9, caf\xe9")
        .hdr_bytes("Cookie", b"id=\xe9t\xe9; lang=fr");
    let raw = |expr: &str| {
        Expr::parse(expr)
            .unwrap()
            .eval(&c)
            .map(|s| s.to_bytes().into_owned())
    };
    assert_eq!(raw("req.hdr(x-name)"), Some(b"caf\xe9".to_vec()));
    assert_eq!(raw("req.hdr(x-name,1)"), Some(b"Jos\xe9".to_vec()));
    assert_eq!(raw("req.fhdr(x-name)"), Some(b"Jos\xe9, caf\xe9".to_vec()));
    assert_eq!(ev("req.hdr_cnt(x-name)", &c), s("2"));
    assert_eq!(raw("req.cook(id)"), Some(b"\xe9t\xe9".to_vec()));
    assert_eq!(raw("req.cook(lang)"), Some(b"fr".to_vec()));
    // Converters work on bytes: len counts bytes, upper leaves 0xE9.
    assert_eq!(ev("req.hdr(x-name),len", &c), s("4"));
    assert_eq!(raw("req.hdr(x-name),upper"), Some(b"CAF\xe9".to_vec()));
    assert_eq!(
        raw("req.fhdr(x-name),field(2,\\,)"),
        Some(b" caf\xe9".to_vec())
    );
    assert_eq!(
        raw("req.hdr(x-name),regsub(f,F)"),
        Some(b"caF\xe9".to_vec())
    );
    // Regexes have HAProxy's (PCRE without UTF) byte semantics: `.` is
    // any byte, so a Latin-1 byte cannot hide a match.
    assert_eq!(raw("req.hdr(x-name),regsub(f.,F!)"), Some(b"caF!".to_vec()));
    let acls = Acls::new();
    let cond = |s: &str| Condition::parse(s, &acls).unwrap().eval(&c);
    assert!(cond("{ req.hdr(x-name) -m found }"));
    assert!(cond("{ req.hdr(x-name) -m beg caf }"));
    assert!(cond("{ req.hdr(x-name) -m sub af }"));
    assert!(cond("{ req.hdr(x-name) -m reg ^caf }"));
    assert!(!cond("{ req.hdr(x-name) -m reg ^cafe }"));
    assert!(cond("{ req.hdr(x-name) -m reg ^caf.$ }"));
    assert!(cond("{ req.hdr(x-name,1) -m reg ^.*s.$ }"));
    assert!(cond("{ req.hdr(x-name) -m reg ^c ^x }"), "a regex set");
    assert!(cond("{ req.hdr(x-name) -m reg -i ^CAF.$ }"));
    // A pattern that needs Unicode still loads (and runs in Unicode mode).
    assert!(cond("{ req.hdr(x-name,1) -m reg ^\\p{L}+ }"));
    assert!(cond("{ req.hdr(x-name) -m len 4 }"));
    // A UTF-8 pattern does not equal the Latin-1 bytes of the same letter.
    assert!(!cond("{ req.hdr(x-name) -m str café }"));
    // Rendered as bytes (header values), the obs-text is copied exactly.
    let f = LogFormat::parse("<%[req.hdr(x-name,1)]>").unwrap();
    assert_eq!(f.render_bytes(&c, RenderMode::Text), b"<Jos\xe9>".to_vec());
    // As text, it is lossy (U+FFFD), never dropped.
    assert_eq!(f.render(&c, RenderMode::Text), "<Jos\u{FFFD}>");
}

/// Pattern files (`-f`) see a sample's bytes as inline patterns do.
#[test]
fn pattern_files_match_obs_text_bytes() {
    use gwd_sample::{Acls, Condition, MemoryMaps, ParseEnv};
    let c = Ctx::get("/").hdr_bytes("X", b"\xe9");
    let mut maps = MemoryMaps::new([("lens.acl", "1\n"), ("subs.acl", "xx\n")]);
    let acls = Acls::new();
    let mut cond = |s: &str| {
        Condition::parse_in(s, &acls, &mut ParseEnv::with_maps(&mut maps))
            .unwrap()
            .eval(&c)
    };
    assert!(cond("{ req.hdr(x) -m len 1 }"));
    assert!(cond("{ req.hdr(x) -m len -f lens.acl }"));
    assert!(!cond("{ req.hdr(x) -m sub -f subs.acl }"));
}

/// `eval_str` (names built from samples: tunnel names) has no result for
/// bytes that are not UTF-8, so `a\xE9` and `a\xFF` never name the same
/// thing; UTF-8 obs-text is text.
#[test]
fn eval_str_is_strict_about_utf8() {
    let e = Expr::parse("req.hdr(host)").unwrap();
    let c = Ctx::get("/").hdr_bytes("Host", b"a\xe9.example");
    assert_eq!(e.eval_str(&c), None);
    let c = Ctx::get("/").hdr_bytes("Host", "caf\u{e9}.example".as_bytes());
    assert_eq!(e.eval_str(&c).as_deref(), Some("caf\u{e9}.example"));
    let n = Expr::parse("req.hdr_cnt(host)").unwrap();
    assert_eq!(n.eval_str(&c).as_deref(), Some("1"));
}

/// `http_auth` is a boolean; `http_auth_group` yields the user name, and
/// as an ACL matches the user's groups (HAProxy 2.6.12: `acl isops
/// http_auth_group(admins) ops` held for bob of group `ops`, and
/// `%[http_auth_group(admins)]` wrote `bob`).
#[test]
fn http_auth_fetches_read_the_checked_user() {
    struct Auth(Option<gwd_sample::AuthUser>);
    impl gwd_sample::SampleContext for Auth {
        fn http_auth(&self, userlist: &str) -> Option<gwd_sample::AuthUser> {
            (userlist == "admins").then(|| self.0.clone()).flatten()
        }
    }
    let bob = Auth(Some(gwd_sample::AuthUser {
        user: "bob".into(),
        groups: vec!["ops".into(), "dev".into()],
    }));
    let nobody = Auth(None);
    let eval = |e: &str, c: &Auth| Expr::parse(e).unwrap().eval(c).map(|s| s.to_string());
    assert_eq!(eval("http_auth(admins)", &bob).as_deref(), Some("1"));
    assert_eq!(eval("http_auth(others)", &bob).as_deref(), Some("0"));
    assert_eq!(eval("http_auth(admins)", &nobody).as_deref(), Some("0"));
    assert_eq!(
        eval("http_auth_group(admins)", &bob).as_deref(),
        Some("bob")
    );
    assert_eq!(eval("http_auth_group(admins)", &nobody), None);
    let acls = gwd_sample::Acls::new();
    let cond = |c: &str| gwd_sample::Condition::parse(c, &acls).unwrap();
    assert!(cond("{ http_auth_group(admins) ops }").eval(&bob));
    assert!(cond("{ http_auth_group(admins) web dev }").eval(&bob));
    assert!(!cond("{ http_auth_group(admins) bob }").eval(&bob));
    assert!(!cond("{ http_auth_group(admins) ops }").eval(&nobody));
    // Group names, matched exactly: any other method would let a user of
    // any group through, so it is refused (as HAProxy refuses it).
    for bad in [
        "{ http_auth_group(admins) -m found }",
        "{ http_auth_group(admins) -m reg .* }",
        "{ http_auth_group(admins) -m sub o }",
        "{ http_auth_group(admins) -i OPS }",
        "{ http_auth_group(admins) }",
    ] {
        assert!(gwd_sample::Condition::parse(bad, &acls).is_err(), "{bad}");
    }
    assert!(cond("{ http_auth(admins) }").eval(&bob));
    assert!(!cond("{ http_auth(admins) }").eval(&nobody));
    assert!(Expr::parse("http_auth").is_err());
    assert_eq!(
        Expr::parse("http_auth(admins)").unwrap().userlist(),
        Some("admins")
    );
}
