//! Support for gwd's regtests: run the real `gwd` binary black-box, the
//! way HAProxy's reg-tests run haproxy.
//!
//! - [`Gwd`] writes a TOML fixture, starts `target/<profile>/gwd` on it,
//!   waits for its `gwd: ready` line (no sleeps), and learns the real
//!   address of every bind from its `gwd: listening` lines, so fixtures
//!   bind port 0 and tests never race for ports.
//! - [`backend`] starts in-process servers on 127.0.0.1:0 that behave in
//!   scripted ways (echo, slow, broken).
//! - [`client`] sends requests over HTTP/1.1, h2c and TLS.
//!
//! Everything stays on loopback, and every wait is bounded.

pub mod backend;
pub mod client;
pub mod rhttp;
pub mod runtime_api;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long any wait on gwd may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// The gwd binary under test: `$GWD_BIN`, else `gwd` beside the test
/// executable's `deps/` folder (built by `cargo test --workspace`, because
/// the `gwd` package has integration tests).
pub fn gwd_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("GWD_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let bin = dir.join("gwd");
    assert!(
        bin.exists(),
        "{} not found: run `cargo test --workspace` (or `cargo build -p gwd`), or set GWD_BIN",
        bin.display()
    );
    bin
}

/// A fresh scratch directory for one test.
///
/// A test process cannot clean up after itself (tests that fail keep
/// their files for a look), so the first call sweeps the folders of test
/// processes that are gone.
pub fn scratch_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    static SWEEP: std::sync::Once = std::sync::Once::new();
    SWEEP.call_once(sweep_scratch_dirs);
    let d = std::env::temp_dir().join(format!(
        "gwd-regtest-{}-{}-{}",
        std::process::id(),
        tag,
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// Removes `gwd-regtest-<pid>-…` folders whose process no longer runs.
fn sweep_scratch_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("gwd-regtest-")) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

#[derive(Debug, Default)]
struct Output {
    lines: Vec<String>,
    closed: bool,
}

/// Lines a child wrote to stderr or stdout, shared with a reader thread.
#[derive(Debug, Clone, Default)]
pub struct Lines(Arc<(Mutex<Output>, Condvar)>);

impl Lines {
    pub fn follow(stream: impl std::io::Read + Send + 'static) -> Lines {
        let lines = Lines::default();
        let l2 = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                let (m, cv) = &*l2.0;
                m.lock().unwrap().lines.push(line);
                cv.notify_all();
            }
            let (m, cv) = &*l2.0;
            m.lock().unwrap().closed = true;
            cv.notify_all();
        });
        lines
    }

    /// Everything so far.
    pub fn all(&self) -> Vec<String> {
        self.0.0.lock().unwrap().lines.clone()
    }

    /// Waits until a line satisfies `pred`; returns it. Panics after
    /// [`WAIT`] with everything seen.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let (m, cv) = &*self.0;
        let deadline = Instant::now() + WAIT;
        let mut out = m.lock().unwrap();
        loop {
            if let Some(l) = out.lines.iter().find(|l| pred(l)) {
                return l.clone();
            }
            let now = Instant::now();
            if out.closed || now >= deadline {
                panic!(
                    "gave up waiting for {what} ({}); output:\n{}",
                    if out.closed {
                        "stream closed"
                    } else {
                        "timeout"
                    },
                    out.lines.join("\n")
                );
            }
            out = cv.wait_timeout(out, deadline - now).unwrap().0;
        }
    }

    /// Waits until at least `n` lines satisfy `pred`. Panics after [`WAIT`]
    /// with everything seen.
    pub fn wait_count(&self, what: &str, n: usize, pred: impl Fn(&str) -> bool) {
        let (m, cv) = &*self.0;
        let deadline = Instant::now() + WAIT;
        let mut out = m.lock().unwrap();
        loop {
            let have = out.lines.iter().filter(|l| pred(l)).count();
            if have >= n {
                return;
            }
            let now = Instant::now();
            if out.closed || now >= deadline {
                panic!(
                    "gave up waiting for {n} x {what} (have {have}); output:\n{}",
                    out.lines.join("\n")
                );
            }
            out = cv.wait_timeout(out, deadline - now).unwrap().0;
        }
    }

    /// How many lines satisfy `pred` now.
    pub fn count(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.0
            .0
            .lock()
            .unwrap()
            .lines
            .iter()
            .filter(|l| pred(l))
            .count()
    }
}

