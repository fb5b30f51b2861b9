//! `regm`, typed values, uses as `get map` reports them, and the
//! traffic-driven actions' changes.

use gwd_maps::{LoadError, MapError, MapRef, MatchKind, MatchSpec, PatternUse, RefKind, ValueType};

fn spec(k: MatchKind) -> MatchSpec {
    MatchSpec::new(k)
}

// ------------------------------------------------------------------ regm

#[test]
fn regm_first_line_wins_and_substitutes_groups() {
    let map = MapRef::new("r.map", RefKind::Map);
    let m = map.matcher(spec(MatchKind::Regm)).unwrap();
    map.load_map_str(
        "r.map",
        br"^/api/v([0-9]+)/(.*)$ api\1:/\2
^/api/(.*) legacy:\1
(a)(b)?c [\1|\2|\3]
x\.y \\\x41\z
",
    )
    .unwrap();
    let exp = |input: &str| {
        m.lookup_regm(input.as_bytes()).map(|h| {
            h.expand(input.as_bytes())
                .map(|v| String::from_utf8(v).unwrap())
        })
    };
    // First line in file order, not the most specific.
    assert_eq!(exp("/api/v2/users"), Some(Some("api2:/users".into())));
    assert_eq!(exp("/api/users"), Some(Some("legacy:users".into())));
    // A group that did not take part, and one that does not exist: empty.
    assert_eq!(exp("zac"), Some(Some("[a||]".into())));
    // `\\` is a backslash, `\xHH` a byte, `\z` a literal z.
    assert_eq!(exp("x.y"), Some(Some(r"\Az".into())));
    assert_eq!(exp("nothing"), None);
    // The whole match is group 0; searches are unanchored.
    let h = m.lookup_regm(b"--abc--").unwrap();
    assert_eq!(h.group(0), Some(2..5));
    assert_eq!(h.group(2), Some(3..4));
    assert_eq!(h.entry.key(), b"(a)(b)?c");
    // A plain lookup finds the same entry; `get map` shows the raw value.
    assert_eq!(m.lookup(b"/api/x").unwrap().value(), br"legacy:\1");
    assert_eq!(
        m.get(b"/api/x").map_line(Some("str")),
        r#"type=regm, case=sensitive, found=yes, idx=list, key="^/api/(.*)", value="legacy:\1", type="str""#
    );
}

#[test]
fn regm_follows_runtime_changes_and_rebuilds() {
    let map = MapRef::new("r.map", RefKind::Map);
    let m = map.matcher(spec(MatchKind::Regm)).unwrap();
    map.load_map_str("r.map", b"^k([0-9]+)$ old\\1\n").unwrap();
    // Values changed through the delta keep the base's regex.
    map.set(b"^k([0-9]+)$", b"new\\1").unwrap();
    let h = m.lookup_regm(b"k7").unwrap();
    assert_eq!(h.expand(b"k7").unwrap(), b"new7");
    // Entries added since the base, across many rebuilds.
    for i in 0..300 {
        map.add(
            format!("^z{i}-(.)$").as_bytes(),
            format!("v{i}\\1").as_bytes(),
        )
        .unwrap();
    }
    let h = m.lookup_regm(b"z123-q").unwrap();
    assert_eq!(h.expand(b"z123-q").unwrap(), b"v123q");
    map.del(b"^z123-(.)$").unwrap();
    assert!(m.lookup_regm(b"z123-q").is_none());
    // Malformed template: no result (the converter yields no sample).
    map.set(b"^k([0-9]+)$", b"bad\\").unwrap();
    assert_eq!(m.lookup_regm(b"k1").unwrap().expand(b"k1"), None);
    // Other kinds have no regm lookup.
    let reg = map.matcher(spec(MatchKind::Reg)).unwrap();
    assert!(reg.lookup_regm(b"k1").is_none());
    assert!(reg.lookup(b"k1").is_some());
}

