//! Binary upgrade through the real binaries: a second gwd started with
//! `--upgrade-from <runtime API socket>` takes the listening sockets of
//! the running one, serves, and tells it to stop. Under load nothing is
//! refused or fails; on a gateway with `timeout.tunnel-wait` the origins
//! re-dial the new process and visitors never see a failure.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gwd_regtests::backend::{Backend, Proto};
use gwd_regtests::client::Client;
use gwd_regtests::{Gwd, Lines, gwd_bin, repo_root, scratch_dir};

/// Starts the new process on `cfg`, taking over from the gwd whose admin
/// socket is `sock`; waits for its `ready` line.
/// The new process, killed when the test ends (passed or not).
struct NewGwd(std::process::Child);

impl Drop for NewGwd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn upgrade(cfg: &Path, sock: &Path) -> (NewGwd, Lines) {
    let mut child = Command::new(gwd_bin())
        .arg("--config")
        .arg(cfg)
        .arg("--upgrade-from")
        .arg(sock)
        .current_dir(repo_root())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the new gwd");
    let lines = Lines::follow(child.stderr.take().expect("stderr"));
    let child = NewGwd(child);
    lines.wait_for("the new gwd's ready line", |l| l.starts_with("gwd: ready"));
    (child, lines)
}

/// Counts of what the load saw.
#[derive(Default)]
struct Load {
    ok: AtomicUsize,
    failed: AtomicUsize,
    /// Bodies that say which process answered (`one`/`two`).
    by_two: AtomicUsize,
}

