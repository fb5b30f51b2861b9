//! Backends under load they must refuse or spread (issue 12), through
//! the real binary: server `maxconn` and its queues (arrival order,
//! `timeout queue`, a hashed key's own server queue), frontend, bind and
//! global `maxconn`, and retries (`retry-on`, `option redispatch`).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use gwd_regtests::Gwd;
use gwd_regtests::backend::closed_port;
use gwd_regtests::client::Client;
use gwd_regtests::runtime_api::stat_value;

#[path = "backends/support.rs"]
mod support;
use support::*;

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
    // Counted as HAProxy counts them: every retry moved, so each is a
    // redispatch and none a retry; all were served, so no `econ`.
    assert_eq!(stat_value(&gwd, "app,BACKEND,", "wretr"), "0");
    assert_ne!(stat_value(&gwd, "app,BACKEND,", "wredis"), "0");
    assert_eq!(stat_value(&gwd, "app,BACKEND,", "econ"), "0");
}

/// A visitor that leaves while its request waits in the queue is logged
/// as HAProxy logs it: `CQ`, with the time it waited as `Tw`.
#[tokio::test(flavor = "multi_thread")]
async fn a_visitor_leaving_the_queue_is_logged_cq() {
    let s = Tracked::start("s", 200).await;
    let gwd = Gwd::start(&format!(
        r#"{HEAD}
[backend.app]
server = [ {{ name = "s", addr = "{s}", maxconn = 1 }} ]
"#,
        s = s.addr,
    ));
    let www = gwd.addr("www", 0);
    let busy = tokio::spawn(async move {
        let mut c = Client::h1(www).await;
        served_by(&mut c, "/slow/1500").await
    });
    poll_until("the server busy", || {
        s.in_flight.load(Ordering::SeqCst) == 1
    })
    .await;
    // Waits in the queue, then gives up (its stream reset).
    let mut c = Client::h2c(www).await;
    let req = http::Request::get("/queued")
        .header("host", "app.test")
        .body(gwd_regtests::client::empty())
        .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(400), c.send(req))
            .await
            .is_err()
    );
    let line = gwd.stderr.wait_for("the queued request's line", |l| {
        l.contains("GET /queued ") && l.contains(" CQ--")
    });
    let timers = line
        .split_whitespace()
        .skip_while(|w| !w.starts_with("app/"))
        .nth(1)
        .unwrap_or_else(|| panic!("{line}"));
    let tw: i64 = timers.split('/').nth(1).unwrap().parse().unwrap();
    assert!((300..1500).contains(&tw), "Tw {tw}: {line}");
    assert_eq!(busy.await.unwrap().0, 200);
    assert!(s.requests("/queued").is_empty());
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
    let (_a, _b, gwd, key_of) = two_hashed_servers("10s").await;
    let www = gwd.addr("www", 0);
    let mut c = Client::h1(www).await;
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
    let (_a, _b, gwd, key_of) = two_hashed_servers("3s").await;
    let www = gwd.addr("www", 0);
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

/// gwd with `balance = "uri depth 2"` over two servers a and b of
/// `maxconn 1`, `timeout queue` as given, and a key for each.
async fn two_hashed_servers(
    timeout_queue: &str,
) -> (Tracked, Tracked, Gwd, HashMap<String, String>) {
    let a = Tracked::start("a", 200).await;
    let b = Tracked::start("b", 200).await;
    let gwd = Gwd::start(&format!(
        r#"{HEAD}
[backend.app]
balance = "uri depth 2"
timeout.queue = "{timeout_queue}"
server = [ {{ name = "a", addr = "{a}", maxconn = 1 }}, {{ name = "b", addr = "{b}", maxconn = 1 }} ]
"#,
        a = a.addr,
        b = b.addr,
    ));
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    let key_of = keys_of_two_servers(&mut c).await;
    (a, b, gwd, key_of)
}

/// With `balance = "uri depth 2"` over two servers: a key (`/k/<i>`) for
/// each, by server name (the rest of a path says how slow to answer).
async fn keys_of_two_servers(c: &mut Client) -> HashMap<String, String> {
    let mut key_of = HashMap::new();
    for i in 0..64 {
        let (_, by) = served_by(c, &format!("/k/{i}/slow/0")).await;
        key_of.entry(by).or_insert(format!("/k/{i}"));
        if key_of.len() == 2 {
            break;
        }
    }
    key_of
}