#[test]
fn regm_rejects_backreferences_in_keys() {
    let map = MapRef::new("r.map", RefKind::Map);
    map.matcher(spec(MatchKind::Regm)).unwrap();
    let err = map.load_map_str("r.map", b"ok v\n(a)\\1 v\n").unwrap_err();
    assert_eq!(err.line(), Some(2));
    assert!(
        err.to_string().contains("is not a valid 'regm' pattern"),
        "{err}"
    );
}

// ------------------------------------------------------------------ typed values

#[test]
fn bad_values_fail_loads_with_file_and_line() {
    let map = MapRef::new("w.map", RefKind::Map);
    map.register_use(spec(MatchKind::Str), Some(ValueType::Int))
        .unwrap();
    let err = map
        .load_map_str("w.map", b"# weights\na 10\nb -3\nc\nd 1.5\n")
        .unwrap_err();
    assert_eq!((err.file(), err.line()), ("w.map", Some(5)));
    assert_eq!(err.to_string(), "w.map:5: unable to parse '1.5'.");
    assert!(err.map_error().unwrap().is_invalid_value());
    assert!(map.is_empty(), "all or nothing");

    let map = MapRef::new("ip.map", RefKind::Map);
    map.register_use(spec(MatchKind::Beg), Some(ValueType::Ip))
        .unwrap();
    map.load_map_str("ip.map", b"/a 10.0.0.1\n/b ::1\n/c 010.0.0.1/8\n")
        .unwrap();
    let err = map.load_map_str("more", b"/d host.local\n").unwrap_err();
    assert_eq!(err.to_string(), "more:1: unable to parse 'host.local'.");
}

#[test]
fn a_later_use_checks_existing_values_and_names_their_line() {
    let map = MapRef::new("w.map", RefKind::Map);
    map.register_use(spec(MatchKind::Str), Some(ValueType::Str))
        .unwrap();
    map.load_map_str("w.map", b"a 10\n\nb ten\n").unwrap();
    let err = map
        .register_use(spec(MatchKind::Beg), Some(ValueType::Int))
        .unwrap_err();
    assert_eq!(err.to_string(), "w.map:3: unable to parse 'ten'.");
    // Nothing was registered.
    assert_eq!(map.uses().len(), 1);
    assert!(map.value_types().is_empty());
    map.set(b"b", b"12").unwrap();
    map.register_use(spec(MatchKind::Beg), Some(ValueType::Int))
        .unwrap();
    // An entry added at runtime has no line: the reference is named.
    let other = MapRef::new("x.map", RefKind::Map);
    other.add(b"k", b"v").unwrap();
    let err = other
        .register_use(spec(MatchKind::Str), Some(ValueType::Ip))
        .unwrap_err();
    assert!(matches!(err, LoadError::Existing { .. }));
    assert_eq!(err.to_string(), "x.map: unable to parse 'v'.");
    // Keys are checked the same way, with their line.
    let ports = MapRef::new("p.map", RefKind::Map);
    ports.load_map_str("p.map", b"80 a\nhttp b\n").unwrap();
    let err = ports.register_use(spec(MatchKind::Int), None).unwrap_err();
    assert_eq!(err.line(), Some(2));
    assert!(err.map_error().unwrap().is_invalid_key());
}

#[test]
fn runtime_values_are_checked_with_haproxy_replies() {
    let map = MapRef::new("w.map", RefKind::Map);
    map.register_use(spec(MatchKind::Str), Some(ValueType::Int))
        .unwrap();
    map.load_map_str("w.map", b"a 1\n").unwrap();
    let bad = MapError::InvalidValue {
        ty: ValueType::Int,
        value: "x".into(),
    };
    assert_eq!(bad.to_string(), "unable to parse 'x'.");
    assert_eq!(map.add(b"b", b"x"), Err(bad.clone()));
    assert_eq!(map.set(b"a", b"x"), Err(bad.clone()));
    let id = map.find(b"a")[0].id();
    assert_eq!(map.set_id(id, b"x"), Err(bad.clone()));
    assert_eq!(map.upsert(b"c", b"x"), Err(bad.clone()));
    let v = map.prepare();
    assert_eq!(map.add_at(v, b"b", b"x"), Err(bad));
    // Nothing changed; good values pass.
    assert_eq!(map.entries().len(), 1);
    map.set(b"a", b"-7").unwrap();
    map.add(b"b", b"").unwrap(); // no digits reads as 0
    assert_eq!(map.versions().entry_cnt, 2);
    // `set` on a missing key still answers "entry not found." for a good value.
    assert_eq!(map.set(b"zz", b"1"), Err(MapError::EntryNotFound));
}