/// A running gwd.
#[derive(Debug)]
pub struct Gwd {
    child: Option<Child>,
    pub dir: PathBuf,
    pub stderr: Lines,
    /// What gwd wrote to stdout (access lines of a `log = ["stdout ..."]`
    /// target), line by line.
    pub stdout: Lines,
    binds: HashMap<String, Vec<SocketAddr>>,
}

impl Gwd {
    /// Writes `toml` as `gw.toml` in a scratch dir and starts gwd on it,
    /// from the repository root (so example paths resolve).
    pub fn start(toml: &str) -> Gwd {
        let dir = scratch_dir("gwd");
        let cfg = dir.join("gw.toml");
        std::fs::write(&cfg, toml).expect("write config");
        Gwd::start_file(&cfg, dir)
    }

    /// Like [`Gwd::start`], with the process limited to `nofile` file
    /// descriptors (soft and hard).
    pub fn start_with_nofile(toml: &str, nofile: u32) -> Gwd {
        let dir = scratch_dir("gwd");
        let cfg = dir.join("gw.toml");
        std::fs::write(&cfg, toml).expect("write config");
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("ulimit -n {nofile} && exec \"$0\" --config \"$1\""))
            .arg(gwd_bin())
            .arg(&cfg);
        Gwd::spawn(cmd, dir)
    }

    /// Starts gwd on an existing config file.
    pub fn start_file(cfg: &Path, dir: PathBuf) -> Gwd {
        let mut cmd = Command::new(gwd_bin());
        cmd.arg("--config").arg(cfg);
        Gwd::spawn(cmd, dir)
    }

    /// Like [`Gwd::start`], with `setup` applied to the command first
    /// (environment, credentials).
    pub fn start_with(toml: &str, setup: impl FnOnce(&mut Command)) -> Gwd {
        let dir = scratch_dir("gwd");
        let cfg = dir.join("gw.toml");
        std::fs::write(&cfg, toml).expect("write config");
        let mut cmd = Command::new(gwd_bin());
        cmd.arg("--config").arg(&cfg);
        setup(&mut cmd);
        Gwd::spawn(cmd, dir)
    }

    /// Like [`Gwd::start`], with `RUST_LOG` set to `filter`.
    pub fn start_with_log(toml: &str, filter: &str) -> Gwd {
        let dir = scratch_dir("gwd");
        let cfg = dir.join("gw.toml");
        std::fs::write(&cfg, toml).expect("write config");
        let mut cmd = Command::new(gwd_bin());
        cmd.arg("--config").arg(&cfg).env("RUST_LOG", filter);
        Gwd::spawn(cmd, dir)
    }

    fn spawn(mut cmd: Command, dir: PathBuf) -> Gwd {
        let log_set = cmd.get_envs().any(|(k, _)| k == "RUST_LOG");
        if !log_set {
            cmd.env(
                "RUST_LOG",
                std::env::var("GWD_TEST_LOG").unwrap_or_else(|_| "info".into()),
            );
        }
        let mut child = cmd
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start gwd");
        let stderr = Lines::follow(child.stderr.take().expect("stderr"));
        let stdout = Lines::follow(child.stdout.take().expect("stdout"));
        let mut gwd = Gwd {
            child: Some(child),
            dir,
            stderr,
            stdout,
            binds: HashMap::new(),
        };
        gwd.stderr
            .wait_for("gwd: ready", |l| l.starts_with("gwd: ready"));
        for l in gwd.stderr.all() {
            if let Some(rest) = l.strip_prefix("gwd: listening ") {
                let mut fe = None;
                let mut addr = None;
                for kv in rest.split_whitespace() {
                    if let Some(v) = kv.strip_prefix("frontend=") {
                        fe = Some(v.to_string());
                    } else if let Some(v) = kv.strip_prefix("addr=") {
                        addr = v.parse().ok();
                    }
                }
                if let (Some(f), Some(a)) = (fe, addr) {
                    gwd.binds.entry(f).or_default().push(a);
                }
            }
        }
        gwd
    }

    /// The `n`-th bound address of a frontend, in config order.
    pub fn addr(&self, frontend: &str, n: usize) -> SocketAddr {
        self.binds
            .get(frontend)
            .and_then(|v| v.get(n))
            .copied()
            .unwrap_or_else(|| panic!("frontend {frontend} has no bind #{n}: {:?}", self.binds))
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends a signal (e.g. `libc::SIGTERM`).
    pub fn signal(&self, sig: i32) {
        let pid = self.pid() as libc::pid_t;
        let rc = send_signal(pid, sig);
        assert_eq!(rc, 0, "kill({pid}, {sig}) failed");
    }

    /// Waits (bounded) for the process to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let child = self.child.as_mut().expect("running");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(st) = child.try_wait().expect("wait") {
                self.child = None;
                return st;
            }
            if Instant::now() >= deadline {
                let pid = child.id();
                panic!(
                    "gwd did not exit within {WAIT:?}\n{}\n--- gwd's stderr ---\n{}",
                    process_snapshot(pid),
                    self.stderr.all().join("\n")
                );
            }
            // Polling a child's exit has no readiness signal in std.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// What a process that will not exit is doing, for the failure message:
