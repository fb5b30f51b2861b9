//! HAProxy's observed answers (shared/specs/map-semantics.md), one test per
//! rule.

use std::net::IpAddr;

use gwd_maps::{LoadError, MapError, MapRef, MatchKind, MatchSpec, Matcher, RefKind};

fn map_with(spec: MatchSpec, text: &str) -> (MapRef, Matcher) {
    let map = MapRef::new("t.map", RefKind::Map);
    let m = map.matcher(spec).unwrap();
    map.load_map_str("t.map", text.as_bytes()).unwrap();
    (map, m)
}

fn val(m: &Matcher, input: &str) -> Option<String> {
    m.lookup(input.as_bytes())
        .map(|e| e.value_str().into_owned())
}

fn key(m: &Matcher, input: &str) -> Option<String> {
    m.lookup(input.as_bytes()).map(|e| e.key_str().into_owned())
}

#[test]
fn file_format_corners() {
    let text = "# comment\n  # indented\n\n \t \r\n/api   v 1  \t\r\nkeyonly\nback\\slash a\\b\n";
    let (map, m) = map_with(MatchSpec::new(MatchKind::Str), text);
    // An indented '#' line is an entry with key '#'.
    assert_eq!(val(&m, "#"), Some("indented".into()));
    // Inner blanks kept, trailing blanks and CR removed.
    assert_eq!(val(&m, "/api"), Some("v 1".into()));
    // Key-only line: found, value "".
    assert_eq!(val(&m, "keyonly"), Some(String::new()));
    // Backslashes are literal.
    assert_eq!(val(&m, "back\\slash"), Some("a\\b".into()));
    assert_eq!(val(&m, "# comment"), None);
    assert_eq!(map.len(), 4);
    let shown: Vec<_> = map
        .entries()
        .iter()
        .map(|e| e.key_str().into_owned())
        .collect();
    assert_eq!(shown, ["#", "/api", "keyonly", "back\\slash"]);
}

#[test]
fn acl_file_format() {
    let acl = MapRef::new("t.acl", RefKind::Acl);
    let m = acl.matcher(MatchSpec::new(MatchKind::Str)).unwrap();
    acl.load_acl_str("t.acl", b"#c\n  /admin\r\n\n/a b\n")
        .unwrap();
    assert!(m.matches(b"/admin"));
    assert!(m.matches(b"/a b"));
    assert_eq!(acl.len(), 2);
}

#[test]
fn str_first_line_wins_and_added_duplicate_stays_hidden() {
    let (map, m) = map_with(MatchSpec::new(MatchKind::Str), "k one\nk two\n");
    assert_eq!(val(&m, "k"), Some("one".into()));
    map.add(b"k", b"three").unwrap();
    assert_eq!(val(&m, "k"), Some("one".into()));
    assert_eq!(val(&m, "K"), None, "str is case-sensitive");
}

#[test]
fn beg_longest_wins_but_beg_i_takes_first_line() {
    let text = "/a short\n/a/b/c longest\n/a/b mid\n/a/b/c dup\n";
    let (map, m) = map_with(MatchSpec::new(MatchKind::Beg), text);
    assert_eq!(val(&m, "/a/b/c/d"), Some("longest".into()));
    assert_eq!(val(&m, "/a/b/x"), Some("mid".into()));
    assert_eq!(val(&m, "/z"), None);
    let mi = map.matcher(MatchSpec::icase(MatchKind::Beg)).unwrap();
    assert_eq!(val(&mi, "/A/B/C/D"), Some("short".into()));
    // An added longer key wins for beg; an added duplicate does not.
    map.add(b"/a/b/c/d", b"added").unwrap();
    map.add(b"/a/b", b"dup-mid").unwrap();
    assert_eq!(val(&m, "/a/b/c/d/e"), Some("added".into()));
    assert_eq!(val(&m, "/a/b/x"), Some("mid".into()));
}

#[test]
fn list_kinds_take_first_line_not_longest() {
    let (_, end) = map_with(MatchSpec::new(MatchKind::End), ".com com\nexample.com ex\n");
    assert_eq!(val(&end, "www.example.com"), Some("com".into()));
    let (_, sub) = map_with(MatchSpec::new(MatchKind::Sub), "b first\nabc second\n");
    assert_eq!(val(&sub, "xabcx"), Some("first".into()));
    let (_, dir) = map_with(MatchSpec::new(MatchKind::Dir), "b first\na/b second\n");
    assert_eq!(val(&dir, "/a/b/c"), Some("first".into()));
    let (_, reg) = map_with(MatchSpec::new(MatchKind::Reg), "b+ first\n^a second\n");
    assert_eq!(val(&reg, "abb"), Some("first".into()));
    let (_, int) = map_with(MatchSpec::new(MatchKind::Int), "1:100 wide\n5 exact\n");
    assert_eq!(val(&int, "5"), Some("wide".into()));
}