// ------------------------------------------------------------------ uses

#[test]
fn uses_fold_like_haproxy_expressions() {
    let map = MapRef::new("f.map", RefKind::Map);
    for (k, v) in [
        (MatchKind::Sub, Some(ValueType::Str)),
        (MatchKind::End, Some(ValueType::Str)), // same expression as sub
        (MatchKind::End, Some(ValueType::Int)),
        (MatchKind::Int, None),
        (MatchKind::Len, None), // same as int
        (MatchKind::Str, None),
    ] {
        map.register_use(spec(k), v).unwrap();
    }
    let uses = map.uses();
    assert_eq!(
        uses,
        [
            PatternUse {
                spec: spec(MatchKind::Sub),
                values: Some(ValueType::Str)
            },
            PatternUse {
                spec: spec(MatchKind::End),
                values: Some(ValueType::Int)
            },
            PatternUse {
                spec: spec(MatchKind::Int),
                values: None
            },
            PatternUse {
                spec: spec(MatchKind::Str),
                values: None
            },
        ]
    );
    // Indexes exist for every spec, folded or not.
    assert_eq!(map.specs().len(), 5);
}

#[test]
fn get_replies_print_each_uses_value_type() {
    let map = MapRef::new("t.map", RefKind::Map);
    map.register_use(spec(MatchKind::Str), Some(ValueType::Str))
        .unwrap();
    map.register_use(spec(MatchKind::Str), Some(ValueType::Ip))
        .unwrap();
    map.load_map_str("t.map", b"v4 10.0.0.1\nv6 2001:db8::1\n")
        .unwrap();
    let text = |input: &str| -> Vec<String> {
        map.get_replies(input.as_bytes())
            .iter()
            .map(|r| r.map_text())
            .collect()
    };
    assert_eq!(
        text("v4"),
        [
            r#"type=str, case=sensitive, found=yes, idx=tree, key="v4", value="10.0.0.1", type="str""#,
            r#"type=str, case=sensitive, found=yes, idx=tree, key="v4", value="10.0.0.1", type="ipv4""#,
        ]
    );
    // An address is not an integer: that use is refused, nothing changes.
    assert!(
        map.register_use(spec(MatchKind::Beg), Some(ValueType::Int))
            .is_err()
    );
    assert_eq!(map.uses().len(), 2);
    let ints = MapRef::new("i.map", RefKind::Map);
    ints.register_use(spec(MatchKind::Beg), Some(ValueType::Int))
        .unwrap();
    ints.load_map_str(
        "i.map", b"/a 10
",
    )
    .unwrap();
    assert_eq!(
        ints.get_replies(b"/a/b")[0].map_text(),
        r#"type=beg, case=sensitive, found=yes, idx=tree, key="/a", value="10", type="sint""#
    );
    assert_eq!(
        text("v6")[1],
        r#"type=str, case=sensitive, found=yes, idx=tree, key="v6", value="2001:db8::1", type="ipv6""#
    );
    assert_eq!(text("zz")[0], "type=str, case=sensitive, found=no");
    // get acl lines come from the same replies.
    let acl = MapRef::new("a.acl", RefKind::Acl);
    acl.register_use(MatchSpec::icase(MatchKind::Str), None)
        .unwrap();
    acl.load_acl_str("a.acl", b"evil.local\n").unwrap();
    let r = acl.get_replies(b"EVIL.local");
    assert_eq!(
        r[0].acl_line(),
        r#"type=str, case=insensitive, match=yes, idx=list, pattern="evil.local""#
    );
    assert_eq!(
        r[0].map_text(),
        r#"type=str, case=insensitive, found=yes, idx=list, key="evil.local", value=none"#
    );
}

