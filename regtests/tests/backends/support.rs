//! What the backends regtests share (`backends.rs`, `backend_limits.rs`):
//! a recording server, who answered, the runtime API, and the common
//! head of their configurations.

// Each test file uses its own part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gwd_regtests::backend::{raw_server, read_head};
use gwd_regtests::client::Client;
use gwd_regtests::runtime_api::{cli_tcp, stats_addr};
use gwd_regtests::{Gwd, WAIT};
use tokio::io::AsyncWriteExt;

pub async fn poll_until(what: &str, mut cond: impl FnMut() -> bool) {
    tokio::time::timeout(WAIT, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("gave up waiting for {what}"));
}

/// A server that answers each request (HTTP/1.1, keep-alive) after the
/// milliseconds a `/slow/<ms>` in its path says, and records what it saw:
/// the request lines in arrival order, and the most requests it ever had
/// in flight at once. `answering = false` makes it hang (read, never
/// answer): the "accepts connections but never answers" server.
#[derive(Clone)]
pub struct Tracked {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<String>>>,
    pub in_flight: Arc<AtomicUsize>,
    pub max_in_flight: Arc<AtomicUsize>,
    pub answering: Arc<AtomicBool>,
}

impl Tracked {
    pub async fn start(name: &'static str, status: u16) -> Tracked {
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let answering = Arc::new(AtomicBool::new(true));
        let (s2, i2, m2, a2) = (
            seen.clone(),
            in_flight.clone(),
            max_in_flight.clone(),
            answering.clone(),
        );
        let (addr, _) = raw_server(move |mut s| {
            let (seen, in_flight, max_in_flight, answering) =
                (s2.clone(), i2.clone(), m2.clone(), a2.clone());
            async move {
                loop {
                    let head = read_head(&mut s).await;
                    let Some(line) = head.lines().next().filter(|l| !l.is_empty()) else {
                        return;
                    };
                    let line = line.to_owned();
                    seen.lock().unwrap().push(line.clone());
                    if !answering.load(Ordering::SeqCst) {
                        // Hold the connection, answer nothing.
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        return;
                    }
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    max_in_flight.fetch_max(now, Ordering::SeqCst);
                    let ms: u64 = line
                        .split_whitespace()
                        .nth(1)
                        .and_then(|p| p.split_once("/slow/").map(|(_, ms)| ms))
                        .and_then(|p| p.split(['?', '/']).next())
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    let body = format!("{name}\n");
                    let reason = if status == 200 { "OK" } else { "Oops" };
                    let resp = format!(
                        "HTTP/1.1 {status} {reason}\r\ncontent-length: {}\r\nx-served-by: {name}\r\n\r\n{body}",
                        body.len()
                    );
                    if s.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            }
        })
        .await;
        Tracked {
            addr,
            seen,
            in_flight,
            max_in_flight,
            answering,
        }
    }

    /// Request lines whose path starts with `prefix`.
    pub fn requests(&self, prefix: &str) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|p| p.starts_with(prefix))
            })
            .cloned()
            .collect()
    }

    /// Health checks seen (HAProxy's default check is `OPTIONS /`).
    pub fn checks(&self) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("OPTIONS / ") || l.starts_with("GET /health"))
            .count()
    }
}

/// Who answered: the `x-served-by` header.
pub async fn served_by(c: &mut Client, path: &str) -> (u16, String) {
    let (status, h, _) = c.get("app.test", path).await;
    let by = h
        .get("x-served-by")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    (status, by)
}

pub fn admin(gwd: &Gwd, line: &str) -> String {
    cli_tcp(&stats_addr(gwd, "admin"), line)
}

pub const HEAD: &str = r#"
[global]
stats-socket = [ { addr = "127.0.0.1:0", level = "admin" }, { addr = "127.0.0.1:0", level = "user" } ]

[defaults]
timeout.connect = "1s"
timeout.client = "10s"
timeout.server = "10s"

[frontend.www]
bind = [ { addr = "127.0.0.1:0" } ]
default_backend = "app"
"#;
