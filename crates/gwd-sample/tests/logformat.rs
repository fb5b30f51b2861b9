//! Log-format rendering.

mod common;

use common::Ctx;
use gwd_sample::{LogFormat, RenderMode};

fn r(f: &str, c: &Ctx) -> String {
    LogFormat::parse(f)
        .unwrap_or_else(|e| panic!("{f}: {e}"))
        .render(c, RenderMode::Log)
}

#[test]
fn literal_text_and_percent() {
    let c = Ctx::default();
    assert_eq!(r("plain text", &c), "plain text");
    assert_eq!(r("100%% sure", &c), "100% sure");
    assert_eq!(r("", &c), "");
    assert!(LogFormat::parse("a %% b").unwrap().is_literal());
    assert_eq!(
        LogFormat::parse("a %% b").unwrap().as_literal(),
        Some("a % b")
    );
    assert!(!LogFormat::parse("%[path]").unwrap().is_literal());
    let lit = LogFormat::literal("%[path] 100%");
    assert!(lit.is_literal());
    assert_eq!(
        lit.render(&Ctx::get("/x"), RenderMode::Text),
        "%[path] 100%"
    );
}

#[test]
fn interpolations() {
    let c = Ctx::get("/a/b?q=1")
        .hdr("host", "Example.com")
        .src("192.0.2.1:4444")
        .dst("10.0.0.1:80")
        .fe("www", 1)
        .be("app", 2);
    assert_eq!(r("%[path]", &c), "/a/b");
    assert_eq!(
        r("https://%[req.hdr(host),lower]%[url]", &c),
        "https://example.com/a/b?q=1"
    );
    assert_eq!(r("%[ path ]", &c), "/a/b");
    assert_eq!(
        r("%ci:%cp -> %fi:%fp %f/%ft %b %HM %HU %HP", &c),
        "192.0.2.1:4444 -> 10.0.0.1:80 www/www app GET /a/b?q=1 /a/b"
    );
    assert_eq!(r("x=%[req.hdr(missing)] y=%[str(\"\")]", &c), "x=- y=-");
    assert_eq!(r("%[path,regsub(^/a/(.*)$,[\\1])]", &c), "[b]");
    assert_eq!(r("%[ssl_fc]%[src_port]", &c), "04444");
}

#[test]
fn options() {
    let c = Ctx::get("/a\"b").src("10.0.0.1:255");
    assert_eq!(r("%{+Q}[path]", &c), "\"/a\"b\"");
    assert_eq!(r("%{+Q,+E}[path]", &c), "\"/a\\\"b\"");
    assert_eq!(r("%{+X}[src_port] %{+X}[src]", &c), "FF 0A000001");
    assert_eq!(r("%{+Q}[req.hdr(none)]", &c), "\"\"");
    assert_eq!(r("%{+Q}ci", &c), "\"10.0.0.1\"");
}

#[test]
fn render_into_appends() {
    let f = LogFormat::parse("[%[method]]").unwrap();
    let mut buf = String::from("> ");
    f.render_into(&Ctx::get("/"), RenderMode::Log, &mut buf);
    assert_eq!(buf, "> [GET]");
}
