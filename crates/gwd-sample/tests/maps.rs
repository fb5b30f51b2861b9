//! Map converters and pattern-file ACLs (`-f`, `-M`) over the shared
//! gwd-maps engine.

use std::net::SocketAddr;

use gwd_sample::{
    Acls, Condition, Expr, LogFormat, MemoryMaps, ParseEnv, ParseErrorKind, Sample, SampleContext,
};

struct Req {
    host: &'static str,
    path: &'static str,
    src: &'static str,
}

impl SampleContext for Req {
    fn header_values(&self, name: &str) -> Vec<&str> {
        if name == "host" {
            vec![self.host]
        } else {
            vec![]
        }
    }
    fn path(&self) -> Option<&str> {
        Some(self.path)
    }
    fn src(&self) -> Option<SocketAddr> {
        self.src.parse().ok()
    }
}

fn req(host: &'static str, path: &'static str) -> Req {
    Req {
        host,
        path,
        src: "10.1.2.3:5000",
    }
}

fn files() -> MemoryMaps {
    MemoryMaps::new([
        (
            "hosts.map",
            "# comment\nexample.com app\napi.example.com api\nexample.com dup\n",
        ),
        ("paths.map", "/api v1\n/api/v2 v2\n/ root\n"),
        ("nets.map", "10.0.0.0/8 internal\n10.1.0.0/16 lab\n"),
        ("ports.map", "80 http\n8000:8999 alt\n"),
        ("weights.map", "a 10\nb notanumber\n"),
        ("blocked.acl", "10.1.0.0/16\n192.168.0.1\n"),
        ("agents.acl", "curl\nsqlmap\n"),
    ])
}

fn expr(s: &str, maps: &mut MemoryMaps) -> Expr {
    Expr::parse_in(s, &mut ParseEnv::with_maps(maps)).unwrap()
}

#[test]
fn map_str_with_default_and_duplicates() {
    let mut maps = files();
    let e = expr("req.hdr(host),lower,map(hosts.map,fallback)", &mut maps);
    assert_eq!(e.eval(&req("EXAMPLE.com", "/")), Some(Sample::from("app")));
    assert_eq!(
        e.eval(&req("api.example.com", "/")),
        Some(Sample::from("api"))
    );
    assert_eq!(e.eval(&req("other", "/")), Some(Sample::from("fallback")));
    let no_default = expr("req.hdr(host),map_str(hosts.map)", &mut maps);
    assert_eq!(no_default.eval(&req("other", "/")), None);
    // Both converters share the same reference.
    assert_eq!(maps.registry().len(), 1);
}

#[test]
fn map_beg_longest_prefix() {
    let mut maps = files();
    let e = expr("path,map_beg(paths.map)", &mut maps);
    assert_eq!(e.eval(&req("h", "/api/v2/x")), Some(Sample::from("v2")));
    assert_eq!(e.eval(&req("h", "/api/v1/x")), Some(Sample::from("v1")));
    assert_eq!(e.eval(&req("h", "/x")), Some(Sample::from("root")));
}

#[test]
fn map_ip_int_and_typed_outputs() {
    let mut maps = files();
    let e = expr("src,map_ip(nets.map,none)", &mut maps);
    assert_eq!(e.eval(&req("h", "/")), Some(Sample::from("lab")));
    let e = expr("int(8080),map_int(ports.map)", &mut maps);
    assert_eq!(e.eval(&req("h", "/")), Some(Sample::from("alt")));
    let e = expr("str(a),map_str_int(weights.map,-1)", &mut maps);
    assert_eq!(e.output_type(), gwd_sample::SampleType::Int);
    assert_eq!(e.eval(&req("h", "/")), Some(Sample::Int(10)));
    // A value that is not an integer yields no sample; a miss the default.
    let e2 = expr("str(b),map_str_int(weights.map,-1)", &mut maps);
    assert_eq!(e2.eval(&req("h", "/")), None);
    let e3 = expr("str(zz),map_str_int(weights.map,-1)", &mut maps);
    assert_eq!(e3.eval(&req("h", "/")), Some(Sample::Int(-1)));
}

#[test]
fn runtime_changes_are_seen_by_every_rule() {
    let mut maps = files();
    let e = expr("req.hdr(host),map(hosts.map)", &mut maps);
    let lf = LogFormat::parse_in(
        "be=%[req.hdr(host),map(hosts.map,none)]",
        &mut ParseEnv::with_maps(&mut maps),
    )
    .unwrap();
    let r = req("new.example.com", "/");
    assert_eq!(e.eval(&r), None);
    let m = maps.registry().get("hosts.map").unwrap().map.clone();
    m.add(b"new.example.com", b"fresh").unwrap();
    assert_eq!(e.eval(&r), Some(Sample::from("fresh")));
    assert_eq!(lf.render(&r), "be=fresh");
    m.set(b"new.example.com", b"changed").unwrap();
    assert_eq!(e.eval(&r), Some(Sample::from("changed")));
    m.del(b"new.example.com").unwrap();
    assert_eq!(lf.render(&r), "be=none");
}

