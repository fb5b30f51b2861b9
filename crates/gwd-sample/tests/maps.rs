//! Map converters and pattern-file ACLs (`-f`, `-M`) over the shared
//! gwd-maps engine.

use std::net::SocketAddr;

use gwd_sample::{
    Acls, Condition, Expr, LogFormat, MemoryMaps, ParseEnv, ParseErrorKind, RenderMode, Sample,
    SampleContext,
};

struct Req {
    host: &'static str,
    path: &'static str,
    src: &'static str,
}

impl SampleContext for Req {
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        if name == "host" {
            vec![self.host.as_bytes()]
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
    // A file with a value that is not an integer is refused (HAProxy too),
    // naming the file and line.
    let err = Expr::parse_in(
        "str(a),map_str_int(weights.map,-1)",
        &mut ParseEnv::with_maps(&mut maps),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ParseErrorKind::MapFile);
    assert_eq!(err.column, 20);
    assert_eq!(
        err.message,
        "invalid map file: weights.map:2: unable to parse 'notanumber'."
    );
    let mut maps = MemoryMaps::new([("weights.map", "a 10\nb +3\nc\n")]);
    let e = expr("str(a),map_str_int(weights.map,-1)", &mut maps);
    assert_eq!(e.output_type(), gwd_sample::SampleType::Int);
    assert_eq!(e.eval(&req("h", "/")), Some(Sample::Int(10)));
    let e2 = expr("str(b),map_str_int(weights.map,-1)", &mut maps);
    assert_eq!(e2.eval(&req("h", "/")), Some(Sample::Int(3)));
    // A key-only line reads as 0, a miss gives the default.
    let e3 = expr("str(c),map_str_int(weights.map,-1)", &mut maps);
    assert_eq!(e3.eval(&req("h", "/")), Some(Sample::Int(0)));
    let e4 = expr("str(zz),map_str_int(weights.map,-1)", &mut maps);
    assert_eq!(e4.eval(&req("h", "/")), Some(Sample::Int(-1)));
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
    assert_eq!(lf.render(&r, RenderMode::Text), "be=fresh");
    m.set(b"new.example.com", b"changed").unwrap();
    assert_eq!(e.eval(&r), Some(Sample::from("changed")));
    m.del(b"new.example.com").unwrap();
    assert_eq!(lf.render(&r, RenderMode::Text), "be=none");
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

// ------------------------------------------------------------------ regm, _key

#[test]
fn map_regm_substitutes_groups() {
    let mut maps = MemoryMaps::new([(
        "rewrite.map",
        "^/u/([0-9]+)/(.*)$ /users/\\2?id=\\1\n^/old/(.*) /new/\\1\n^/bad bad\\\n",
    )]);
    let e = expr("path,map_regm(rewrite.map,none)", &mut maps);
    assert_eq!(
        e.eval(&req("h", "/u/42/profile")),
        Some(Sample::from("/users/profile?id=42"))
    );
    assert_eq!(
        e.eval(&req("h", "/old/a/b")),
        Some(Sample::from("/new/a/b"))
    );
    // No match: the default.
    assert_eq!(e.eval(&req("h", "/x")), Some(Sample::from("none")));
    // A malformed template: no sample, not the default.
    assert_eq!(e.eval(&req("h", "/bad")), None);
    // Runtime changes are seen.
    let m = maps.registry().get("rewrite.map").unwrap().map.clone();
    m.set(b"^/old/(.*)", b"/v2/\\1").unwrap();
    assert_eq!(e.eval(&req("h", "/old/z")), Some(Sample::from("/v2/z")));
    // regm has no typed or key forms.
    for bad in [
        "path,map_regm_int(rewrite.map)",
        "path,map_regm_key(rewrite.map)",
    ] {
        let err = Expr::parse_in(bad, &mut ParseEnv::with_maps(&mut maps)).unwrap_err();
        assert_eq!(err.kind(), ParseErrorKind::UnknownConverter, "{bad}");
    }
}

#[test]
fn map_key_converters_return_the_matched_key() {
    let mut maps = files();
    fn k(s: &str, r: &Req, maps: &mut MemoryMaps) -> Option<Sample<'static>> {
        expr(s, maps).eval(r).map(|v| v.into_owned())
    }
    assert_eq!(
        k(
            "path,map_beg_key(paths.map)",
            &req("h", "/api/v2/x"),
            &mut maps
        ),
        Some(Sample::from("/api/v2"))
    );
    assert_eq!(
        k("src,map_ip_key(nets.map)", &req("h", "/"), &mut maps),
        Some(Sample::from("10.1.0.0/16"))
    );
    assert_eq!(
        k(
            "int(8080),map_int_key(ports.map)",
            &req("h", "/"),
            &mut maps
        ),
        Some(Sample::from("8000:8999"))
    );
    assert_eq!(
        k(
            "req.hdr(host),map_str_key(hosts.map)",
            &req("example.com", "/"),
            &mut maps
        ),
        Some(Sample::from("example.com"))
    );
    // A miss gives no sample; `_key` takes no default (as in HAProxy).
    assert_eq!(
        k("path,map_beg_key(hosts.map)", &req("h", "/zz"), &mut maps),
        None
    );
    let err = Expr::parse_in(
        "path,map_beg_key(paths.map,dflt)",
        &mut ParseEnv::with_maps(&mut maps),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ParseErrorKind::BadArgs);
    for name in [
        "map_str_key",
        "map_end_key",
        "map_sub_key",
        "map_dom_key",
        "map_dir_key",
        "map_reg_key",
    ] {
        let e = expr(&format!("req.hdr(host),{name}(hosts.map)"), &mut maps);
        assert_eq!(e.output_type(), gwd_sample::SampleType::Str);
        assert_eq!(
            e.eval(&req("example.com", "/")),
            Some(Sample::from("example.com")),
            "{name}"
        );
    }
}

// ------------------------------------------------------------------ typed values

#[test]
fn typed_uses_constrain_runtime_changes_of_the_shared_file() {
    let mut maps = MemoryMaps::new([("w.map", "a 10\nb 20\n")]);
    let plain = expr("str(a),map(w.map)", &mut maps);
    let int = expr("str(a),map_str_int(w.map)", &mut maps);
    let m = maps.registry().get("w.map").unwrap().map.clone();
    assert_eq!(m.value_types(), [gwd_sample::ValueType::Int]);
    // Every rule sharing the file is protected.
    assert_eq!(
        m.set(b"a", b"ten").unwrap_err().to_string(),
        "unable to parse 'ten'."
    );
    assert_eq!(
        m.add(b"c", b"1.5").unwrap_err().to_string(),
        "unable to parse '1.5'."
    );
    m.set(b"a", b"-4").unwrap();
    assert_eq!(plain.eval(&req("h", "/")), Some(Sample::from("-4")));
    assert_eq!(int.eval(&req("h", "/")), Some(Sample::Int(-4)));
    // A later `_ip` use of the same file is refused: its values are not addresses.
    let err = Expr::parse_in(
        "str(a),map_str_ip(w.map)",
        &mut ParseEnv::with_maps(&mut maps),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ParseErrorKind::MapFile);
    assert_eq!(err.message, "w.map:1: unable to parse '-4'.");
    // Addresses: lenient IPv4, full IPv6.
    let mut maps = MemoryMaps::new([("a.map", "v4 010.0.0.1\nv6 2001:db8::1\n")]);
    let e = expr("str(v4),map_str_ip(a.map)", &mut maps);
    assert_eq!(
        e.eval(&req("h", "/")),
        Some(Sample::Ip("10.0.0.1".parse().unwrap()))
    );
    let e = expr("str(v6),map_str_ip(a.map)", &mut maps);
    assert_eq!(
        e.eval(&req("h", "/")),
        Some(Sample::Ip("2001:db8::1".parse().unwrap()))
    );
}

#[test]
fn uses_are_reported_per_haproxy_expression() {
    use gwd_sample::{MapUse, MatchKind, MatchSpec, PatternUse, ValueType};
    let mut maps = MemoryMaps::new([("u.map", "a 1\n")]);
    let mut env = ParseEnv::with_maps(&mut maps);
    Expr::parse_in("str(a),map(u.map)", &mut env).unwrap();
    Expr::parse_in("str(a),map_str(u.map)", &mut env).unwrap();
    Expr::parse_in("str(a),map_str_int(u.map)", &mut env).unwrap();
    Expr::parse_in("str(a),map_sub(u.map)", &mut env).unwrap();
    Expr::parse_in("str(a),map_end_key(u.map)", &mut env).unwrap();
    Acls::new()
        .define_in("k", "str(a) -M -f u.map", &mut env)
        .unwrap();
    let uses = maps.registry().get("u.map").unwrap().map.uses();
    let u = |k, v| PatternUse {
        spec: MatchSpec::new(k),
        values: v,
    };
    assert_eq!(
        uses,
        [
            u(MatchKind::Str, Some(ValueType::Str)),
            u(MatchKind::Str, Some(ValueType::Int)),
            u(MatchKind::Sub, Some(ValueType::Str)), // end_key folded into sub
            u(MatchKind::Str, None),
        ]
    );
    // Actions reach the reference without a reported use.
    let mut reg = gwd_sample::MapRegistry::new();
    let m = reg
        .resolve_with(
            "act.map",
            MapUse::MapAction,
            MatchSpec::new(MatchKind::Str),
            "x",
            |_| Ok(()),
        )
        .unwrap();
    assert!(m.map_ref().uses().is_empty());
    assert!(reg.get("act.map").unwrap().used_by_map);
    reg.resolve_with(
        "act.acl",
        MapUse::AclAction,
        MatchSpec::new(MatchKind::Str),
        "x",
        |_| Ok(()),
    )
    .unwrap();
    assert!(reg.get("act.acl").unwrap().used_by_acl);
    assert_eq!(
        reg.get("act.acl").unwrap().map.kind(),
        gwd_sample::RefKind::Acl
    );
}

// ------------------------------------------------------------------ virt@, opt@, -u

#[test]
fn virtual_and_optional_maps() {
    let mut maps = MemoryMaps::new([("present.map", "/a from-file\n")]);
    let mut env = ParseEnv::with_maps(&mut maps);
    let v = Expr::parse_in("path,map_beg(virt@routes,none)", &mut env).unwrap();
    let o = Expr::parse_in("path,map_beg(opt@missing.map,none)", &mut env).unwrap();
    let p = Expr::parse_in("path,map_beg(opt@present.map,none)", &mut env).unwrap();
    let f = Expr::parse_in("path,map_beg(file@present.map,none)", &mut env).unwrap();
    // A second use of the virtual map shares it.
    let v2 = Expr::parse_in("path,map_beg_key(virt@routes)", &mut env).unwrap();
    let r = req("h", "/a/b");
    assert_eq!(v.eval(&r), Some(Sample::from("none")));
    assert_eq!(o.eval(&r), Some(Sample::from("none")));
    assert_eq!(p.eval(&r), Some(Sample::from("from-file")));
    assert_eq!(f.eval(&r), Some(Sample::from("from-file")));
    let reg = maps.registry();
    // Runtime names: virt@ kept, opt@/file@ dropped; `file@x` and `x` share one reference.
    assert_eq!(reg.len(), 3);
    let names: Vec<&str> = reg.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["virt@routes", "missing.map", "present.map"]);
    assert!(reg.find("missing.map").unwrap().map.is_empty());
    assert!(
        reg.find("virt@routes")
            .unwrap()
            .description
            .starts_with("pattern loaded from file 'virt@routes' used by ")
    );
    reg.find("virt@routes")
        .unwrap()
        .map
        .add(b"/a", b"live")
        .unwrap();
    reg.find("missing.map")
        .unwrap()
        .map
        .add(b"/a", b"late")
        .unwrap();
    assert_eq!(v.eval(&r), Some(Sample::from("live")));
    assert_eq!(v2.eval(&r), Some(Sample::from("/a")));
    assert_eq!(o.eval(&r), Some(Sample::from("late")));
    // A plain missing file is still an error.
    let err = Expr::parse_in("path,map(missing.map)", &mut ParseEnv::with_maps(&mut maps));
    assert!(err.is_ok(), "already registered through opt@: shared");
    let err =
        Expr::parse_in("path,map(other.map)", &mut ParseEnv::with_maps(&mut maps)).unwrap_err();
    assert_eq!(
        err.message,
        "cannot read map file `other.map`: no such file"
    );
    // virt@ ACL files too.
    let mut env = ParseEnv::with_maps(&mut maps);
    let c = Condition::parse_in("{ src -f virt@deny }", &Acls::new(), &mut env).unwrap();
    assert!(!c.eval(&req("h", "/")));
    maps.registry()
        .find("virt@deny")
        .unwrap()
        .map
        .add(b"10.0.0.0/8", b"")
        .unwrap();
    assert!(c.eval(&req("h", "/")));
}