#[test]
fn dom_and_dir_boundaries() {
    let (_, dom) = map_with(
        MatchSpec::new(MatchKind::Dom),
        ".example.com. ex\n..org org\nb.c inner\n",
    );
    assert_eq!(val(&dom, "www.example.com"), Some("ex".into()));
    assert_eq!(val(&dom, "example.com:8080"), Some("ex".into()));
    assert_eq!(val(&dom, "example.com/path?x"), Some("ex".into()));
    assert_eq!(val(&dom, "notexample.com"), None);
    assert_eq!(val(&dom, "example.community"), None);
    assert_eq!(val(&dom, "x.org"), Some("org".into()));
    assert_eq!(val(&dom, "a.b.c.d"), Some("inner".into()));
    assert_eq!(val(&dom, "ab.c"), None);
    let (_, dir) = map_with(MatchSpec::new(MatchKind::Dir), "/img/ img\n");
    assert_eq!(val(&dir, "/static/img/a.png"), Some("img".into()));
    assert_eq!(
        val(&dir, "/static/img.png"),
        None,
        "'.' is not a dir delimiter"
    );
    assert_eq!(val(&dir, "img?x=1"), Some("img".into()));
    let (_, di) = map_with(MatchSpec::icase(MatchKind::Dom), "Example.COM ex\n");
    assert_eq!(val(&di, "WWW.example.com"), Some("ex".into()));
}

#[test]
fn delimiter_only_keys_match_nothing() {
    let (_, dom) = map_with(MatchSpec::new(MatchKind::Dom), ". dot\n.. dots\n");
    for input in ["example.com.", "example.com", ".", ""] {
        assert_eq!(val(&dom, input), None, "{input}");
    }
    let (_, dir) = map_with(MatchSpec::new(MatchKind::Dir), "/ slash\n");
    assert_eq!(val(&dir, "a/"), None);
}

#[test]
fn int_keys_and_inputs() {
    let (_, m) = map_with(
        MatchSpec::new(MatchKind::Int),
        "-5 le5\n10:20 range\n30- ge30\n--100 le-100\n007 seven\n",
    );
    assert_eq!(val(&m, "5"), Some("le5".into()));
    assert_eq!(val(&m, "-5"), Some("le5".into()), "-5 means <= 5");
    assert_eq!(val(&m, "6"), None);
    assert_eq!(val(&m, "7"), Some("seven".into()), "007 is 7");
    assert_eq!(val(&m, "15"), Some("range".into()));
    assert_eq!(
        val(&m, "99999999999999999999"),
        Some("ge30".into()),
        "saturates"
    );
    assert_eq!(val(&m, "12abc"), Some("range".into()));
    assert_eq!(val(&m, "abc"), Some("le5".into()), "abc is 0");
    assert_eq!(val(&m, "1e3"), Some("le5".into()), "1e3 is 1");
    assert_eq!(
        val(&m, "-200"),
        Some("le5".into()),
        "first line wins over --100"
    );
    assert_eq!(m.lookup_int(-200).unwrap().value(), b"le5");
    for bad in ["+5", "0x10", "5.5", "-1:2", "10:5", "9223372036854775808"] {
        let map = MapRef::new("bad.map", RefKind::Map);
        map.matcher(MatchSpec::new(MatchKind::Int)).unwrap();
        let err = map
            .load_map_str("bad.map", format!("1 ok\n\n{bad} x\n").as_bytes())
            .unwrap_err();
        assert_eq!(err.line(), Some(3), "{bad}");
        assert!(err.to_string().starts_with("bad.map:3: "), "{err}");
        assert_eq!(map.len(), 0, "a failed load changes nothing");
    }
}

#[test]
fn seven_is_exact_and_len_uses_length() {
    let (_, m) = map_with(MatchSpec::new(MatchKind::Int), "007 seven\n");
    assert_eq!(val(&m, "7"), Some("seven".into()));
    let (_, l) = map_with(MatchSpec::new(MatchKind::Len), "3 three\n4: long\n");
    assert_eq!(val(&l, "abc"), Some("three".into()));
    assert_eq!(val(&l, "abcdef"), Some("long".into()));
    assert_eq!(val(&l, "ab"), None);
}

