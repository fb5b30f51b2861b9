//! `log` targets through the real binary: access lines received on a UDP
//! socket (rfc3164) and a Unix datagram socket (rfc5424) on loopback, the
//! httplog line against HAProxy's documented format (and, when HAProxy is
//! installed, field by field against what HAProxy writes for the same
//! request), `option dontlognull`, `option log-separate-errors`,
//! `log-format` and `unique-id-format`/`unique-id-header`, and the
//! `stdout`/`stderr` targets.

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

use gwd_regtests::backend::recording_server;
use gwd_regtests::client::Client;
use gwd_regtests::{Gwd, WAIT, scratch_dir};
use regex::Regex;

/// HAProxy's httplog line (`configuration.txt`, 8.2.3): `%ci:%cp [%tr]
/// %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc
/// %sq/%bq %hr %hs %{+Q}r`, without captures.
const HTTPLOG: &str = r#"^(\d+\.\d+\.\d+\.\d+):(\d+) \[(\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d\.\d{3})\] (\S+?)(~?) (\S+)/(\S+) (-?\d+)/(-?\d+)/(-?\d+)/(-?\d+)/\+?(-?\d+) (-?\d+) (\d+) (\S+) (\S+) ([-A-Za-z]{4}) (\d+)/(\d+)/(\d+)/(\d+)/\+?(\d+) (\d+)/(\d+) "(.*)"$"#;

/// rfc3164 as HAProxy frames it: `<PRI>Mmm dd hh:mm:ss tag[pid]: `.
const RFC3164: &str = r"^<(\d+)>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d (\S+)\[(\d+)\]: (.*)\n$";
/// rfc5424: `<PRI>1 timestamp host tag pid - - `.
const RFC5424: &str =
    r"^<(\d+)>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00 - (\S+) (\d+) - - (.*)\n$";

fn udp() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn unix(dir: &Path) -> (UnixDatagram, String) {
    let p = dir.join("log.sock");
    let s = UnixDatagram::bind(&p).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    (s, p.display().to_string())
}

