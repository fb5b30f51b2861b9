//! `mode = "tcp"` through the real binary (issue 14, item 6): bulk relay
//! with half-close, TLS passthrough routed by SNI, `tcp-request` rejects
//! with their counters (`req.len` after `inspect-delay` among them), idle
//! timeouts, balancing, TCP health checks, and the tcplog line.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gwd_regtests::backend::{pattern_byte, raw_server};
use gwd_regtests::client::{closed_within, tls_connect};
use gwd_regtests::runtime_api::stat_value;
use gwd_regtests::{Gwd, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const STATS: &str = r#"[global]
stats-socket = [ { addr = "127.0.0.1:0", level = "user" } ]
"#;

const TEN_MB: u64 = 10 * 1024 * 1024;

async fn poll_until(what: &str, mut cond: impl FnMut() -> bool) {
    tokio::time::timeout(WAIT, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("gave up waiting for {what}"));
}

/// Writes `n` pattern bytes starting at offset `from`.
async fn write_pattern(w: &mut (impl AsyncWriteExt + Unpin), from: u64, n: u64) {
    let mut chunk = vec![0u8; 64 * 1024];
    let mut at = from;
    while at < from + n {
        let len = (from + n - at).min(chunk.len() as u64) as usize;
        for (i, b) in chunk[..len].iter_mut().enumerate() {
            *b = pattern_byte(at + i as u64);
        }
        w.write_all(&chunk[..len]).await.expect("write pattern");
        at += len as u64;
    }
}

/// Reads to end of stream; returns how many bytes followed the pattern
/// and the bytes after the first `n` (the trailer).
async fn read_pattern(r: &mut (impl AsyncReadExt + Unpin), n: u64) -> (u64, Vec<u8>) {
    let mut got = 0u64;
    let mut trailer = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let k = r.read(&mut buf).await.expect("read");
        if k == 0 {
            return (got, trailer);
        }
        for &b in &buf[..k] {
            if got < n {
                assert_eq!(b, pattern_byte(got), "byte {got} differs");
                got += 1;
            } else {
                trailer.push(b);
            }
        }
    }
}

/// A server that reads the client's bytes to their end while sending the
/// first half of its own, then, after the client's FIN, sends the second
/// half and `got <n>` (what it received), and closes.
async fn half_close_server() -> SocketAddr {
    raw_server(|s| async move {
        let (mut r, mut w) = s.into_split();
        let reading = tokio::spawn(async move { read_pattern(&mut r, TEN_MB).await });
        write_pattern(&mut w, 0, TEN_MB / 2).await;
        let (got, extra) = reading.await.expect("reader");
        assert!(extra.is_empty());
        write_pattern(&mut w, TEN_MB / 2, TEN_MB / 2).await;
        w.write_all(format!("got {got}").as_bytes()).await.unwrap();
        w.shutdown().await.unwrap();
    })
    .await
    .0
}

