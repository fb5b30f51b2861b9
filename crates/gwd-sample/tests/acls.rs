//! ACL bodies: match methods, flags, default matches, shorthands, predefined ACLs.

mod common;

use common::{Ctx, tls_with_cert};
use gwd_sample::{Acls, Condition, TlsInfo};

/// Evaluates an inline ACL body against `ctx`.
fn m(body: &str, ctx: &Ctx) -> bool {
    let mut acls = Acls::new();
    acls.define("t", body)
        .unwrap_or_else(|e| panic!("{body}: {e}"));
    Condition::parse("t", &acls).unwrap().eval(ctx)
}

#[test]
fn str_exact_and_case() {
    let c = Ctx::get("/Admin");
    assert!(m("path /Admin", &c));
    assert!(!m("path /admin", &c));
    assert!(m("path -i /admin", &c));
    assert!(m("path -m str -i /ADMIN", &c));
    assert!(m("path_str /x /Admin", &c));
    assert!(!m("path", &c), "no pattern never matches");
}

#[test]
fn str_many_patterns_use_set_and_icase() {
    let pats: Vec<String> = (0..50).map(|i| format!("/p{i}")).collect();
    let body = format!("path -i {}", pats.join(" "));
    assert!(m(&body, &Ctx::get("/P17")));
    assert!(m(&body, &Ctx::get("/p49")));
    assert!(!m(&body, &Ctx::get("/p50")));
    let body = format!("path {}", pats.join(" "));
    assert!(!m(&body, &Ctx::get("/P17")));
    assert!(m(&body, &Ctx::get("/p17")));
}

#[test]
fn beg_end_sub() {
    let c = Ctx::get("/api/v1/Users.json");
    assert!(m("path_beg /api/", &c));
    assert!(m("path -m beg /static /api", &c));
    assert!(!m("path_beg /API", &c));
    assert!(m("path_beg -i /API", &c));
    assert!(m("path_end .json", &c));
    assert!(m("path_end -i .JSON", &c));
    assert!(!m("path_end .xml", &c));
    assert!(m("path_sub /v1/", &c));
    assert!(m("path_sub -i users", &c));
    assert!(!m("path_sub users", &c));
    assert!(!m("path_beg /api/v1/Users.json/more", &c));
}

#[test]
fn reg() {
    let c = Ctx::get("/img/a.PNG");
    assert!(
        !m(r"path_reg \.(png|jpg)$ -i", &c),
        "-i after a pattern is a pattern"
    );
    assert!(m(r"path_reg -i \.(png|jpg)$", &c));
    assert!(!m(r"path_reg \.(png|jpg)$", &c));
    assert!(m(r"path -m reg ^/img/ ^/css/", &c));
    assert!(m(r"url_reg ^/img/a\.PNG$", &c));
}

#[test]
fn dom_and_dir() {
    let c = Ctx::get("/static/img/logo.png").hdr("host", "www.Example.com");
    assert!(m(
        "hdr_dom(host) example.com",
        &Ctx::get("/").hdr("host", "www.example.com")
    ));
    assert!(m("hdr_dom(host) -i example.com", &c));
    assert!(!m("hdr_dom(host) -i ample.com", &c));
    assert!(m("path_dir img", &c));
    assert!(m("path_dir /static/img/", &c));
    assert!(!m("path_dir im", &c));
    assert!(m("path -m dir static", &c));
}

#[test]
fn len() {
    let c = Ctx::get("/abcd");
    assert!(m("path_len 5", &c));
    assert!(m("path_len gt 4", &c));
    assert!(!m("path_len lt 5", &c));
    assert!(m("path -m len 1:10", &c));
    assert!(m("hdr_len(x) 0", &Ctx::get("/").hdr("x", "")));
}

#[test]
fn int_operators_and_ranges() {
    let c = Ctx::get("/").dst("10.0.0.1:8443");
    assert!(m("dst_port 8443", &c));
    assert!(m("dst_port 80 443 8443", &c));
    assert!(m("dst_port eq 8443", &c));
    assert!(m("dst_port ge 8443", &c));
    assert!(!m("dst_port gt 8443", &c));
    assert!(m("dst_port le 8443", &c));
    assert!(!m("dst_port lt 8443", &c));
    assert!(m("dst_port 8000:9000", &c));
    assert!(m("dst_port 8443:", &c));
    assert!(m("dst_port :8443", &c));
    assert!(!m("dst_port 1:1024", &c));
    assert!(m("dst_port lt 100 8443", &c));
    assert!(m("int(-5) -10:-1", &c));
    assert!(m("int(-5) -- -5", &c));
    assert!(m("int(-5) -5", &c));
    assert!(!m("int(9223372036854775807) gt 9223372036854775807", &c));
}