fn recv_udp(s: &UdpSocket) -> String {
    let mut buf = vec![0u8; 4096];
    let n = s.recv(&mut buf).expect("a log datagram within 10 s");
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

fn recv_unix(s: &UnixDatagram) -> String {
    let mut buf = vec![0u8; 4096];
    let n = s.recv(&mut buf).expect("a log datagram within 10 s");
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

fn config(udp: SocketAddr, unix: &str, server: SocketAddr, extra: &str) -> String {
    format!(
        r#"
[global]
log = ["{udp} local0", "{unix} format rfc5424 local1 info"]

[defaults]
log = "global"
option.httplog = true
timeout.client = "10s"
timeout.connect = "5s"
timeout.server = "10s"

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
default_backend = "app"

[backend.app]
server = [ {{ name = "s1", addr = "{server}" }} ]
{extra}
"#
    )
}

/// A frontend logging raw to `udp` in the format its `lines` set (a
/// `log-format`, and what else they add), in front of `server`.
fn raw_format_config(udp: SocketAddr, server: SocketAddr, lines: &str) -> String {
    format!(
        r#"
[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
log = ["{udp} format raw local0"]
{lines}
timeout.client = "10s"
default_backend = "app"

[backend.app]
timeout.connect = "5s"
timeout.server = "10s"
server = [ {{ name = "s1", addr = "{server}" }} ]
"#
    )
}

/// A request through gwd, its line on both sockets, each framed as its
/// target says, and the httplog line in HAProxy's format.
#[tokio::test(flavor = "multi_thread")]
async fn udp_rfc3164_and_unix_rfc5424_carry_the_httplog_line() {
    let (server, _log) = recording_server().await;
    let dir = scratch_dir("logging");
    let u = udp();
    let (x, xpath) = unix(&dir);
    let gwd = Gwd::start(&config(u.local_addr().unwrap(), &xpath, server, ""));
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    let (status, _, _) = c.get("app.test", "/hello?x=1").await;
    assert_eq!(status, 200);

    let d = recv_udp(&u);
    let caps = Regex::new(RFC3164)
        .unwrap()
        .captures(&d)
        .unwrap_or_else(|| panic!("not rfc3164: {d:?}"));
    // local0 (16) * 8 + info (6)
    assert_eq!(&caps[1], "134", "{d:?}");
    assert_eq!(&caps[2], "gwd");
    assert_eq!(caps[3].parse::<u32>().unwrap(), gwd.pid());
    let line = caps[4].to_owned();
    let f = Regex::new(HTTPLOG)
        .unwrap()
        .captures(&line)
        .unwrap_or_else(|| panic!("not httplog: {line:?}"));
    assert_eq!(&f[1], "127.0.0.1");
    assert_eq!((&f[4], &f[5], &f[6], &f[7]), ("www", "", "app", "s1"));
    assert_eq!(&f[13], "200");
    assert_eq!((&f[15], &f[16], &f[17]), ("-", "-", "----"));
    assert_eq!(&f[25], "GET /hello?x=1 HTTP/1.1");

    let d5 = recv_unix(&x);
    let caps5 = Regex::new(RFC5424)
        .unwrap()
        .captures(&d5)
        .unwrap_or_else(|| panic!("not rfc5424: {d5:?}"));
    // local1 (17) * 8 + info (6)
    assert_eq!(&caps5[1], "142", "{d5:?}");
    assert_eq!(&caps5[2], "gwd");
    assert_eq!(&caps5[4], line, "both targets get the same line");
    // The access line does not also go to stderr through tracing.
    assert_eq!(gwd.stderr.count(|l| l.contains("GET /hello?x=1")), 0);
}

/// With `nbthread = 1` and datagram log targets, gwd serves logged
/// requests as one thread, as HAProxy does: the lines leave from the
/// serving thread (no log writer thread), and the configuration thread
/// ends once idle. A second thread would cost every socket call of the
/// process a reference on its file, and a wake-up per logged request.
#[tokio::test(flavor = "multi_thread")]
async fn logged_requests_are_served_by_one_thread() {
    let (server, _log) = recording_server().await;
    let dir = scratch_dir("logging-one-thread");
    let u = udp();
    let (x, xpath) = unix(&dir);
    let cfg = config(u.local_addr().unwrap(), &xpath, server, "")
        .replace("[global]\n", "[global]\nnbthread = 1\n");
    let gwd = Gwd::start(&cfg);
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    for _ in 0..3 {
        let (status, _, _) = c.get("app.test", "/one-thread").await;
        assert_eq!(status, 200);
        assert!(recv_udp(&u).contains("GET /one-thread"));
        assert!(recv_unix(&x).contains("GET /one-thread"));
    }
    let threads = || {
        std::fs::read_dir(format!("/proc/{}/task", gwd.pid()))
            .unwrap()
            .map(|t| std::fs::read_to_string(t.unwrap().path().join("comm")).unwrap())
            .map(|n| n.trim().to_owned())
            .collect::<Vec<_>>()
    };
    // The configuration thread ends 5 s after its last job (gwd's
    // start): polled, bounded.
    let deadline = std::time::Instant::now() + WAIT;
    while threads().len() > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "gwd kept threads: {:?}",
            threads()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, _, _) = c.get("app.test", "/still-one").await;
    assert_eq!(status, 200);
    assert!(recv_udp(&u).contains("GET /still-one"));
    assert_eq!(threads().len(), 1, "{:?}", threads());
}

/// `option log-separate-errors`: a 503 goes out at level err.
#[tokio::test(flavor = "multi_thread")]
async fn separate_errors_raise_the_level_of_5xx() {
    let (server, _log) = recording_server().await;
    let dir = scratch_dir("logging");
    let u = udp();
    let (_x, xpath) = unix(&dir);
    let extra = r#"
[frontend.err]
bind = [ { addr = "127.0.0.1:0" } ]
option.log-separate-errors = true
default_backend = "dead"

[backend.dead]
server = [ { name = "gone", addr = "127.0.0.1:1" } ]
retries = 0
"#;
    let gwd = Gwd::start(&config(u.local_addr().unwrap(), &xpath, server, extra));
    let mut c = Client::h1(gwd.addr("err", 0)).await;
    let (status, _, _) = c.get("app.test", "/").await;
    assert_eq!(status, 503);
    let d = recv_udp(&u);
    assert!(d.starts_with("<131>"), "local0.err: {d:?}");
    assert!(
        d.contains(" err dead/gone ") && d.contains(" 503 ") && d.contains(" - - SC-- "),
        "{d:?}"
    );
}

/// `set-log-level`: `silent` sends no line; another level sets the
/// line's priority (local0.notice = 133) in any rule list.
#[tokio::test(flavor = "multi_thread")]
async fn set_log_level_silences_or_sets_the_level() {
    let (server, _log) = recording_server().await;
    let dir = scratch_dir("logging");
    let u = udp();
    let (_x, xpath) = unix(&dir);
    let extra = r#"
[frontend.lvl]
bind = [ { addr = "127.0.0.1:0" } ]
default_backend = "app"
http-request = [
  { action = "set-log-level", level = "silent", if = "{ path /health }" },
  { action = "set-log-level", level = "debug", if = "{ path /notice }" },
  { action = "set-var", var = "txn.notice", expr = "bool(1)", if = "{ path /notice }" },
]
http-response = [ { action = "set-log-level", level = "notice", if = "{ var(txn.notice) -m found }" } ]
"#;
    let gwd = Gwd::start(&config(u.local_addr().unwrap(), &xpath, server, extra));
    let mut c = Client::h1(gwd.addr("lvl", 0)).await;
    let (status, _, _) = c.get("app.test", "/health").await;
    assert_eq!(status, 200);
    let (status, _, _) = c.get("app.test", "/notice").await;
    assert_eq!(status, 200);
    // The first line to arrive is the second request's: /health sent none.
    let d = recv_udp(&u);
    assert!(d.starts_with("<133>"), "local0.notice: {d:?}");
    assert!(d.contains("\"GET /notice HTTP/1.1\""), "{d:?}");
}

/// `option dontlognull`: a connection that sends nothing is logged
/// (`CR--`, `<BADREQ>`, as HAProxy 2.6) unless the option is on.
#[tokio::test(flavor = "multi_thread")]
async fn dontlognull_skips_empty_connections() {
    let (server, _log) = recording_server().await;
    let dir = scratch_dir("logging");
    let u = udp();
    let (_x, xpath) = unix(&dir);
    let extra = r#"
[frontend.quiet]
bind = [ { addr = "127.0.0.1:0" } ]
option.dontlognull = true
default_backend = "app"
"#;
    let gwd = Gwd::start(&config(u.local_addr().unwrap(), &xpath, server, extra));
    drop(std::net::TcpStream::connect(gwd.addr("quiet", 0)).unwrap());
    drop(std::net::TcpStream::connect(gwd.addr("www", 0)).unwrap());
    let d = recv_udp(&u);
    let line = Regex::new(RFC3164).unwrap().captures(&d).unwrap()[4].to_owned();
    let f = Regex::new(HTTPLOG)
        .unwrap()
        .captures(&line)
        .unwrap_or_else(|| panic!("{line:?}"));
    assert_eq!((&f[4], &f[6], &f[7]), ("www", "www", "<NOSRV>"), "{line}");
    assert_eq!((&f[8], &f[9], &f[10], &f[11]), ("-1", "-1", "-1", "-1"));
    assert_eq!(
        (&f[13], &f[14], &f[17], &f[25]),
        ("400", "0", "CR--", "<BADREQ>")
    );
    // Nothing came for `quiet`: the next line is a request's.
    let mut c = Client::h1(gwd.addr("quiet", 0)).await;
    assert_eq!(c.get("app.test", "/after").await.0, 200);
    let d = recv_udp(&u);
    assert!(
        d.contains(" quiet app/s1 ") && d.contains("\"GET /after HTTP/1.1\""),
        "{d:?}"
    );
}

/// `log-format` with variables and a sample fetch; the unique id reaches
/// the server in `unique-id-header` and is the `%ID` of the line.
#[tokio::test(flavor = "multi_thread")]
async fn log_format_and_unique_id() {
    let (server, log) = recording_server().await;
    let u = udp();
    let toml = raw_format_config(
        u.local_addr().unwrap(),
        server,
        r#"log-format = "%ci %ft %b/%s %ST %ID [%[req.hdr(x-tag)]] %HM %HP %{+Q}r"
unique-id-format = "%{+X}o %ci:%cp_%fi:%fp_%Ts_%rt:%pid"
unique-id-header = "X-Unique-ID""#,
    );
    let gwd = Gwd::start(&toml);
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    let req = http::Request::builder()
        .uri("/p?q=1")
        .header("host", "app.test")
        .header("x-tag", "blue")
        .body(gwd_regtests::client::empty())
        .unwrap();
    let (status, _, _) = gwd_regtests::client::read_all(c.send(req).await.unwrap()).await;
    assert_eq!(status, 200);
    let d = recv_udp(&u);
    let re = Regex::new(
        r#"^127\.0\.0\.1 www app/s1 200 (\S+) \[blue\] GET /p "GET /p\?q=1 HTTP/1\.1"\n$"#,
    )
    .unwrap();
    let id = re.captures(&d).unwrap_or_else(|| panic!("{d:?}"))[1].to_owned();
    // `%{+X}o`: addresses and numbers in hexadecimal, as HAProxy's example.
    let id_re =
        Regex::new(r"^7F000001:[0-9A-F]+_7F000001:[0-9A-F]+_[0-9A-F]+_[0-9A-F]+:[0-9A-F]+$")
            .unwrap();
    assert!(id_re.is_match(&id), "{id}");
    let seen = log
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("the server got the request");
    assert_eq!(seen.header("x-unique-id"), vec![id.as_str()]);
}

/// HAProxy 2.6, when installed, logs the same request with the same
/// fields (all but ports, dates, timers and byte counts, which depend on
/// the proxy's own response headers).
#[tokio::test(flavor = "multi_thread")]
async fn httplog_matches_haproxy_field_by_field() {
    if std::process::Command::new("haproxy")
        .arg("-v")
        .output()
        .is_err()
    {
        eprintln!("skipped: `haproxy` is not installed");
        return;
    }
    let (server, _log) = recording_server().await;
    let dir = scratch_dir("logging-haproxy");
    let u = udp();
    let (_x, xpath) = unix(&dir);
    let gwd = Gwd::start(&config(u.local_addr().unwrap(), &xpath, server, ""));
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    assert_eq!(c.get("app.test", "/cmp?a=b").await.0, 200);
    let ours = recv_udp(&u);

    let hu = udp();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            "global\n    log {} local0\ndefaults\n    mode http\n    log global\n    option httplog\n    timeout client 10s\n    timeout connect 5s\n    timeout server 10s\nfrontend www\n    bind 127.0.0.1:{port}\n    default_backend app\nbackend app\n    server s1 {server}\n",
            hu.local_addr().unwrap()
        ),
    )
    .unwrap();
    let mut h = std::process::Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut tries = 0;
    // The connection that finds HAProxy ready carries the request: a
    // separate probe could still be open when the request is logged, and
    // counted in its `%ac/%fc` (2/2 instead of gwd's 1/1).
    let mut hc = loop {
        if let Ok(s) = tokio::net::TcpStream::connect(addr).await {
            break Client::h1_on(s).await;
        }
        tries += 1;
        assert!(tries < 100, "haproxy did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(hc.get("app.test", "/cmp?a=b").await.0, 200);
    let theirs = recv_udp(&hu);
    let _ = h.kill();
    let _ = h.wait();

    let header = Regex::new(RFC3164).unwrap();
    let (a, b) = (
        header.captures(&ours).unwrap(),
        header.captures(&theirs).unwrap(),
    );
    assert_eq!(&a[1], &b[1], "priority");
    let re = Regex::new(HTTPLOG).unwrap();
    let (fa, fb) = (re.captures(&a[4]).unwrap(), re.captures(&b[4]).unwrap());
    // 1 ip, 2 port, 3 date, 4-7 frontend/backend/server, 8-12 timers,
    // 13 status, 14 bytes, 15-17 cookies and state, 18-22 counts, 23-24
    // queues, 25 request line.
    let same = [
        1, 4, 5, 6, 7, 13, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
    ];
    for i in same {
        assert_eq!(
            &fa[i], &fb[i],
            "field {i}:\n gwd:     {}\n haproxy: {}",
            &a[4], &b[4]
        );
    }
    assert_eq!(a[4].split(' ').count(), b[4].split(' ').count());
}

/// `RUST_LOG=debug` shows the decisions: the accepted connection, the
/// rules, the routing.
#[tokio::test(flavor = "multi_thread")]
async fn debug_events_tell_the_decisions() {
    let (server, _log) = recording_server().await;
    let toml = format!(
        r#"
[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
timeout.client = "10s"
http-request = [ {{ action = "deny", if = "{{ path /no }}" }} ]
default_backend = "app"

[backend.app]
timeout.connect = "5s"
timeout.server = "10s"
server = [ {{ name = "s1", addr = "{server}" }} ]
"#
    );
    let gwd = Gwd::start_with_log(&toml, "info,gwd_http=debug");
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    assert_eq!(c.get("app.test", "/yes").await.0, 200);
    assert_eq!(c.get("app.test", "/no").await.0, 403);
    for what in [
        "connection accepted",
        "frontend http-request rules passed",
        "request routed",
        "frontend http-request rules answered",
    ] {
        gwd.stderr
            .wait_for(what, |l| l.contains("DEBUG") && l.contains(what));
    }
}

/// `%{+json}o` (HAProxy 3.0's JSON log lines): the line is one JSON
/// object of the named items in order, typed as HAProxy types them, and
/// a visitor's quotes, backslashes and tabs are escaped, so a header can
/// neither end the string nor add a member.
#[tokio::test(flavor = "multi_thread")]
async fn json_lines_are_valid_json_with_visitor_bytes_escaped() {
    let (server, _log) = recording_server().await;
    let u = udp();
    let toml = raw_format_config(
        u.local_addr().unwrap(),
        server,
        "log-format = '%{+json}o %(client_ip)ci %(status)ST %(backend)b %(server)s %(request){+Q}r %(ua)[req.fhdr(user-agent)] %(bytes:str)B %(tsc)tsc literal %[method] %(missing)[req.hdr(x-none)]'",
    );
    let gwd = Gwd::start(&toml);
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    let ua = "u\"a\\b\tc\", \"evil\": \"1";
    let req = http::Request::builder()
        .uri("/p?q=1")
        .header("host", "app.test")
        .header("user-agent", ua)
        .body(gwd_regtests::client::empty())
        .unwrap();
    let (status, _, _) = gwd_regtests::client::read_all(c.send(req).await.unwrap()).await;
    assert_eq!(status, 200);
    let d = recv_udp(&u);
    let line = d.strip_suffix('\n').unwrap_or_else(|| panic!("{d:?}"));
    let v: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    let o = v.as_object().unwrap();
    assert_eq!(o["client_ip"], "127.0.0.1");
    assert_eq!(o["status"], 200, "a number, not a string: {line}");
    assert_eq!(o["backend"], "app");
    assert_eq!(o["server"], "s1");
    assert_eq!(o["request"], "GET /p?q=1 HTTP/1.1");
    assert_eq!(o["ua"], ua, "{line}");
    assert!(
        o["bytes"].as_str().unwrap().parse::<u64>().unwrap() > 0,
        "{line}"
    );
    assert_eq!(o["tsc"], "----");
    assert_eq!(o["missing"], "");
    assert!(!o.contains_key("evil"), "{line}");
    // Members in the format's order, with HAProxy's spacing.
    let keys = [
        "client_ip",
        "status",
        "backend",
        "server",
        "request",
        "ua",
        "bytes",
        "tsc",
        "missing",
    ];
    let at: Vec<usize> = keys
        .iter()
        .map(|k| {
            line.find(&format!("\"{k}\": "))
                .unwrap_or_else(|| panic!("{k}: {line}"))
        })
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{line}");
    assert!(
        line.starts_with("{\"client_ip\": \"127.0.0.1\", \"status\": 200, "),
        "{line}"
    );
}

/// HAProxy's own log analyser reads gwd's lines: the datagrams a UDP
/// syslog receiver got, written to a file as a syslog daemon writes them
/// (`Mmm dd hh:mm:ss host tag[pid]: line`), are parsed by `halog` (from
/// Debian's haproxy package, which `.ci/run` installs) without a parsing
/// error, and its status and per-server reports count what was sent.
#[tokio::test(flavor = "multi_thread")]
async fn halog_parses_the_lines() {
    if std::process::Command::new("halog")
        .arg("-h")
        .output()
        .is_err()
    {
        eprintln!("halog is not installed (Debian's haproxy package); skipped");
        return;
    }
    let (server, _log) = recording_server().await;
    let dir = scratch_dir("logging");
    let u = udp();
    let (_x, xpath) = unix(&dir);
    let extra = format!(
        r#"
[frontend.www2]
bind = [ {{ addr = "127.0.0.1:0" }} ]
http-request = [ {{ action = "return", status = 404, if = "{{ path_beg /missing }}" }} ]
use_backend = [ {{ backend = "dead", if = "{{ path_beg /dead }}" }} ]
default_backend = "app"

[backend.dead]
server = [ {{ name = "gone", addr = "{gone}" }} ]
retries = 0
"#,
        gone = gwd_regtests::backend::closed_port()
    );
    let gwd = Gwd::start(&config(u.local_addr().unwrap(), &xpath, server, &extra));
    let mut c = Client::h1(gwd.addr("www2", 0)).await;
    let mut sent = Vec::new();
    for (path, want) in [
        ("/a", 200),
        ("/b?x=1", 200),
        ("/a", 200),
        ("/missing", 404),
        ("/dead", 503),
    ] {
        let (status, _, _) = c.get("app.test", path).await;
        assert_eq!(status, want, "{path}");
        sent.push(path);
    }
    let syslog_re = Regex::new(RFC3164).unwrap();
    let mut file = String::new();
    for _ in &sent {
        let d = recv_udp(&u);
        let caps = syslog_re.captures(&d).unwrap_or_else(|| panic!("{d:?}"));
        // What a syslog daemon writes: the timestamp, its host name, the
        // tag and the message, without the priority.
        let stamp = &d[d.find('>').unwrap() + 1..][..15];
        file.push_str(&format!(
            "{stamp} localhost {}[{}]: {}\n",
            &caps[2], &caps[3], &caps[4]
        ));
    }
    let halog = |args: &[&str]| -> (String, String) {
        let mut child = std::process::Command::new("halog")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(file.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (st, err) = halog(&["-st"]);
    assert!(
        err.contains("5 lines in") && err.contains("0 parsing errors"),
        "{err}\n{file}"
    );
    let counts: Vec<&str> = st.lines().collect();
    assert_eq!(counts, ["200 3", "404 1", "503 1"], "{file}");
    let (srv, err) = halog(&["-srv"]);
    assert!(err.contains("0 parsing errors"), "{err}");
    // `#srv_name 1xx 2xx 3xx 4xx 5xx other tot_req ...`
    let row = |name: &str| -> Vec<String> {
        srv.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} in {srv}"))
            .split(' ')
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(row("app/s1")[2..8], ["3", "0", "0", "0", "0", "3"], "{srv}");
    assert_eq!(row("dead/gone")[5..8], ["1", "0", "1"], "{srv}");
    // `-u`: per URL, the query string left out as halog does.
    let (urls, _) = halog(&["-u"]);
    assert!(
        urls.lines()
            .any(|l| l.starts_with("2 ") && l.ends_with(" /a")),
        "{urls}"
    );
}

/// `RUST_LOG=debug` in TCP mode tells what happened to a connection:
/// accepted, routed to a backend, relayed to a server.
#[tokio::test(flavor = "multi_thread")]
async fn debug_events_tell_tcp_decisions() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut b = [0u8; 64];
                while let Ok(n) = s.read(&mut b).await {
                    if n == 0 || s.write_all(&b[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let toml = format!(
        r#"
[frontend.tcpin]
mode = "tcp"
bind = [ {{ addr = "127.0.0.1:0" }} ]
timeout.client = "10s"
default_backend = "echo"

[backend.echo]
mode = "tcp"
timeout.connect = "5s"
timeout.server = "10s"
server = [ {{ name = "e1", addr = "{server}" }} ]
"#
    );
    let gwd = Gwd::start_with_log(&toml, "info,gwd_http=debug");
    let mut c = tokio::net::TcpStream::connect(gwd.addr("tcpin", 0))
        .await
        .unwrap();
    c.write_all(b"ping").await.unwrap();
    let mut got = [0u8; 4];
    c.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"ping");
    for what in [
        "TCP connection accepted",
        "TCP connection routed",
        "TCP relay started",
    ] {
        gwd.stderr
            .wait_for(what, |l| l.contains("DEBUG") && l.contains(what));
    }
    assert!(
        gwd.stderr
            .count(|l| l.contains("TCP connection routed") && l.contains("backend=echo"))
            >= 1
    );
    assert!(
        gwd.stderr
            .count(|l| l.contains("TCP relay started") && l.contains("server=e1"))
            >= 1
    );
}

fn std_stream_config(target: &str, server: SocketAddr) -> String {
    format!(
        r#"
[defaults]
log = ["{target}"]
option.httplog = true
timeout.client = "10s"
timeout.connect = "5s"
timeout.server = "10s"

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
default_backend = "app"

[backend.app]
server = [ {{ name = "s1", addr = "{server}" }} ]
"#
    )
}

/// `log stdout format raw local0`: HAProxy's httplog line alone on gwd's
/// stdout, one line per request with nothing before it (no syslog header,
/// no tracing prefix), and nothing on stderr.
#[tokio::test(flavor = "multi_thread")]
async fn stdout_raw_carries_the_bare_httplog_line() {
    let (server, _log) = recording_server().await;
    let gwd = Gwd::start(&std_stream_config("stdout format raw local0", server));
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    let (status, _, _) = c.get("app.test", "/to-stdout?x=1").await;
    assert_eq!(status, 200);
    let line = gwd
        .stdout
        .wait_for("the access line on stdout", |l| l.contains("/to-stdout"));
    let f = Regex::new(HTTPLOG)
        .unwrap()
        .captures(&line)
        .unwrap_or_else(|| panic!("not a bare httplog line: {line:?}"));
    assert_eq!(&f[1], "127.0.0.1");
    assert_eq!((&f[4], &f[6], &f[7]), ("www", "app", "s1"));
    assert_eq!(&f[13], "200");
    assert_eq!(&f[25], "GET /to-stdout?x=1 HTTP/1.1");
    let (status, _, _) = c.get("app.test", "/second").await;
    assert_eq!(status, 200);
    gwd.stdout
        .wait_for("the second line", |l| l.contains("GET /second "));
    assert_eq!(gwd.stdout.count(|l| l.contains("/to-stdout")), 1);
    assert_eq!(gwd.stderr.count(|l| l.contains("/to-stdout")), 0);
    assert_eq!(gwd.stderr.count(|l| l.contains("/second")), 0);
}

/// `log stderr format rfc5424 local0`: the access line on stderr in
/// rfc5424 framing (`<134>1 <time> - gwd <pid> - - <line>`), the whole
/// stderr line, and nothing on stdout.
#[tokio::test(flavor = "multi_thread")]
async fn stderr_rfc5424_frames_the_httplog_line() {
    let (server, _log) = recording_server().await;
    let gwd = Gwd::start(&std_stream_config("stderr format rfc5424 local0", server));
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    let (status, _, _) = c.get("app.test", "/to-stderr").await;
    assert_eq!(status, 200);
    let line = gwd
        .stderr
        .wait_for("the access line on stderr", |l| l.contains("/to-stderr"));
    let framed = format!("{line}\n");
    let caps = Regex::new(RFC5424)
        .unwrap()
        .captures(&framed)
        .unwrap_or_else(|| panic!("not an rfc5424 line: {line:?}"));
    // local0 (16) * 8 + info (6)
    assert_eq!(&caps[1], "134", "{line:?}");
    assert_eq!(&caps[2], "gwd");
    assert_eq!(caps[3].parse::<u32>().unwrap(), gwd.pid());
    let f = Regex::new(HTTPLOG)
        .unwrap()
        .captures(&caps[4])
        .unwrap_or_else(|| panic!("not httplog: {:?}", &caps[4]));
    assert_eq!((&f[4], &f[6], &f[7]), ("www", "app", "s1"));
    assert_eq!(&f[13], "200");
    assert_eq!(&f[25], "GET /to-stderr HTTP/1.1");
    assert_eq!(gwd.stderr.count(|l| l.contains("/to-stderr")), 1);
    assert_eq!(gwd.stdout.count(|l| l.contains("/to-stderr")), 0);
}

/// HAProxy's `Ti` (idle before the request's first byte: after the
/// connection opened, or after the previous answer on a keep-alive one)
/// and `TR` (the head's first byte to its last), and `Ta` counting from
/// that first byte. They were logged 0 whatever the visitor did.
#[tokio::test(flavor = "multi_thread")]
async fn idle_and_head_times_are_the_visitor_s() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (server, _log) = recording_server().await;
    let u = udp();
    let toml = raw_format_config(
        u.local_addr().unwrap(),
        server,
        "log-format = '%HP Ti=%Ti TR=%TR Ta=%Ta'",
    );
    let gwd = Gwd::start(&toml);
    let times = |d: &str| -> (String, i64, i64, i64) {
        let re = Regex::new(r"^(\S+) Ti=(-?\d+) TR=(-?\d+) Ta=(-?\d+)\n$").unwrap();
        let c = re.captures(d).unwrap_or_else(|| panic!("{d:?}"));
        let n = |i: usize| c[i].parse::<i64>().unwrap();
        (c[1].to_owned(), n(2), n(3), n(4))
    };
    let mut s = tokio::net::TcpStream::connect(gwd.addr("www", 0))
        .await
        .unwrap();
    // The pauses below are what is measured (the visitor's own timing),
    // not waits for readiness.
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.write_all(b"GET /split HTTP/1.1\r\nhost: app.test\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.write_all(b"x-late: 1\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    let (path, ti, tr, ta) = times(&recv_udp(&u));
    assert_eq!(path, "/split");
    assert!((250..5000).contains(&ti), "Ti={ti}");
    assert!((150..5000).contains(&tr), "TR={tr}");
    assert!(ta >= tr, "Ta={ta} TR={tr}");

    // The next request on the connection, after an idle pause, sent whole.
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.write_all(b"GET /whole HTTP/1.1\r\nhost: app.test\r\n\r\n")
        .await
        .unwrap();
    let n = s.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    let (path, ti, tr, _) = times(&recv_udp(&u));
    assert_eq!(path, "/whole");
    assert!((250..5000).contains(&ti), "Ti={ti}");
    assert!((0..100).contains(&tr), "TR={tr}");
}
