//! Reloading the configuration (SIGHUP, the runtime API's `reload`)
//! through the real binary: under load nothing fails and every request
//! runs on the config in force when it started; a broken config changes
//! nothing; listening sockets, idle keep-alive connections, counters,
//! server states, certificates and reverse-HTTP tunnels behave as
//! docs/OPERATIONS.md says. Readiness is gwd's own log lines, never a
//! sleep.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gwd_regtests::Gwd;
use gwd_regtests::backend::{Backend, Proto};
use gwd_regtests::client::Client;
use gwd_regtests::runtime_api::{cli_tcp, stat_value_at, stats_addr};

const RELOADED: &str = "gwd: reload (signal): configuration reloaded";

fn reloaded(l: &str) -> bool {
    l.starts_with(RELOADED)
}

/// Rewrites the running gwd's config file.
fn rewrite(gwd: &Gwd, toml: &str) {
    std::fs::write(gwd.dir.join("gw.toml"), toml).expect("rewrite config");
}

/// Sends SIGHUP and waits for the `n`th reload line.
fn sighup_and_wait(gwd: &Gwd, n: usize) {
    gwd.signal(libc::SIGHUP);
    gwd.stderr.wait_count("reload line", n, reloaded);
}

/// The address of a listener a reload added (its `gwd: listening` line).
fn new_listener(gwd: &Gwd, frontend: &str) -> SocketAddr {
    let prefix = format!("gwd: listening frontend={frontend} addr=");
    let line = gwd
        .stderr
        .wait_for("new listener", |l| l.starts_with(&prefix));
    line[prefix.len()..]
        .split_whitespace()
        .next()
        .and_then(|a| a.parse().ok())
        .expect("an address")
}

/// Version `v` of the config of the load test: backend `app` points at
/// `server`, requests get `x-tag` from a map file, version 3 on adds a
/// frontend.
fn load_config(server: SocketAddr, map: &std::path::Path, extra_frontend: bool) -> String {
    let extra = if extra_frontend {
        r#"
[frontend.extra]
bind = [ { addr = "127.0.0.1:0" } ]
http-request = [ { action = "return", status = 200, body = "extra" } ]
"#
    } else {
        ""
    };
    format!(
        r#"
[global]
hard-stop-after = "5s"
stats-socket = [ {{ addr = "127.0.0.1:0", level = "admin" }} ]

[defaults]
timeout.connect = "2s"
timeout.client = "10s"
timeout.server = "10s"

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
http-request = [ {{ action = "set-header", name = "x-tag", value = "%[path,map_beg({map},none)]" }} ]
default_backend = "app"
{extra}
[backend.app]
server = [ {{ name = "s", addr = "{server}" }} ]
"#,
        map = map.display()
    )
}

/// What the load clients saw: when each request started and ended, its
/// status and body.
type Records = std::sync::Mutex<Vec<(Instant, Instant, u16, String)>>;

/// The issue's load test: HTTP/1.1 and h2c keep-alive clients at about
/// 200 requests a second for 10 s while the config is reloaded five times
/// (the backend's server changes, a frontend is added, a map file
/// changes, the server changes back). No request fails, no connection is
/// refused or reset (each client keeps its one connection throughout),
/// and a request started after a reload was in force runs on it.
#[tokio::test(flavor = "multi_thread")]
async fn reload_under_load_fails_nothing_and_switches_configs() {
    let a = Backend::start("a", Proto::H1).await;
    let b = Backend::start("b", Proto::H1).await;
    let dir = gwd_regtests::scratch_dir("reload-load");
    let map = dir.join("tags.map");
    std::fs::write(&map, "/ t1\n").unwrap();
    // (server, tag) of each version; version 0 is the start.
    let versions = [
        (a.addr, "t1", false),
        (b.addr, "t1", false),
        (b.addr, "t1", true),
        (b.addr, "t2", true),
        (a.addr, "t2", true),
        (a.addr, "t3", true),
    ];
    let gwd = Gwd::start(&load_config(a.addr, &map, false));
    let www = gwd.addr("www", 0);

    let records = Arc::new(Records::default());
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut clients = Vec::new();
    for i in 0..4 {
        let records = records.clone();
        clients.push(tokio::spawn(async move {
            // One connection each for the whole run: a reset or refused
            // connection fails the request and the test.
            let mut c = if i % 2 == 0 {
                Client::h1(www).await
            } else {
                Client::h2c(www).await
            };
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            let mut n = 0u32;
            while Instant::now() < deadline {
                tick.tick().await;
                let started = Instant::now();
                let (status, _, body) = c.get("www.test", &format!("/r{i}-{n}")).await;
                records
                    .lock()
                    .unwrap()
                    .push((started, Instant::now(), status, body));
                n += 1;
            }
        }));
    }
    // Version k is in force from `in_force[k]` (observed) on; requests
    // started between `sent[k]` and `in_force[k]` may run on either.
    let mut sent = vec![Instant::now()];
    let mut in_force = vec![Instant::now()];
    for (k, (server, tag, extra)) in versions.iter().enumerate().skip(1) {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        std::fs::write(&map, format!("/ {tag}\n")).unwrap();
        rewrite(&gwd, &load_config(*server, &map, *extra));
        sent.push(Instant::now());
        tokio::task::block_in_place(|| sighup_and_wait(&gwd, k));
        in_force.push(Instant::now());
        if k == 2 {
            let extra = new_listener(&gwd, "extra");
            let mut c = Client::h1(extra).await;
            assert_eq!(c.get("x", "/").await.2, "extra");
        }
    }
    for c in clients {
        c.await.expect("a load client panicked");
    }
    let records = std::mem::take(&mut *records.lock().unwrap());
    assert!(records.len() >= 1500, "{} requests", records.len());
    let mut checked = 0;
    for (started, ended, status, body) in &records {
        assert_eq!(*status, 200, "{body}");
        // gwd read the request somewhere between its start and its end:
        // it ran on the version in force at its start, or on one whose
        // reload began before its end.
        let k = in_force.iter().rposition(|t| t <= started).unwrap_or(0);
        let pending = sent.iter().rposition(|t| t <= ended).unwrap_or(0);
        let names = |v: usize| {
            let (server, tag, _) = versions[v];
            let name = if server == a.addr { "a" } else { "b" };
            (format!("backend={name}\n"), format!("x-tag: {tag}"))
        };
        let ok = (k..=pending).any(|v| {
            let (backend, tag) = names(v);
            body.contains(&backend) && body.contains(&tag)
        });
        assert!(
            ok,
            "a request started under version {k} (pending {pending}) got:\n{body}"
        );
        checked += 1;
    }
    assert_eq!(checked, records.len());
    assert!(gwd.stderr.count(|l| l.contains("reload (signal) refused")) == 0);
}