/// A server that writes `name` and then echoes until the client closes.
async fn named_echo(name: &'static str) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    raw_server(move |mut s| async move {
        if s.write_all(name.as_bytes()).await.is_err() {
            return;
        }
        let mut b = [0u8; 1024];
        while let Ok(n) = s.read(&mut b).await {
            if n == 0 || s.write_all(&b[..n]).await.is_err() {
                return;
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn relays_ten_megabytes_each_way_with_half_close() {
    let server = half_close_server().await;
    let gwd = Gwd::start(&format!(
        r#"{STATS}
[defaults]
mode = "tcp"
timeout.client = "30s"
timeout.server = "30s"
timeout.connect = "5s"

[frontend.relay]
bind = [ {{ addr = "127.0.0.1:0" }} ]
default_backend = "bulk"

[backend.bulk]
server = [ {{ name = "s1", addr = "{server}" }} ]
"#
    ));
    let s = TcpStream::connect(gwd.addr("relay", 0)).await.unwrap();
    let (mut r, mut w) = s.into_split();
    let reading = tokio::spawn(async move { read_pattern(&mut r, TEN_MB).await });
    tokio::time::timeout(WAIT, async {
        write_pattern(&mut w, 0, TEN_MB).await;
        // Half-close: the server still sends its second half after this.
        w.shutdown().await.unwrap();
    })
    .await
    .expect("the upload finished");
    let (got, trailer) = tokio::time::timeout(WAIT, reading)
        .await
        .expect("the download finished")
        .unwrap();
    assert_eq!(got, TEN_MB);
    assert_eq!(String::from_utf8_lossy(&trailer), format!("got {TEN_MB}"));
    let down = TEN_MB + format!("got {TEN_MB}").len() as u64;
    poll_until("the counters", || {
        stat_value(&gwd, "relay,FRONTEND,", "bout") == down.to_string()
    })
    .await;
    for row in ["relay,FRONTEND,", "bulk,BACKEND,", "bulk,s1,"] {
        assert_eq!(stat_value(&gwd, row, "bin"), TEN_MB.to_string(), "{row}");
        assert_eq!(stat_value(&gwd, row, "bout"), down.to_string(), "{row}");
        // A TCP proxy's rows say so and carry no HTTP columns.
        assert_eq!(stat_value(&gwd, row, "mode"), "tcp", "{row}");
        assert_eq!(stat_value(&gwd, row, "req_tot"), "", "{row}");
        assert_eq!(stat_value(&gwd, row, "hrsp_2xx"), "", "{row}");
    }
    assert_eq!(stat_value(&gwd, "relay,FRONTEND,", "stot"), "1");
}

/// A TLS server whose certificate (for `name`, from its own CA) proves
/// who answered; it writes `answer` after the handshake and closes.
async fn tls_named(
    dir: &std::path::Path,
    name: &str,
    answer: &'static str,
) -> (SocketAddr, std::path::PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let f = gwd_tls::pki::Pki::generate(&format!("{name} CA"), &[name], &[])
        .unwrap()
        .write_named(dir, name)
        .unwrap();
    let cfg = gwd_tls::server_config(&gwd_tls::ServerTlsSettings {
        cert: f.server_cert.clone(),
        key: Some(f.server_key.clone()),
        alpn: vec![],
        verify: gwd_tls::PeerVerify::None,
        ca: None,
    })
    .expect("server TLS config");
    let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
    let (addr, _) = raw_server(move |s| {
        let acceptor = acceptor.clone();
        async move {
            if let Ok(mut t) = acceptor.accept(s).await {
                let _ = t.write_all(answer.as_bytes()).await;
                let _ = t.shutdown().await;
            }
        }
    })
    .await;
    (addr, f.ca_cert)
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_tls_by_sni_without_terminating_it() {
    let dir = gwd_regtests::scratch_dir("tcp-sni");
    let (a, ca_a) = tls_named(&dir.join("a"), "a.example", "A").await;
    let (b, ca_b) = tls_named(&dir.join("b"), "b.example", "B").await;
    let gwd = Gwd::start(&format!(
        r#"[defaults]
mode = "tcp"
timeout.client = "30s"
timeout.server = "30s"
timeout.connect = "5s"

[frontend.passthrough]
bind = [ {{ addr = "127.0.0.1:0" }} ]
tcp-request.inspect-delay = "5s"
tcp-request.content = [ {{ action = "accept", if = "{{ req.ssl_hello_type 1 }}" }}, {{ action = "reject" }} ]
use_backend = [
  {{ backend = "a", if = "{{ req.ssl_sni -i a.example }}" }},
  {{ backend = "b", if = "{{ req.ssl_sni -i b.example }}" }},
]

[backend.a]
server = [ {{ name = "a1", addr = "{a}" }} ]

[backend.b]
server = [ {{ name = "b1", addr = "{b}" }} ]
"#
    ));
    let addr = gwd.addr("passthrough", 0);
    for (name, ca, answer) in [
        ("a.example", &ca_a, "A"),
        ("b.example", &ca_b, "B"),
        ("A.EXAMPLE", &ca_a, "A"),
    ] {
        // The client verifies the certificate against the one CA that
        // signed it: reaching the other server fails the handshake.
        let (mut t, _) = tls_connect(addr, name, ca, &[], None)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut got = String::new();
        t.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, answer, "{name}");
    }
    // A name no rule routes has no backend: closed.
    assert!(
        tls_connect(addr, "c.example", &ca_a, &[], None)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tcp_request_rules_refuse_and_count() {
    let (echo, conns) = named_echo("echo:").await;
    let gwd = Gwd::start(&format!(
        r#"{STATS}
[defaults]
mode = "tcp"
timeout.client = "30s"
timeout.server = "30s"
timeout.connect = "5s"

[frontend.by-addr]
bind = [ {{ addr = "127.0.0.1:0" }} ]
tcp-request.connection = [ {{ action = "reject", if = "{{ src 127.0.0.0/8 }}" }} ]
default_backend = "e"

[frontend.http-by-addr]
mode = "http"
bind = [ {{ addr = "127.0.0.1:0" }} ]
tcp-request.connection = [ {{ action = "reject", if = "{{ src 127.0.0.1 }}" }} ]

[frontend.by-content]
bind = [ {{ addr = "127.0.0.1:0" }} ]
tcp-request.inspect-delay = "1s"
tcp-request.content = [ {{ action = "reject", if = "{{ req.ssl_hello_type 1 }}" }} ]
default_backend = "e"

[backend.e]
server = [ {{ name = "s", addr = "{echo}" }} ]
"#
    ));
    let mut s = TcpStream::connect(gwd.addr("by-addr", 0)).await.unwrap();
    assert!(closed_within(&mut s, WAIT).await, "rejected at connection");
    assert_eq!(stat_value(&gwd, "by-addr,FRONTEND,", "dcon"), "1");
    assert_eq!(conns.load(std::sync::atomic::Ordering::SeqCst), 0);

    // HTTP frontends run connection rules too, before reading a request.
    let mut s = TcpStream::connect(gwd.addr("http-by-addr", 0))
        .await
        .unwrap();
    let _ = s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert!(closed_within(&mut s, WAIT).await, "HTTP frontend: rejected");
    assert_eq!(stat_value(&gwd, "http-by-addr,FRONTEND,", "dcon"), "1");
    assert_eq!(stat_value(&gwd, "http-by-addr,FRONTEND,", "req_tot"), "0");

    // The start of a TLS handshake record carrying a ClientHello: refused
    // by the content rule before anything reaches the server.
    let mut s = TcpStream::connect(gwd.addr("by-content", 0)).await.unwrap();
    s.write_all(&[22, 3, 1, 0, 200, 1, 0, 0, 196])
        .await
        .unwrap();
    assert!(closed_within(&mut s, WAIT).await, "rejected on content");
    assert_eq!(stat_value(&gwd, "by-content,FRONTEND,", "dreq"), "1");
    assert_eq!(conns.load(std::sync::atomic::Ordering::SeqCst), 0);

    // Other bytes pass: the server sees them first, as sent.
    let mut s = TcpStream::connect(gwd.addr("by-content", 0)).await.unwrap();
    s.write_all(b"hello\n").await.unwrap();
    let mut got = vec![0u8; "echo:hello\n".len()];
    tokio::time::timeout(WAIT, s.read_exact(&mut got))
        .await
        .expect("echo in time")
        .unwrap();
    assert_eq!(got, b"echo:hello\n");
    assert_eq!(stat_value(&gwd, "by-content,FRONTEND,", "dreq"), "1");
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_relays_are_closed_by_their_timeouts() {
    let (echo, _) = named_echo("e").await;
    let gwd = Gwd::start(&format!(
        r#"[defaults]
mode = "tcp"
timeout.connect = "5s"

[frontend.short-client]
bind = [ {{ addr = "127.0.0.1:0" }} ]
timeout.client = "300ms"
default_backend = "long"

[frontend.tunnel]
bind = [ {{ addr = "127.0.0.1:0" }} ]
timeout.client = "60s"
default_backend = "tunnelled"

[backend.long]
timeout.server = "60s"
server = [ {{ name = "s", addr = "{echo}" }} ]

[backend.tunnelled]
timeout.server = "60s"
timeout.tunnel = "300ms"
server = [ {{ name = "s", addr = "{echo}" }} ]
"#
    ));
    for fe in ["short-client", "tunnel"] {
        let mut s = TcpStream::connect(gwd.addr(fe, 0)).await.unwrap();
        let mut b = [0u8; 2];
        s.write_all(b"x").await.unwrap();
        s.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"ex");
        let idle_from = Instant::now();
        assert!(closed_within(&mut s, WAIT).await, "{fe}: closed when idle");
        let idle = idle_from.elapsed();
        assert!(
            idle >= Duration::from_millis(250) && idle < Duration::from_secs(20),
            "{fe}: {idle:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_are_balanced_and_logged_in_tcplog_format() {
    let (one, c1) = named_echo("one").await;
    let (two, c2) = named_echo("two").await;
    let gwd = Gwd::start(&format!(
        r#"[defaults]
mode = "tcp"
option.tcplog = true
timeout.client = "30s"
timeout.server = "30s"
timeout.connect = "5s"

[frontend.lb]
bind = [ {{ addr = "127.0.0.1:0" }} ]
default_backend = "pair"

[backend.pair]
balance = "roundrobin"
server = [ {{ name = "one", addr = "{one}" }}, {{ name = "two", addr = "{two}" }} ]
"#
    ));
    let mut seen = Vec::new();
    for _ in 0..10 {
        let mut s = TcpStream::connect(gwd.addr("lb", 0)).await.unwrap();
        let mut b = [0u8; 3];
        tokio::time::timeout(WAIT, s.read_exact(&mut b))
            .await
            .expect("a name in time")
            .unwrap();
        seen.push(String::from_utf8_lossy(&b).into_owned());
    }
    let ones = seen.iter().filter(|n| *n == "one").count();
    assert_eq!((ones, seen.len() - ones), (5, 5), "{seen:?}");
    use std::sync::atomic::Ordering::SeqCst;
    assert_eq!((c1.load(SeqCst), c2.load(SeqCst)), (5, 5));
    // Each closed session logs HAProxy's tcplog line:
    // client [date] frontend backend/server Tw/Tc/Tt bytes ts actconn/... sq/bq
    let re = regex::Regex::new(
        r"\d+\.\d+\.\d+\.\d+:\d+ \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2}\.\d{3}\] lb pair/(one|two) \d+/\d+/\d+ 3 (--|CD|cD) \d+/\d+/\d+/\d+/0 0/0",
    )
    .unwrap();
    gwd.stderr
        .wait_count("ten tcplog lines", 10, |l| re.is_match(l));
}

/// `req.len` in `tcp-request content` rules after `inspect-delay`, as
/// HAProxy's: first bytes of at most 8 bytes are accepted and reach the
/// server first; longer ones fall through to the reject (counted in
/// `dreq`, the server never connected).
#[tokio::test(flavor = "multi_thread")]
async fn req_len_in_content_rules_accepts_short_and_rejects_long() {
    let (echo, conns) = named_echo("echo:").await;
    let gwd = Gwd::start(&format!(
        r#"{STATS}
[defaults]
mode = "tcp"
timeout.client = "30s"
timeout.server = "30s"
timeout.connect = "5s"

[frontend.by-len]
bind = [ {{ addr = "127.0.0.1:0" }} ]
tcp-request.inspect-delay = "5s"
tcp-request.content = [
  {{ action = "accept", if = "{{ req.len le 8 }}" }},
  {{ action = "reject" }},
]
default_backend = "e"

[backend.e]
server = [ {{ name = "s", addr = "{echo}" }} ]
"#
    ));
    use std::sync::atomic::Ordering::SeqCst;
    let addr = gwd.addr("by-len", 0);

    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"0123456789abcdef").await.unwrap();
    assert!(closed_within(&mut s, WAIT).await, "16 bytes: rejected");
    assert_eq!(stat_value(&gwd, "by-len,FRONTEND,", "dreq"), "1");
    assert_eq!(conns.load(SeqCst), 0);

    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"short\n").await.unwrap();
    let mut got = vec![0u8; "echo:short\n".len()];
    tokio::time::timeout(WAIT, s.read_exact(&mut got))
        .await
        .expect("echo in time")
        .unwrap();
    assert_eq!(got, b"echo:short\n");
    assert_eq!(conns.load(SeqCst), 1);
    assert_eq!(stat_value(&gwd, "by-len,FRONTEND,", "dreq"), "1");

    // Exactly at the limit passes too; one byte more does not.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"12345678").await.unwrap();
    let mut got = vec![0u8; "echo:12345678".len()];
    tokio::time::timeout(WAIT, s.read_exact(&mut got))
        .await
        .expect("echo in time")
        .unwrap();
    assert_eq!(got, b"echo:12345678");
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"123456789").await.unwrap();
    assert!(closed_within(&mut s, WAIT).await, "9 bytes: rejected");
    assert_eq!(stat_value(&gwd, "by-len,FRONTEND,", "dreq"), "2");
    assert_eq!(conns.load(SeqCst), 2);
    // Each reject is logged as HAProxy's: no server, `PR` (the proxy
    // ended it while the request was being read), nothing sent back.
    let re = regex::Regex::new(r" by-len \S+/<NOSRV> -?\d+/-?\d+/\d+ 0 PR ").unwrap();
    gwd.stderr
        .wait_count("two PR tcplog lines", 2, |l| re.is_match(l));
}

/// Health checks in TCP mode (HAProxy's TCP connect check): of two
/// checked servers, the one whose port refuses is marked DOWN (HAProxy's
/// log line, `show stat`), and from then on every connection goes to the
/// live one.
#[tokio::test(flavor = "multi_thread")]
async fn tcp_checks_take_a_dead_server_out() {
    let (live, live_conns) = named_echo("live").await;
    let dead = gwd_regtests::backend::closed_port();
    let gwd = Gwd::start(&format!(
        r#"{STATS}
[defaults]
mode = "tcp"
timeout.client = "30s"
timeout.server = "30s"
timeout.connect = "1s"

[frontend.lb]
bind = [ {{ addr = "127.0.0.1:0" }} ]
default_backend = "pair"

[backend.pair]
balance = "roundrobin"
server = [
  {{ name = "live", addr = "{live}", check = true, inter = "100ms" }},
  {{ name = "dead", addr = "{dead}", check = true, inter = "100ms" }},
]
"#
    ));
    let down = gwd.stderr.wait_for("the dead server marked DOWN", |l| {
        l.contains("Server pair/dead is DOWN")
    });
    assert!(
        down.contains("Layer4 connection problem"),
        "a TCP connect check: {down}"
    );
    assert!(
        down.contains("1 active and 0 backup servers left."),
        "{down}"
    );
    assert_eq!(stat_value(&gwd, "pair,dead,", "status"), "DOWN");
    assert_eq!(stat_value(&gwd, "pair,live,", "status"), "UP");

    use std::sync::atomic::Ordering::SeqCst;
    let before = live_conns.load(SeqCst);
    for _ in 0..10 {
        let mut s = TcpStream::connect(gwd.addr("lb", 0)).await.unwrap();
        let mut b = [0u8; 4];
        tokio::time::timeout(WAIT, s.read_exact(&mut b))
            .await
            .expect("a name in time")
            .unwrap();
        assert_eq!(&b, b"live");
    }
    // The live server's checks connect too: at least the ten relays.
    assert!(live_conns.load(SeqCst) >= before + 10);
    assert_eq!(stat_value(&gwd, "pair,dead,", "econ"), "0");
    assert_eq!(stat_value(&gwd, "pair,live,", "stot"), "10");
}