#[test]
fn ip_order_and_forms() {
    let text = "::ffff:10.9.0.0/112 mapped\n10.0.0.0/8 ten\n::20.30.0.0/112 compat\n10.1.2.3/16 hostbits\n\
                10.1.0.0/16 dup\n0.0.0.0/32 zero\n0.0.0.1 one\n192.168.0.0/255.255.0.255 odd\n2001:db8::/32 doc\n";
    let (_, m) = map_with(MatchSpec::new(MatchKind::Ip), text);
    // IPv4 keys beat a longer ::ffff: key.
    assert_eq!(val(&m, "10.9.0.7"), Some("ten".into()));
    // Host bits ignored, key reported as written; first of equal networks wins.
    assert_eq!(key(&m, "10.1.200.1"), Some("10.1.2.3/16".into()));
    // An IPv4 input is tried as ::ffff:v4, not ::v4.
    assert_eq!(val(&m, "20.30.1.2"), None);
    assert_eq!(val(&m, "::20.30.1.2"), Some("compat".into()));
    // ::ffff: inputs: IPv6 first, then as IPv4.
    assert_eq!(val(&m, "::ffff:10.9.1.1"), Some("mapped".into()));
    assert_eq!(val(&m, "::ffff:10.8.1.1"), Some("ten".into()));
    // :: and ::1 fall back to 0.0.0.0 and 0.0.0.1.
    assert_eq!(val(&m, "::"), Some("zero".into()));
    assert_eq!(val(&m, "::1"), Some("one".into()));
    // 6to4.
    assert_eq!(val(&m, "2002:0a01:0203::"), Some("hostbits".into()));
    // Non-contiguous masks, after the trees.
    assert_eq!(val(&m, "192.168.9.0"), Some("odd".into()));
    assert_eq!(val(&m, "192.168.9.1"), None);
    // Lenient IPv4 input; non-addresses are not found.
    assert_eq!(val(&m, "010.001.002.003"), Some("hostbits".into()));
    assert_eq!(val(&m, "10.1.2.3/8"), Some("hostbits".into()));
    assert_eq!(val(&m, "not-an-ip"), None);
    assert_eq!(val(&m, "2001:db8:1::5"), Some("doc".into()));
    let a: IpAddr = "10.9.9.9".parse().unwrap();
    assert_eq!(m.lookup_ip(a).unwrap().value(), b"ten");
    for bad in [
        "10.12",
        "010.1.2.3",
        "host.example",
        "10.0.0.0/33",
        "::/129",
        "fe80::1%eth0",
    ] {
        let map = MapRef::new("ip.map", RefKind::Map);
        map.matcher(MatchSpec::new(MatchKind::Ip)).unwrap();
        assert!(
            map.add(bad.as_bytes(), b"x").unwrap_err().is_invalid_key(),
            "{bad}"
        );
    }
}

#[test]
fn icase_is_ascii_only_and_lists_first() {
    let (_, m) = map_with(
        MatchSpec::icase(MatchKind::Str),
        "É upper\nAbc first\nabc second\n",
    );
    assert_eq!(val(&m, "ABC"), Some("first".into()));
    assert_eq!(val(&m, "é"), None);
    let (_, r) = map_with(MatchSpec::icase(MatchKind::Reg), "^ab first\n");
    assert_eq!(val(&r, "ABx"), Some("first".into()));
}

#[test]
fn regex_load_rules() {
    let map = MapRef::new("r.map", RefKind::Map);
    map.matcher(MatchSpec::new(MatchKind::Reg)).unwrap();
    let err = map.load_map_str("r.map", b"ok x\n(a)\\1 y\n").unwrap_err();
    assert_eq!(err.line(), Some(2));
    assert!(map.load_map_str("r.map", b"x{99999} y\n").is_err());
    map.load_map_str("r.map", b"a{,3} lit\n(?P<n>x) named\n")
        .unwrap();
    let m = map.matcher(MatchSpec::new(MatchKind::Reg)).unwrap();
    assert_eq!(val(&m, "za{,3}"), Some("lit".into()));
    assert_eq!(val(&m, "aaa"), None);
    assert_eq!(val(&m, "x"), Some("named".into()));
}

