//! Condition combination: `!`, implicit AND, `||`/`or`, inline bodies.

mod common;

use common::Ctx;
use gwd_sample::{Acls, Condition};

fn acls() -> Acls {
    let mut a = Acls::new();
    a.define("t1", "always_true").unwrap();
    a.define("t2", "always_true").unwrap();
    a.define("f1", "always_false").unwrap();
    a.define("f2", "always_false").unwrap();
    a.define("missing", "req.hdr(nope) x").unwrap();
    a
}

fn ev(cond: &str) -> bool {
    Condition::parse(cond, &acls())
        .unwrap_or_else(|e| panic!("{cond}: {e}"))
        .eval(&Ctx::default())
}

#[test]
fn single_terms_and_negation() {
    assert!(ev("t1"));
    assert!(!ev("f1"));
    assert!(ev("!f1"));
    assert!(ev("! f1"));
    assert!(!ev("!t1"));
    assert!(ev("!!t1"));
    assert!(ev("! ! t1"));
}

#[test]
fn and_by_juxtaposition() {
    assert!(ev("t1 t2"));
    assert!(!ev("t1 f1"));
    assert!(!ev("f1 t1"));
    assert!(ev("t1 !f1 t2"));
}

#[test]
fn or_binds_looser_than_and() {
    // f1 t1 || t2  ==  (f1 AND t1) OR t2
    assert!(ev("f1 t1 || t2"));
    // t1 || f1 f2  ==  t1 OR (f1 AND f2)
    assert!(ev("t1 || f1 f2"));
    // f1 || t1 f2  ==  f1 OR (t1 AND f2)
    assert!(!ev("f1 || t1 f2"));
    // t1 f1 || f2 t2  ==  false OR false
    assert!(!ev("t1 f1 || f2 t2"));
    assert!(ev("f1 or t1"));
    assert!(ev("f1 || f2 || t1"));
    assert!(!ev("f1 || f2 or !t1"));
}

#[test]
fn missing_sample_is_false_and_its_negation_true() {
    assert!(!ev("missing"));
    assert!(ev("!missing"));
}

#[test]
fn negate_for_unless() {
    let c = Condition::parse("t1 f1", &acls()).unwrap();
    assert!(!c.eval(&Ctx::default()));
    let n = c.negate();
    assert!(n.eval(&Ctx::default()));
    assert!(!n.negate().eval(&Ctx::default()));
}

#[test]
fn inline_bodies() {
    let c = Ctx::get("/api/x").hdr("host", "a.example");
    let acls = acls();
    let t = |s: &str| {
        Condition::parse(s, &acls)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .eval(&c)
    };
    assert!(t("{ path_beg /api }"));
    assert!(!t("!{ path_beg /api }"));
    assert!(!t("! { path_beg /api }"));
    assert!(t("{ path_beg /api } { hdr(host) a.example }"));
    assert!(t("{ path_beg /nope } || { hdr(host) -i A.EXAMPLE }"));
    assert!(t("t1 { path -m sub x }"));
    assert!(t("{ path_beg /api /other } t1"));
    assert!(t(r#"{ path "}" } || t1"#), "a quoted brace is a pattern");
    assert!(t("{ req.hdr(host),field(1,.) a }"));
}

#[test]
fn condition_does_not_borrow_acls() {
    let c = {
        let mut a = Acls::new();
        a.define("x", "path /x").unwrap();
        Condition::parse("x", &a).unwrap()
    };
    assert!(c.eval(&Ctx::get("/x")));
    let shared = std::sync::Arc::new(c);
    let s2 = shared.clone();
    let h = std::thread::spawn(move || s2.eval(&Ctx::get("/x")));
    assert!(h.join().unwrap());
}

#[test]
fn later_definitions_do_not_change_parsed_conditions() {
    let mut a = Acls::new();
    a.define("x", "path /x").unwrap();
    let c = Condition::parse("x", &a).unwrap();
    a.define("x", "path /y").unwrap();
    assert!(!c.eval(&Ctx::get("/y")));
    assert!(Condition::parse("x", &a).unwrap().eval(&Ctx::get("/y")));
}