// ------------------------------------------------------ traffic actions

fn loaded() -> (MapRef, gwd_maps::Matcher) {
    let map = MapRef::new("b.map", RefKind::Map);
    let m = map.matcher(spec(MatchKind::Str)).unwrap();
    map.load_map_str("b.map", b"a 0\nb 0\n").unwrap();
    (map, m)
}

fn val(m: &gwd_maps::Matcher, k: &str) -> Option<String> {
    m.lookup(k.as_bytes()).map(|e| e.value_str().into_owned())
}

/// `set-map`, `add-acl` and `del-map` are visible to the next lookup, as
/// HAProxy applies them: a request that follows sees the change.
#[test]
fn traffic_actions_are_visible_to_the_next_lookup() {
    let (map, m) = loaded();
    map.upsert(b"a", b"1").unwrap();
    assert_eq!(val(&m, "a").as_deref(), Some("1"));
    // Upserts of a new key add it once.
    map.upsert(b"k", b"1").unwrap();
    map.upsert(b"k", b"2").unwrap();
    assert!(map.add_if_absent(b"k", b"").is_ok_and(|a| !a));
    assert!(map.add_if_absent(b"k2", b"").unwrap());
    assert_eq!(val(&m, "k2").as_deref(), Some(""));
    assert_eq!(map.del(b"b"), Ok(1));
    assert_eq!(val(&m, "b"), None);
    assert_eq!(map.del(b"nope"), Err(MapError::KeyNotFound));
    let shown: Vec<(String, String)> = map
        .entries()
        .iter()
        .map(|e| (e.key_str().into_owned(), e.value_str().into_owned()))
        .collect();
    assert_eq!(
        shown,
        [
            ("a".into(), "1".into()),
            ("k".into(), "2".into()),
            ("k2".into(), String::new())
        ]
    );
}

#[test]
fn upsert_also_sets_staged_versions() {
    let (map, m) = loaded();
    let v = map.prepare();
    map.add_at(v, b"a", b"staged").unwrap();
    map.upsert(b"a", b"x").unwrap();
    assert_eq!(val(&m, "a").as_deref(), Some("x"));
    map.commit(v).unwrap();
    assert_eq!(val(&m, "a").as_deref(), Some("x"));
}

// ------------------------------------------------------- reload handover

fn use_(k: MatchKind, values: Option<ValueType>) -> gwd_maps::PlannedUse {
    gwd_maps::PlannedUse::Use(PatternUse {
        spec: spec(k),
        values,
    })
}

#[test]
fn check_use_reads_only_and_sees_run_time_changes() {
    let (map, _m) = loaded();
    map.upsert(b"c", b"x").unwrap();
    let before = (map.specs(), map.uses(), map.value_types(), map.len());
    let e = map
        .check_use(use_(MatchKind::Str, Some(ValueType::Int)))
        .unwrap_err();
    assert!(matches!(e, LoadError::Existing { .. }), "{e:?}");
    assert_eq!(e.to_string(), "b.map: unable to parse 'x'.");
    let e = map
        .check_use(gwd_maps::PlannedUse::Index(spec(MatchKind::Ip)))
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("b.map: 'a' is not a valid 'ip' pattern"),
        "{e}"
    );
    assert_eq!(
        (map.specs(), map.uses(), map.value_types(), map.len()),
        before,
        "nothing changed"
    );
}

