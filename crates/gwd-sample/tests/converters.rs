//! One test per converter.

mod common;

use common::Ctx;
use gwd_sample::{Expr, Sample, SampleType};

fn ev(expr: &str, ctx: &Ctx) -> Option<Sample<'static>> {
    Expr::parse(expr)
        .unwrap_or_else(|e| panic!("{expr}: {e}"))
        .eval(ctx)
        .map(Sample::into_owned)
}

fn st(v: &str) -> Option<Sample<'static>> {
    Some(Sample::from(v.to_string()))
}

#[test]
fn lower_upper() {
    let c = Ctx::get("/A/b").hdr("host", "WwW.Example.COM");
    assert_eq!(ev("req.hdr(host),lower", &c), st("www.example.com"));
    assert_eq!(ev("req.hdr(host),upper", &c), st("WWW.EXAMPLE.COM"));
    assert_eq!(ev("int(12),upper", &c), st("12"));
}

#[test]
fn field_positive_negative_and_count() {
    let c = Ctx::get("/a/b/c/d");
    assert_eq!(ev("path,field(2,/)", &c), st("a"));
    assert_eq!(ev("path,field(1,/)", &c), st(""));
    assert_eq!(ev("path,field(-1,/)", &c), st("d"));
    assert_eq!(ev("path,field(2,/,2)", &c), st("a/b"));
    assert_eq!(ev("path,field(3,/,0)", &c), st("b/c/d"));
    assert_eq!(ev("path,field(-2,/,2)", &c), st("b/c"));
    assert_eq!(ev("path,field(9,/)", &c), None);
    let c = Ctx::get("/").hdr("host", "example.com:8080");
    assert_eq!(ev("req.hdr(host),field(1,:)", &c), st("example.com"));
    assert_eq!(ev("req.hdr(host),field(2,:)", &c), st("8080"));
    assert_eq!(ev("req.hdr(host),field(2,.:)", &c), st("com"));
}

#[test]
fn word_skips_empty_words() {
    let c = Ctx::get("//a//b/c/");
    assert_eq!(ev("path,word(1,/)", &c), st("a"));
    assert_eq!(ev("path,word(2,/)", &c), st("b"));
    assert_eq!(ev("path,word(-1,/)", &c), st("c"));
    assert_eq!(ev("path,word(1,/,2)", &c), st("a//b"));
    assert_eq!(ev("path,word(4,/)", &c), None);
}

#[test]
fn len_and_length() {
    let c = Ctx::get("/abcd");
    assert_eq!(ev("path,len", &c), Some(Sample::Int(5)));
    assert_eq!(ev("path,length", &c), Some(Sample::Int(5)));
    assert_eq!(
        Expr::parse("path,len").unwrap().output_type(),
        SampleType::Int
    );
}

#[test]
fn bool_and_not() {
    let c = Ctx::get("/");
    assert_eq!(ev("int(3),bool", &c), Some(Sample::Bool(true)));
    assert_eq!(ev("int(0),bool", &c), Some(Sample::Bool(false)));
    assert_eq!(ev("int(0),not", &c), Some(Sample::Bool(true)));
    assert_eq!(ev("ssl_fc,not", &c), Some(Sample::Bool(true)));
    assert_eq!(ev("str(7),bool", &c), Some(Sample::Bool(true)));
    // As HAProxy 2.6 (checked): a string without leading digits casts to
    // 0, only an empty string does not cast.
    assert_eq!(ev("str(abc),bool", &c), Some(Sample::Bool(false)));
}

#[test]
fn arithmetic() {
    let c = Ctx::get("/");
    assert_eq!(ev("int(10),add(5)", &c), Some(Sample::Int(15)));
    assert_eq!(ev("int(10),sub(15)", &c), Some(Sample::Int(-5)));
    assert_eq!(ev("int(10),mul(-3)", &c), Some(Sample::Int(-30)));
    assert_eq!(ev("int(10),div(3)", &c), Some(Sample::Int(3)));
    assert_eq!(ev("int(10),div(0)", &c), Some(Sample::Int(i64::MAX)));
    assert_eq!(ev("int(10),mod(3)", &c), Some(Sample::Int(1)));
    assert_eq!(ev("int(10),neg", &c), Some(Sample::Int(-10)));
    assert_eq!(ev("int(10),even", &c), Some(Sample::Bool(true)));
    assert_eq!(ev("int(10),odd", &c), Some(Sample::Bool(false)));
}