/// A reload with errors changes nothing: the runtime API answers them
/// (with file, line and column), stderr logs them, and traffic keeps the
/// running config. The same through SIGHUP.
#[tokio::test(flavor = "multi_thread")]
async fn broken_config_is_refused_and_the_running_one_stays() {
    let config = r#"
[global]
stats-socket = [ { addr = "127.0.0.1:0", level = "admin" }, { addr = "127.0.0.1:0", level = "operator" } ]
[defaults]
timeout.client = "5s"
[frontend.www]
bind = [ { addr = "127.0.0.1:0" } ]
http-request = [ { action = "return", status = 200, body = "running" } ]
"#;
    let gwd = Gwd::start(config);
    let www = gwd.addr("www", 0);
    let admin = stats_addr(&gwd, "admin");
    let operator = stats_addr(&gwd, "operator");
    rewrite(
        &gwd,
        &config
            .replace("\"running\"", "\"new\"")
            .replace("timeout.client", "timeout.cleint"),
    );
    let answer = tokio::task::block_in_place(|| cli_tcp(&admin, "reload"));
    assert!(answer.starts_with("Success=0\n--\n"), "{answer}");
    assert!(
        answer.contains("unknown key `cleint`") && answer.contains("gw.toml:5:9"),
        "{answer}"
    );
    gwd.stderr.wait_for("refusal line", |l| {
        l.starts_with("gwd: reload (runtime API) refused: 1 error(s)")
    });
    let mut c = Client::h1(www).await;
    assert_eq!(c.get("x", "/").await.2, "running");

    // Only level admin may reload.
    let denied = tokio::task::block_in_place(|| cli_tcp(&operator, "reload"));
    assert_eq!(denied, "Permission denied\n\n");

    gwd.signal(libc::SIGHUP);
    gwd.stderr.wait_for("SIGHUP refusal", |l| {
        l.starts_with("gwd: reload (signal) refused: 1 error(s)")
    });
    assert_eq!(c.get("x", "/").await.2, "running");

    // Fixed, it applies, and the same keep-alive connection sees it.
    // (Written `\reload`, as HAProxy's CLI allows: the same command.)
    rewrite(&gwd, &config.replace("\"running\"", "\"new\""));
    let answer = tokio::task::block_in_place(|| cli_tcp(&admin, "\\reload"));
    assert!(
        answer.starts_with("Success=1\n--\nconfiguration reloaded in "),
        "{answer}"
    );
    assert_eq!(c.get("x", "/").await.2, "new");
}