/// Visitors until `stop`: one new connection per request (a refused
/// connection is a failure), and one keep-alive client that reconnects
/// when its connection was closed while idle (nothing was sent on it), but
/// counts a request sent and not answered as a failure.
fn start_load(
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    load: Arc<Load>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let (stop, load) = (stop.clone(), load.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let mut c = match tokio::net::TcpStream::connect(addr).await {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("connect failed: {e}");
                        load.failed.fetch_add(1, Ordering::SeqCst);
                        continue;
                    }
                };
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let _ = c
                    .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .await;
                let mut out = String::new();
                let _ =
                    tokio::time::timeout(Duration::from_secs(5), c.read_to_string(&mut out)).await;
                if out.starts_with("HTTP/1.1 200") {
                    load.ok.fetch_add(1, Ordering::SeqCst);
                    if out.ends_with("two") {
                        load.by_two.fetch_add(1, Ordering::SeqCst);
                    }
                } else {
                    eprintln!("new-connection request failed: {out:?}");
                    load.failed.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    let (stop, load) = (stop.clone(), load.clone());
    tasks.push(tokio::spawn(async move {
        let mut c = Client::h1(addr).await;
        while !stop.load(Ordering::SeqCst) {
            if !c.is_ready().await {
                // Closed while idle (the old process stopping): nothing
                // was lost; a new connection reaches the new process.
                c = Client::h1(addr).await;
                continue;
            }
            let req = http::Request::get("/")
                .header("host", "x")
                .body(gwd_regtests::client::empty())
                .unwrap();
            match c.send(req).await {
                Ok(resp) => {
                    let (status, _, _) = gwd_regtests::client::read_all(resp).await;
                    if status == 200 {
                        load.ok.fetch_add(1, Ordering::SeqCst);
                    } else {
                        load.failed.fetch_add(1, Ordering::SeqCst);
                    }
                }
                Err(e) if e.is_canceled() => c = Client::h1(addr).await,
                Err(e) => {
                    eprintln!("keep-alive request failed: {e:?}");
                    load.failed.fetch_add(1, Ordering::SeqCst);
                    c = Client::h1(addr).await;
                }
            }
        }
    }));
    tasks
}

const CONFIG: &str = r#"
[global]
hard-stop-after = "5s"
stats-socket = [ { addr = "SOCK", level = "admin" } ]
[defaults]
timeout.client = "5s"
[frontend.www]
bind = [ { addr = "127.0.0.1:0" } ]
http-request = [ { action = "return", status = 200, body = "BODY" } ]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn upgrade_under_load_refuses_nothing() {
    let dir = scratch_dir("upgrade");
    let sock = dir.join("admin.sock");
    let one = CONFIG.replace("SOCK", &sock.display().to_string());
    let mut old = Gwd::start(&one.replace("BODY", "one"));
    let addr = old.addr("www", 0);
    let stop = Arc::new(AtomicBool::new(false));
    let load = Arc::new(Load::default());
    let tasks = start_load(addr, stop.clone(), load.clone());
    // Some traffic on the old process first.
    let deadline = Instant::now() + Duration::from_secs(10);
    while load.ok.load(Ordering::SeqCst) < 50 {
        assert!(Instant::now() < deadline, "no traffic");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The new process, with a new body. (Port 0 in both files: the
    // socket of the same frontend is taken.)
    let cfg = dir.join("two.toml");
    std::fs::write(&cfg, one.replace("BODY", "two")).unwrap();
    let (new, lines) = tokio::task::block_in_place(|| upgrade(&cfg, &sock));
    assert!(
        lines
            .all()
            .iter()
            .any(|l| l.starts_with("gwd: upgrade: took 1 of 1 listening socket(s) from pid")),
        "{:?}",
        lines.all()
    );
    // The old one stops by itself, cleanly.
    let st = tokio::task::block_in_place(|| old.wait_exit());
    assert_eq!(st.code(), Some(0));
    // Traffic goes on, answered by the new one.
    let before = load.by_two.load(Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    while load.by_two.load(Ordering::SeqCst) < before + 50 {
        assert!(Instant::now() < deadline, "the new process does not answer");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(load.failed.load(Ordering::SeqCst), 0);
    assert!(load.ok.load(Ordering::SeqCst) >= 100);
    // The runtime API socket is the new process's, still there.
    assert!(
        sock.exists(),
        "the old process removed the new one's socket"
    );
    let info = tokio::task::block_in_place(|| {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
        s.write_all(b"show info\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    });
    assert!(info.contains(&format!("\nPid: {}\n", new.0.id())), "{info}");
    drop(new);
}

#[tokio::test(flavor = "multi_thread")]
async fn upgrade_refuses_a_socket_below_admin_and_a_missing_one() {
    let dir = scratch_dir("upgrade-refused");
    let sock = dir.join("op.sock");
    let cfg = CONFIG
        .replace("SOCK", &sock.display().to_string())
        .replace("\"admin\"", "\"operator\"")
        .replace("BODY", "x");
    let old = Gwd::start(&cfg);
    let path = dir.join("new.toml");
    std::fs::write(&path, &cfg).unwrap();
    let (st, _, err) = gwd_regtests::run_gwd(&[
        "--config",
        &path.display().to_string(),
        "--upgrade-from",
        &sock.display().to_string(),
    ]);
    assert_eq!(st.code(), Some(1));
    assert!(
        err.contains("cannot take over the sockets") && err.contains("Permission denied"),
        "{err}"
    );
    let (st, _, err) = gwd_regtests::run_gwd(&[
        "--config",
        &path.display().to_string(),
        "--upgrade-from",
        &dir.join("nope.sock").display().to_string(),
    ]);
    assert_eq!(st.code(), Some(1));
    assert!(err.contains("cannot take over the sockets"), "{err}");
    // The running one is untouched.
    let mut c = Client::h1(old.addr("www", 0)).await;
    assert_eq!(c.get("x", "/").await.0, 200);
}

fn pki_dir() -> std::path::PathBuf {
    repo_root().join("examples/reverse/pki")
}

/// A gateway upgraded while visitors go through tunnels: the old process
/// sends GOAWAY on its tunnels only once the new one serves, the origin
/// re-dials (reaching the new process on the same socket), and visitors
/// waiting with `tunnel-wait` see no failure.
#[tokio::test(flavor = "multi_thread")]
async fn gateway_upgrade_with_tunnel_wait_fails_no_visitor() {
    let p = pki_dir();
    let dir = scratch_dir("upgrade-gw");
    let sock = dir.join("gw.sock");
    let gateway = format!(
        r#"
[global]
hard-stop-after = "5s"
stats-socket = [ {{ addr = "{sock}", level = "admin" }} ]
[defaults]
timeout.connect = "2s"
timeout.client = "10s"
timeout.server = "10s"
timeout.tunnel-wait = "5s"
[frontend.visitors]
bind = [ {{ addr = "127.0.0.1:0" }} ]
default_backend = "tunnels"
[frontend.registration]
bind = [ {{ addr = "127.0.0.1:0", ssl = true, crt = "{p}/gateway.crt", key = "{p}/gateway.key", ca-file = "{p}/ca.crt", verify = "required", alpn = ["h2"] }} ]
tcp-request.session = [ {{ action = "attach-srv", server = "tunnels/origins", name = "ssl_c_s_dn(CN)" }} ]
[backend.tunnels]
server = [ {{ name = "origins", addr = "rhttp@", pool-conn-name = "req.hdr(host),field(1,:)" }} ]
"#,
        sock = sock.display(),
        p = p.display()
    );
    let app = Backend::start("app1", Proto::H1).await;
    let mut old = Gwd::start(&gateway);
    let visitors = old.addr("visitors", 0);
    let origin = Gwd::start(&format!(
        r#"
[defaults]
timeout.connect = "2s"
timeout.client = "10s"
timeout.server = "10s"
[frontend.from-gateway]
bind = [ {{ addr = "rhttp@to-gateway/gw1", nbconn = 2 }} ]
default_backend = "app"
[backend.to-gateway]
server = [ {{ name = "gw1", addr = "{reg}", ssl = true, proto = "h2", sni = "gateway.localhost", ca-file = "{p}/ca.crt", crt = "{p}/origin.crt", key = "{p}/origin.key" }} ]
[backend.app]
server = [ {{ name = "app1", addr = "{app}" }} ]
"#,
        reg = old.addr("registration", 0),
        p = p.display(),
        app = app.addr
    ));
    old.stderr
        .wait_count("tunnels", 2, |l| l.contains("rhttp tunnel registered"));

    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicUsize::new(0));
    let ok = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let (stop, failed, ok) = (stop.clone(), failed.clone(), ok.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                // A new connection each time: the old process stops
                // accepting, the new one takes over the same socket.
                let mut s = tokio::net::TcpStream::connect(visitors).await.unwrap();
                let port = s.local_addr().unwrap().port();
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let _ = s
                    .write_all(
                        b"GET / HTTP/1.1\r\nHost: app.localhost\r\nConnection: close\r\n\r\n",
                    )
                    .await;
                let mut out = Vec::new();
                let read =
                    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
                let out = String::from_utf8_lossy(&out);
                if out.starts_with("HTTP/1.1 200") && out.contains("backend=app1") {
                    ok.fetch_add(1, Ordering::SeqCst);
                } else {
                    eprintln!("visitor from port {port} failed: {read:?} {out:?}");
                    failed.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    let cfg = dir.join("gw2.toml");
    std::fs::write(&cfg, &gateway).unwrap();
    let (new, lines) = tokio::task::block_in_place(|| upgrade(&cfg, &sock));
    assert_eq!(
        tokio::task::block_in_place(|| old.wait_exit()).code(),
        Some(0)
    );
    // The origin re-dialed: both tunnels registered on the new process.
    tokio::task::block_in_place(|| {
        lines.wait_count("tunnels on the new gateway", 2, |l| {
            l.contains("rhttp tunnel registered")
        })
    });
    let seen = ok.load(Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    while ok.load(Ordering::SeqCst) < seen + 30 {
        assert!(
            Instant::now() < deadline,
            "no traffic through the new gateway"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "old: {:#?}\nnew: {:#?}",
        old.stderr.all(),
        lines.all()
    );
    drop(origin);
    drop(new);
}

/// An upgrade whose new process fails to start (its config binds a port
/// that is taken) leaves the running gwd reachable on its runtime API
/// socket, so it can be tried again.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_upgrade_leaves_the_running_socket_in_place() {
    let dir = scratch_dir("upgrade-failed");
    let sock = dir.join("admin.sock");
    let one = CONFIG.replace("SOCK", &sock.display().to_string());
    let old = Gwd::start(&one.replace("BODY", "one"));
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bad = one.replace("BODY", "two").replace(
        "level = \"admin\" }",
        &format!(
            "level = \"admin\" }}, {{ addr = \"{}\", level = \"user\" }}",
            busy.local_addr().unwrap()
        ),
    );
    let cfg = dir.join("bad.toml");
    std::fs::write(&cfg, bad).unwrap();
    let (st, _, err) = gwd_regtests::run_gwd(&[
        "--config",
        &cfg.display().to_string(),
        "--upgrade-from",
        &sock.display().to_string(),
    ]);
    assert_eq!(st.code(), Some(1), "{err}");
    let info = tokio::task::block_in_place(|| {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(&sock).expect("the old socket");
        s.write_all(b"show info\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    });
    assert!(info.contains(&format!("\nPid: {}\n", old.pid())), "{info}");
    let mut c = Client::h1(old.addr("www", 0)).await;
    assert_eq!(c.get("x", "/").await.2, "one");
}