#[test]
fn set_and_del_act_on_every_duplicate_id_on_one() {
    let (map, m) = map_with(MatchSpec::new(MatchKind::Str), "k one\nk two\nother x\n");
    assert_eq!(map.set(b"k", b"new"), Ok(2));
    assert!(map.find(b"k").iter().all(|e| e.value() == b"new"));
    let ids: Vec<_> = map.find(b"k").iter().map(|e| e.id()).collect();
    map.set_id(ids[1], b"second").unwrap();
    assert_eq!(val(&m, "k"), Some("new".into()));
    // Deleting the first duplicate makes the next one win.
    map.del_id(ids[0]).unwrap();
    assert_eq!(val(&m, "k"), Some("second".into()));
    assert_eq!(map.del_id(ids[0]), Err(MapError::KeyNotFound));
    assert_eq!(map.set_id(ids[0], b"z"), Err(MapError::EntryNotFound));
    map.add(b"k", b"again").unwrap();
    assert_eq!(map.del(b"k"), Ok(2));
    assert_eq!(val(&m, "k"), None);
    assert_eq!(map.del(b"k").unwrap_err().to_string(), "Key not found.");
    assert_eq!(
        map.set(b"k", b"v").unwrap_err().to_string(),
        "entry not found."
    );
    // id text round trip through show's first column.
    let shown = map.entries()[0].id().to_string();
    assert_eq!(
        map.get_id(gwd_maps::EntryId::parse(&shown).unwrap())
            .unwrap()
            .key(),
        b"other"
    );
}

#[test]
fn versions_prepare_commit_clear() {
    let (map, m) = map_with(MatchSpec::new(MatchKind::Str), "k live\n");
    assert_eq!(map.prepare(), 1);
    assert_eq!(map.prepare(), 2);
    map.add_at(1, b"k", b"v1").unwrap();
    map.add_at(2, b"k", b"v2").unwrap();
    assert_eq!(
        val(&m, "k"),
        Some("live".into()),
        "staged entries are invisible"
    );
    assert_eq!(map.versions().entry_cnt, 3);
    // set by key reaches staged versions too.
    map.set(b"k", b"all").unwrap();
    assert_eq!(map.entries_at(2).unwrap()[0].value(), b"all");
    assert_eq!(
        map.add_at(3, b"k", b"x").unwrap_err().to_string(),
        "Version number out of range."
    );
    assert!(map.commit(999).unwrap_err().is_version_out_of_range());
    map.commit(2).unwrap();
    assert_eq!(val(&m, "k"), Some("all".into()));
    assert_eq!(map.versions().entry_cnt, 1, "older versions dropped");
    assert_eq!(map.commit(1), Err(MapError::VersionOutOfRange));
    // Committing an empty version clears the map.
    let v = map.prepare();
    assert_eq!(v, 3);
    map.commit(v).unwrap();
    assert!(map.is_empty());
    assert_eq!(val(&m, "k"), None);
    map.add(b"a", b"1").unwrap();
    map.clear();
    assert!(map.entries().is_empty());
    assert_eq!(map.clear_at(77), Err(MapError::VersionOutOfRange));
}

#[test]
fn upsert_and_add_if_absent() {
    let (map, m) = map_with(MatchSpec::new(MatchKind::Str), "k one\nk two\n");
    map.upsert(b"k", b"set").unwrap();
    assert_eq!(map.len(), 2);
    map.upsert(b"n", b"added").unwrap();
    assert_eq!(val(&m, "n"), Some("added".into()));
    assert_eq!(map.add_if_absent(b"n", b""), Ok(false));
    assert_eq!(map.add_if_absent(b"z", b""), Ok(true));
    assert_eq!(map.len(), 4);
}

#[test]
fn get_reply_text() {
    let (map, m) = map_with(MatchSpec::new(MatchKind::Beg), "/api v 1\n");
    assert_eq!(
        m.get(b"/api/x").map_line(Some("str")),
        r#"type=beg, case=sensitive, found=yes, idx=tree, key="/api", value="v 1", type="str""#
    );
    assert_eq!(
        m.get(b"/x").map_line(Some("str")),
        "type=beg, case=sensitive, found=no"
    );
    assert_eq!(
        m.get(b"/api").map_line(None),
        r#"type=beg, case=sensitive, found=yes, idx=tree, key="/api", value=none"#
    );
    let mi = map.matcher(MatchSpec::icase(MatchKind::Beg)).unwrap();
    map.add(b"/API", b"").unwrap();
    assert_eq!(
        mi.get(b"/api/v2").acl_line(),
        r#"type=beg, case=insensitive, match=yes, idx=list, pattern="/api""#
    );
    assert_eq!(
        mi.get(b"/nope").acl_line(),
        "type=beg, case=insensitive, match=no"
    );
}

