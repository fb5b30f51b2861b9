//! Parse errors: exact column, kind and message.

use gwd_sample::{Acls, Condition, Expr, LogFormat, ParseError, ParseErrorKind as K};

fn expr_err(s: &str) -> ParseError {
    Expr::parse(s).expect_err(s)
}

fn body_err(s: &str) -> ParseError {
    Acls::new().define("a", s).expect_err(s)
}

fn cond_err(s: &str, acls: &Acls) -> ParseError {
    Condition::parse(s, acls).expect_err(s)
}

fn lf_err(s: &str) -> ParseError {
    LogFormat::parse(s).expect_err(s)
}

#[track_caller]
fn check(e: &ParseError, col: usize, kind: K, msg: &str) {
    assert_eq!(
        (e.column, e.kind(), e.message.as_str()),
        (col, kind, msg),
        "{e:?}"
    );
}

#[test]
fn display_includes_column() {
    let e = expr_err("pth");
    assert_eq!(e.to_string(), "column 1: unknown sample fetch `pth`");
    assert_eq!(e.help.as_deref(), Some("did you mean `path`?"));
}

#[test]
fn unknown_fetch_and_converter() {
    check(
        &expr_err("  req.hdrr(host)"),
        3,
        K::UnknownFetch,
        "unknown sample fetch `req.hdrr`",
    );
    assert_eq!(
        expr_err("req.hdrr(host)").help.as_deref(),
        Some("did you mean `req.hdr`?")
    );
    check(
        &expr_err("path,lowr"),
        6,
        K::UnknownConverter,
        "unknown converter `lowr`",
    );
    assert_eq!(
        expr_err("path,lowr").help.as_deref(),
        Some("did you mean `lower`?")
    );
    check(
        &expr_err("path,lower,feild(1,/)"),
        12,
        K::UnknownConverter,
        "unknown converter `feild`",
    );
    assert_eq!(
        expr_err("path,src").help.as_deref(),
        Some("`src` is a sample fetch, not a converter")
    );
    assert_eq!(
        expr_err("lower").help.as_deref(),
        Some("`lower` is a converter; apply it after a fetch, e.g. `path,lower`")
    );
    let e = expr_err("path_beg");
    assert_eq!(e.kind(), K::UnknownFetch);
    assert!(e.help.unwrap().contains("ACL shorthand"));
    check(
        &expr_err("zzzzzz"),
        1,
        K::UnknownFetch,
        "unknown sample fetch `zzzzzz`",
    );
    assert_eq!(expr_err("zzzzzz").help, None);
    check(
        &body_err("path_bgn /a"),
        1,
        K::UnknownFetch,
        "unknown sample fetch `path_bgn`",
    );
    assert_eq!(
        body_err("path_bgn /a").help.as_deref(),
        Some("did you mean `path_beg`?")
    );
    check(
        &body_err("src_beg 1"),
        1,
        K::UnknownFetch,
        "unknown sample fetch `src_beg`: `src` returns an ip, not a string",
    );
}

#[test]
fn argument_errors() {
    check(
        &expr_err("req.hdr"),
        1,
        K::BadArgs,
        "`req.hdr` expects at least 1 argument, got 0",
    );
    assert_eq!(
        expr_err("req.hdr").help.as_deref(),
        Some("usage: req.hdr(<name>[,<occ>])")
    );
    check(
        &expr_err("req.hdr(a,1,2)"),
        13,
        K::BadArgs,
        "`req.hdr` expects at most 2 arguments, got 3",
    );
    check(
        &expr_err("path(x)"),
        6,
        K::BadArgs,
        "`path` takes no argument",
    );
    check(
        &expr_err("req.hdr(host,x)"),
        14,
        K::BadInt,
        "`req.hdr`: invalid integer `x`",
    );
    check(
        &expr_err("int(1x)"),
        5,
        K::BadInt,
        "`int`: invalid integer `1x`",
    );
    check(
        &expr_err("path,field(0,/)"),
        12,
        K::BadArgs,
        "`field`: index must not be 0 (1 is the first, -1 the last)",
    );
    check(
        &expr_err("path,field(1)"),
        6,
        K::BadArgs,
        "`field` expects at least 2 arguments, got 1",
    );
    check(
        &expr_err("path,field(1,)"),
        14,
        K::BadArgs,
        "`field` expects a list of delimiter characters, got an empty argument",
    );
    check(
        &expr_err("path,lower(1)"),
        12,
        K::BadArgs,
        "`lower` takes no argument",
    );
    check(
        &expr_err("ipv4(1.2.3)"),
        6,
        K::BadIp,
        "invalid IP address `1.2.3`",
    );
    check(
        &expr_err("src,ipmask(40)"),
        12,
        K::BadIp,
        "invalid IPv4 mask `40`",
    );
    check(
        &expr_err("ssl_fc,ipmask(8)"),
        8,
        K::TypeMismatch,
        "converter `ipmask` expects an ip input but receives a boolean",
    );
    check(
        &expr_err("path,regsub(a,b,x)"),
        17,
        K::BadArgs,
        "invalid regsub flag `x`, only `i` and `g` are supported",
    );
    check(
        &expr_err("path,regsub([,b)"),
        13,
        K::BadRegex,
        "invalid regex `[`",
    );
}

