//! The TCP content fetches (`req.len`, `req.ssl_sni`,
//! `req.ssl_hello_type`, `req.ssl_ver`) over buffered client bytes.

use gwd_sample::{Acls, Condition, Expr, FetchScope, SampleContext};

/// A context holding only the bytes a client sent.
struct Content(Vec<u8>);

impl SampleContext for Content {
    fn content(&self) -> Option<&[u8]> {
        Some(&self.0)
    }
}

/// A TLS 1.2-style record with a minimal ClientHello naming `sni`.
fn client_hello(sni: &str) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend([0u8; 32]);
    body.extend([0, 0, 2, 0x13, 0x01, 1, 0]);
    let n = sni.len() as u16;
    let mut ext = vec![0, 0];
    ext.extend((n + 5).to_be_bytes());
    ext.extend((n + 3).to_be_bytes());
    ext.push(0);
    ext.extend(n.to_be_bytes());
    ext.extend(sni.as_bytes());
    body.extend((ext.len() as u16).to_be_bytes());
    body.extend(ext);
    let mut msg = vec![1];
    msg.extend(&(body.len() as u32).to_be_bytes()[1..]);
    msg.extend(body);
    let mut rec = vec![22, 3, 1];
    rec.extend((msg.len() as u16).to_be_bytes());
    rec.extend(msg);
    rec
}

fn ev(expr: &str, ctx: &dyn SampleContext) -> Option<String> {
    Expr::parse(expr).unwrap().eval(ctx).map(|s| s.to_string())
}

#[test]
fn content_fetches_read_the_buffered_hello() {
    let hello = client_hello("A.Example");
    let c = Content(hello.clone());
    assert_eq!(ev("req.ssl_sni", &c).as_deref(), Some("A.Example"));
    assert_eq!(ev("req_ssl_sni,lower", &c).as_deref(), Some("a.example"));
    assert_eq!(ev("req.ssl_hello_type", &c).as_deref(), Some("1"));
    assert_eq!(
        ev("req.ssl_ver", &c).as_deref(),
        Some(&*(3i64 << 16 | 3).to_string())
    );
    assert_eq!(ev("req.len", &c), Some(hello.len().to_string()));
    let cond = Condition::parse("{ req.ssl_sni -i a.example }", &Acls::new()).unwrap();
    assert!(cond.eval(&c));
    // Half a hello: no name yet, but its type is known.
    let half = Content(hello[..hello.len() / 2].to_vec());
    assert_eq!(ev("req.ssl_sni", &half), None);
    assert_eq!(ev("req.ssl_hello_type", &half).as_deref(), Some("1"));
    assert!(!cond.eval(&half));
}

#[test]
fn content_fetches_have_no_sample_without_content_or_on_other_protocols() {
    struct Nothing;
    impl SampleContext for Nothing {}
    for f in [
        "req.len",
        "req.ssl_sni",
        "req.ssl_hello_type",
        "req.ssl_ver",
    ] {
        assert_eq!(ev(f, &Nothing), None, "{f}");
        assert_eq!(Expr::parse(f).unwrap().scope(), FetchScope::Content, "{f}");
    }
    let http = Content(b"GET / HTTP/1.1\r\n\r\n".to_vec());
    assert_eq!(ev("req.ssl_sni", &http), None);
    assert_eq!(ev("req.ssl_hello_type", &http), None);
    assert_eq!(ev("req.len", &http).as_deref(), Some("18"));
}