#[test]
fn load_file_errors_name_the_file() {
    let dir = std::env::temp_dir().join(format!("gwd-maps-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("hosts.map");
    std::fs::write(&path, "a.example 1\nb.example 2\nbad\n").unwrap();
    let map = MapRef::new("hosts.map", RefKind::Map);
    let m = map.matcher(MatchSpec::new(MatchKind::Dom)).unwrap();
    assert_eq!(map.load_file(&path).unwrap(), 3);
    assert_eq!(val(&m, "www.b.example"), Some("2".into()));
    let ipmap = MapRef::new("hosts.map", RefKind::Map);
    ipmap.matcher(MatchSpec::new(MatchKind::Ip)).unwrap();
    let err = ipmap.load_file(&path).unwrap_err();
    assert!(matches!(err, LoadError::Line { line: 1, .. }), "{err}");
    assert!(err.file().ends_with("hosts.map"));
    let missing = MapRef::new("x", RefKind::Map)
        .load_file(dir.join("missing.map"))
        .unwrap_err();
    assert!(matches!(missing, LoadError::Io { .. }));
    assert!(missing.to_string().contains("missing.map"));
    // Registering a matcher whose kind rejects existing keys fails cleanly.
    let err = map.matcher(MatchSpec::new(MatchKind::Int)).unwrap_err();
    assert!(err.is_invalid_key());
    assert_eq!(val(&m, "a.example"), Some("1".into()));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn empty_map_lookups() {
    let map = MapRef::new("e", RefKind::Map);
    for kind in MatchKind::ALL {
        let m = map.matcher(MatchSpec::new(kind)).unwrap();
        assert!(m.lookup(b"anything").is_none());
        assert_eq!(m.matches(b"x"), kind == MatchKind::Found);
    }
}

#[test]
fn many_updates_cross_rebuilds() {
    // Enough churn to rebuild the sub/reg/int bases several times.
    let map = MapRef::new("big", RefKind::Map);
    let sub = map.matcher(MatchSpec::new(MatchKind::Sub)).unwrap();
    let reg = map.matcher(MatchSpec::new(MatchKind::Reg)).unwrap();
    let mut text = String::new();
    for i in 0..2000 {
        text.push_str(&format!("k{i:05}x {i}\n"));
    }
    map.load_map_str("big", text.as_bytes()).unwrap();
    let ints = MapRef::new("ints", RefKind::Map);
    let int = ints.matcher(MatchSpec::new(MatchKind::Int)).unwrap();
    for i in 0..500i64 {
        ints.add(
            format!("{}:{}", i * 10, i * 10 + 15).as_bytes(),
            i.to_string().as_bytes(),
        )
        .unwrap();
    }
    for round in 0..3 {
        for i in (0..2000).step_by(3) {
            let k = format!("k{i:05}x");
            let _ = map.set(k.as_bytes(), format!("r{round}-{i}").as_bytes());
        }
        for i in (round..2000).step_by(7) {
            let k = format!("k{i:05}x");
            let _ = map.del(k.as_bytes());
        }
        for i in 0..500i64 {
            if i % 5 == round {
                let _ = ints.del(format!("{}:{}", i * 10, i * 10 + 15).as_bytes());
            }
        }
    }
    for i in 0..2000 {
        let k = format!("zz k{i:05}x zz");
        let want = map
            .find(&k.as_bytes()[3..10])
            .first()
            .map(|e| e.value_str().into_owned());
        assert_eq!(
            sub.lookup(k.as_bytes()).map(|e| e.value_str().into_owned()),
            want,
            "{k}"
        );
        assert_eq!(
            reg.lookup(k.as_bytes()).map(|e| e.value_str().into_owned()),
            want,
            "{k}"
        );
    }
    for v in 0..5015i64 {
        // First live range in file order containing v.
        let want = (0..500i64)
            .filter(|i| i % 5 > 2 && i * 10 <= v && v <= i * 10 + 15)
            .min()
            .map(|i| i.to_string().into_bytes());
        assert_eq!(int.lookup_int(v).map(|e| e.value().to_vec()), want, "{v}");
    }
}