/// each thread's name, state and kernel wait channel, and its sockets'
/// TCP states (`ss`, where installed).
fn process_snapshot(pid: u32) -> String {
    let mut out = String::new();
    let read = |p: String| std::fs::read_to_string(p).unwrap_or_default();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            let dir = t.path().display().to_string();
            let stat = read(format!("{dir}/stat"));
            // The state is the field after the parenthesised name.
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .next();
            out += &format!(
                "thread {} ({}): state {} wchan {}\n",
                t.file_name().to_string_lossy(),
                read(format!("{dir}/comm")).trim(),
                state.unwrap_or("?"),
                read(format!("{dir}/wchan")).trim(),
            );
        }
    }
    if let Ok(ss) = Command::new("ss").arg("-tanp").output() {
        let needle = format!("pid={pid},");
        for l in String::from_utf8_lossy(&ss.stdout).lines() {
            if l.contains(&needle) {
                out += l;
                out += "\n";
            }
        }
    }
    out
}

#[allow(unsafe_code)]
fn send_signal(pid: libc::pid_t, sig: i32) -> i32 {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid, sig) }
}

impl Drop for Gwd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The `Sec-WebSocket-Accept` owed for `key` (RFC 6455 §4.2.2), for
/// servers the regtests play.
pub fn websocket_accept(key: &[u8]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key);
    ctx.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let d = ctx.finish();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in d.as_ref().chunks(3) {
        let n = c.iter().fold(0u32, |n, &b| n << 8 | u32::from(b)) << (8 * (3 - c.len()));
        for i in 0..4 {
            out.push(if i <= c.len() {
                alphabet[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

/// The repository root (examples are referenced relative to it).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("regtests/ sits in the repository root")
        .to_path_buf()
}

/// Runs `gwd <args>` to completion (bounded), returning status, stdout
/// and stderr.
pub fn run_gwd(args: &[&str]) -> (ExitStatus, String, String) {
    run_gwd_with(args, |_| {})
}

/// Like [`run_gwd`], with `setup` applied to the command first
/// (environment, credentials).
pub fn run_gwd_with(
    args: &[&str],
    setup: impl FnOnce(&mut Command),
) -> (ExitStatus, String, String) {
    let mut cmd = Command::new(gwd_bin());
    setup(&mut cmd);
    let mut child = cmd
        .args(args)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gwd");
    let out = Lines::follow(child.stdout.take().expect("stdout"));
    let err = Lines::follow(child.stderr.take().expect("stderr"));
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("gwd {args:?} did not finish");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    out.wait_closed();
    err.wait_closed();
    (status, out.all().join("\n"), err.all().join("\n"))
}

impl Lines {
    fn wait_closed(&self) {
        let (m, cv) = &*self.0;
        let deadline = Instant::now() + WAIT;
        let mut out = m.lock().unwrap();
        while !out.closed && Instant::now() < deadline {
            out = cv.wait_timeout(out, Duration::from_millis(100)).unwrap().0;
        }
    }
}
