//! Reloading a configuration given the running one: map and ACL files that
//! did not change keep their running references and run-time changes;
//! changed and new files are read.

mod common;

use std::path::Path;

use common::{TempDir, temp_files};
use gwd_config::{Config, HttpRequestAction, LoadErrors, parse_str, parse_str_reusing};
use gwd_maps::{MapRef, MatchKind, MatchSpec, PatternUse, RefKind, ValueType};

fn load(text: &str) -> Config {
    parse_str(text, Path::new("gw.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn reload(text: &str, running: &Config) -> Result<Config, LoadErrors> {
    parse_str_reusing(text, Path::new("gw.toml"), running)
}

fn reload_ok(text: &str, running: &Config) -> Config {
    reload(text, running).unwrap_or_else(|e| panic!("reload failed:\n{e}"))
}

/// A frontend with these `http-request` rules and ACL lines (TOML lines).
fn fe(rules: &[String], acls: &[String]) -> String {
    format!(
        "[frontend.www]\nbind = [ {{ addr = \"127.0.0.1:0\" }} ]\n{}\nhttp-request = [\n{}\n]\n",
        acls.join("\n"),
        rules
            .iter()
            .map(|r| format!("  {r},"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// A `set-header` rule whose value is `%[path,<conv>]`.
fn hdr(conv: &str) -> String {
    format!(r#"{{ action = "set-header", name = "X-M", value = "%[path,{conv}]" }}"#)
}

/// A `set-map` rule on `map`.
fn set_map(map: &str) -> String {
    format!(r#"{{ action = "set-map", map = "{map}", key = "%[path]", value = "x" }}"#)
}

fn path(d: &TempDir, name: &str) -> String {
    d.join(name).display().to_string()
}

fn the_map(cfg: &Config, name: &str) -> MapRef {
    cfg.maps
        .get(name)
        .unwrap_or_else(|| panic!("{name} not in the registry"))
        .map
        .clone()
}

/// `key value` lines of the current version.
fn entries(m: &MapRef) -> Vec<String> {
    m.entries()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                String::from_utf8_lossy(e.key()),
                String::from_utf8_lossy(e.value())
            )
            .trim_end()
            .to_owned()
        })
        .collect()
}

/// What a failed reload must leave exactly as it was.
#[derive(Debug, PartialEq)]
struct State {
    specs: Vec<MatchSpec>,
    uses: Vec<PatternUse>,
    types: Vec<ValueType>,
    entries: Vec<String>,
    listing: Vec<(u32, String, String)>,
}

fn state(cfg: &Config, m: &MapRef) -> State {
    State {
        specs: m.specs(),
        uses: m.uses(),
        types: m.value_types(),
        entries: entries(m),
        listing: cfg
            .maps
            .iter()
            .map(|r| (r.id, r.name.clone(), r.description.clone()))
            .collect(),
    }
}

#[test]
fn an_unchanged_file_keeps_its_reference_and_run_time_changes() {
    let d = temp_files(&[]);
    std::fs::write(d.join("hosts.map"), "/api api\n/app app\n").unwrap();
    let hosts = path(&d, "hosts.map");
    let running = load(&fe(&[hdr(&format!("map({hosts})"))], &[]));
    let old = the_map(&running, &hosts);
    old.set(b"/api", b"api2").unwrap(); // `set map`
    old.add(b"/new", b"web").unwrap(); // `add map`

    // The new configuration uses the file differently and more.
    let text = fe(
        &[hdr(&format!("map_beg({hosts})")), set_map(&hosts)],
        &[format!(r#"acl.known = "path -M -f {hosts}""#)],
    );
    let cfg = reload_ok(&text, &running);
    let kept = the_map(&cfg, &hosts);
    assert!(kept.ptr_eq(&old), "the very same reference");
    assert_eq!(entries(&kept), ["/api api2", "/app app", "/new web"]);
    // The new rules read it.
    match &cfg.frontends[0].http_request[1].action {
        HttpRequestAction::SetMap { map, .. } => assert!(map.ptr_eq(&old)),
        other => panic!("{other:?}"),
    }
    // It carries the new configuration's uses, as a fresh load would.
    let fresh = load(&text);
    assert_eq!(kept.uses(), the_map(&fresh, &hosts).uses());
    assert_eq!(
        kept.uses()[0].spec,
        MatchSpec::new(MatchKind::Str),
        "ACLs come first"
    );
    let r = cfg.maps.get(&hosts).unwrap();
    assert!(r.used_by_acl && r.used_by_map);
    assert_eq!(r.description, fresh.maps.get(&hosts).unwrap().description);

    // A second reload keeps it again: what was read is still the file.
    let again = reload_ok(&text, &cfg);
    assert!(the_map(&again, &hosts).ptr_eq(&old));
}

#[test]
fn a_changed_file_is_read_again_even_with_the_same_length_and_time() {
    let d = temp_files(&[]);
    let file = d.join("hosts.map");
    std::fs::write(&file, "/api api\n").unwrap();
    let hosts = path(&d, "hosts.map");
    let text = fe(&[hdr(&format!("map({hosts})"))], &[]);
    let running = load(&text);
    let old = the_map(&running, &hosts);
    old.add(b"/new", b"web").unwrap();

    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    std::fs::write(&file, "/api apx\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_eq!(std::fs::metadata(&file).unwrap().modified().unwrap(), mtime);

    let cfg = reload_ok(&text, &running);
    let read = the_map(&cfg, &hosts);
    assert!(!read.ptr_eq(&old));
    assert_eq!(entries(&read), ["/api apx"], "run-time changes are lost");
    assert_eq!(
        entries(&old),
        ["/api api", "/new web"],
        "the running one is untouched"
    );

    // Editing a file back to what was read first does not matter: the
    // reference of the configuration given is what is compared.
    std::fs::write(&file, "/api api\n").unwrap();
    let back = reload_ok(&text, &cfg);
    assert!(!the_map(&back, &hosts).ptr_eq(&read));
    assert_eq!(entries(&the_map(&back, &hosts)), ["/api api"]);
}

#[test]
fn new_files_are_read_and_removed_files_disappear() {
    let d = temp_files(&[]);
    std::fs::write(d.join("a.map"), "/a a\n").unwrap();
    std::fs::write(d.join("b.acl"), "/b\n").unwrap();
    let (a, b) = (path(&d, "a.map"), path(&d, "b.acl"));
    let running = load(&fe(&[hdr(&format!("map({a})"))], &[]));
    let cfg = reload_ok(&fe(&[], &[format!(r#"acl.b = "path -f {b}""#)]), &running);
    assert!(cfg.maps.get(&a).is_none());
    assert_eq!(cfg.maps.len(), 1);
    let read = the_map(&cfg, &b);
    assert_eq!(
        (read.kind(), entries(&read)),
        (RefKind::Acl, vec!["/b".to_owned()])
    );
    assert!(
        running.maps.get(&a).is_some(),
        "the running registry keeps it"
    );
}

#[test]
fn virtual_maps_and_still_missing_optional_files_are_kept() {
    let d = temp_files(&[]);
    let extra = path(&d, "extra.map");
    let text = fe(
        &[hdr("map(virt@live)"), hdr(&format!("map(opt@{extra})"))],
        &[],
    );
    let running = load(&text);
    let (live, opt) = (the_map(&running, "virt@live"), the_map(&running, &extra));
    live.add(b"/l", b"live").unwrap();
    opt.add(b"/o", b"opt").unwrap();

    let cfg = reload_ok(&text, &running);
    assert!(the_map(&cfg, "virt@live").ptr_eq(&live));
    assert!(the_map(&cfg, &extra).ptr_eq(&opt));
    assert_eq!(entries(&the_map(&cfg, &extra)), ["/o opt"]);

    // The optional file appears: it is read.
    std::fs::write(d.join("extra.map"), "/f file\n").unwrap();
    let next = reload_ok(&text, &cfg);
    assert!(!the_map(&next, &extra).ptr_eq(&opt));
    assert_eq!(entries(&the_map(&next, &extra)), ["/f file"]);
    assert!(the_map(&next, "virt@live").ptr_eq(&live));
}

#[test]
fn a_reload_with_errors_leaves_the_running_maps_exactly_as_they_were() {
    let d = temp_files(&[]);
    std::fs::write(d.join("hosts.map"), "/api 1\n/app 2\n").unwrap();
    std::fs::write(d.join("b.map"), "/b b\n").unwrap();
    let (hosts, b) = (path(&d, "hosts.map"), path(&d, "b.map"));
    let running = load(&fe(
        &[hdr(&format!("map({b})")), hdr(&format!("map({hosts})"))],
        &[],
    ));
    let old = the_map(&running, &hosts);
    old.set(b"/api", b"10").unwrap();
    let before = state(&running, &old);

    // Valid new uses of the unchanged file (a new index, an integer type,
    // another order of first use), and an error elsewhere.
    let bad = fe(
        &[
            hdr(&format!("map_beg_int({hosts})")),
            hdr(&format!("map_reg({b})")),
        ],
        &[
            format!(r#"acl.k = "path -i -M -f {hosts}""#),
            r#"acl.x = "nosuchfetch -m str x""#.to_owned(),
        ],
    );
    let e = reload(&bad, &running).unwrap_err().to_string();
    assert!(e.contains("nosuchfetch"), "{e}");
    assert_eq!(state(&running, &old), before);
    assert_eq!(old.specs(), [MatchSpec::new(MatchKind::Str)]);
    // Run-time changes the old configuration allows still work.
    old.set(b"/app", b"not a number").unwrap();

    // Without the error, the same uses are taken.
    let good = bad.replace(r#"acl.x = "nosuchfetch -m str x""#, "");
    let e = reload(&good, &running).unwrap_err().to_string();
    assert!(e.contains("value 'not a number' is not an integer"), "{e}");
    old.set(b"/app", b"20").unwrap();
    let cfg = reload_ok(&good, &running);
    assert!(the_map(&cfg, &hosts).ptr_eq(&old));
    assert_eq!(old.value_types(), [ValueType::Int]);
}

#[test]
fn run_time_changes_that_break_a_new_use_fail_the_reload() {
    let d = temp_files(&[]);
    let ports_file = d.join("ports.map");
    std::fs::write(&ports_file, "http 80\nhttps 443\n").unwrap();
    let ports = path(&d, "ports.map");
    let running = load(&fe(&[hdr(&format!("map({ports})"))], &[]));
    let old = the_map(&running, &ports);
    old.set(b"http", b"eighty").unwrap();
    let before = state(&running, &old);

    let text = fe(&[hdr(&format!("map_str_int({ports})"))], &[]);
    let e = reload(&text, &running).unwrap_err().to_string();
    assert!(
        e.contains(&format!(
            "`{ports}` did not change since it was loaded, so the reload keeps its run-time \
             changes, but they do not suit this use: value 'eighty' is not an integer"
        )),
        "{e}"
    );
    assert!(e.contains("gw.toml:5:"), "located at the rule: {e}");
    assert_eq!(state(&running, &old), before);

    // Fixed at run time: the reload keeps the reference.
    old.set(b"http", b"8080").unwrap();
    let cfg = reload_ok(&text, &running);
    assert!(the_map(&cfg, &ports).ptr_eq(&old));
    assert_eq!(entries(&old), ["http 8080", "https 443"]);
    assert_eq!(
        old.set(b"http", b"eighty").unwrap_err().to_string(),
        "unable to parse 'eighty'."
    );

    // A key a new match method rejects.
    std::fs::write(&ports_file, "80 http\n").unwrap();
    let running = load(&fe(&[hdr(&format!("map({ports})"))], &[]));
    the_map(&running, &ports).add(b"abc", b"x").unwrap();
    let e = reload(&fe(&[hdr(&format!("map_int({ports})"))], &[]), &running)
        .unwrap_err()
        .to_string();
    assert!(e.contains("key 'abc' is not a valid 'int' pattern"), "{e}");
    assert_eq!(the_map(&running, &ports).specs().len(), 1);
}

#[test]
fn a_file_used_in_the_other_format_is_read_again() {
    let d = temp_files(&[]);
    std::fs::write(d.join("list"), "/a first\n").unwrap();
    let list = path(&d, "list");
    let running = load(&fe(&[], &[format!(r#"acl.l = "path -f {list}""#)]));
    let old = the_map(&running, &list);
    old.add(b"/b", b"").unwrap(); // `add acl`
    assert_eq!(entries(&old), ["/a first", "/b"]);

    // Now a map: the same bytes read as key and value.
    let cfg = reload_ok(&fe(&[hdr(&format!("map({list})"))], &[]), &running);
    let read = the_map(&cfg, &list);
    assert!(!read.ptr_eq(&old));
    assert_eq!(
        (read.kind(), entries(&read)),
        (RefKind::Map, vec!["/a first".to_owned()])
    );
    assert_eq!(read.find(b"/a")[0].value(), b"first");
}

#[test]
fn ids_follow_the_new_configuration() {
    let d = temp_files(&[]);
    std::fs::write(d.join("a.map"), "/a a\n").unwrap();
    std::fs::write(d.join("b.map"), "/b b\n").unwrap();
    let (a, b) = (path(&d, "a.map"), path(&d, "b.map"));
    let running = load(&fe(
        &[hdr(&format!("map({a})")), hdr(&format!("map({b})"))],
        &[],
    ));
    let ids = |c: &Config| -> Vec<(u32, String)> {
        c.maps.iter().map(|m| (m.id, m.name.clone())).collect()
    };
    assert_eq!(ids(&running), [(0, a.clone()), (1, b.clone())]);

    // `b` first now, and an ACL forcing id 0.
    let text = fe(
        &[hdr(&format!("map({b})")), hdr(&format!("map({a})"))],
        &[r#"acl.src = "src -u 0 10.0.0.1""#.to_owned()],
    );
    let cfg = reload_ok(&text, &running);
    assert_eq!(
        ids(&cfg),
        [(0, String::new()), (1, b.clone()), (2, a.clone())]
    );
    assert_eq!(ids(&cfg), ids(&load(&text)), "as a fresh load numbers them");
    assert!(
        cfg.maps
            .find("#1")
            .unwrap()
            .map
            .ptr_eq(&the_map(&running, &b))
    );
    assert!(
        cfg.maps
            .find("#2")
            .unwrap()
            .map
            .ptr_eq(&the_map(&running, &a))
    );
    // The inline patterns are the new configuration's own.
    assert!(
        !cfg.maps
            .find("#0")
            .unwrap()
            .map
            .ptr_eq(&the_map(&running, &a))
    );
    assert_eq!(entries(&cfg.maps.find("#0").unwrap().map), ["10.0.0.1"]);
    assert_eq!(ids(&running), [(0, a.clone()), (1, b.clone())], "untouched");
}

#[test]
fn a_value_type_only_the_old_configuration_required_is_lifted() {
    let d = temp_files(&[]);
    std::fs::write(d.join("ports.map"), "http 80\n").unwrap();
    let ports = path(&d, "ports.map");
    let running = load(&fe(&[hdr(&format!("map_str_int({ports})"))], &[]));
    let old = the_map(&running, &ports);
    assert!(old.set(b"http", b"eighty").is_err());

    let cfg = reload_ok(&fe(&[hdr(&format!("map({ports})"))], &[]), &running);
    assert!(the_map(&cfg, &ports).ptr_eq(&old));
    old.set(b"http", b"eighty").unwrap();
    assert_eq!(
        old.uses(),
        [PatternUse {
            spec: MatchSpec::new(MatchKind::Str),
            values: Some(ValueType::Str)
        }]
    );
}