#[test]
fn unclosed_and_syntax() {
    check(&expr_err("req.hdr(host"), 8, K::Unclosed, "unclosed `(`");
    check(
        &expr_err("path,field(1,\"/)"),
        14,
        K::Unclosed,
        "unclosed quote `\"`",
    );
    check(
        &expr_err("path lower"),
        5,
        K::Syntax,
        "unexpected ` ` after the expression",
    );
    check(
        &expr_err("path, lower"),
        6,
        K::Syntax,
        "expected a converter name after `,`",
    );
    check(
        &expr_err("(x)"),
        1,
        K::Syntax,
        "unexpected `(`: expected a sample fetch name",
    );
    check(&expr_err("   "), 4, K::Empty, "expected a sample fetch");
    check(
        &body_err(""),
        1,
        K::Empty,
        "empty ACL body: expected a sample fetch",
    );
}

#[test]
fn columns_count_characters_not_bytes() {
    check(
        &body_err("str(é) -m foo x"),
        11,
        K::UnknownMatch,
        "unknown match method `foo`",
    );
    check(
        &Condition::parse("{ str(éé) x } zz", &Acls::new()).unwrap_err(),
        15,
        K::UnknownAcl,
        "unknown ACL `zz`",
    );
}

#[test]
fn acl_body_errors() {
    check(
        &body_err("path -m begin /a"),
        9,
        K::UnknownMatch,
        "unknown match method `begin`",
    );
    assert_eq!(
        body_err("path -m begin /a").help.as_deref(),
        Some("did you mean `beg`?")
    );
    check(
        &body_err("path -m"),
        6,
        K::BadFlag,
        "`-m` expects a match method",
    );
    check(&body_err("path -x /a"), 6, K::BadFlag, "unknown flag `-x`");
    check(
        &body_err("path -f /etc/list"),
        9,
        K::NoMaps,
        "pattern file `/etc/list` is not available here",
    );
    check(
        &body_err("path -u 3 /a"),
        6,
        K::NoMaps,
        "ACL unique ids (`-u`) are not available here",
    );
    check(
        &body_err("path -u x /a"),
        9,
        K::BadFlag,
        "the argument of -u must be an integer",
    );
    check(
        &body_err("path -u"),
        6,
        K::BadFlag,
        "`-u` expects the ACL's unique id",
    );
    check(
        &body_err("path -f"),
        6,
        K::BadFlag,
        "`-f` expects a file name",
    );
    check(
        &body_err("path_reg ^/(a"),
        10,
        K::BadRegex,
        "invalid regex `^/(a`",
    );
    assert!(body_err("path_reg ^/(a").help.is_some());
    check(
        &body_err("path -i -m reg ok [z-a]"),
        19,
        K::BadRegex,
        "invalid regex `[z-a]`",
    );
    check(
        &body_err("src 10.0.0.0/8 10.0.0.256"),
        16,
        K::BadIp,
        "invalid IP address or network `10.0.0.256`",
    );
    check(
        &body_err("src 10.0.0.0/33"),
        5,
        K::BadIp,
        "invalid IP address or network `10.0.0.0/33`",
    );
    check(
        &body_err("src example.com"),
        5,
        K::BadIp,
        "invalid IP address or network `example.com`",
    );
    check(
        &body_err("dst_port 80 8o"),
        13,
        K::BadInt,
        "invalid integer `8o`",
    );
    check(
        &body_err("dst_port 1:x"),
        12,
        K::BadInt,
        "invalid integer `x`",
    );
    check(
        &body_err("dst_port 9:1"),
        10,
        K::BadInt,
        "empty range `9:1`: 9 > 1",
    );
    check(
        &body_err("dst_port ge"),
        10,
        K::BadInt,
        "operator `ge` expects an integer after it",
    );
    check(
        &body_err("path_len abc"),
        10,
        K::BadInt,
        "invalid integer `abc`",
    );
    check(
        &body_err("path -m found /x"),
        15,
        K::BadPattern,
        "match method `found` takes no pattern",
    );
    check(
        &body_err("ssl_fc -m bool 1"),
        16,
        K::BadPattern,
        "match method `bool` takes no pattern",
    );
    check(&body_err("path 'abc"), 6, K::Unclosed, "unclosed quote `'`");
}

