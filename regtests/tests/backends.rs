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

use gwd_regtests::Gwd;
use gwd_regtests::backend::{Backend, Proto, closed_port, raw_server, read_head};
use gwd_regtests::client::Client;
use gwd_regtests::runtime_api::stat_value;
use tokio::io::AsyncWriteExt;

#[path = "backends/support.rs"]
mod support;
use support::*;

/// The result of the row's last check: `check_status` without the `* `
/// that HAProxy (and gwd) put before it while the next check runs (with
/// checks 100 ms apart, one often does).
fn last_check(gwd: &Gwd, row: &str) -> String {
    let status = stat_value(gwd, row, "check_status");
    status.strip_prefix("* ").unwrap_or(&status).to_string()
}

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
    assert_eq!(last_check(&gwd, "app,hung,"), "L7TOUT");
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
    assert_eq!(last_check(&gwd, "app,only,"), "L7OK");
    healthy.store(false, Ordering::SeqCst);
    gwd.stderr.wait_for("the server DOWN", |l| {
        l.contains("Server app/only is DOWN, reason: Layer7 wrong status, code: 503")
            && l.contains("0 active and 0 backup servers left.")
    });
    gwd.stderr.wait_for("the backend without servers", |l| {
        l.contains("backend app has no server available!")
    });
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
    assert_eq!(last_check(&gwd, "app,failing,"), "HANA");
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