#[test]
fn hdr_val_and_hdr_cnt() {
    let c = Ctx::get("/")
        .hdr("content-length", "120")
        .hdr("x", "a")
        .hdr("x", "b,c");
    assert!(m("hdr_val(content-length) gt 100", &c));
    assert!(!m("req.hdr_val(content-length) lt 100", &c));
    assert!(m("hdr_cnt(x) 3", &c));
    assert!(m("req.hdr_cnt(x) gt 2", &c));
    assert!(m("hdr_cnt(y) 0", &c));
}

#[test]
fn ip_and_cidr() {
    let c = Ctx::get("/").src("192.168.1.20:5000");
    assert!(m("src 192.168.1.20", &c));
    assert!(m("src 10.0.0.0/8 192.168.0.0/16", &c));
    assert!(m("src 192.168.1.0/255.255.255.0", &c));
    assert!(!m("src 192.168.2.0/24", &c));
    assert!(!m("src ::1", &c));
    let v6 = Ctx::get("/").src("[2001:db8::5]:1");
    assert!(m("src 2001:db8::/32", &v6));
    assert!(!m("src 10.0.0.0/8", &v6));
    let mapped = Ctx::get("/").src("[::ffff:10.1.2.3]:1");
    assert!(m("src 10.0.0.0/8", &mapped));
    let xff = Ctx::get("/").hdr("x-forwarded-for", "203.0.113.9, 10.0.0.7");
    assert!(
        m("hdr_ip(x-forwarded-for) 10.0.0.0/8", &xff),
        "every occurrence is tried"
    );
    assert!(m("req.hdr(x-forwarded-for) -m ip 203.0.113.0/24", &xff));
}

#[test]
fn bool_and_found() {
    let clear = Ctx::get("/");
    let tls = Ctx::get("/").tls(tls_with_cert());
    assert!(m("ssl_fc", &tls));
    assert!(!m("ssl_fc", &clear));
    assert!(m("ssl_c_used", &tls));
    assert!(
        m("ssl_fc 1", &tls),
        "bool fetch with a pattern compares as int"
    );
    assert!(m("ssl_fc 0", &clear));
    assert!(m("int(2) -m bool", &clear));
    assert!(!m("int(0) -m bool", &clear));
    assert!(m("ssl_fc_sni -m found", &tls));
    assert!(!m("ssl_fc_sni -m found", &clear));
    assert!(!m(
        "ssl_fc_sni -m found",
        &Ctx::get("/").tls(TlsInfo::default())
    ));
    assert!(m("req.hdr(x) -m found", &Ctx::get("/").hdr("x", "")));
    assert!(!m("req.hdr(x) -m found", &clear));
}

#[test]
fn every_header_occurrence_is_tried() {
    let c = Ctx::get("/")
        .hdr("x-role", "user, admin")
        .hdr("x-role", "guest");
    assert!(m("hdr(x-role) admin", &c));
    assert!(m("req.hdr(x-role) guest", &c));
    assert!(
        !m("hdr(x-role,1) admin", &c),
        "an explicit occurrence pins one value"
    );
    assert!(m("hdr(x-role,2) admin", &c));
    assert!(!m("req.fhdr(x-role) admin", &c), "fhdr does not split");
    assert!(m("req.fhdr(x-role) -m sub admin", &c));
    assert!(m("hdr_beg(x-role) gu", &c));
    assert!(m("req.hdr_end(x-role) min", &c));
    let cook = Ctx::get("/").hdr("cookie", "a=1; a=2");
    assert!(m("cook(a) 1", &cook));
    assert!(m("cook(a) 2", &cook));
    let q = Ctx::get("/?id=1&id=2");
    assert!(m("urlp(id) 2", &q));
    assert!(m("urlp_val(id) gt 1", &q));
}

#[test]
fn converters_apply_before_matching() {
    let c = Ctx::get("/").hdr("host", "API.example.com:443");
    assert!(m("req.hdr(host),field(1,:),lower api.example.com", &c));
    assert!(m("req.hdr(host),lower -m beg api.", &c));
    assert!(m("req.hdr(host),len 19", &c));
    assert!(m("req.hdr(host),field(2,:) -m int 443", &c));
}

#[test]
fn missing_samples_never_match() {
    let c = Ctx::default();
    for body in [
        "path /",
        "path_beg /",
        "hdr(host) x",
        "src 0.0.0.0/0",
        "dst_port ge 0",
        "path -m found",
        "path_len ge 0",
    ] {
        assert!(!m(body, &c), "{body}");
    }
}