#[test]
fn acl_name_errors() {
    let e = Acls::new().define("bad name", "path /").unwrap_err();
    check(
        &e,
        4,
        K::BadAclName,
        "invalid character ` ` in ACL name `bad name`",
    );
    let e = Acls::new().define("", "path /").unwrap_err();
    check(&e, 1, K::BadAclName, "empty ACL name");
    Acls::new().define("ok_name-1.2:x", "path /").unwrap();
}

#[test]
fn condition_errors() {
    let mut acls = Acls::new();
    acls.define("is_api", "path_beg /api").unwrap();
    acls.define("is_static", "path_beg /static").unwrap();
    let e = cond_err("is_api || is_statc", &acls);
    check(&e, 11, K::UnknownAcl, "unknown ACL `is_statc`");
    assert_eq!(e.help.as_deref(), Some("did you mean `is_static`?"));
    let e = cond_err("!METH_PSOT", &acls);
    check(&e, 2, K::UnknownAcl, "unknown ACL `METH_PSOT`");
    assert_eq!(e.help.as_deref(), Some("did you mean `METH_POST`?"));
    let e = cond_err("completely_different", &acls);
    assert_eq!(e.help.as_deref(), Some("defined ACLs: is_api, is_static"));
    let e = cond_err("nothing", &Acls::new());
    assert!(e.help.unwrap().starts_with("no ACL is defined"));
    let e = cond_err("if is_api", &acls);
    check(&e, 1, K::UnknownAcl, "unknown ACL `if`");
    assert!(e.help.unwrap().contains("not part of the condition"));
    check(&cond_err("", &acls), 1, K::Empty, "empty condition");
    check(&cond_err("  ", &acls), 3, K::Empty, "empty condition");
    check(
        &cond_err("|| is_api", &acls),
        1,
        K::Syntax,
        "`||` needs a condition on its left",
    );
    check(
        &cond_err("is_api ||", &acls),
        8,
        K::Syntax,
        "`||` needs a condition on its right",
    );
    check(
        &cond_err("is_api or", &acls),
        8,
        K::Syntax,
        "`or` needs a condition on its right",
    );
    check(
        &cond_err("is_api || || is_api", &acls),
        11,
        K::Syntax,
        "`||` needs a condition on its left",
    );
    check(
        &cond_err("is_api !", &acls),
        8,
        K::Syntax,
        "`!` must be followed by an ACL",
    );
    check(
        &cond_err("! || is_api", &acls),
        1,
        K::Syntax,
        "`!` must be followed by an ACL",
    );
    check(&cond_err("is_api }", &acls), 8, K::Syntax, "unexpected `}`");
}

#[test]
fn inline_errors() {
    let acls = Acls::new();
    check(
        &cond_err("TRUE { path /a", &acls),
        6,
        K::Unclosed,
        "unclosed `{`",
    );
    check(
        &cond_err("{ path /a}", &acls),
        1,
        K::Unclosed,
        "unclosed `{`",
    );
    check(&cond_err("{", &acls), 1, K::Unclosed, "unclosed `{`");
    check(
        &cond_err("{ }", &acls),
        1,
        K::Empty,
        "empty inline ACL `{ }`: expected a sample fetch",
    );
    check(
        &cond_err("{ pth /a }", &acls),
        3,
        K::UnknownFetch,
        "unknown sample fetch `pth`",
    );
    check(
        &cond_err("TRUE { src 1.2.3.4/40 }", &acls),
        12,
        K::BadIp,
        "invalid IP address or network `1.2.3.4/40`",
    );
    check(
        &cond_err("{path /a }", &acls),
        1,
        K::UnknownAcl,
        "unknown ACL `{path`",
    );
    assert!(
        cond_err("{path /a }", &acls)
            .help
            .unwrap()
            .contains("separate words")
    );
}

#[test]
fn log_format_errors() {
    check(
        &lf_err("abc %[pth]"),
        7,
        K::UnknownFetch,
        "unknown sample fetch `pth`",
    );
    check(
        &lf_err("abc %[path,lowr] x"),
        12,
        K::UnknownConverter,
        "unknown converter `lowr`",
    );
    check(&lf_err("abc %[path"), 5, K::Unclosed, "unclosed `[`");
    check(&lf_err("100%"), 4, K::Syntax, "lone `%`");
    check(&lf_err("a %20 b"), 3, K::Syntax, "lone `%`");
    check(
        &lf_err("%ST"),
        1,
        K::Unsupported,
        "`%ST` is not available here",
    );
    check(
        &lf_err("x %zz"),
        3,
        K::Syntax,
        "unknown log-format alias `%zz`",
    );
    check(
        &lf_err("%{+Z}[path]"),
        3,
        K::BadFlag,
        "unsupported log-format option `Z`",
    );
    check(&lf_err("%{+Q[path]"), 1, K::Unclosed, "unclosed `{`");
    check(&lf_err("é%[]"), 4, K::Empty, "expected a sample fetch");
}
