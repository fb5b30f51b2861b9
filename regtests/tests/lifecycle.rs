//! The process as an operator sees it: `gwd check`, quic-gate, WebSocket
//! pass-through, graceful and hard stops.

use std::time::Duration;

use gwd_regtests::backend::{Backend, Proto};
use gwd_regtests::client::{Client, read_until_close};
use gwd_regtests::{Gwd, run_gwd, scratch_dir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[test]
fn check_reports_every_error_with_location_and_help() {
    let dir = scratch_dir("check");
    let cfg = dir.join("broken.toml");
    std::fs::write(
        &cfg,
        r#"[global]
limited-quic = false

[defaults]
timeout.connect = "5 seconds"

[frontend.www]
bind = [ { addr = "127.0.0.1:8080" }, { addr = "quic4@127.0.0.1:8443" } ]
defualt_backend = "app"
use_backend = [ { backend = "apps", if = "{ path_beg /x }" } ]
http-request = [ { action = "set-header", name = "X", value = "%[req.hdr(host),lowr]" } ]

[backend.app]
server = [ { name = "a1", addr = "127.0.0.1" } ]
"#,
    )
    .unwrap();
    let path = cfg.display().to_string();
    let (status, stdout, stderr) = run_gwd(&["check", "--config", &path]);
    assert_eq!(status.code(), Some(1));
    assert_eq!(stdout, "");
    let expected = format!(
        "error: invalid duration for `connect`: unknown unit ` seconds` in `5 seconds`
  --> {path}:5:19 (defaults.timeout.connect)
  help: write a whole number followed by `us`, `ms`, `s`, `m`, `h` or `d`; a bare number is milliseconds, e.g. `5s`
error: bind `quic4@127.0.0.1:8443`: this build of gwd cannot serve QUIC
  --> {path}:8:48 (frontend.www.bind[1].addr)
  help: set `limited-quic = true` in `[global]` to start without QUIC binds, or remove this bind
error: unknown key `defualt_backend` in frontend `www`
  --> {path}:9:1 (frontend.www.defualt_backend)
  help: did you mean `default_backend`?
error: unknown backend `apps`
  --> {path}:10:29 (frontend.www.use_backend[0].backend)
  help: did you mean `app`?
error: invalid log-format string: unknown converter `lowr`
  --> {path}:11:80 (frontend.www.http-request[0].value)
  help: did you mean `lower`?
error: invalid server address: `127.0.0.1` has no port
  --> {path}:14:34 (backend.app.server[0].addr)
  help: add the port, e.g. `127.0.0.1:80`
{path}: 6 error(s); configuration is invalid"
    );
    assert_eq!(stderr, expected);

    // The daemon refuses to start on the same file, with the same report.
    let (status, _, stderr2) = run_gwd(&["--config", &path]);
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr2.contains("unknown key `defualt_backend`"),
        "{stderr2}"
    );
    assert!(
        stderr2.ends_with("configuration is invalid; not starting"),
        "{stderr2}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn limited_quic_starts_without_quic_binds_and_warns_once_per_bind() {
    let app = Backend::start("app", Proto::H1).await;
    let gwd = Gwd::start(&format!(
        r#"
[global]
limited-quic = true

[frontend.www]
bind = [
  {{ addr = "127.0.0.1:0" }},
  {{ addr = "quic4@127.0.0.1:8443", allow-0rtt = true }},
  {{ addr = "quic6@[::1]:8443" }},
]
default_backend = "app"

[backend.app]
server = [ {{ name = "a", addr = "{}" }} ]
"#,
        app.addr
    ));
    let lines = gwd.stderr.all();
    let skipped: Vec<_> = lines.iter().filter(|l| l.contains("QUIC")).collect();
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("quic4@127.0.0.1:8443") && l.contains("WARN"))
            .count(),
        2,
        "skip + 0-RTT warnings for the first QUIC bind: {skipped:?}"
    );
    assert!(lines.iter().any(|l| l.contains("0-RTT")), "{skipped:?}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("quic6@[::1]:8443") && l.contains("WARN"))
            .count(),
        1,
        "{skipped:?}"
    );
    // Only the TCP bind listens, and it serves.
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("gwd: listening"))
            .count(),
        1
    );
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    assert_eq!(c.get("x", "/").await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn websocket_upgrade_is_relayed() {
    let app = Backend::start("ws", Proto::H1).await;
    let gwd = Gwd::start(&format!(
        r#"
[defaults]
timeout.client = "5s"
timeout.server = "5s"

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
default_backend = "ws"

[backend.ws]
server = [ {{ name = "w1", addr = "{}" }} ]
"#,
        app.addr
    ));
    let mut s = TcpStream::connect(gwd.addr("www", 0)).await.unwrap();
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(gwd_regtests::WAIT, s.read(&mut b))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            n,
            1,
            "closed during the 101 head: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 101 "), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    for msg in [&b"hello"[..], b"second frame", &[0u8, 159, 255, 1]] {
        s.write_all(msg).await.unwrap();
        let mut got = vec![0u8; msg.len()];
        tokio::time::timeout(gwd_regtests::WAIT, s.read_exact(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, msg);
    }
    drop(s);
    gwd.stderr.wait_for("tunnel log line", |l| {
        l.contains("\"GET /ws HTTP/1.1\"") && l.contains(" 101 ")
    });
}

fn stop_config(app: &Backend, hard: &str) -> String {
    format!(
        r#"
[global]
hard-stop-after = "{hard}"

[defaults]
timeout.server = "20s"

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
default_backend = "app"

[backend.app]
server = [ {{ name = "a", addr = "{}" }} ]
"#,
        app.addr
    )
}

async fn wait_hits(app: &Backend, n: usize) {
    tokio::time::timeout(gwd_regtests::WAIT, async {
        while app.hits() < n {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("backend never saw the request");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_in_flight_requests_then_exits_zero() {
    let app = Backend::start("app", Proto::H1).await;
    let mut gwd = Gwd::start(&stop_config(&app, "20s"));
    let addr = gwd.addr("www", 0);
    let inflight = tokio::spawn(async move {
        let mut c = Client::h1(addr).await;
        c.get("x", "/slow/700").await
    });
    wait_hits(&app, 1).await;
    gwd.signal(libc::SIGTERM);
    gwd.stderr.wait_for("stop begins", |l| {
        l.contains("stopping: no new connections")
    });
    // New connections are refused while the old request is still running.
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "listener still open after SIGTERM"
    );
    let (status, _, body) = inflight.await.unwrap();
    assert_eq!((status, body.as_str()), (200, "slow done\n"));
    let st = gwd.wait_exit();
    assert_eq!(st.code(), Some(0));
    gwd.stderr
        .wait_for("clean stop line", |l| l == "gwd: stopped");
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_signals_never_kill_and_sigusr1_stops_softly() {
    let app = Backend::start("app", Proto::H1).await;
    let mut gwd = Gwd::start(&stop_config(&app, "20s"));
    let addr = gwd.addr("www", 0);
    // HAProxy's reload signals reload (the config is unchanged here).
    for (n, (sig, name)) in [(libc::SIGHUP, "SIGHUP"), (libc::SIGUSR2, "SIGUSR2")]
        .into_iter()
        .enumerate()
    {
        gwd.signal(sig);
        gwd.stderr.wait_count("the reload line", n + 1, |l| {
            l.starts_with("gwd: reload (signal): configuration reloaded")
        });
        assert_eq!(
            gwd.stderr
                .count(|l| l == format!("gwd: {name} received: reloading the configuration")),
            1
        );
        let mut c = Client::h1(addr).await;
        assert_eq!(c.get("x", "/").await.0, 200);
    }
    // The others: logged as not supported, and gwd serves on.
    for (sig, name) in [
        (libc::SIGTTOU, "SIGTTOU"),
        (libc::SIGTTIN, "SIGTTIN"),
        (libc::SIGQUIT, "SIGQUIT"),
    ] {
        gwd.signal(sig);
        gwd.stderr.wait_for("the refusal line", |l| {
            l.starts_with(&format!("gwd: {name} received: ")) && l.contains("is not supported yet")
        });
        let mut c = Client::h1(addr).await;
        assert_eq!(c.get("x", "/").await.0, 200);
    }
    // SIGUSR1: HAProxy's soft stop, the same drain as SIGTERM.
    let inflight = tokio::spawn(async move {
        let mut c = Client::h1(addr).await;
        c.get("x", "/slow/500").await
    });
    // Five answered in the loops above, then the slow one.
    wait_hits(&app, 6).await;
    gwd.signal(libc::SIGUSR1);
    gwd.stderr.wait_for("the stop line", |l| {
        l.starts_with("gwd: SIGUSR1 received: stopping")
    });
    assert_eq!(inflight.await.unwrap().0, 200);
    assert_eq!(gwd.wait_exit().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_stop_signal_stops_at_once_without_hard_stop_after() {
    let app = Backend::start("app", Proto::H1).await;
    // No `hard-stop-after`: the drain would wait for ever.
    let cfg = stop_config(&app, "1s").replace("hard-stop-after = \"1s\"\n", "");
    let mut gwd = Gwd::start(&cfg);
    let addr = gwd.addr("www", 0);
    let stuck = tokio::spawn(async move {
        let mut c = Client::h1(addr).await;
        c.send(
            http::Request::get("/slow/20000")
                .header("host", "x")
                .body(gwd_regtests::client::empty())
                .unwrap(),
        )
        .await
        .is_err()
    });
    wait_hits(&app, 1).await;
    gwd.signal(libc::SIGTERM);
    gwd.stderr.wait_for("the drain", |l| {
        l.starts_with("gwd: SIGTERM received: stopping")
    });
    gwd.signal(libc::SIGINT);
    gwd.stderr.wait_for("the hard stop", |l| {
        l.starts_with("gwd: SIGINT received again: hard stop")
    });
    assert_eq!(gwd.wait_exit().code(), Some(0));
    gwd.stderr.wait_for("what it closed", |l| {
        l == "gwd: hard stop; closed 1 connection(s)"
    });
    assert!(
        stuck.await.unwrap(),
        "the cut request saw its connection end"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hard_stop_after_cuts_what_is_left() {
    let app = Backend::start("app", Proto::H1).await;
    let mut gwd = Gwd::start(&stop_config(&app, "300ms"));
    let addr = gwd.addr("www", 0);
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /slow/15000 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    wait_hits(&app, 1).await;
    gwd.signal(libc::SIGINT);
    let st = gwd.wait_exit();
    assert_eq!(st.code(), Some(0));
    gwd.stderr.wait_for("hard stop line", |l| {
        l.contains("gwd: hard stop; closed 1 connection(s)")
    });
    // The cut connection is closed, without a response.
    assert_eq!(read_until_close(&mut s, Duration::from_secs(5)).await, "");
    // Its request is logged, killed by gwd (`K`) while it waited for the
    // server's head (`H`); it used to leave no line.
    let line = gwd
        .stderr
        .wait_for("the cut request's line", |l| l.contains("GET /slow/15000"));
    assert!(line.contains(" -1 ") && line.contains("KH--"), "{line}");
}

/// `RUST_LOG=debug` says more than the default: each connection's accept
/// and close, where each request was routed, and whether its server
/// connection was opened or reused. The default (`info`) says none of it.
#[tokio::test(flavor = "multi_thread")]
async fn rust_log_debug_follows_connections_and_requests() {
    let app = Backend::start("app", Proto::H1).await;
    let toml = format!(
        r#"
[defaults]
timeout.client = "5s"
timeout.connect = "2s"
timeout.server = "5s"

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
default_backend = "app"

[backend.app]
server = [ {{ name = "a1", addr = "{}" }} ]
"#,
        app.addr
    );
    let debug = Gwd::start_with_log(&toml, "debug");
    let mut c = Client::h1(debug.addr("www", 0)).await;
    assert_eq!(c.get("x", "/one").await.0, 200);
    assert_eq!(c.get("x", "/two").await.0, 200);
    drop(c);
    for (what, needle) in [
        ("accept", "connection accepted"),
        ("routing", "request routed"),
        ("connect", "server connection opened"),
        ("reuse", "reusing an idle server connection"),
        ("close", "connection closed"),
    ] {
        let l = debug.stderr.wait_for(what, |l| l.contains(needle));
        assert!(l.contains("DEBUG"), "{l}");
    }
    assert!(
        debug
            .stderr
            .all()
            .iter()
            .any(|l| l.contains("request routed") && l.contains("backend=app"))
    );

    let quiet = Gwd::start(&toml);
    let mut c = Client::h1(quiet.addr("www", 0)).await;
    assert_eq!(c.get("x", "/one").await.0, 200);
    quiet
        .stderr
        .wait_for("access line", |l| l.contains("\"GET /one HTTP/1.1\""));
    assert!(
        !quiet
            .stderr
            .all()
            .iter()
            .any(|l| l.contains("request routed") || l.contains("connection accepted")),
        "debug lines at the default level"
    );
}

/// An operator's stderr that is gone (a pipe whose reader exited: a
/// crashed log collector) must not make gwd deaf: SIGTERM still stops it.
/// gwd's "SIGTERM received" line then fails to be written (EPIPE), which
/// once panicked the task that watches the signals.
#[test]
fn sigterm_stops_gwd_whose_stderr_is_gone() {
    use std::io::{BufRead, BufReader};
    let dir = scratch_dir("stderr-gone");
    let cfg = dir.join("gw.toml");
    std::fs::write(
        &cfg,
        "[frontend.www]\nbind = [ { addr = \"127.0.0.1:0\" } ]\ntimeout.client = \"30s\"\n\
         http-request = [ { action = \"return\", status = 200, body = \"up\" } ]\n",
    )
    .unwrap();
    let mut child = std::process::Command::new(gwd_regtests::gwd_bin())
        .args(["--config", &cfg.display().to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "gwd ended before it was ready"
        );
        if line.starts_with("gwd: ready") {
            break;
        }
    }
    // The reader goes away: what gwd writes to stderr from now on fails.
    drop(stderr);
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    #[allow(unsafe_code)]
    // SAFETY: kill(2) has no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let deadline = std::time::Instant::now() + gwd_regtests::WAIT;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            panic!("gwd did not stop on SIGTERM with its stderr gone");
        }
        // Polling a child's exit has no readiness signal in std.
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(status.success(), "{status:?}");
}