#[test]
fn acl_unique_ids_name_inline_patterns() {
    let mut maps = files();
    let mut env = ParseEnv::with_maps(&mut maps);
    let mut acls = Acls::new();
    // A file first (auto id), then forced ids.
    Expr::parse_in("req.hdr(host),map(hosts.map)", &mut env).unwrap();
    acls.define_in("blocked", "src -u 0 192.168.0.1", &mut env)
        .unwrap();
    acls.define_in("big", "int(5000) -u 5 gt 1000", &mut env)
        .unwrap();
    acls.define_in("empty", "path -u 9 -m beg", &mut env)
        .unwrap();
    let blocked = Condition::parse_in("blocked", &acls, &mut env).unwrap();
    let big = Condition::parse_in("big", &acls, &mut env).unwrap();
    let empty = Condition::parse_in("empty", &acls, &mut env).unwrap();
    assert!(!blocked.eval(&req("h", "/")));
    assert!(big.eval(&req("h", "/")), "gt 1000 is 1001:");
    assert!(!empty.eval(&req("h", "/admin")));
    let e = acls
        .define_in("dup", "src -u 5 10.0.0.1", &mut env)
        .unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::BadFlag);
    assert_eq!(e.message, "the id is already used");
    let e = acls
        .define_in("bad", "int(1) -u 11 gt x", &mut env)
        .unwrap_err();
    assert_eq!(
        e.message,
        "'x' is neither a number nor a supported operator"
    );
    let e = acls
        .define_in("bad", "src -u 12 nope", &mut env)
        .unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::BadPattern);
    assert_eq!(e.column, 11);
    let e = acls
        .define_in("bad", "int(1) -u 13 -m bool", &mut env)
        .unwrap_err();
    assert_eq!(e.message, "`-u` cannot be used with `-m bool`");
    let reg = maps.registry();
    // Forced ids win; hosts.map takes the smallest free one.
    let ids: Vec<(u32, &str)> = reg.iter().map(|m| (m.id, m.name.as_str())).collect();
    // Failed definitions registered nothing.
    assert_eq!(ids, [(0, ""), (1, "hosts.map"), (5, ""), (9, "")]);
    assert_eq!(
        reg.find("#0").unwrap().description,
        "acl 'src' file 'memory' line 0"
    );
    assert!(reg.find("#0").unwrap().used_by_acl);
    // The runtime API changes what the ACLs match.
    reg.find("#0").unwrap().map.add(b"10.1.2.3", b"").unwrap();
    assert!(blocked.eval(&req("h", "/")));
    reg.find("#9").unwrap().map.add(b"/adm", b"").unwrap();
    assert!(empty.eval(&req("h", "/admin")));
    reg.find("#5").unwrap().map.clear();
    assert!(!big.eval(&req("h", "/")));
}