#[test]
fn a_rebinding_is_all_or_nothing_across_references() {
    let a = MapRef::new("a.map", RefKind::Map);
    a.register_use(spec(MatchKind::Str), Some(ValueType::Str))
        .unwrap();
    a.load_map_str("a.map", b"1 10\n").unwrap();
    let b = MapRef::new("b.map", RefKind::Map);
    b.register_use(spec(MatchKind::Str), Some(ValueType::Str))
        .unwrap();
    b.load_map_str("b.map", b"k v\n").unwrap();
    let snapshot = |m: &MapRef| (m.specs(), m.uses(), m.value_types());
    let (sa, sb) = (snapshot(&a), snapshot(&b));

    // `a` suits `int` keys and values, `b` does not suit `int` values.
    let plan = vec![
        (a.clone(), vec![use_(MatchKind::Int, Some(ValueType::Int))]),
        (b.clone(), vec![use_(MatchKind::Beg, Some(ValueType::Int))]),
    ];
    let (failed, e) = gwd_maps::Rebinding::begin(plan).unwrap_err();
    assert!(failed.ptr_eq(&b));
    assert_eq!(e.to_string(), "b.map: unable to parse 'v'.");
    assert_eq!((snapshot(&a), snapshot(&b)), (sa.clone(), sb.clone()));

    // A reference named twice gets both lists.
    let plan = vec![
        (a.clone(), vec![use_(MatchKind::Int, Some(ValueType::Int))]),
        (b.clone(), vec![use_(MatchKind::Beg, None)]),
        (
            a.clone(),
            vec![gwd_maps::PlannedUse::Index(spec(MatchKind::Sub))],
        ),
    ];
    let r = gwd_maps::Rebinding::begin(plan).unwrap();
    assert_eq!(
        a.specs(),
        [
            spec(MatchKind::Str),
            spec(MatchKind::Int),
            spec(MatchKind::Sub)
        ]
    );
    assert_eq!(a.value_types(), [ValueType::Int]);
    assert_eq!(a.uses(), sa.1, "uses change on finish");
    r.finish();
    assert_eq!(
        a.uses(),
        [PatternUse {
            spec: spec(MatchKind::Int),
            values: Some(ValueType::Int)
        }]
    );
    assert_eq!(
        b.uses(),
        [PatternUse {
            spec: spec(MatchKind::Beg),
            values: None
        }]
    );
    assert!(b.value_types().is_empty());
}

#[test]
fn undoing_a_rebinding_restores_indexes_uses_and_types() {
    let map = MapRef::new("n.map", RefKind::Map);
    let old = map
        .register_use(spec(MatchKind::Str), Some(ValueType::Int))
        .unwrap();
    map.load_map_str("n.map", b"1 0\n2 0\n").unwrap();
    let before = (map.specs(), map.uses(), map.value_types());
    let plan = vec![(
        map.clone(),
        vec![
            use_(MatchKind::Int, Some(ValueType::Str)),
            use_(MatchKind::Beg, None),
        ],
    )];
    let r = gwd_maps::Rebinding::begin(plan).unwrap();
    let int = map.matcher(spec(MatchKind::Int)).unwrap();
    assert_eq!(map.specs().len(), 3);
    // Until finish, both configurations' constraints hold.
    assert!(map.add(b"z", b"1").is_err(), "not an int key");
    assert!(map.set(b"1", b"x").is_err(), "not an int value");
    map.upsert(b"9", b"9").unwrap();
    drop(int);
    drop(r); // undoes
    assert_eq!((map.specs(), map.uses(), map.value_types()), before);
    map.add(b"z", b"1").unwrap();
    assert_eq!(val(&old, "z").as_deref(), Some("1"));
    assert_eq!(
        val(&old, "9").as_deref(),
        Some("9"),
        "the change made meanwhile stays"
    );
    // A new index takes the freed slot and is built from the entries.
    let beg = map.matcher(spec(MatchKind::Beg)).unwrap();
    assert_eq!(beg.lookup(b"zz").unwrap().value(), b"1");
}
