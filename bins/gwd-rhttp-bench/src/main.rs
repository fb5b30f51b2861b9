//! `gwd-rhttp-bench`: whole-process reverse-HTTP measurements against the
//! real `gwd` binary, on loopback, with the committed test PKI
//! (`examples/reverse/pki`). Run from the repository root through
//! `ci/rhttp-bench.sh`, which builds gwd in release mode first.
//!
//! Scenarios (each bounded in time; every process started here is killed
//! on exit):
//!
//! * `memory`: a gateway and an origin with `nbconn = 1`, then with
//!   `nbconn = N`: RSS of each process once every tunnel is registered
//!   and the processes are idle; per-tunnel cost = (RSS_N - RSS_1)/(N - 1).
//!   Also the time from the origin's start to the N-th registration seen
//!   by the gateway (its log line, written after the tunnel is usable).
//! * `idle-cpu`: N tunnels with `idle-ping` on both sides; CPU time
//!   (user + system, from /proc) each process uses over a quiet window.
//! * `redials`: 10 tunnels left idle for a while: registrations counted on
//!   the gateway must stay at 10.
//! * `restart`: 10 tunnels, `timeout.tunnel-wait` set on the gateway, a
//!   fixed-rate load of fresh-connection GETs through the gateway; the
//!   gateway is killed (SIGKILL) and started again on the same ports. A
//!   request fails if it gets a non-200 answer or its connection breaks
//!   mid-request; a refused connect while no gateway listens is retried
//!   every 2 ms (counted separately), as a client's connect retry would.
//!   Also: time from the new gateway's `ready` line to all tunnels back.
//!
//! Output: one `key=value` line per figure, for `docs/PERFORMANCE.md`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

const REGISTERED: &str = "rhttp tunnel registered";

/// Lines with their arrival times, shared with the reader thread.
type Shared = Arc<(Mutex<Vec<(Instant, String)>>, Condvar)>;

struct Lines {
    inner: Shared,
}

impl Lines {
    fn follow(stream: impl std::io::Read + Send + 'static) -> Lines {
        let inner: Shared = Arc::default();
        let i2 = inner.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                let (m, cv) = &*i2;
                m.lock().unwrap().push((Instant::now(), line));
                cv.notify_all();
            }
        });
        Lines { inner }
    }

    /// Waits until `n` lines match; returns the arrival time of the n-th.
    fn wait_count(
        &self,
        n: usize,
        pred: impl Fn(&str) -> bool,
        limit: Duration,
    ) -> Option<Instant> {
        let (m, cv) = &*self.inner;
        let deadline = Instant::now() + limit;
        let mut g = m.lock().unwrap();
        loop {
            let mut seen = 0;
            for (t, l) in g.iter() {
                if pred(l) {
                    seen += 1;
                    if seen == n {
                        return Some(*t);
                    }
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            g = cv.wait_timeout(g, deadline - now).unwrap().0;
        }
    }

    fn count(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.inner
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, l)| pred(l))
            .count()
    }

    fn all(&self) -> Vec<String> {
        self.inner
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, l)| l.clone())
            .collect()
    }
}

struct Gwd {
    child: Child,
    lines: Lines,
    binds: HashMap<String, Vec<SocketAddr>>,
}

impl Gwd {
    fn start(bin: &Path, dir: &Path, name: &str, toml: &str) -> Gwd {
        let cfg = dir.join(format!("{name}.toml"));
        std::fs::write(&cfg, toml).expect("write config");
        let mut child = Command::new(bin)
            .arg("--config")
            .arg(&cfg)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start gwd");
        let lines = Lines::follow(child.stderr.take().expect("stderr"));
        if lines
            .wait_count(1, |l| l.starts_with("gwd: ready"), Duration::from_secs(30))
            .is_none()
        {
            panic!("{name} did not start:\n{}", lines.all().join("\n"));
        }
        let mut binds: HashMap<String, Vec<SocketAddr>> = HashMap::new();
        for l in lines.all() {
            if let Some(rest) = l.strip_prefix("gwd: listening frontend=") {
                let mut it = rest.split_whitespace();
                let fe = it.next().unwrap_or_default().to_string();
                if let Some(a) = it.next().and_then(|a| a.strip_prefix("addr=")) {
                    binds.entry(fe).or_default().push(a.parse().expect("addr"));
                }
            }
        }
        Gwd {
            child,
            lines,
            binds,
        }
    }