/// What an unchanged server keeps across a reload: its counters, its
/// run-time admin state and weight; a removed server's row disappears, a
/// new one starts at zero.
#[tokio::test(flavor = "multi_thread")]
async fn servers_keep_counters_and_runtime_states() {
    let a = Backend::start("a", Proto::H1).await;
    let b = Backend::start("b", Proto::H1).await;
    let config = |servers: &str| {
        format!(
            r#"
[global]
stats-socket = [ {{ addr = "127.0.0.1:0", level = "admin" }} ]
[defaults]
timeout.client = "5s"
timeout.server = "5s"
timeout.connect = "2s"
[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
default_backend = "app"
[backend.app]
server = [ {servers} ]
"#
        )
    };
    let sa = format!(r#"{{ name = "a", addr = "{}", weight = 10 }}"#, a.addr);
    let sb = format!(r#"{{ name = "b", addr = "{}", weight = 10 }}"#, b.addr);
    let gwd = Gwd::start(&config(&sa));
    let www = gwd.addr("www", 0);
    let mut c = Client::h1(www).await;
    for _ in 0..3 {
        assert_eq!(c.get("x", "/").await.0, 200);
    }
    let admin = stats_addr(&gwd, "admin");
    tokio::task::block_in_place(|| {
        assert_eq!(cli_tcp(&admin, "set weight app/a 5"), "\n");
        assert_eq!(stat_value_at(&gwd, "admin", "app,a,", "stot"), "3");
    });

    // A new server beside it: `a` keeps its requests and weight.
    rewrite(&gwd, &config(&format!("{sa}, {sb}")));
    tokio::task::block_in_place(|| {
        sighup_and_wait(&gwd, 1);
        assert_eq!(stat_value_at(&gwd, "admin", "app,a,", "stot"), "3");
        assert_eq!(stat_value_at(&gwd, "admin", "app,a,", "weight"), "5");
        assert_eq!(stat_value_at(&gwd, "admin", "app,b,", "stot"), "0");
        assert_eq!(stat_value_at(&gwd, "admin", "app,BACKEND,", "stot"), "3");
        assert_eq!(cli_tcp(&admin, "set server app/a state drain"), "\n");
    });
    // Drained: every request goes to `b` now, on the same connection.
    for _ in 0..4 {
        let (status, _, body) = c.get("x", "/").await;
        assert_eq!(status, 200);
        assert!(body.contains("backend=b"), "{body}");
    }
    // Reloaded unchanged: still drained.
    tokio::task::block_in_place(|| {
        sighup_and_wait(&gwd, 2);
        assert_eq!(stat_value_at(&gwd, "admin", "app,a,", "status"), "DRAIN");
    });
    assert!(c.get("x", "/").await.2.contains("backend=b"));
    // `a` removed: its row goes, `b` keeps its counts.
    rewrite(&gwd, &config(&sb));
    tokio::task::block_in_place(|| {
        sighup_and_wait(&gwd, 3);
        let csv = cli_tcp(&admin, "show stat");
        assert!(!csv.contains("\napp,a,"), "{csv}");
        assert_eq!(stat_value_at(&gwd, "admin", "app,b,", "stot"), "5");
    });
    // The process-wide facts survive too: one keep-alive connection open.
    let info = tokio::task::block_in_place(|| cli_tcp(&admin, "show info"));
    assert!(info.contains("\nCurrConns: 1\n"), "{info}");
}

/// Renewed certificates apply without a restart: after the files are
/// replaced and gwd reloaded, the next handshake on the same (kept)
/// socket presents the new certificate.
#[tokio::test(flavor = "multi_thread")]
async fn reload_reads_certificates_again() {
    let dir = gwd_regtests::scratch_dir("reload-tls");
    let one = gwd_tls::pki::Pki::generate("reload CA one", &["www.test"], &[])
        .unwrap()
        .write_to(&dir.join("one"))
        .unwrap();
    let two = gwd_tls::pki::Pki::generate("reload CA two", &["www.test"], &[])
        .unwrap()
        .write_to(&dir.join("two"))
        .unwrap();
    let crt = dir.join("live.crt");
    let key = dir.join("live.key");
    std::fs::copy(&one.server_cert, &crt).unwrap();
    std::fs::copy(&one.server_key, &key).unwrap();
    let config = format!(
        r#"
[defaults]
timeout.client = "5s"
[frontend.www]
bind = [ {{ addr = "127.0.0.1:0", ssl = true, crt = "{}", key = "{}" }} ]
http-request = [ {{ action = "return", status = 200, body = "tls" }} ]
"#,
        crt.display(),
        key.display()
    );
    let gwd = Gwd::start(&config);
    let www = gwd.addr("www", 0);
    let mut c = Client::tls(www, "www.test", &one.ca_cert, &["http/1.1"], None).await;
    assert_eq!(c.get("www.test", "/").await.2, "tls");
    // The second CA does not know the first certificate.
    assert!(
        gwd_regtests::client::tls_connect(www, "www.test", &two.ca_cert, &["http/1.1"], None)
            .await
            .is_err()
    );

    std::fs::copy(&two.server_cert, &crt).unwrap();
    std::fs::copy(&two.server_key, &key).unwrap();
    tokio::task::block_in_place(|| sighup_and_wait(&gwd, 1));
    let mut fresh = Client::tls(www, "www.test", &two.ca_cert, &["http/1.1"], None).await;
    assert_eq!(fresh.get("www.test", "/").await.2, "tls");
    assert!(
        gwd_regtests::client::tls_connect(www, "www.test", &one.ca_cert, &["http/1.1"], None)
            .await
            .is_err()
    );
    // The connection made before keeps its session.
    assert_eq!(c.get("www.test", "/").await.2, "tls");
}

/// A gateway whose visitors' requests go down tunnels named by Host;
/// `note` changes a request header so each version is visible.
fn gateway_config(note: &str) -> String {
    gwd_regtests::rhttp::gateway_config(
        &format!(
            r#"http-request = [ {{ action = "set-header", name = "x-gateway", value = "{note}" }} ]"#
        ),
        "",
    )
}

fn origin_config(gateway: SocketAddr, app: &Backend, note: &str) -> String {
    gwd_regtests::rhttp::origin_config(
        gateway,
        TUNNELS,
        app.addr,
        &format!(
            r#"http-request = [ {{ action = "set-header", name = "x-origin", value = "{note}" }} ]"#
        ),
    )
}

/// Tunnels the origin keeps up (the issue's gateway holds 100).
const TUNNELS: usize = 100;

/// Reverse HTTP across reloads, both sides: a gateway reloaded five
/// times under traffic keeps every registered tunnel (none closed, none
/// registered again) and fails no request; an origin reloaded with an
/// unchanged `rhttp@` bind keeps its tunnels (0 re-dials) while its new
/// rules apply to the next request.
#[tokio::test(flavor = "multi_thread")]
async fn tunnels_survive_reloads_on_both_sides() {
    const REGISTERED: &str = "rhttp tunnel registered";
    let app = Backend::start("app1", Proto::H1).await;
    let gw = Gwd::start(&gateway_config("g0"));
    let visitors = gw.addr("visitors", 0);
    let origin = Gwd::start(&origin_config(gw.addr("registration", 0), &app, "o0"));
    gw.stderr
        .wait_count(REGISTERED, TUNNELS, |l| l.contains(REGISTERED));

    let mut h1 = Client::h1(visitors).await;
    let mut h2 = Client::h2c(visitors).await;
    for k in 1..=5 {
        rewrite(&gw, &gateway_config(&format!("g{k}")));
        // Requests in flight while the gateway reloads.
        let during = tokio::spawn(async move {
            let mut c = Client::h2c(visitors).await;
            for i in 0..20 {
                let (status, _, body) = c.get("app.localhost", &format!("/d{i}")).await;
                assert_eq!(status, 200, "{body}");
            }
        });
        tokio::task::block_in_place(|| sighup_and_wait(&gw, k));
        during.await.expect("requests during the reload");
        for c in [&mut h1, &mut h2] {
            let (status, _, body) = c.get("app.localhost", "/after").await;
            assert_eq!(status, 200, "{body}");
            assert!(body.contains(&format!("x-gateway: g{k}")), "{body}");
        }
    }
    // Still the same tunnels: none closed, none new.
    assert_eq!(gw.stderr.count(|l| l.contains(REGISTERED)), TUNNELS);
    assert_eq!(gw.stderr.count(|l| l.contains("rhttp tunnel closed")), 0);

    // The origin, reloaded with the same bind: same tunnels, new rules.
    let dials = |o: &Gwd| {
        o.stderr
            .count(|l| l.contains("tunnel up") || l.contains("re-dialing"))
    };
    let before = dials(&origin);
    rewrite(
        &origin,
        &origin_config(gw.addr("registration", 0), &app, "o1"),
    );
    tokio::task::block_in_place(|| sighup_and_wait(&origin, 1));
    assert!(
        origin
            .stderr
            .all()
            .iter()
            .any(|l| l.contains("rhttp dialers 1 kept, 0 new, 0 stopped")),
        "{:?}",
        origin.stderr.all()
    );
    let (status, _, body) = h1.get("app.localhost", "/origin-reloaded").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("x-origin: o1"), "{body}");
    assert_eq!(dials(&origin), before);
    assert_eq!(gw.stderr.count(|l| l.contains(REGISTERED)), TUNNELS);

    // The gateway's `rhttp@` server renamed: its tunnels can serve nothing
    // any more and are closed; the origin re-dials into the new server.
    rewrite(
        &gw,
        &gateway_config("g6")
            .replace("tunnels/origins", "tunnels/origins2")
            .replace("name = \"origins\"", "name = \"origins2\""),
    );
    tokio::task::block_in_place(|| {
        sighup_and_wait(&gw, 6);
        assert!(
            gw.stderr.all().iter().any(|l| l.contains(&format!(
                "; {TUNNELS} tunnel(s) closed (rhttp@ server removed"
            ))),
            "{:?}",
            gw.stderr.all()
        );
        gw.stderr
            .wait_count("re-registered tunnels", 2 * TUNNELS, |l| {
                l.contains(REGISTERED)
            });
    });
    let mut c = Client::h1(visitors).await;
    let (status, _, body) = c.get("app.localhost", "/renamed").await;
    assert_eq!(status, 200, "{body}");

    // Revocation: a reload whose rules no longer admit the origin's name
    // closes its tunnels, and the origin's new registrations are refused.
    let revoking = gateway_config("g7")
        .replace("tunnels/origins", "tunnels/origins2")
        .replace("name = \"origins\"", "name = \"origins2\"")
        .replace(
            "name = \"ssl_c_s_dn(CN)\" }",
            "name = \"ssl_c_s_dn(CN)\", allow-name = \"other.localhost\" }",
        );
    assert!(revoking.contains("allow-name"), "{revoking}");
    rewrite(&gw, &revoking);
    tokio::task::block_in_place(|| sighup_and_wait(&gw, 7));
    let seventh = gw
        .stderr
        .all()
        .into_iter()
        .filter(|l| reloaded(l))
        .nth(6)
        .expect("the 7th reload line");
    // (The count is the tunnels registered at that moment: some of the
    // 100 may still be re-registering after the rename.)
    assert!(
        seventh.contains(" tunnel(s) closed (rhttp@ server removed or registration rules changed)"),
        "{seventh}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = Client::h1(visitors).await;
        if c.get("app.localhost", "/revoked").await.0 == 503 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the revoked origin is still served"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Maps across reloads: a file whose contents did not change keeps the
/// changes made through the runtime API; a changed file is read again.
#[tokio::test(flavor = "multi_thread")]
async fn unchanged_maps_keep_runtime_changes_changed_ones_are_read_again() {
    let dir = gwd_regtests::scratch_dir("reload-maps");
    let map = dir.join("tags.map");
    std::fs::write(&map, "/a from-file\n").unwrap();
    let config = format!(
        r#"
[global]
stats-socket = [ {{ addr = "127.0.0.1:0", level = "admin" }} ]
[defaults]
timeout.client = "5s"
[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
http-request = [ {{ action = "return", status = 200, lf-body = "%[path,map_beg({},none)]" }} ]
"#,
        map.display()
    );
    let gwd = Gwd::start(&config);
    let www = gwd.addr("www", 0);
    let admin = stats_addr(&gwd, "admin");
    let mut c = Client::h1(www).await;
    assert_eq!(c.get("x", "/a").await.2, "from-file");
    let name = map.display().to_string();
    tokio::task::block_in_place(|| {
        assert_eq!(
            cli_tcp(&admin, &format!("set map {name} /a from-api")),
            "\n"
        );
        assert_eq!(cli_tcp(&admin, &format!("add map {name} /b added")), "\n");
    });
    assert_eq!(c.get("x", "/a").await.2, "from-api");
    // The config changes, the map file does not: the runtime changes stay.
    rewrite(&gwd, &config.replace("5s", "6s"));
    tokio::task::block_in_place(|| sighup_and_wait(&gwd, 1));
    assert_eq!(c.get("x", "/a").await.2, "from-api");
    assert_eq!(c.get("x", "/b").await.2, "added");
    // The file changes: read again, the runtime changes are gone.
    std::fs::write(&map, "/a edited\n").unwrap();
    tokio::task::block_in_place(|| sighup_and_wait(&gwd, 2));
    assert_eq!(c.get("x", "/a").await.2, "edited");
    assert_eq!(c.get("x", "/b").await.2, "none");
}

/// A reload reads its files off the runtime's workers: a slow one (a big
/// map file) does not hold traffic up, even with one thread.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_reload_does_not_stall_traffic() {
    let dir = gwd_regtests::scratch_dir("reload-slow");
    let map = dir.join("big.map");
    let mut text = String::with_capacity(3 << 20);
    for i in 0..100_000 {
        text.push_str(&format!("/p{i} v{i}\n"));
    }
    std::fs::write(&map, &text).unwrap();
    let config = format!(
        r#"
[global]
nbthread = 1
[defaults]
timeout.client = "5s"
[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
http-request = [ {{ action = "return", status = 200, lf-body = "%[path,map({},none)]" }} ]
"#,
        map.display()
    );
    let gwd = Gwd::start(&config);
    let www = gwd.addr("www", 0);
    let mut c = Client::h1(www).await;
    assert_eq!(c.get("x", "/p7").await.2, "v7");
    // The file changes (so it is read again, slowly), then the reload.
    text.push_str("/new fresh\n");
    std::fs::write(&map, &text).unwrap();
    gwd.signal(libc::SIGHUP);
    // Requests answered before the reload's line: served during it.
    let mut during = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while gwd.stderr.count(reloaded) == 0 {
        assert!(Instant::now() < deadline, "the reload never ended");
        let mut fresh = Client::h1(www).await;
        assert_eq!(fresh.get("x", "/p7").await.0, 200);
        during += 1;
    }
    assert!(during > 1, "no request was served during the reload");
    assert_eq!(c.get("x", "/new").await.2, "fresh");
}

/// A reload that fails after its file loaded (a port taken) leaves the
/// running maps exactly as they were: their value types still constrain
/// run-time changes, and the running rule still answers.
#[tokio::test(flavor = "multi_thread")]
async fn a_reload_failing_late_leaves_the_running_maps_untouched() {
    let dir = gwd_regtests::scratch_dir("reload-late");
    let map = dir.join("ports.map");
    std::fs::write(&map, "http 80\n").unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = |conv: &str, extra: &str| {
        format!(
            r#"
[global]
stats-socket = [ {{ addr = "127.0.0.1:0", level = "admin" }} ]
[defaults]
timeout.client = "5s"
[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} {extra} ]
http-request = [ {{ action = "return", status = 200, lf-body = "%[req.hdr(x-k),{conv}({},-1)]" }} ]
"#,
            map.display()
        )
    };
    let gwd = Gwd::start(&config("map_str_int", ""));
    let www = gwd.addr("www", 0);
    let admin = stats_addr(&gwd, "admin");
    let name = map.display().to_string();
    let set = format!("set map {name} http eighty");
    let refused = tokio::task::block_in_place(|| cli_tcp(&admin, &set));
    assert_ne!(refused, "\n", "an integer map takes no text value");
    // The new file reads the map as text, and binds a port that is taken.
    rewrite(
        &gwd,
        &config(
            "map",
            &format!(", {{ addr = \"{}\" }}", busy.local_addr().unwrap()),
        ),
    );
    let answer = tokio::task::block_in_place(|| cli_tcp(&admin, "reload"));
    assert!(answer.starts_with("Success=0"), "{answer}");
    // Still the running config's maps: the text value is still refused.
    assert_eq!(
        tokio::task::block_in_place(|| cli_tcp(&admin, &set)),
        refused
    );
    let mut c = Client::h1(www).await;
    let resp = c
        .send(
            http::Request::get("/")
                .header("host", "x")
                .header("x-k", "http")
                .body(gwd_regtests::client::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(gwd_regtests::client::read_all(resp).await.2, "80");
}

/// A reload that keeps a frontend's `maxconn` keeps its budget: the old
/// configuration's connections count against it, and a connection
/// waiting for a slot is served when any connection closes, whichever
/// configuration it belonged to.
#[tokio::test(flavor = "multi_thread")]
async fn a_kept_maxconn_budget_spans_the_reload() {
    let config = r#"
[defaults]
timeout.client = "10s"
[frontend.www]
maxconn = 1
bind = [ { addr = "127.0.0.1:0" } ]
http-request = [ { action = "return", status = 200, body = "ok" } ]
"#;
    let gwd = Gwd::start(config);
    let www = gwd.addr("www", 0);
    // A holds the only slot (an idle keep-alive connection).
    let mut a = Client::h1(www).await;
    assert_eq!(a.get("x", "/").await.2, "ok");
    // B is accepted but waits for the slot.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut b = tokio::net::TcpStream::connect(www).await.unwrap();
    b.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let early = tokio::time::timeout(Duration::from_millis(300), b.read_to_end(&mut out)).await;
    assert!(early.is_err(), "B was served beside A: {out:?}");
    // The same limit after the reload: the same budget. C, accepted by
    // the new configuration, waits too (A still holds the one slot).
    rewrite(&gwd, &config.replace("\"ok\"", "\"new\""));
    tokio::task::block_in_place(|| sighup_and_wait(&gwd, 1));
    let mut c = tokio::net::TcpStream::connect(www).await.unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out_c = Vec::new();
    let early = tokio::time::timeout(Duration::from_millis(300), c.read_to_end(&mut out_c)).await;
    assert!(early.is_err(), "C was served beside A: {out_c:?}");
    // A leaves: B, the first to wait, gets the slot; then C.
    drop(a);
    tokio::time::timeout(Duration::from_secs(5), b.read_to_end(&mut out))
        .await
        .expect("B served once A left")
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut out_c))
        .await
        .expect("C served once B left")
        .unwrap();
    let text = String::from_utf8_lossy(&out_c);
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("new"),
        "{text}"
    );
}

/// `hard-stop-after` bounds a replaced configuration: a request still on
/// it that long after the reload is cut (logged as killed by gwd), while
/// a keep-alive connection that moved on with its next request is not.
#[tokio::test(flavor = "multi_thread")]
async fn hard_stop_after_bounds_a_replaced_configuration() {
    let app = Backend::start("app", Proto::H1).await;
    let config = |note: &str| {
        format!(
            r#"
[global]
hard-stop-after = "1s"
[defaults]
timeout.client = "30s"
timeout.server = "30s"
timeout.connect = "2s"
[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
http-request = [ {{ action = "set-header", name = "x-note", value = "{note}" }} ]
default_backend = "app"
[backend.app]
server = [ {{ name = "a", addr = "{}" }} ]
"#,
            app.addr
        )
    };
    let gwd = Gwd::start(&config("one"));
    let www = gwd.addr("www", 0);
    let mut moving = Client::h1(www).await;
    assert!(moving.get("x", "/").await.2.contains("x-note: one"));
    // A long request on the first configuration.
    let slow = tokio::spawn(async move {
        let mut c = Client::h1(www).await;
        let req = http::Request::get("/slow/20000")
            .header("host", "x")
            .body(gwd_regtests::client::empty())
            .unwrap();
        c.send(req).await.is_err()
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.hits() < 2 {
        assert!(
            Instant::now() < deadline,
            "the slow request never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    rewrite(&gwd, &config("two"));
    tokio::task::block_in_place(|| sighup_and_wait(&gwd, 1));
    // The keep-alive connection moves on with its next request.
    assert!(moving.get("x", "/").await.2.contains("x-note: two"));
    // The slow one is cut about a second after the reload, not after 20.
    let cut = tokio::time::timeout(Duration::from_secs(10), slow)
        .await
        .expect("the old configuration's request was never cut")
        .unwrap();
    assert!(cut, "the slow request was answered");
    tokio::task::block_in_place(|| {
        gwd.stderr.wait_for("the cut line", |l| {
            l.contains(
                "connection cut: its configuration was replaced by a reload hard-stop-after ago",
            )
        });
        gwd.stderr.wait_for("the killed request's log line", |l| {
            l.contains("gwd::access") && l.contains("/slow/20000") && l.contains(" KH--")
        });
    });
    // The moved connection was not cut.
    assert!(moving.get("x", "/").await.2.contains("x-note: two"));
}

/// A reload that renames a frontend: `show info`'s process totals go on
/// (its requests and connections stay counted) and its connection still
/// open stays in `CurrConns` (they dropped to 0 with the frontend).
#[tokio::test(flavor = "multi_thread")]
async fn process_totals_go_on_when_a_reload_renames_a_frontend() {
    let config = |name: &str| {
        format!(
            r#"
[global]
stats-socket = [ {{ addr = "127.0.0.1:0", level = "admin" }} ]
[defaults]
timeout.client = "10s"
timeout.http-keep-alive = "10s"
[frontend.{name}]
bind = [ {{ addr = "127.0.0.1:0" }} ]
http-request = [ {{ action = "return", status = 200, body = "ok" }} ]
"#
        )
    };
    let gwd = Gwd::start(&config("web"));
    let mut c = Client::h1(gwd.addr("web", 0)).await;
    for _ in 0..2 {
        assert_eq!(c.get("x", "/").await.0, 200);
    }
    let admin = stats_addr(&gwd, "admin");
    let value = |info: &str, name: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {info}"))
    };
    rewrite(&gwd, &config("web2"));
    tokio::task::block_in_place(|| {
        sighup_and_wait(&gwd, 1);
        let info = cli_tcp(&admin, "show info");
        assert_eq!(value(&info, "CurrConns"), 1, "{info}");
        assert!(value(&info, "CumConns") >= 1, "{info}");
        assert!(value(&info, "CumReq") >= 2, "{info}");
    });
    drop(c);
}

/// Reloads that rebuild a backend's balancer (here a server's weight
/// changed, twice) keep its servers' `maxconn`: a request still running
/// on a balancer two reloads old holds its slot, so a request arriving
/// on the newest one waits in the queue instead of joining it on the
/// server. It used to be sent at once, the server then holding two
/// requests with `maxconn 1` (after one reload, then after two).
#[tokio::test(flavor = "multi_thread")]
async fn a_rebuilt_balancer_keeps_maxconn_across_the_reload() {
    let app = Backend::start("app", Proto::H1).await;
    let config = |weight: u32| {
        queue_config(
            "app",
            &format!(
                "{{ name = \"s\", addr = \"{}\", maxconn = 1, weight = {weight} }}",
                app.addr
            ),
        )
    };
    let gwd = Gwd::start(&config(1));
    let www = gwd.addr("www", 0);
    // A holds the server's one slot for 1.5 s.
    let slow = hold_the_slot(www, &app).await;
    rewrite(&gwd, &config(2));
    tokio::task::block_in_place(|| sighup_and_wait(&gwd, 1));
    // A second reload while A still runs: its balancer counts A too.
    rewrite(&gwd, &config(3));
    tokio::task::block_in_place(|| sighup_and_wait(&gwd, 2));
    // B, on the newest configuration, waits for A's slot.
    b_waits_for_a(www, slow).await;
}

/// A server a reload leaves out and a later one brings back keeps its
/// count of requests in flight: a request still running from before is
/// counted against its `maxconn` when it returns (it used to start from
/// zero, the server then holding two requests with `maxconn 1`).
#[tokio::test(flavor = "multi_thread")]
async fn a_server_left_out_by_a_reload_keeps_its_count_when_it_returns() {
    server_left_out_then_back("app").await;
}

/// The same when the reload in between replaces the whole backend: the
/// request queued on the returning backend is served once the old one's
/// request ends (it used to wait for `timeout queue`, its queue never
/// told of the freed slot).
#[tokio::test(flavor = "multi_thread")]
async fn a_backend_left_out_by_a_reload_keeps_its_counts_and_queue_when_it_returns() {
    server_left_out_then_back("other").await;
}

/// `s` (maxconn 1) busy with A in backend `app`; a reload to backend
/// `between` with only `t`; a reload back to `app` with `s`: B waits for
/// A, then is served.
async fn server_left_out_then_back(between: &str) {
    let s = Backend::start("s", Proto::H1).await;
    let t = Backend::start("t", Proto::H1).await;
    let only_s = format!("{{ name = \"s\", addr = \"{}\", maxconn = 1 }}", s.addr);
    let only_t = format!("{{ name = \"t\", addr = \"{}\", maxconn = 1 }}", t.addr);
    let gwd = Gwd::start(&queue_config("app", &only_s));
    let www = gwd.addr("www", 0);
    let slow = hold_the_slot(www, &s).await;
    rewrite(&gwd, &queue_config(between, &only_t));
    tokio::task::block_in_place(|| sighup_and_wait(&gwd, 1));
    rewrite(&gwd, &queue_config("app", &only_s));
    tokio::task::block_in_place(|| sighup_and_wait(&gwd, 2));
    b_waits_for_a(www, slow).await;
}

/// `www` sending everything to `backend` with `servers`, requests waiting
/// up to 10 s in its queue.
fn queue_config(backend: &str, servers: &str) -> String {
    format!(
        r#"
[defaults]
timeout.connect = "2s"
timeout.client = "10s"
timeout.server = "10s"
timeout.queue = "10s"

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
default_backend = "{backend}"

[backend.{backend}]
server = [ {servers} ]
"#
    )
}

/// Request A, `/slow/1500` to `www`, on a task of its own, once it has
/// reached `server`; the task gives its status and when it ended.
async fn hold_the_slot(
    www: SocketAddr,
    server: &Backend,
) -> tokio::task::JoinHandle<(u16, Instant)> {
    let slow = tokio::spawn(async move {
        let mut c = Client::h1(www).await;
        let (status, _, _) = c.get("x", "/slow/1500").await;
        (status, Instant::now())
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.hits() < 1 {
        assert!(Instant::now() < deadline, "A never reached the server");
        tokio::task::yield_now().await;
    }
    slow
}

/// Request B to `www` is served, and only once A (`slow`) has ended: the
/// server's `maxconn 1` held.
async fn b_waits_for_a(www: SocketAddr, slow: tokio::task::JoinHandle<(u16, Instant)>) {
    let mut c = Client::h1(www).await;
    let (status, _, body) = c.get("x", "/").await;
    let b_done = Instant::now();
    assert_eq!(status, 200, "{body}");
    let (a_status, a_done) = slow.await.unwrap();
    assert_eq!(a_status, 200);
    assert!(b_done >= a_done, "B was served beside A, over maxconn 1");
}

/// `tune.maxpollevents` sizes the event loop the process started with: a
/// reload whose file differs from the running value applies the rest of
/// the file, keeps serving, and says that the value waits for the next
/// start, at every reload until the file agrees with the process again.
#[tokio::test(flavor = "multi_thread")]
async fn a_reload_says_maxpollevents_waits_for_the_next_start() {
    let config = |events: u32, body: &str| {
        format!(
            r#"
[global]
nbthread = 1
tune.maxpollevents = {events}
[defaults]
timeout.client = "5s"
[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
http-request = [ {{ action = "return", status = 200, body = "{body}" }} ]
"#
        )
    };
    let gwd = Gwd::start(&config(1, "one"));
    let www = gwd.addr("www", 0);
    // One event a turn still serves several connections at once.
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(Client::h1(www).await);
    }
    for c in &mut clients {
        assert_eq!(c.get("x", "/").await.2, "one");
    }
    let warned =
        |l: &str| l.contains("global.tune.maxpollevents changed; it applies at the next start");
    rewrite(&gwd, &config(64, "two"));
    tokio::task::block_in_place(|| sighup_and_wait(&gwd, 1));
    gwd.stderr.wait_count("the next-start warning", 1, warned);
    for c in &mut clients {
        assert_eq!(c.get("x", "/").await.2, "two");
    }
    // Still not what runs: said again at the next reload.
    rewrite(&gwd, &config(64, "three"));
    tokio::task::block_in_place(|| sighup_and_wait(&gwd, 2));
    gwd.stderr.wait_count("the warning, again", 2, warned);
    // Back to the running value: nothing to say.
    rewrite(&gwd, &config(1, "four"));
    tokio::task::block_in_place(|| sighup_and_wait(&gwd, 3));
    for c in &mut clients {
        assert_eq!(c.get("x", "/").await.2, "four");
    }
    assert_eq!(gwd.stderr.count(warned), 2);
}