#[test]
fn trims() {
    let c = Ctx::get("/").hdr("x", "--a-b--");
    assert_eq!(ev("req.fhdr(x),ltrim(-)", &c), st("a-b--"));
    assert_eq!(ev("req.fhdr(x),rtrim(-)", &c), st("--a-b"));
}

#[test]
fn url_dec() {
    let c = Ctx::get("/a%20b?q=x+y");
    assert_eq!(ev("url,url_dec", &c), st("/a b?q=x y"));
    assert_eq!(ev("query,url_dec", &c), st("q=x+y"));
    assert_eq!(ev("query,url_dec(1)", &c), st("q=x y"));
    assert_eq!(ev("str(%zz),url_dec", &c), None);
}

#[test]
fn regsub() {
    let c = Ctx::get("/api/v1/users/v1");
    assert_eq!(ev("path,regsub(v1,v2)", &c), st("/api/v2/users/v1"));
    assert_eq!(ev("path,regsub(v1,v2,g)", &c), st("/api/v2/users/v2"));
    assert_eq!(
        ev("path,regsub(^/api/(v[0-9]+)/,/\\1/x/)", &c),
        st("/v1/x/users/v1")
    );
    assert_eq!(ev("path,regsub(API,X,i)", &c), st("/X/v1/users/v1"));
    assert_eq!(ev("path,regsub(zzz,X)", &c), st("/api/v1/users/v1"));
}

#[test]
fn ipmask() {
    let c = Ctx::get("/").src("192.0.2.77:1").dst("[2001:db8:1:2::9]:1");
    assert_eq!(
        ev("src,ipmask(24)", &c),
        Some(Sample::Ip("192.0.2.0".parse().unwrap()))
    );
    assert_eq!(
        ev("src,ipmask(255.255.0.0)", &c),
        Some(Sample::Ip("192.0.0.0".parse().unwrap()))
    );
    assert_eq!(
        ev("dst,ipmask(24,48)", &c),
        Some(Sample::Ip("2001:db8:1::".parse().unwrap()))
    );
    assert_eq!(ev("dst,ipmask(24)", &c), None, "no IPv6 mask given");
}

#[test]
fn chains_cast_between_types() {
    let c = Ctx::get("/abc").src("10.0.0.1:5");
    assert_eq!(ev("path,len,add(1),bool", &c), Some(Sample::Bool(true)));
    assert_eq!(ev("src,lower", &c), st("10.0.0.1"));
    assert_eq!(ev("src_port,upper,len", &c), Some(Sample::Int(1)));
}

#[test]
fn every_listed_converter_parses() {
    for name in gwd_sample::converter_names() {
        let e = match name {
            "field" | "word" => format!("str(a),{name}(1,/)"),
            "add" | "sub" | "mul" | "div" | "mod" => format!("int(1),{name}(2)"),
            "ltrim" | "rtrim" => format!("str(a),{name}(x)"),
            "regsub" => "str(a),regsub(a,b)".into(),
            "ipmask" => "src,ipmask(8)".into(),
            // `_ip` outputs need address values.
            n if n.starts_with("map_ip") && n.ends_with("_ip") => {
                format!("str(1),{n}(ipip.map)")
            }
            n if n.starts_with("map_ip") => format!("str(1),{n}(ip.map)"),
            n if n.starts_with("map") && n.ends_with("_ip") => format!("str(1),{n}(mip.map)"),
            n if n.starts_with("map") => format!("str(1),{n}(m.map)"),
            n => format!("str(1),{n}"),
        };
        let mut maps = gwd_sample::MemoryMaps::new([
            ("m.map", "1 2\n"),
            ("mip.map", "1 10.0.0.2\n"),
            ("ip.map", "10.0.0.0/8 2\n"),
            ("ipip.map", "10.0.0.0/8 10.0.0.2\n"),
        ]);
        Expr::parse_in(&e, &mut gwd_sample::ParseEnv::with_maps(&mut maps))
            .unwrap_or_else(|err| panic!("{e}: {err}"));
    }
}