/// A `set-map`-style upsert on a registry's reference is what the next
/// evaluation of an expression using the file sees.
#[test]
fn registry_changes_are_seen_by_the_next_evaluation() {
    let mut maps = files();
    let e = expr("req.hdr(host),map(hosts.map,none)", &mut maps);
    let reg = maps.registry();
    let m = reg.get("hosts.map").unwrap().map.clone();
    assert_eq!(
        e.eval(&req("late.example", "/")),
        Some(Sample::from("none"))
    );
    m.upsert(b"late.example", b"x").unwrap();
    assert_eq!(e.eval(&req("late.example", "/")), Some(Sample::from("x")));
}

#[test]
fn a_reload_keeps_unchanged_files_only_after_checking_every_use() {
    use gwd_sample::{MapOrigin, MapRegistry, MapUse, MatchKind, MatchSpec};
    let str_ = MatchSpec::new(MatchKind::Str);
    let beg = MatchSpec::new(MatchKind::Beg);
    let ports = |_: &str| Ok(b"http 80\n".to_vec());
    let hosts = |_: &str| Ok(b"api.local api\n".to_vec());
    let mut running = MapRegistry::new();
    running
        .resolve_read("ports.map", MapUse::Converter, str_, "map", ports)
        .unwrap();
    running
        .resolve_read("hosts.map", MapUse::Converter, str_, "map", hosts)
        .unwrap();
    // resolve_source cannot tell what it read: never kept.
    running
        .resolve_source("other.map", MapUse::Converter, str_, "map", |m, p| {
            m.load_map_str(p, b"a b\n").map(drop)
        })
        .unwrap();
    assert_eq!(running.get("other.map").unwrap().origin, MapOrigin::Unknown);
    let old_ports = running.get("ports.map").unwrap().map.clone();
    let old_hosts = running.get("hosts.map").unwrap().map.clone();

    // Pass 1: both unchanged files are only checked; the new uses read
    // stand-ins.
    let mut reg = MapRegistry::reusing(&running);
    let m = reg
        .resolve_read("hosts.map", MapUse::Converter, beg, "map", hosts)
        .unwrap();
    assert!(m.map_ref().is_empty(), "a stand-in");
    reg.resolve_read("ports.map", MapUse::ConverterInt, str_, "map", ports)
        .unwrap();
    reg.resolve_read("other.map", MapUse::Converter, str_, "map", |_| {
        Ok(b"a b\n".to_vec())
    })
    .unwrap();
    assert_eq!(old_hosts.specs(), [str_]);
    assert!(old_ports.value_types().is_empty());

    // A run-time change between the passes that breaks a use: nothing is
    // kept, nothing changes.
    old_ports.set(b"http", b"eighty").unwrap();
    let e = reg.clone().keep_reused().unwrap_err();
    assert!(
        e.contains("`ports.map` did not change since it was loaded")
            && e.contains("value 'eighty' is not an integer"),
        "{e}"
    );
    assert_eq!(old_hosts.specs(), [str_], "all or nothing");
    assert!(old_ports.value_types().is_empty());

    old_ports.set(b"http", b"80").unwrap();
    let rebinding = reg.keep_reused().unwrap();
    assert!(reg.get("hosts.map").unwrap().map.ptr_eq(&old_hosts));
    assert!(reg.get("ports.map").unwrap().map.ptr_eq(&old_ports));
    assert!(
        !reg.get("other.map")
            .unwrap()
            .map
            .ptr_eq(&running.get("other.map").unwrap().map)
    );
    assert_eq!(old_hosts.specs(), [str_, beg]);
    // Pass 2 reads nothing again.
    let m = reg
        .resolve_read(
            "hosts.map",
            MapUse::Converter,
            beg,
            "map",
            |_| unreachable!(),
        )
        .unwrap();
    assert_eq!(m.lookup(b"api.local.x").unwrap().value(), b"api");
    rebinding.finish();
    assert_eq!(
        old_ports.set(b"http", b"x").unwrap_err().to_string(),
        "unable to parse 'x'."
    );
}
