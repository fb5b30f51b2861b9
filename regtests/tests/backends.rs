//! Backends an operator can trust (issue 12), through the real binary:
//! health checks take dead, hung and failing servers out and bring them
//! back; the runtime API drains and maintains servers; backups, weights,
//! `maxconn` queues and the balancing algorithms send each request where
//! HAProxy would.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gwd_regtests::backend::{Backend, Proto, closed_port, raw_server, read_head};
use gwd_regtests::client::Client;
use gwd_regtests::runtime_api::{cli_tcp, stat_value, stats_addr};
use gwd_regtests::{Gwd, WAIT};
use tokio::io::AsyncWriteExt;

async fn poll_until(what: &str, mut cond: impl FnMut() -> bool) {
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
struct Tracked {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
    answering: Arc<AtomicBool>,
}

impl Tracked {
    async fn start(name: &'static str, status: u16) -> Tracked {
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
    fn requests(&self, prefix: &str) -> Vec<String> {
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
    fn checks(&self) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("OPTIONS / ") || l.starts_with("GET /health"))
            .count()
    }
}

/// Who answered: the `x-served-by` header.
async fn served_by(c: &mut Client, path: &str) -> (u16, String) {
    let (status, h, _) = c.get("app.test", path).await;
    let by = h
        .get("x-served-by")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    (status, by)
}

fn admin(gwd: &Gwd, line: &str) -> String {
    cli_tcp(&stats_addr(gwd, "admin"), line)
}

const HEAD: &str = r#"
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

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_server_is_taken_out_by_http_checks_and_comes_back_after_rise() {
    let good = Tracked::start("good", 200).await;
    let hung = Tracked::start("hung", 200).await;
    hung.answering.store(false, Ordering::SeqCst);
    let gwd = Gwd::start(&format!(
        r#"{HEAD}
[backend.app]
option.httpchk = true
timeout.check = "150ms"
server = [
  {{ name = "good", addr = "{good}", check = true, inter = "100ms", fall = 2, rise = 2 }},
  {{ name = "hung", addr = "{hung}", check = true, inter = "100ms", fall = 2, rise = 2 }},
]
"#,
        good = good.addr,
        hung = hung.addr,
    ));
    let down = gwd.stderr.wait_for("the hung server marked DOWN", |l| {
        l.contains("Server app/hung is DOWN, reason: Layer7 timeout")
    });
    assert!(
        down.contains("1 active and 0 backup servers left."),
        "{down}"
    );
    assert_eq!(stat_value(&gwd, "app,hung,", "status"), "DOWN");
    assert_eq!(stat_value(&gwd, "app,hung,", "check_status"), "L7TOUT");
    assert_eq!(stat_value(&gwd, "app,good,", "status"), "UP");
    // The check columns of a running proxy's real checks.
    let col = |c: &str| stat_value(&gwd, "app,hung,", c);
    let number = |c: &str| {
        col(c)
            .parse::<u64>()
            .unwrap_or_else(|_| panic!("{c} = {:?}", col(c)))
    };
    assert!(number("chkfail") >= 1);
    assert_eq!(number("chkdown"), 1);
    let _ = (
        number("lastchg"),
        number("downtime"),
        number("check_duration"),
    );
    assert_eq!(stat_value(&gwd, "app,good,", "chkdown"), "0");

    // From now on no visitor reaches it, and none waits on it.
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    for i in 0..20 {
        let (status, by) = served_by(&mut c, &format!("/visit/{i}")).await;
        assert_eq!((status, by.as_str()), (200, "good"));
    }
    assert!(
        hung.requests("/visit").is_empty(),
        "{:?}",
        hung.requests("/visit")
    );

    // It answers again: UP after `rise` good checks, and takes traffic.
    hung.answering.store(true, Ordering::SeqCst);
    gwd.stderr.wait_for("the server back UP", |l| {
        l.contains("Server app/hung is UP, reason: Layer7 check passed, code: 200")
    });
    let mut by_server: HashMap<String, usize> = HashMap::new();
    for i in 0..10 {
        let (status, by) = served_by(&mut c, &format!("/again/{i}")).await;
        assert_eq!(status, 200);
        *by_server.entry(by).or_default() += 1;
    }
    assert_eq!(by_server.get("hung"), Some(&5), "{by_server:?}");
    assert!(hung.checks() >= 2);
}

/// A server that takes every check's connection and never answers: each
/// check lasts its whole timeout (`inter`, with no `timeout check`), yet
/// checks still start `inter` apart, start to start, so the server fails
/// one check per `inter` and is DOWN within `fall x inter`. They used to
/// start `inter` after the previous one ended: twice as far apart.
#[tokio::test(flavor = "multi_thread")]
async fn checks_of_a_hung_server_start_one_inter_apart() {
    // Answers checks until `hang` is set, then holds each check's
    // connection and says nothing; records when those checks came.
    let hang = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let (h, n, seen) = (hang.clone(), answered.clone(), arrivals.clone());
    let (hung, _) = raw_server(move |mut s| {
        let hanging = h.load(Ordering::SeqCst);
        if hanging {
            seen.lock().unwrap().push(std::time::Instant::now());
        }
        let n = n.clone();
        async move {
            if hanging {
                tokio::time::sleep(Duration::from_secs(30)).await;
            } else {
                let _ = read_head(&mut s).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    .await;
                n.fetch_add(1, Ordering::SeqCst);
            }
            drop(s);
        }
    })
    .await;
    let gwd = Gwd::start(&format!(
        r#"{HEAD}
[backend.app]
option.httpchk = true
server = [ {{ name = "hung", addr = "{hung}", check = true, inter = "500ms", fall = 3 }} ]
"#
    ));
    poll_until("a passed check", || answered.load(Ordering::SeqCst) >= 1).await;
    hang.store(true, Ordering::SeqCst);
    gwd.stderr.wait_for("the hung server marked DOWN", |l| {
        l.contains("Server app/hung is DOWN, reason: Layer7 timeout")
    });
    let at = arrivals.lock().unwrap().clone();
    assert!(at.len() >= 3, "{} checks", at.len());
    // Start to start: 500 ms (plus the grid's few ms), where checks that
    // waited for the previous one's end came 1,000 ms apart.
    for pair in at.windows(2).take(3) {
        let gap = pair[1] - pair[0];
        assert!(
            gap < Duration::from_millis(800),
            "checks {gap:?} apart: {:?}",
            at.windows(2).map(|p| p[1] - p[0]).collect::<Vec<_>>()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http_check_expecting_200_marks_a_500_server_down() {
    let ok = Tracked::start("ok", 200).await;
    let failing = Tracked::start("failing", 500).await;
    let refused = closed_port();
    let gwd = Gwd::start(&format!(
        r#"{HEAD}
[backend.app]
option.httpchk = "GET /health"
http-check.expect = "status 200"
server = [
  {{ name = "ok", addr = "{ok}", check = true, inter = "100ms" }},
  {{ name = "failing", addr = "{failing}", check = true, inter = "100ms" }},
  {{ name = "refused", addr = "{refused}", check = true, inter = "100ms" }},
]
"#,
        ok = ok.addr,
        failing = failing.addr,
    ));
    gwd.stderr.wait_for("the 500 server DOWN", |l| {
        l.contains("Server app/failing is DOWN, reason: Layer7 wrong status, code: 500")
    });
    gwd.stderr.wait_for("the closed port DOWN", |l| {
        l.contains("Server app/refused is DOWN, reason: Layer4 connection problem, info: \"Connection refused\"")
    });
    assert_eq!(stat_value(&gwd, "app,failing,", "check_code"), "500");
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    for i in 0..9 {
        let (status, by) = served_by(&mut c, &format!("/r/{i}")).await;
        assert_eq!((status, by.as_str()), (200, "ok"));
    }
    assert!(failing.requests("/r/").is_empty());
    assert!(
        !ok.requests("/health").is_empty(),
        "the check sends its own request"
    );
}

/// `http-check.send` through the binary: the server sees the configured
/// method, target, version and fields; and when its only server goes
/// DOWN, the backend says it has none left (HAProxy's line).
#[tokio::test(flavor = "multi_thread")]
async fn http_check_send_shapes_the_check_and_a_backend_left_without_servers_says_so() {
    let heads = Arc::new(Mutex::new(Vec::<String>::new()));
    let healthy = Arc::new(AtomicBool::new(true));
    let (seen, ok) = (heads.clone(), healthy.clone());
    let (server, _) = raw_server(move |mut s| {
        let (seen, ok) = (seen.clone(), ok.clone());
        async move {
            let head = read_head(&mut s).await;
            seen.lock().unwrap().push(head);
            let answer: &[u8] = if ok.load(Ordering::SeqCst) {
                b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
            } else {
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
            };
            let _ = s.write_all(answer).await;
        }
    })
    .await;
    let gwd = Gwd::start(&format!(
        r#"{HEAD}
[backend.app]
option.httpchk = true
http-check.send = {{ meth = "HEAD", uri = "/ready?full=1", ver = "HTTP/1.1", hdr = {{ Host = "app.internal", X-Check = "gwd" }} }}
server = [ {{ name = "only", addr = "{server}", check = true, inter = "100ms", fall = 1 }} ]
"#
    ));
    poll_until("a check", || !heads.lock().unwrap().is_empty()).await;
    let head = heads.lock().unwrap()[0].to_ascii_lowercase();
    assert!(
        head.starts_with("head /ready?full=1 http/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nhost: app.internal\r\n"), "{head}");
    assert!(head.contains("\r\nx-check: gwd\r\n"), "{head}");
    assert_eq!(stat_value(&gwd, "app,only,", "check_status"), "L7OK");
    healthy.store(false, Ordering::SeqCst);
    gwd.stderr.wait_for("the server DOWN", |l| {
        l.contains("Server app/only is DOWN, reason: Layer7 wrong status, code: 503")
            && l.contains("0 active and 0 backup servers left.")
    });
    gwd.stderr.wait_for("the backend without servers", |l| {
        l.contains("backend app has no server available!")
    });
}

/// HAProxy's `option redispatch` (`true`: the interval says the last
/// retry) on round robin over several servers moves every retry at once,
/// as HAProxy does when which server serves does not matter: with two
/// dead servers of three, every request is served (HAProxy 2.6: 200s,
/// logged `+2`); the retries used to hammer the dead server first.
#[tokio::test(flavor = "multi_thread")]
async fn option_redispatch_on_round_robin_moves_every_retry_like_haproxy() {
    let live = Tracked::start("live", 200).await;
    let (a, b) = (closed_port(), closed_port());
    let gwd = Gwd::start(&format!(
        r#"{HEAD}
[backend.app]
retries = 3
option.redispatch = true
server = [ {{ name = "a", addr = "{a}" }}, {{ name = "b", addr = "{b}" }}, {{ name = "live", addr = "{live}" }} ]
"#,
        live = live.addr,
    ));
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    for i in 0..3 {
        assert_eq!(
            served_by(&mut c, &format!("/r/{i}")).await,
            (200, "live".into())
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn drain_lets_in_flight_requests_finish_while_new_ones_go_elsewhere_and_maint_comes_back() {
    let a = Tracked::start("a", 200).await;
    let b = Tracked::start("b", 200).await;
    let gwd = Gwd::start(&format!(
        r#"{HEAD}
[backend.app]
balance = "first"
server = [ {{ name = "a", addr = "{a}" }}, {{ name = "b", addr = "{b}" }} ]
"#,
        a = a.addr,
        b = b.addr,
    ));
    let www = gwd.addr("www", 0);
    // `first`: everything on a while it is usable.
    let slow = tokio::spawn(async move {
        let mut c = Client::h1(www).await;
        served_by(&mut c, "/slow/800").await
    });
    poll_until("the slow request on a", || {
        a.in_flight.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(admin(&gwd, "set server app/a state drain"), "\n");
    assert_eq!(stat_value(&gwd, "app,a,", "status"), "DRAIN");
    let mut c = Client::h1(www).await;
    for i in 0..5 {
        assert_eq!(
            served_by(&mut c, &format!("/new/{i}")).await,
            (200, "b".into())
        );
    }
    // The request in flight on the draining server finishes there.
    assert_eq!(slow.await.unwrap(), (200, "a".into()));
    gwd.stderr.wait_for("drain line", |l| {
        l.contains("Server app/a enters drain state.")
    });

    // Maintenance through the runtime API, and back.
    assert_eq!(admin(&gwd, "set server app/a state ready"), "\n");
    assert_eq!(served_by(&mut c, "/back").await, (200, "a".into()));
    assert_eq!(admin(&gwd, "disable server app/a"), "\n");
    assert_eq!(stat_value(&gwd, "app,a,", "status"), "MAINT");
    let state = admin(&gwd, "show servers state app");
    let a_line = state
        .lines()
        .find(|l| l.split_whitespace().nth(3) == Some("a"))
        .unwrap_or_else(|| panic!("{state}"));
    // srv_admin_state: forced maintenance.
    assert_eq!(a_line.split_whitespace().nth(6), Some("1"), "{state}");
    for i in 0..3 {
        assert_eq!(
            served_by(&mut c, &format!("/m/{i}")).await,
            (200, "b".into())
        );
    }
    assert_eq!(admin(&gwd, "enable server app/a"), "\n");
    assert_eq!(served_by(&mut c, "/after").await, (200, "a".into()));
    assert!(a.requests("/m/").is_empty() && a.requests("/new/").is_empty());
    assert_eq!(
        admin(&gwd, "disable server app/nope"),
        "No such server.\n\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn backups_serve_only_when_every_primary_is_down() {
    let p = Tracked::start("primary", 200).await;
    let bk1 = Tracked::start("bk1", 200).await;
    let bk2 = Tracked::start("bk2", 200).await;
    let gwd = Gwd::start(&format!(
        r#"{HEAD}
[backend.app]
server = [
  {{ name = "primary", addr = "{p}", check = true, inter = "100ms", rise = 1 }},
  {{ name = "bk1", addr = "{bk1}", backup = true }},
  {{ name = "bk2", addr = "{bk2}", backup = true }},
]
"#,
        p = p.addr,
        bk1 = bk1.addr,
        bk2 = bk2.addr,
    ));
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    for i in 0..4 {
        assert_eq!(
            served_by(&mut c, &format!("/p/{i}")).await,
            (200, "primary".into())
        );
    }
    assert_eq!(admin(&gwd, "set server app/primary health down"), "\n");
    gwd.stderr.wait_for("primary down from CLI", |l| {
        l.contains("Server app/primary is DOWN, changed from CLI")
    });
    gwd.stderr.wait_for("no primary left", |l| {
        l.contains("0 active and 2 backup servers left")
    });
    // Without `option.allbackups`, only the first backup serves.
    for i in 0..4 {
        assert_eq!(
            served_by(&mut c, &format!("/b/{i}")).await,
            (200, "bk1".into())
        );
    }
    assert!(bk2.requests("/").is_empty());
    // Its checks still pass: it comes back at the next one (rise 1).
    gwd.stderr
        .wait_for("primary back", |l| l.contains("Server app/primary is UP"));
    assert_eq!(served_by(&mut c, "/p/again").await, (200, "primary".into()));
}

/// `set server health` changes nothing of a server in maintenance (as
/// HAProxy) or whose checks are off (it counts as UP): it used to log
/// "is UP/DOWN, changed from CLI" while the server stayed as it was, and
/// `enable health` then took it down without a line.
#[tokio::test(flavor = "multi_thread")]
async fn health_commands_change_nothing_in_maintenance_or_with_checks_off() {
    let p = Tracked::start("primary", 200).await;
    let gwd = Gwd::start(&format!(
        r#"{HEAD}
[backend.app]
server = [ {{ name = "primary", addr = "{p}", check = true, inter = "100ms" }} ]
"#,
        p = p.addr,
    ));
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    assert_eq!(admin(&gwd, "disable health app/primary"), "\n");
    assert_eq!(admin(&gwd, "set server app/primary health down"), "\n");
    assert_eq!(served_by(&mut c, "/off").await, (200, "primary".into()));
    assert_eq!(admin(&gwd, "enable health app/primary"), "\n");
    assert_eq!(served_by(&mut c, "/on").await, (200, "primary".into()));

    assert_eq!(admin(&gwd, "disable server app/primary"), "\n");
    gwd.stderr.wait_for("maintenance", |l| {
        l.contains("Server app/primary is going DOWN for maintenance")
    });
    assert_eq!(admin(&gwd, "set server app/primary health up"), "\n");
    assert_eq!(admin(&gwd, "enable server app/primary"), "\n");
    gwd.stderr.wait_for("back from maintenance", |l| {
        l.contains("Server app/primary is UP/READY (leaving forced maintenance)")
    });
    assert_eq!(served_by(&mut c, "/back").await, (200, "primary".into()));
    assert_eq!(
        gwd.stderr.count(|l| l.contains("changed from CLI")),
        0,
        "{:?}",
        gwd.stderr.all()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn maxconn_queues_requests_in_arrival_order_and_503s_after_timeout_queue() {
    let s = Tracked::start("s", 200).await;
    let gwd = Gwd::start(&format!(
        r#"{HEAD}
[backend.app]
timeout.queue = "10s"
server = [ {{ name = "s", addr = "{s}", maxconn = 2 }} ]

[backend.short]
timeout.queue = "200ms"
server = [ {{ name = "s", addr = "{s}", maxconn = 1 }} ]

[frontend.short]
bind = [ {{ addr = "127.0.0.1:0" }} ]
default_backend = "short"
"#,
        s = s.addr,
    ));
    let www = gwd.addr("www", 0);
    let mut tasks = Vec::new();
    for i in 0..10 {
        tasks.push(tokio::spawn(async move {
            let mut c = Client::h1(www).await;
            served_by(&mut c, &format!("/slow/300?n={i}")).await
        }));
        // The next one starts only once this one is in (on the server or
        // in the queue): arrival order is the loop's order.
        let want = i + 1;
        poll_until("the request in", || {
            let on_server = s.requests("/slow/300").len();
            let queued: usize = stat_value(&gwd, "app,BACKEND,", "qcur")
                .parse()
                .unwrap_or(0);
            on_server + queued >= want
        })
        .await;
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), (200, "s".into()));
    }
    assert_eq!(s.max_in_flight.load(Ordering::SeqCst), 2);
    let order: Vec<String> = s
        .requests("/slow/300")
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (0..10).map(|i| format!("/slow/300?n={i}")).collect();
    // Slots are handed out in arrival order, two at a time (maxconn 2):
    // the two requests a pair of freed slots starts may reach the server
    // in either order (seen under load), so order holds pair by pair.
    let pairs = |v: &[String]| -> Vec<Vec<String>> {
        v.chunks(2)
            .map(|c| {
                let mut c = c.to_vec();
                c.sort();
                c
            })
            .collect()
    };
    assert_eq!(pairs(&order), pairs(&expected), "{order:?}");
    assert_eq!(stat_value(&gwd, "app,BACKEND,", "qmax"), "8");
    assert_eq!(stat_value(&gwd, "app,s,", "slim"), "2");

    // `timeout queue`: one slot, held for 1.5 s; the others give up.
    let short = gwd.addr("short", 0);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        tasks.push(tokio::spawn(async move {
            let mut c = Client::h1(short).await;
            served_by(&mut c, "/slow/1500").await.0
        }));
    }
    let mut statuses: Vec<u16> = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [200, 503, 503, 503]);
    gwd.stderr.wait_for("sQ in the log", |l| {
        l.contains(" short/<NOSRV> ") || l.contains(" sQ")
    });
    assert_eq!(
        gwd.stderr
            .count(|l| l.contains(" 503 ") && l.contains(" sQ")),
        3,
        "{:?}",
        gwd.stderr.all()
    );
    // Their log lines' `Tw`: the `timeout queue` they waited (TR/Tw/Tc/Tr/Ta).
    for l in gwd.stderr.all() {
        if !(l.contains(" 503 ") && l.contains(" sQ")) {
            continue;
        }
        let timers = l
            .split_whitespace()
            .skip_while(|w| !w.starts_with("short/"))
            .nth(1)
            .unwrap_or_else(|| panic!("{l}"));
        let tw: i64 = timers.split('/').nth(1).unwrap().parse().unwrap();
        assert!((190..1500).contains(&tw), "Tw {tw}: {l}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn leastconn_sends_a_new_request_to_the_least_busy_server() {
    let a = Tracked::start("a", 200).await;
    let b = Tracked::start("b", 200).await;
    let gwd = Gwd::start(&format!(
        r#"{HEAD}
[backend.app]
balance = "leastconn"
server = [ {{ name = "a", addr = "{a}" }}, {{ name = "b", addr = "{b}" }} ]
"#,
        a = a.addr,
        b = b.addr,
    ));
    let www = gwd.addr("www", 0);
    let busy = tokio::spawn(async move {
        let mut c = Client::h1(www).await;
        served_by(&mut c, "/slow/1000").await
    });
    poll_until("one server busy", || {
        a.in_flight.load(Ordering::SeqCst) + b.in_flight.load(Ordering::SeqCst) == 1
    })
    .await;
    let idle = if a.in_flight.load(Ordering::SeqCst) == 1 {
        "b"
    } else {
        "a"
    };
    let mut c = Client::h1(www).await;
    for i in 0..6 {
        assert_eq!(
            served_by(&mut c, &format!("/q/{i}")).await,
            (200, idle.into())
        );
    }
    let (status, _) = busy.await.unwrap();
    assert_eq!(status, 200);
    // Idle again: ties alternate.
    let mut seen = Vec::new();
    for i in 0..4 {
        seen.push(served_by(&mut c, &format!("/t/{i}")).await.1);
    }
    assert!(seen.windows(2).all(|w| w[0] != w[1]), "{seen:?}");
}

/// One request at a time, every server is idle: they take turns whatever
/// their weights, as in HAProxy (the heaviest server used to take every
/// request of a light load).
#[tokio::test(flavor = "multi_thread")]
async fn leastconn_idle_servers_take_turns_whatever_their_weights() {
    let a = Tracked::start("a", 200).await;
    let b = Tracked::start("b", 200).await;
    let gwd = Gwd::start(&format!(
        r#"{HEAD}
[backend.app]
balance = "leastconn"
server = [ {{ name = "a", addr = "{a}" }}, {{ name = "b", addr = "{b}", weight = 3 }} ]
"#,
        a = a.addr,
        b = b.addr,
    ));
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    let mut seen = Vec::new();
    for i in 0..6 {
        seen.push(served_by(&mut c, &format!("/t/{i}")).await.1);
    }
    assert!(seen.windows(2).all(|w| w[0] != w[1]), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn hashing_keeps_each_key_on_one_server_and_moves_only_a_removed_servers_keys() {
    let servers: Vec<Backend> = futures_util::future::join_all(
        ["s1", "s2", "s3", "s4", "s5"]
            .into_iter()
            .map(|n| Backend::start(n, Proto::H1)),
    )
    .await;
    let list: Vec<String> = servers
        .iter()
        .map(|s| format!("{{ name = \"{}\", addr = \"{}\" }}", s.name, s.addr))
        .collect();
    let gwd = Gwd::start(&format!(
        r#"{HEAD}
[backend.app]
balance = "uri"
hash-type = "consistent"
server = [ {} ]

[backend.src]
balance = "source"
hash-type = "consistent"
server = [ {} ]

[frontend.src]
bind = [ {{ addr = "127.0.0.1:0" }} ]
default_backend = "src"
"#,
        list.join(", "),
        list.join(", "),
    ));
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    let keys: Vec<String> = (0..60).map(|i| format!("/obj/{i}")).collect();
    let mut first = HashMap::new();
    for k in &keys {
        first.insert(k.clone(), served_by(&mut c, k).await.1);
    }
    // The query is not part of the key without `whole`.
    for k in &keys {
        assert_eq!(served_by(&mut c, &format!("{k}?v=2")).await.1, first[k]);
    }
    let on_s3 = first.values().filter(|s| *s == "s3").count();
    assert!(on_s3 > 0 && on_s3 < keys.len(), "{first:?}");
    assert_eq!(admin(&gwd, "disable server app/s3"), "\n");
    let mut moved = 0;
    for k in &keys {
        let now = served_by(&mut c, k).await.1;
        if first[k] == "s3" {
            assert_ne!(now, "s3");
            moved += 1;
        } else {
            assert_eq!(now, first[k], "{k} moved although its server stayed");
        }
    }
    assert_eq!(moved, on_s3);

    // `source`: one client address, one server.
    let src = gwd.addr("src", 0);
    let mut c = Client::h1(src).await;
    let one = served_by(&mut c, "/a").await.1;
    for i in 0..10 {
        assert_eq!(served_by(&mut c, &format!("/b/{i}")).await.1, one);
    }
    // Sixty client addresses (loopback is all of 127.0.0.0/8): each keeps
    // its server, and removing one server moves only that server's.
    let from = |i: u8| async move {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind(SocketAddr::from(([127, 0, 0, 10 + i], 0)))
            .unwrap();
        Client::h1_on(sock.connect(src).await.unwrap()).await
    };
    let mut first = HashMap::new();
    for i in 0..60u8 {
        let mut c = from(i).await;
        let by = served_by(&mut c, "/s").await.1;
        assert_eq!(served_by(&mut c, "/t").await.1, by);
        first.insert(i, by);
    }
    let on_s2 = first.values().filter(|s| *s == "s2").count();
    assert!(on_s2 > 0 && on_s2 < first.len(), "{first:?}");
    assert_eq!(admin(&gwd, "disable server src/s2"), "\n");
    for i in 0..60u8 {
        let now = served_by(&mut from(i).await, "/u").await.1;
        if first[&i] == "s2" {
            assert_ne!(now, "s2");
        } else {
            assert_eq!(
                now,
                first[&i],
                "127.0.0.{} moved although its server stayed",
                10 + i
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn weights_split_round_robin_and_change_at_run_time() {
    let a = Backend::start("a", Proto::H1).await;
    let b = Backend::start("b", Proto::H1).await;
    let gwd = Gwd::start(&format!(
        r#"{HEAD}
[backend.app]
server = [ {{ name = "a", addr = "{a}", weight = 3 }}, {{ name = "b", addr = "{b}", weight = 1 }} ]
"#,
        a = a.addr,
        b = b.addr,
    ));
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    let mut n: HashMap<String, usize> = HashMap::new();
    for i in 0..12 {
        *n.entry(served_by(&mut c, &format!("/w/{i}")).await.1)
            .or_default() += 1;
    }
    assert_eq!((n["a"], n["b"]), (9, 3));
    assert_eq!(admin(&gwd, "get weight app/a"), "3 (initial 3)\n\n");
    assert_eq!(admin(&gwd, "set weight app/a 1"), "\n");
    let mut n: HashMap<String, usize> = HashMap::new();
    for i in 0..12 {
        *n.entry(served_by(&mut c, &format!("/v/{i}")).await.1)
            .or_default() += 1;
    }
    assert_eq!((n["a"], n["b"]), (6, 6));
    assert_eq!(admin(&gwd, "set server app/b weight 0"), "\n");
    for i in 0..4 {
        assert_eq!(served_by(&mut c, &format!("/z/{i}")).await.1, "a");
    }
    assert_eq!(admin(&gwd, "get weight app/a"), "1 (initial 3)\n\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn passive_checks_take_a_server_failing_real_requests_down() {
    let good = Tracked::start("good", 200).await;
    let failing = Tracked::start("failing", 503).await;
    let gwd = Gwd::start(&format!(
        r#"{HEAD}
[backend.app]
server = [
  {{ name = "good", addr = "{good}" }},
  {{ name = "failing", addr = "{failing}", check = true, inter = "10s", observe = "layer7", error-limit = 3, on-error = "mark-down" }},
]
"#,
        good = good.addr,
        failing = failing.addr,
    ));
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    // Round robin: every other request meets the failing server, until
    // its third 503 in a row takes it down (its TCP checks still pass).
    let mut statuses = Vec::new();
    for i in 0..6 {
        statuses.push(served_by(&mut c, &format!("/p/{i}")).await.0);
    }
    assert_eq!(statuses, [200, 503, 200, 503, 200, 503]);
    let line = gwd.stderr.wait_for("passive DOWN", |l| {
        l.contains("Server app/failing is DOWN, reason: Health analyze")
    });
    assert!(
        line.contains("Detected 3 consecutive errors, last one was: L7 status 503"),
        "{line}"
    );
    for i in 0..6 {
        assert_eq!(
            served_by(&mut c, &format!("/q/{i}")).await,
            (200, "good".into())
        );
    }
    assert_eq!(stat_value(&gwd, "app,failing,", "check_status"), "HANA");
    // Counted as HAProxy counts them: once per `error-limit` reached.
    assert_eq!(stat_value(&gwd, "app,failing,", "hanafail"), "1");
}

#[tokio::test(flavor = "multi_thread")]
async fn http_checks_speak_http2_to_h2_servers() {
    let h2 = Backend::start("h2", Proto::H2).await;
    let gwd = Gwd::start(&format!(
        r#"{HEAD}
[backend.app]
option.httpchk = "GET /health"
server = [ {{ name = "h2", addr = "{h2}", proto = "h2", check = true, inter = "100ms", rise = 1 }} ]

[backend.bad]
option.httpchk = "GET /status/503"
server = [ {{ name = "h2", addr = "{h2}", proto = "h2", check = true, inter = "100ms" }} ]
"#,
        h2 = h2.addr,
    ));
    gwd.stderr.wait_for("the failing HTTP/2 check", |l| {
        l.contains("Server bad/h2 is DOWN, reason: Layer7 wrong status, code: 503")
    });
    // Checks went over HTTP/2 (the server speaks nothing else) and pass.
    poll_until("a passed HTTP/2 check", || {
        stat_value(&gwd, "app,h2,", "check_status") == "L7OK"
    })
    .await;
    assert_eq!(stat_value(&gwd, "app,h2,", "check_code"), "200");
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    assert_eq!(served_by(&mut c, "/x").await, (200, "h2".into()));
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_on_503_retries_replayable_requests_on_another_server() {
    let good = Tracked::start("good", 200).await;
    let busy = Tracked::start("busy", 503).await;
    let gwd = Gwd::start(&format!(
        r#"{HEAD}
[backend.app]
retry-on = "conn-failure 503"
server = [ {{ name = "busy", addr = "{busy}" }}, {{ name = "good", addr = "{good}" }} ]
"#,
        good = good.addr,
        busy = busy.addr,
    ));
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    for i in 0..6 {
        assert_eq!(
            served_by(&mut c, &format!("/g/{i}")).await,
            (200, "good".into())
        );
    }
    // Round robin sends each GET to the busy server first (its retry takes
    // the next turn, so the cursor is back at the busy one each time).
    assert_eq!(busy.requests("/g/").len(), 6);
    // A POST with a body is never replayed: the busy server's 503 is its answer.
    let mut statuses = Vec::new();
    for i in 0..4 {
        let req = http::Request::post(format!("/p/{i}"))
            .header("host", "app.test")
            .body(gwd_regtests::client::full("x"))
            .unwrap();
        let resp = c.send(req).await.unwrap();
        statuses.push(gwd_regtests::client::read_all(resp).await.0);
    }
    statuses.sort();
    assert_eq!(statuses, [200, 200, 503, 503]);
    // Six GETs retried and moved (`wretr`, `wredis`); the busy server
    // counts the retries away from it; no connection error anywhere.
    assert_eq!(stat_value(&gwd, "app,BACKEND,", "wretr"), "6");
    assert_eq!(stat_value(&gwd, "app,BACKEND,", "wredis"), "6");
    assert_eq!(stat_value(&gwd, "app,busy,", "wredis"), "6");
    assert_eq!(stat_value(&gwd, "app,BACKEND,", "econ"), "0");
    // HAProxy's log: `+1` retries, redispatched to another server.
    gwd.stderr.wait_for("the retry in the log", |l| {
        l.contains(" app/good ") && l.contains("/+1 0/0 \"GET /g/")
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn with_hashing_a_full_server_does_not_hold_up_requests_for_another() {
    let a = Tracked::start("a", 200).await;
    let b = Tracked::start("b", 200).await;
    let gwd = Gwd::start(&format!(
        r#"{HEAD}
[backend.app]
balance = "uri depth 2"
timeout.queue = "10s"
server = [ {{ name = "a", addr = "{a}", maxconn = 1 }}, {{ name = "b", addr = "{b}", maxconn = 1 }} ]
"#,
        a = a.addr,
        b = b.addr,
    ));
    let www = gwd.addr("www", 0);
    // A key for each server (`depth 2`: `/k/<i>` is the key, the rest of
    // the path says how slow to answer).
    let mut c = Client::h1(www).await;
    let mut key_of = HashMap::new();
    for i in 0..64 {
        let (_, by) = served_by(&mut c, &format!("/k/{i}/slow/0")).await;
        key_of.entry(by).or_insert(format!("/k/{i}"));
        if key_of.len() == 2 {
            break;
        }
    }
    let pa = format!("{}/slow/1500", key_of["a"]);
    let pb = format!("{}/slow/0", key_of["b"]);
    // a busy, and two more requests for a waiting in the queue: in a's
    // own queue (HAProxy's server queue), counted in its row.
    for n in 1..=3 {
        let pa = pa.clone();
        tokio::spawn(async move {
            let mut c = Client::h1(www).await;
            served_by(&mut c, &pa).await
        });
        poll_until("a busy, then queued for it", || {
            stat_value(&gwd, "app,BACKEND,", "qcur") == (n - 1).to_string()
        })
        .await;
    }
    assert_eq!(stat_value(&gwd, "app,a,", "qcur"), "2");
    assert_eq!(stat_value(&gwd, "app,b,", "qcur"), "0");
    // b is idle: its request is served at once, not behind a's queue.
    let started = std::time::Instant::now();
    assert_eq!(served_by(&mut c, &pb).await, (200, "b".into()));
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
    // The last one found one waiting for a ahead of it, in a's queue and
    // in the backend's: the log's `srv_queue/backend_queue` reads 1/1.
    gwd.stderr
        .wait_for("the second queued request's line", |l| {
            l.contains(&format!(" 1/1 \"GET {pa} "))
        });
    assert_eq!(stat_value(&gwd, "app,a,", "qmax"), "2");
}

/// Requests waiting for a hashed key's server move with their key when
/// that server goes into maintenance, and so does their count: the
/// server rows' `qcur` follow them (HAProxy's server queues), and a
/// waiter that gives up (`timeout queue`) leaves the count at once.
#[tokio::test(flavor = "multi_thread")]
async fn a_hashed_keys_waiters_are_counted_where_they_wait() {
    let a = Tracked::start("a", 200).await;
    let b = Tracked::start("b", 200).await;
    let gwd = Gwd::start(&format!(
        r#"{HEAD}
[backend.app]
balance = "uri depth 2"
timeout.queue = "3s"
server = [ {{ name = "a", addr = "{a}", maxconn = 1 }}, {{ name = "b", addr = "{b}", maxconn = 1 }} ]
"#,
        a = a.addr,
        b = b.addr,
    ));
    let www = gwd.addr("www", 0);
    let mut c = Client::h1(www).await;
    let mut key_of = HashMap::new();
    for i in 0..64 {
        let (_, by) = served_by(&mut c, &format!("/k/{i}/slow/0")).await;
        key_of.entry(by).or_insert(format!("/k/{i}"));
        if key_of.len() == 2 {
            break;
        }
    }
    let busy = |path: String| {
        tokio::spawn(async move {
            let mut c = Client::h1(www).await;
            served_by(&mut c, &path).await
        })
    };
    let qcur = |server: &str| stat_value(&gwd, &format!("app,{server},"), "qcur");
    // Both busy for 2.5 s; two more wait for a.
    busy(format!("{}/slow/2500", key_of["b"]));
    busy(format!("{}/slow/2500", key_of["a"]));
    poll_until("a and b busy", || {
        stat_value(&gwd, "app,BACKEND,", "scur") == "2"
    })
    .await;
    let waiting: Vec<_> = (0..2)
        .map(|_| busy(format!("{}/slow/0", key_of["a"])))
        .collect();
    poll_until("two waiting for a", || qcur("a") == "2").await;
    assert_eq!(qcur("b"), "0");
    // a leaves: its waiters now wait for b, counted there.
    assert_eq!(admin(&gwd, "set server app/a state maint"), "\n");
    poll_until("the waiters moved to b", || qcur("b") == "2").await;
    assert_eq!(qcur("a"), "0");
    for w in waiting {
        assert_eq!(w.await.unwrap(), (200, "b".into()));
    }
    assert_eq!(qcur("b"), "0");
}

/// Through the binary: `option.allbackups` spreads over every backup
/// once no primary is usable; `static-rr` follows its weights; `hdr()`
/// keeps each header value on one server.
#[tokio::test(flavor = "multi_thread")]
async fn allbackups_static_rr_and_header_hashing_through_the_binary() {
    let (p, b1, b2) = (
        Tracked::start("p", 200).await,
        Tracked::start("b1", 200).await,
        Tracked::start("b2", 200).await,
    );
    let gwd = Gwd::start(&format!(
        r#"{HEAD}
[backend.app]
option.allbackups = true
server = [
  {{ name = "p", addr = "{p}", disabled = true }},
  {{ name = "b1", addr = "{b1}", backup = true }},
  {{ name = "b2", addr = "{b2}", backup = true }},
]

[backend.srr]
balance = "static-rr"
server = [ {{ name = "p", addr = "{p}", weight = 2 }}, {{ name = "b1", addr = "{b1}", weight = 1 }} ]

[frontend.srr]
bind = [ {{ addr = "127.0.0.1:0" }} ]
default_backend = "srr"

[backend.hdr]
balance = "hdr(X-Tenant)"
server = [ {{ name = "p", addr = "{p}" }}, {{ name = "b1", addr = "{b1}" }} ]

[frontend.hdr]
bind = [ {{ addr = "127.0.0.1:0" }} ]
default_backend = "hdr"
"#,
        p = p.addr,
        b1 = b1.addr,
        b2 = b2.addr,
    ));
    // The primary is in maintenance: both backups take turns.
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    let mut n: HashMap<String, usize> = HashMap::new();
    for i in 0..6 {
        *n.entry(served_by(&mut c, &format!("/ab/{i}")).await.1)
            .or_default() += 1;
    }
    assert_eq!(
        (n.get("b1"), n.get("b2"), n.get("p")),
        (Some(&3), Some(&3), None)
    );

    let mut c = Client::h1(gwd.addr("srr", 0)).await;
    let mut n: HashMap<String, usize> = HashMap::new();
    for i in 0..9 {
        *n.entry(served_by(&mut c, &format!("/srr/{i}")).await.1)
            .or_default() += 1;
    }
    assert_eq!((n["p"], n["b1"]), (6, 3));

    let mut c = Client::h1(gwd.addr("hdr", 0)).await;
    let mut by_tenant = HashMap::new();
    for round in 0..2 {
        for t in 0..20 {
            let req = http::Request::get(format!("/h/{round}"))
                .header("host", "app.test")
                .header("x-tenant", format!("tenant-{t}"))
                .body(gwd_regtests::client::empty())
                .unwrap();
            let resp = c.send(req).await.unwrap();
            let by = resp.headers()["x-served-by"].to_str().unwrap().to_owned();
            let _ = gwd_regtests::client::read_all(resp).await;
            assert_eq!(
                by_tenant.entry(t).or_insert(by.clone()),
                &by,
                "tenant-{t} moved"
            );
        }
    }
    let on_p = by_tenant.values().filter(|s| *s == "p").count();
    assert!(on_p > 0 && on_p < 20, "{by_tenant:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_servers_are_checked_over_tls_and_not_at_all_in_maintenance() {
    let dir = gwd_regtests::scratch_dir("check-tls");
    let f = gwd_tls::pki::Pki::generate("chk CA", &["backend.test"], &[])
        .unwrap()
        .write_to(&dir)
        .unwrap();
    let tls = Backend::start_tls("tls", Proto::H1, &f.server_cert, &f.server_key).await;
    let plain = Tracked::start("plain", 200).await;
    let gwd = Gwd::start(&format!(
        r#"{HEAD}
[backend.app]
option.httpchk = "GET /health"
server = [
  {{ name = "tls", addr = "{tls}", ssl = true, verify = "none", check = true, inter = "100ms" }},
  {{ name = "plain", addr = "{plain}", check = true, inter = "100ms" }},
]
"#,
        tls = tls.addr,
        plain = plain.addr,
    ));
    // As HAProxy: a TLS server checked on its own address is checked
    // over TLS (a clear check would be refused and mark it down).
    poll_until("a passed TLS check", || {
        stat_value(&gwd, "app,tls,", "check_status") == "L7OK"
    })
    .await;
    assert_eq!(
        gwd.stderr.count(|l| l.contains("Server app/tls is DOWN")),
        0
    );

    // In maintenance a server is not checked; leaving it checks again.
    assert_eq!(admin(&gwd, "disable server app/plain"), "\n");
    let before = plain.checks();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        plain.checks() <= before + 1,
        "{} -> {}",
        before,
        plain.checks()
    );
    assert_eq!(admin(&gwd, "enable server app/plain"), "\n");
    poll_until("checks again", || plain.checks() >= before + 3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn frontend_maxconn_pauses_accepting_and_refuses_nothing() {
    let s = Tracked::start("s", 200).await;
    let gwd = Gwd::start(&format!(
        r#"{HEAD}
[frontend.small]
bind = [ {{ addr = "127.0.0.1:0" }} ]
maxconn = 2
default_backend = "app"

[backend.app]
server = [ {{ name = "s", addr = "{s}" }} ]
"#,
        s = s.addr,
    ));
    let small = gwd.addr("small", 0);
    let mut held = Vec::new();
    for i in 0..2 {
        held.push(tokio::spawn(async move {
            let mut c = Client::h1(small).await;
            let r = served_by(&mut c, &format!("/slow/800/{i}")).await;
            drop(c);
            r
        }));
    }
    poll_until("two connections in", || {
        s.in_flight.load(Ordering::SeqCst) == 2
    })
    .await;
    // The third connects (the kernel's backlog) but gwd does not accept
    // it until one of the two closes: served later, not refused.
    let started = std::time::Instant::now();
    let third = tokio::spawn(async move {
        let mut c = Client::h1(small).await;
        served_by(&mut c, "/third").await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(s.requests("/third").is_empty(), "accepted past maxconn");
    for h in held {
        assert_eq!(h.await.unwrap().0, 200);
    }
    assert_eq!(third.await.unwrap(), (200, "s".into()));
    assert!(started.elapsed() >= Duration::from_millis(500));
    // The default frontend has no limit.
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    assert_eq!(served_by(&mut c, "/free").await.0, 200);
}

/// `maxconn` in `[global]` bounds the visitor connections of every
/// frontend together: with one held on each of two frontends, a third on
/// either is accepted only once one closes (served later, not refused).
#[tokio::test(flavor = "multi_thread")]
async fn global_maxconn_bounds_all_frontends_together() {
    let s = Tracked::start("s", 200).await;
    let head = HEAD.replacen("[global]\n", "[global]\nmaxconn = 2\n", 1);
    let gwd = Gwd::start(&format!(
        r#"{head}
[frontend.other]
bind = [ {{ addr = "127.0.0.1:0" }} ]
default_backend = "app"

[backend.app]
server = [ {{ name = "s", addr = "{s}" }} ]
"#,
        s = s.addr,
    ));
    let (www, other) = (gwd.addr("www", 0), gwd.addr("other", 0));
    let held: Vec<_> = [www, other]
        .into_iter()
        .enumerate()
        .map(|(i, at)| {
            tokio::spawn(async move {
                let mut c = Client::h1(at).await;
                let r = served_by(&mut c, &format!("/slow/800/{i}")).await;
                drop(c);
                r
            })
        })
        .collect();
    poll_until("one connection in on each frontend", || {
        s.in_flight.load(Ordering::SeqCst) == 2
    })
    .await;
    let started = std::time::Instant::now();
    let third = tokio::spawn(async move {
        let mut c = Client::h1(www).await;
        served_by(&mut c, "/third").await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        s.requests("/third").is_empty(),
        "accepted past the global maxconn"
    );
    for h in held {
        assert_eq!(h.await.unwrap().0, 200);
    }
    assert_eq!(third.await.unwrap(), (200, "s".into()));
    assert!(started.elapsed() >= Duration::from_millis(500));
}

#[tokio::test(flavor = "multi_thread")]
async fn bind_maxconn_limits_one_bind_only() {
    let s = Tracked::start("s", 200).await;
    let gwd = Gwd::start(&format!(
        r#"{HEAD}
[frontend.two]
bind = [ {{ addr = "127.0.0.1:0", maxconn = 1 }}, {{ addr = "127.0.0.1:0" }} ]
default_backend = "app"

[backend.app]
server = [ {{ name = "s", addr = "{s}" }} ]
"#,
        s = s.addr,
    ));
    let (limited, free) = (gwd.addr("two", 0), gwd.addr("two", 1));
    let held = tokio::spawn(async move {
        let mut c = Client::h1(limited).await;
        served_by(&mut c, "/slow/800/held").await
    });
    poll_until("the first connection in", || {
        s.in_flight.load(Ordering::SeqCst) == 1
    })
    .await;
    let waiting = tokio::spawn(async move {
        let mut c = Client::h1(limited).await;
        served_by(&mut c, "/second").await
    });
    // The other bind of the same frontend is not limited.
    let mut c = Client::h1(free).await;
    assert_eq!(served_by(&mut c, "/other").await.0, 200);
    assert!(
        s.requests("/second").is_empty(),
        "accepted past the bind's maxconn"
    );
    assert_eq!(held.await.unwrap().0, 200);
    assert_eq!(waiting.await.unwrap().0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_bind_does_not_starve_its_sibling_of_the_frontend_maxconn() {
    let s = Tracked::start("s", 200).await;
    let gwd = Gwd::start(&format!(
        r#"{HEAD}
[frontend.pair]
bind = [ {{ addr = "127.0.0.1:0" }}, {{ addr = "127.0.0.1:0" }} ]
maxconn = 1
default_backend = "app"

[backend.app]
server = [ {{ name = "s", addr = "{s}" }} ]
"#,
        s = s.addr,
    ));
    // Only the second bind gets traffic, one connection at a time: each
    // is served although the first bind's loop waits for connections too.
    for bind in [1, 1, 1, 0, 1] {
        let mut c = Client::h1(gwd.addr("pair", bind)).await;
        assert_eq!(served_by(&mut c, &format!("/b{bind}")).await.0, 200);
        drop(c);
        poll_until("the connection closed", || {
            stat_value(&gwd, "pair,FRONTEND,", "scur") == "0"
        })
        .await;
    }
}
