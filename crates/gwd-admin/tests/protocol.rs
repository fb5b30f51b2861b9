//! The runtime API text protocol, driven through sessions and a real socket.

use gwd_admin::{AdminListener, Cli};
use gwd_config::{AdminLevel, MapRegistry, MapUse, StatsAddr, StatsSocket};
use gwd_maps::{MatchKind, MatchSpec};

fn registry() -> MapRegistry {
    let mut reg = MapRegistry::new();
    reg.resolve_with(
        "hosts.map",
        MapUse::Converter,
        MatchSpec::new(MatchKind::Beg),
        "map at file 'gw.toml' line 7",
        |m| {
            m.load_map_str("hosts.map", b"/api v1\n/api/v2 v2\nkeyonly\n")
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
    )
    .unwrap();
    reg.resolve_with(
        "bad.acl",
        MapUse::AclFile,
        MatchSpec::icase(MatchKind::Sub),
        "acl at file 'gw.toml' line 9",
        |m| {
            m.load_acl_str("bad.acl", b"curl\n")
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
    )
    .unwrap();
    // The rules' indexes are `map_beg` on hosts.map, `-i -m sub` on bad.acl.
    reg
}

fn run(cli: &Cli, level: AdminLevel, line: &str) -> String {
    let mut s = cli.session(level);
    let out = s.feed_line(line);
    assert!(
        s.is_closed(),
        "non-interactive sessions close after one line"
    );
    out
}

fn op(cli: &Cli, line: &str) -> String {
    run(cli, AdminLevel::Operator, line)
}

#[test]
fn listings() {
    let cli = Cli::new(registry());
    assert_eq!(
        op(&cli, "show map"),
        "# id (file) description\n0 (hosts.map) pattern loaded from file 'hosts.map' used by map at file 'gw.toml' line 7. curr_ver=0 next_ver=0 entry_cnt=3\n\n"
    );
    assert_eq!(
        op(&cli, "show acl"),
        "# id (file) description\n1 (bad.acl) pattern loaded from file 'bad.acl' used by acl at file 'gw.toml' line 9. curr_ver=0 next_ver=0 entry_cnt=1\n\n"
    );
    let dump = op(&cli, "show map hosts.map");
    let lines: Vec<&str> = dump.lines().collect();
    assert_eq!(lines.len(), 4, "{dump:?}");
    assert!(
        lines[0].starts_with("0x") && lines[0].ends_with(" /api v1"),
        "{dump}"
    );
    assert!(
        lines[2].ends_with(" keyonly "),
        "a key-only entry keeps its blank: {dump:?}"
    );
    assert_eq!(lines[3], "");
    let acl = op(&cli, "show acl #1");
    assert!(acl.lines().next().unwrap().ends_with(" curl"), "{acl}");
    assert_eq!(
        op(&cli, "show map bad.acl"),
        "Unknown map identifier. Please use #<id> or <file>.\n\n"
    );
}

#[test]
fn get_uses_haproxy_lines() {
    let cli = Cli::new(registry());
    assert_eq!(
        op(&cli, "get map hosts.map /api/v2/x"),
        "type=beg, case=sensitive, found=yes, idx=tree, key=\"/api/v2\", value=\"v2\", type=\"str\"\n\n"
    );
    assert_eq!(
        op(&cli, "get map hosts.map /nope"),
        "type=beg, case=sensitive, found=no\n\n"
    );
    assert_eq!(
        op(&cli, "get acl bad.acl xCURLx"),
        "type=sub, case=insensitive, match=yes, idx=list, pattern=\"curl\"\n\n"
    );
    assert_eq!(
        op(&cli, "get map hosts.map"),
        "Missing map identifier and/or key.\n\n"
    );
}

#[test]
fn updates_and_their_replies() {
    let reg = registry();
    let hosts = reg.get("hosts.map").unwrap().map.clone();
    let beg = hosts.matcher(MatchSpec::new(MatchKind::Beg)).unwrap();
    let cli = Cli::new(reg);
    assert_eq!(op(&cli, "set map hosts.map /api/v2 v2b"), "\n");
    assert_eq!(beg.lookup(b"/api/v2/x").unwrap().value(), b"v2b");
    assert_eq!(op(&cli, "set map hosts.map /zzz x"), "entry not found.\n\n");
    assert_eq!(
        op(&cli, "set map hosts.map /zzz"),
        "'set map' expects three parameters: map identifier, key and value.\n\n"
    );
    assert_eq!(op(&cli, "add map hosts.map /new a\\ b"), "\n");
    assert_eq!(beg.lookup(b"/new/1").unwrap().value(), b"a b");
    assert_eq!(op(&cli, "del map hosts.map /new"), "\n");
    assert_eq!(op(&cli, "del map hosts.map /new"), "Key not found.\n\n");
    // By id, from the dump.
    let dump = op(&cli, "show map hosts.map");
    let id = dump
        .lines()
        .next()
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(op(&cli, &format!("set map hosts.map #{id} one")), "\n");
    assert_eq!(beg.lookup(b"/api/x").unwrap().value(), b"one");
    assert_eq!(op(&cli, &format!("del map hosts.map #{id}")), "\n");
    assert_eq!(
        op(&cli, &format!("del map hosts.map #{id}")),
        "Key not found.\n\n"
    );
    assert_eq!(
        op(&cli, "del map hosts.map #0x12"),
        "Malformed identifier. Please use #<id> or <file>.\n\n"
    );
    // Versions.
    assert_eq!(
        op(&cli, "prepare map hosts.map"),
        "New version created: 1\n\n"
    );
    assert_eq!(
        op(&cli, "add map @2 hosts.map / root"),
        "Version number in the future, please use 'prepare map' before.\n\n"
    );
    assert_eq!(op(&cli, "add map @1 hosts.map / root"), "\n");
    assert!(beg.lookup(b"/x").is_none(), "staged entries are invisible");
    assert_eq!(op(&cli, "show map @1 hosts.map").lines().count(), 2);
    assert_eq!(op(&cli, "commit map @1 hosts.map"), "\n");
    assert_eq!(beg.lookup(b"/x").unwrap().value(), b"root");
    assert_eq!(
        beg.lookup(b"/api/v2").unwrap().value(),
        b"root",
        "commit replaced the content"
    );
    assert_eq!(
        op(&cli, "commit map @1 hosts.map"),
        "Version number out of range.\n\n"
    );
    assert_eq!(
        op(&cli, "commit map hosts.map"),
        "Missing version number.\n\n"
    );
    assert_eq!(op(&cli, "clear map hosts.map"), "\n");
    assert!(hosts.is_empty());
    assert_eq!(op(&cli, "clear map"), "Missing map identifier.\n\n");
}

#[test]
fn acl_commands() {
    let reg = registry();
    let acl = reg.get("bad.acl").unwrap().map.clone();
    let m = acl.matcher(MatchSpec::icase(MatchKind::Sub)).unwrap();
    let cli = Cli::new(reg);
    assert_eq!(op(&cli, "add acl bad.acl wget"), "\n");
    assert!(m.matches(b"Wget/1.0"));
    assert_eq!(op(&cli, "del acl #1 wget"), "\n");
    assert!(!m.matches(b"Wget/1.0"));
    assert_eq!(
        op(&cli, "add acl hosts.map x"),
        "This ACL is shared with a map containing samples. You must use the command 'add map' to add values.\n\n"
    );
    assert_eq!(
        op(&cli, "prepare acl bad.acl"),
        "New version created: 1\n\n"
    );
    assert_eq!(op(&cli, "commit acl @1 bad.acl"), "\n");
    assert!(!m.matches(b"curl"));
    assert!(
        op(&cli, "set acl bad.acl a b").starts_with("Unknown command: 'set acl bad.acl a b'\n")
    );
}

#[test]
fn levels_and_errors() {
    let cli = Cli::new(registry());
    assert_eq!(
        run(&cli, AdminLevel::User, "add map hosts.map a b"),
        "Permission denied\n\n"
    );
    assert_eq!(
        run(&cli, AdminLevel::User, "get map hosts.map /api")
            .lines()
            .count(),
        2
    );
    let help = run(&cli, AdminLevel::User, "help");
    assert!(help.contains("  show map [[@<ver>] <map>]"), "{help}");
    assert!(
        !help.contains("add map"),
        "user help lists only what users may run"
    );
    assert!(run(&cli, AdminLevel::Admin, "help").contains("  commit acl @<ver> <acl>"));
    let unknown = op(&cli, "shwo map");
    assert!(
        unknown.starts_with(
            "Unknown command: 'shwo map'\n\nThe following commands are valid at this level:\n"
        ),
        "{unknown}"
    );
    assert_eq!(
        op(&cli, "show map nope.map"),
        "Unknown map identifier. Please use #<id> or <file>.\n\n"
    );
    assert_eq!(
        op(&cli, "add map hosts.map onlykey"),
        "'add map' expects three parameters (map identifier, key and value) or one parameter (map identifier) and a payload\n\n"
    );
}

#[test]
fn payload_prompt_and_multiple_commands() {
    let reg = registry();
    let hosts = reg.get("hosts.map").unwrap().map.clone();
    let cli = Cli::new(reg);
    let mut s = cli.session(AdminLevel::Operator);
    assert_eq!(s.feed_line("add map hosts.map <<"), "");
    assert!(s.has_pending_payload());
    assert_eq!(s.feed_line("/p1 first value"), "");
    assert_eq!(s.feed_line("/p2 second"), "");
    assert_eq!(s.feed_line(""), "\n");
    assert!(s.is_closed());
    assert_eq!(hosts.find(b"/p1")[0].value(), b"first value");
    assert_eq!(hosts.find(b"/p2")[0].value(), b"second");

    let mut s = cli.session(AdminLevel::Operator);
    assert_eq!(s.feed_line("prompt"), "\n> ");
    assert_eq!(
        s.feed_line("del map hosts.map /p1; del map hosts.map /p1"),
        "\nKey not found.\n\n> "
    );
    assert!(!s.is_closed());
    assert_eq!(s.feed_line(""), "> ");
    assert_eq!(s.feed_line("quit"), "");
    assert!(s.is_closed());
}

#[tokio::test(flavor = "current_thread")]
async fn over_tcp_and_unix_sockets() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let cli = Cli::new(registry());
    let l = AdminListener::bind(&StatsSocket {
        addr: StatsAddr::Tcp("127.0.0.1:0".parse().unwrap()),
        level: AdminLevel::Admin,
        mode: 0o600,
        location: Default::default(),
    })
    .unwrap();
    let addr = l.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(l.serve(cli.clone(), async {
        let _ = stopped.await;
    }));
    let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
    c.write_all(b"set map hosts.map /api v9;get map hosts.map /api/x\n")
        .await
        .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).await.unwrap();
    assert_eq!(
        out,
        "\ntype=beg, case=sensitive, found=yes, idx=tree, key=\"/api\", value=\"v9\", type=\"str\"\n\n"
    );
    // A last line without `\n`, then end of input: still answered.
    let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
    c.write_all(b"del map hosts.map nope").await.unwrap();
    c.shutdown().await.unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).await.unwrap();
    assert_eq!(out, "Key not found.\n\n");
    stop.send(()).unwrap();
    server.await.unwrap();

    let dir = std::env::temp_dir().join(format!("gwd-admin-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gwd.sock");
    let l = AdminListener::bind(&StatsSocket {
        addr: StatsAddr::Unix(path.clone()),
        level: AdminLevel::User,
        mode: 0o660,
        location: Default::default(),
    })
    .unwrap();
    // Bound under a name of its own until published (a failed start
    // leaves a running gwd's socket at the path).
    assert!(!path.exists());
    l.publish().unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o660
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(l.serve(cli, async {
        let _ = stopped.await;
    }));
    let mut c = tokio::net::UnixStream::connect(&path).await.unwrap();
    c.write_all(b"clear map hosts.map\n").await.unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).await.unwrap();
    assert_eq!(out, "Permission denied\n\n");
    stop.send(()).unwrap();
    server.await.unwrap();
    assert!(!path.exists(), "the socket file is removed on stop");
    let _ = std::fs::remove_dir_all(&dir);
}