#[test]
fn acl_pattern_files() {
    let mut maps = files();
    let mut acls = Acls::new();
    let mut env = ParseEnv::with_maps(&mut maps);
    acls.define_in("blocked", "src -f blocked.acl", &mut env)
        .unwrap();
    acls.define_in("bot", "req.hdr(host) -i -m sub -f agents.acl", &mut env)
        .unwrap();
    acls.define_in("known_host", "req.hdr(host) -M -f hosts.map", &mut env)
        .unwrap();
    let c = Condition::parse_in("blocked", &acls, &mut env).unwrap();
    assert!(c.eval(&req("h", "/")));
    let c2 = Condition::parse_in("bot || known_host", &acls, &mut env).unwrap();
    assert!(c2.eval(&req("xCURLx", "/")));
    assert!(c2.eval(&req("example.com", "/")));
    assert!(!c2.eval(&req("nothing", "/")));
    // Inline ACL with a file and inline patterns together.
    let c3 = Condition::parse_in("{ path -m beg -f agents.acl /admin }", &acls, &mut env).unwrap();
    assert!(c3.eval(&req("h", "/admin/x")));
    assert!(c3.eval(&req("h", "curl/x")));
    assert!(!c3.eval(&req("h", "/x")));
    // One reference per file, shared by the `-M` ACL and any converter.
    assert_eq!(maps.registry().len(), 3);
    maps.registry()
        .get("blocked.acl")
        .unwrap()
        .map
        .del(b"10.1.0.0/16")
        .unwrap();
    assert!(!c.eval(&req("h", "/")));
}

#[test]
fn errors() {
    // No map access.
    let e = Expr::parse("req.hdr(host),map(hosts.map)").unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::NoMaps);
    assert_eq!(e.column, 15);
    let mut acls = Acls::new();
    let e = acls.define("x", "src -f blocked.acl").unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::NoMaps);
    // Missing file: located at the file name.
    let mut maps = files();
    let e = Expr::parse_in("path,map(nope.map)", &mut ParseEnv::with_maps(&mut maps)).unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::MapFile);
    assert_eq!(e.column, 10);
    assert!(e.message.contains("nope.map"), "{}", e.message);
    // A map file used as a plain ACL file.
    let mut env = ParseEnv::with_maps(&mut maps);
    Expr::parse_in("path,map(hosts.map)", &mut env).unwrap();
    let e = acls
        .define_in("x", "path -f hosts.map", &mut env)
        .unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::MapFile);
    assert!(e.message.contains("-M"), "{}", e.message);
    // Keys that the match kind rejects.
    let e = Expr::parse_in("int(1),map_int(hosts.map)", &mut env).unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::MapFile);
    // Bad defaults.
    let e = Expr::parse_in("path,map_str_int(hosts.map,abc)", &mut env).unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::BadInt);
    // Unknown converter still suggests.
    let e = Expr::parse_in("path,map_bgn(hosts.map)", &mut env).unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::UnknownConverter);
    assert_eq!(e.help.as_deref(), Some("did you mean `map_beg`?"));
}

#[test]
fn int_len_and_found_files() {
    let mut maps = MemoryMaps::new([("ports.acl", "80\n8000:8999\n"), ("lens.acl", "0:3\n")]);
    let mut env = ParseEnv::with_maps(&mut maps);
    let acls = Acls::new();
    let yes = |c: &str, env: &mut ParseEnv<'_>| {
        Condition::parse_in(c, &acls, env)
            .unwrap()
            .eval(&req("h", "/ab"))
    };
    assert!(yes("{ int(8080) -f ports.acl }", &mut env));
    assert!(yes("{ str(80) -m int -f ports.acl }", &mut env));
    assert!(!yes("{ int(81) -f ports.acl }", &mut env));
    assert!(
        !yes("{ str(abc) -m int -f ports.acl }", &mut env),
        "not an integer"
    );
    assert!(yes("{ path -m len -f lens.acl }", &mut env));
    assert!(!yes("{ str(abcd) -m len -f lens.acl }", &mut env));
    assert!(yes("{ path -m found -f lens.acl }", &mut env));
    let e = Condition::parse_in("{ int(1) -m bool -f lens.acl }", &acls, &mut env).unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::BadFlag);
}