    fn addr(&self, fe: &str) -> SocketAddr {
        self.binds[fe][0]
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Gwd {
    fn drop(&mut self) {
        self.kill();
    }
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

/// User + system CPU time of a process.
fn cpu_time(pid: u32) -> Duration {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name (which may hold spaces, in parentheses).
    let rest = &s[s.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    #[allow(unsafe_code)]
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros(ticks * 1_000_000 / hz)
}

fn pki() -> PathBuf {
    PathBuf::from("examples/reverse/pki")
}

fn gateway_toml(
    visitors: &str,
    registration: &str,
    idle_ping: Option<&str>,
    wait: Option<&str>,
) -> String {
    let p = pki();
    let p = p.display();
    let ping = idle_ping.map_or(String::new(), |d| format!(", idle-ping = \"{d}\""));
    let wait = wait.map_or(String::new(), |d| {
        format!("timeout.tunnel-wait = \"{d}\"\n")
    });
    format!(
        r#"
[defaults]
timeout.connect = "2s"
timeout.client = "30s"
timeout.server = "30s"

[frontend.visitors]
bind = [ {{ addr = "{visitors}" }} ]
default_backend = "tunnels"

[frontend.registration]
bind = [ {{ addr = "{registration}", ssl = true, crt = "{p}/gateway.crt", key = "{p}/gateway.key", ca-file = "{p}/ca.crt", verify = "required", alpn = ["h2"] }} ]
tcp-request.session = [ {{ action = "attach-srv", server = "tunnels/origins", name = "ssl_c_s_dn(CN)" }} ]

[backend.tunnels]
{wait}server = [ {{ name = "origins", addr = "rhttp@", pool-conn-name = "req.hdr(host),field(1,:)"{ping} }} ]
"#
    )
}

fn origin_toml(gateway: SocketAddr, nbconn: usize, idle_ping: Option<&str>) -> String {
    let p = pki();
    let p = p.display();
    let ping = idle_ping.map_or(String::new(), |d| format!(", idle-ping = \"{d}\""));
    format!(
        r#"
[global]
hard-stop-after = "2s"

[defaults]
timeout.connect = "2s"
timeout.client = "30s"
timeout.server = "30s"

[frontend.from-gateway]
bind = [ {{ addr = "rhttp@to-gateway/gw1", nbconn = {nbconn}{ping} }} ]
http-request = [ {{ action = "return", status = 200, content-type = "text/plain", body = "ok\n" }} ]

[backend.to-gateway]
server = [ {{ name = "gw1", addr = "{gateway}", ssl = true, proto = "h2", sni = "gateway.localhost", ca-file = "{p}/ca.crt", crt = "{p}/origin.crt", key = "{p}/origin.key" }} ]
"#
    )
}

fn registered(l: &str) -> bool {
    l.contains(REGISTERED)
}

/// Whole-process reverse-HTTP measurements against the real gwd binary
/// (run through ci/rhttp-bench.sh).
#[derive(clap::Parser)]
#[command(name = "gwd-rhttp-bench", version)]
struct Args {
    /// The gwd binary to measure.
    #[arg(long, default_value = "target/release/gwd")]
    gwd: PathBuf,
    /// Tunnels for `memory` and `idle-cpu`.
    #[arg(long, default_value_t = 1000)]
    tunnels: usize,
    /// Quiet window of `idle-cpu`, seconds.
    #[arg(long, default_value_t = 30)]
    idle_secs: u64,
    /// How long `redials` leaves its tunnels idle, seconds.
    #[arg(long, default_value_t = 60)]
    redial_secs: u64,
    /// Load duration of `restart`, seconds.
    #[arg(long, default_value_t = 10)]
    load_secs: u64,
    /// Requests per second of `restart`'s load.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// Scenarios to run, in order (default: all).
    #[arg(value_parser = ["memory", "idle-cpu", "redials", "restart"])]
    scenarios: Vec<String>,
}

fn parse_args() -> Args {
    let mut a = <Args as clap::Parser>::parse();
    if a.scenarios.is_empty() {
        a.scenarios = ["memory", "idle-cpu", "redials", "restart"]
            .map(String::from)
            .to_vec();
    }
    a
}

fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!("gwd-rhttp-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// Starts a gateway and an origin with `n` tunnels; returns them once the
/// gateway has registered all `n`, with the time the origin took.
fn pair(a: &Args, dir: &Path, n: usize, ping: Option<&str>) -> (Gwd, Gwd, Duration) {
    let gw = Gwd::start(
        &a.gwd,
        dir,
        "gateway",
        &gateway_toml("127.0.0.1:0", "127.0.0.1:0", ping, None),
    );
    let t0 = Instant::now();
    let origin = Gwd::start(
        &a.gwd,
        dir,
        "origin",
        &origin_toml(gw.addr("registration"), n, ping),
    );
    let t = gw
        .lines
        .wait_count(n, registered, Duration::from_secs(60))
        .unwrap_or_else(|| {
            panic!(
                "only {} of {n} tunnels registered",
                gw.lines.count(registered)
            )
        });
    (gw, origin, t - t0)
}

fn memory(a: &Args, dir: &Path) {
    let settle = Duration::from_secs(2);
    let (gw1, or1, _) = pair(a, dir, 1, None);
    std::thread::sleep(settle);
    let (g1, o1) = (rss_kib(gw1.pid()), rss_kib(or1.pid()));
    drop((gw1, or1));
    let (gwn, orn, took) = pair(a, dir, a.tunnels, None);
    let (gc, oc) = (cpu_time(gwn.pid()), cpu_time(orn.pid()));
    std::thread::sleep(settle);
    let (gn, on) = (rss_kib(gwn.pid()), rss_kib(orn.pid()));
    let n = a.tunnels as f64 - 1.0;
    println!("tunnels={}", a.tunnels);
    println!("dial_all_ms={:.1}", took.as_secs_f64() * 1000.0);
    println!(
        "cpu_ms_at_all_up: gateway={:.0} origin={:.0} (process start included)",
        gc.as_secs_f64() * 1000.0,
        oc.as_secs_f64() * 1000.0
    );
    println!("gateway_rss_kib_1={g1} gateway_rss_kib_n={gn}");
    println!("origin_rss_kib_1={o1} origin_rss_kib_n={on}");
    println!(
        "gateway_kib_per_tunnel={:.1} origin_kib_per_tunnel={:.1}",
        (gn as f64 - g1 as f64) / n,
        (on as f64 - o1 as f64) / n
    );
}

fn idle_cpu(a: &Args, dir: &Path) {
    let (gw, origin, _) = pair(a, dir, a.tunnels, Some("10s"));
    // Let the dial burst and its allocations settle before measuring.
    std::thread::sleep(Duration::from_secs(2));
    let (g0, o0) = (cpu_time(gw.pid()), cpu_time(origin.pid()));
    let window = Duration::from_secs(a.idle_secs);
    std::thread::sleep(window);
    let (g1, o1) = (cpu_time(gw.pid()), cpu_time(origin.pid()));
    let per_s = |d: Duration| d.as_secs_f64() * 1000.0 / window.as_secs_f64();
    println!(
        "idle_ping=10s tunnels={} window_s={}",
        a.tunnels, a.idle_secs
    );
    println!(
        "gateway_cpu_ms_per_s={:.2} origin_cpu_ms_per_s={:.2}",
        per_s(g1 - g0),
        per_s(o1 - o0)
    );
    println!(
        "registrations_during_window={}",
        gw.lines.count(registered) - a.tunnels
    );
}

fn redials(a: &Args, dir: &Path) {
    let (gw, _origin, _) = pair(a, dir, 10, None);
    std::thread::sleep(Duration::from_secs(a.redial_secs));
    println!(
        "idle_s={} tunnels=10 redials={}",
        a.redial_secs,
        gw.lines.count(registered) - 10
    );
}

#[derive(Default)]
struct LoadStats {
    ok: AtomicU64,
    failed: AtomicU64,
    refused_retries: AtomicU64,
    max_latency_us: AtomicU64,
    /// Why requests failed, with when they started (for the report).
    failures: Mutex<Vec<(Instant, String)>>,
}

async fn one_request(addr: SocketAddr, stats: &LoadStats) {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(5);
    let tcp = loop {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(s) => break Some(s),
            Err(e)
                if e.kind() == std::io::ErrorKind::ConnectionRefused
                    && Instant::now() < deadline =>
            {
                stats.refused_retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Err(_) => break None,
        }
    };
    let outcome: Result<(), String> = match tcp {
        None => Err("connect failed".into()),
        Some(tcp) => {
            let io = hyper_util::rt::TokioIo::new(tcp);
            match hyper::client::conn::http1::handshake(io).await {
                Err(e) => Err(format!("handshake: {e}")),
                Ok((mut tx, conn)) => {
                    tokio::spawn(conn);
                    let req = http::Request::get("/")
                        .header("host", "app.localhost")
                        .body(http_body_util::Empty::<bytes::Bytes>::new())
                        .expect("request");
                    match tx.send_request(req).await {
                        Ok(r) if r.status() == 200 => {
                            use http_body_util::BodyExt;
                            r.into_body()
                                .collect()
                                .await
                                .map(|_| ())
                                .map_err(|e| format!("body: {e}"))
                        }
                        Ok(r) => Err(format!("status {}", r.status())),
                        Err(e) => Err(format!("request: {e}")),
                    }
                }
            }
        }
    };
    let ok = outcome.is_ok();
    if let Err(why) = outcome {
        stats.failures.lock().unwrap().push((start, why));
    }
    let us = start.elapsed().as_micros() as u64;
    stats.max_latency_us.fetch_max(us, Ordering::Relaxed);
    if ok {
        stats.ok.fetch_add(1, Ordering::Relaxed);
    } else {
        stats.failed.fetch_add(1, Ordering::Relaxed);
    }
}

fn restart(a: &Args, dir: &Path) {
    // First start on free ports, then pin them so the restart reuses them.
    let probe = Gwd::start(
        &a.gwd,
        dir,
        "probe",
        &gateway_toml("127.0.0.1:0", "127.0.0.1:0", None, None),
    );
    let (v, r) = (probe.addr("visitors"), probe.addr("registration"));
    drop(probe);
    let toml = gateway_toml(&v.to_string(), &r.to_string(), Some("1s"), Some("2s"));
    let mut gw = Gwd::start(&a.gwd, dir, "gateway", &toml);
    let _origin = Gwd::start(&a.gwd, dir, "origin", &origin_toml(r, 10, Some("1s")));
    gw.lines
        .wait_count(10, registered, Duration::from_secs(30))
        .expect("10 tunnels");

    let stats = Arc::new(LoadStats::default());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let total = a.rate * a.load_secs;
    let interval = Duration::from_micros(1_000_000 / a.rate.max(1));
    let load = {
        let stats = stats.clone();
        rt.spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut tasks = Vec::with_capacity(total as usize);
            for _ in 0..total {
                tick.tick().await;
                let stats = stats.clone();
                tasks.push(tokio::spawn(async move { one_request(v, &stats).await }));
            }
            for t in tasks {
                let _ = t.await;
            }
        })
    };
    // Kill the gateway a third of the way in, start it again at once.
    std::thread::sleep(Duration::from_secs(a.load_secs / 3));
    let killed_at = Instant::now();
    gw.kill();
    let gw2 = Gwd::start(&a.gwd, dir, "gateway2", &toml);
    let ready = gw2
        .lines
        .wait_count(1, |l| l.starts_with("gwd: ready"), Duration::from_secs(10))
        .expect("ready");
    let back = gw2
        .lines
        .wait_count(10, registered, Duration::from_secs(30));
    rt.block_on(load).expect("load");
    println!("rate_per_s={} requests={total} tunnel_wait=2s", a.rate);
    println!(
        "ok={} failed={} refused_connect_retries={} max_latency_ms={:.1}",
        stats.ok.load(Ordering::Relaxed),
        stats.failed.load(Ordering::Relaxed),
        stats.refused_retries.load(Ordering::Relaxed),
        stats.max_latency_us.load(Ordering::Relaxed) as f64 / 1000.0
    );
    for (t, why) in stats.failures.lock().unwrap().iter() {
        let rel = if *t >= killed_at {
            format!("+{:.1}", (*t - killed_at).as_secs_f64() * 1000.0)
        } else {
            format!("-{:.1}", (killed_at - *t).as_secs_f64() * 1000.0)
        };
        println!("failure started_ms_from_kill={rel} reason={why:?}");
    }
    println!(
        "gateway_down_to_ready_ms={:.1}",
        (ready - killed_at).as_secs_f64() * 1000.0
    );
    match back {
        Some(t) => println!(
            "tunnels_back_after_ready_ms={:.1}",
            t.saturating_duration_since(ready).as_secs_f64() * 1000.0
        ),
        None => println!("tunnels_back_after_ready_ms=never"),
    }
}

fn main() {
    let a = parse_args();
    if !a.gwd.exists() {
        eprintln!(
            "error: {} not found: build it (cargo build --release -p gwd) or pass --gwd",
            a.gwd.display()
        );
        std::process::exit(2);
    }
    let dir = scratch();
    for s in a.scenarios.clone() {
        println!("## {s}");
        match s.as_str() {
            "memory" => memory(&a, &dir),
            "idle-cpu" => idle_cpu(&a, &dir),
            "redials" => redials(&a, &dir),
            "restart" => restart(&a, &dir),
            other => panic!("unknown scenario {other}"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