#[test]
fn quoted_and_escaped_patterns() {
    let c = Ctx::get("/").hdr("user-agent", "Mozilla/5.0 (X11; Linux)");
    assert!(m(r#"hdr(user-agent) -m sub "(X11; Linux)""#, &c));
    assert!(m(r"hdr(user-agent) -m sub X11;\ Linux", &c));
    assert!(m("hdr(user-agent) -m sub 'Linux)'", &c));
    let c = Ctx::get("/a b");
    assert!(m(r"path /a\x20b", &c));
}

#[test]
fn method_and_other_string_fetches() {
    let c = Ctx::get("/")
        .method("PUT")
        .tls(tls_with_cert())
        .be("app", 2)
        .fe("www", 1);
    assert!(m("method PUT POST", &c));
    assert!(m("ssl_fc_sni www.example.com", &c));
    assert!(m("ssl_fc_sni_end .example.com", &c));
    assert!(m("ssl_c_s_dn(CN) client1", &c));
    assert!(
        !m("ssl_c_s_dn(OU) Web", &c),
        "without occ the first OU is used"
    );
    assert!(m("be_name app", &c));
    assert!(m("be_id 2", &c));
    assert!(m("fe_name www", &c));
    assert!(m("fe_id 1", &c));
    assert!(m("query -m found", &Ctx::get("/?")));
    assert!(m(
        "base_beg example.com/",
        &Ctx::get("/x").hdr("host", "example.com")
    ));
}

#[test]
fn redefinition_ors_bodies() {
    let mut acls = Acls::new();
    acls.define("blocked", "path_beg /admin").unwrap();
    acls.define("blocked", "src 10.0.0.0/8").unwrap();
    let c = Condition::parse("blocked", &acls).unwrap();
    assert!(c.eval(&Ctx::get("/admin/x")));
    assert!(c.eval(&Ctx::get("/ok").src("10.1.1.1:1")));
    assert!(!c.eval(&Ctx::get("/ok").src("11.1.1.1:1")));
    assert_eq!(acls.names().collect::<Vec<_>>(), ["blocked"]);
    assert_eq!(acls.len(), 1);
}

#[test]
fn predefined_acls() {
    let acls = Acls::new();
    let t = |cond: &str, c: &Ctx| Condition::parse(cond, &acls).unwrap().eval(c);
    let get = Ctx::get("/x").src("127.0.0.1:1");
    assert!(t("TRUE", &get));
    assert!(!t("FALSE", &get));
    assert!(t("HTTP", &get));
    assert!(!t("HTTP", &Ctx::default()));
    assert!(t("HTTP_1.1", &get));
    assert!(!t("HTTP_1.0", &get));
    let mut h2 = Ctx::get("/");
    h2.version = Some("HTTP/2.0".into());
    assert!(t("HTTP_2.0", &h2));
    assert!(t("METH_GET", &get));
    assert!(
        t("METH_GET", &Ctx::get("/").method("HEAD")),
        "METH_GET also matches HEAD"
    );
    assert!(t("METH_HEAD", &Ctx::get("/").method("HEAD")));
    assert!(t("METH_POST", &Ctx::get("/").method("POST")));
    assert!(t("METH_PUT", &Ctx::get("/").method("PUT")));
    assert!(t("METH_DELETE", &Ctx::get("/").method("DELETE")));
    assert!(t("METH_OPTIONS", &Ctx::get("/").method("OPTIONS")));
    assert!(t("METH_CONNECT", &Ctx::get("/").method("CONNECT")));
    assert!(t("METH_TRACE", &Ctx::get("/").method("TRACE")));
    assert!(!t("METH_POST", &get));
    assert!(t("LOCALHOST", &get));
    assert!(t("LOCALHOST", &Ctx::get("/").src("[::1]:1")));
    assert!(!t("LOCALHOST", &Ctx::get("/").src("10.0.0.1:1")));
    assert!(t("HTTP_URL_SLASH", &get));
    assert!(t("HTTP_URL_ABS", &Ctx::get("http://x/y")));
    assert!(t("HTTP_URL_STAR", &Ctx::get("*")));
    assert!(t("HTTP_CONTENT", &Ctx::get("/").hdr("content-length", "3")));
    assert!(!t("HTTP_CONTENT", &get));
    for n in Acls::predefined_names() {
        Condition::parse(n, &acls).unwrap();
    }
}

#[test]
fn user_acl_shadows_predefined() {
    let mut acls = Acls::new();
    acls.define("TRUE", "always_false").unwrap();
    assert!(
        !Condition::parse("TRUE", &acls)
            .unwrap()
            .eval(&Ctx::default())
    );
}
