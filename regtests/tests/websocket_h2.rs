//! WebSocket for HTTP/2 visitors (RFC 8441 extended CONNECT): gwd
//! advertises SETTINGS_ENABLE_CONNECT_PROTOCOL, turns the CONNECT into the
//! HTTP/1.1 handshake the server expects, answers the visitor 200 on the
//! server's 101, and relays the stream's bytes both ways. The client is
//! hyper's HTTP/2 client (`hyper::ext::Protocol`), the server the regtest
//! backend's `/ws` echo.

use std::time::Duration;

use gwd_regtests::Gwd;
use gwd_regtests::backend::{Backend, Proto};
use gwd_regtests::client::{Client, empty};
use http::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(app: &Backend, extra: &str) -> String {
    format!(
        r#"
[defaults]
timeout.client = "5s"
timeout.connect = "2s"
timeout.server = "5s"
{extra}

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0", proto = "h2" }} ]
http-request = [ {{ action = "set-header", name = "x-seen-by-gwd", value = "1" }} ]
default_backend = "app"

[backend.app]
server = [ {{ name = "a1", addr = "{}" }} ]
"#,
        app.addr
    )
}

fn websocket_connect(path: &str) -> Request<gwd_regtests::client::Body> {
    let mut req = Request::builder()
        .method(Method::CONNECT)
        .uri(format!("http://app.test{path}"))
        .header("sec-websocket-version", "13")
        .body(empty())
        .unwrap();
    req.extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    req
}

#[tokio::test(flavor = "multi_thread")]
async fn an_h2_visitor_gets_a_websocket_through_gwd() {
    let app = Backend::start("ws", Proto::H1).await;
    let gwd = Gwd::start(&config(&app, ""));
    let mut c = Client::h2c(gwd.addr("www", 0)).await;
    let resp = c.send(websocket_connect("/ws")).await.expect("answer");
    assert_eq!(resp.status(), 200, "{:?}", resp.headers());
    for name in ["connection", "upgrade", "sec-websocket-accept"] {
        assert!(
            resp.headers().get(name).is_none(),
            "{name}: {:?}",
            resp.headers()
        );
    }
    let mut ws = TokioIo::new(hyper::upgrade::on(resp).await.expect("tunnel"));
    for msg in [&b"hello"[..], b"second frame", &[0u8, 159, 255, 1]] {
        ws.write_all(msg).await.unwrap();
        let mut got = vec![0u8; msg.len()];
        tokio::time::timeout(gwd_regtests::WAIT, ws.read_exact(&mut got))
            .await
            .expect("echo within the wait")
            .unwrap();
        assert_eq!(got, msg);
    }
    // Other requests share the connection meanwhile.
    let (status, _, body) = c.get("app.test", "/hello").await;
    assert_eq!(status, 200, "{body}");
    drop(ws);
    let line = gwd.stderr.wait_for("the tunnel's log line", |l| {
        l.contains("\"CONNECT /ws HTTP/2.0\"") || l.contains("\"GET /ws HTTP/2.0\"")
    });
    assert!(line.contains(" 101 "), "{line}");
}

/// A server that does not switch protocols (here: no WebSocket at
/// `/hello`, a plain 200 page) gets the visitor a 502, never a 2xx it
/// would take for an open tunnel; the tunnel's inactivity timeout ends a
/// quiet WebSocket.
#[tokio::test(flavor = "multi_thread")]
async fn a_declined_handshake_is_502_and_a_quiet_tunnel_times_out() {
    let app = Backend::start("ws", Proto::H1).await;
    let gwd = Gwd::start(&config(&app, "timeout.tunnel = \"300ms\""));
    let mut c = Client::h2c(gwd.addr("www", 0)).await;
    let resp = c.send(websocket_connect("/hello")).await.expect("answer");
    assert_eq!(resp.status(), 502);
    gwd.stderr.wait_for("the refusal's log line", |l| {
        l.contains("\"GET /hello HTTP/2.0\"") && l.contains("server did not switch protocols")
    });

    let resp = c.send(websocket_connect("/ws")).await.expect("answer");
    assert_eq!(resp.status(), 200);
    let mut ws = TokioIo::new(hyper::upgrade::on(resp).await.expect("tunnel"));
    let started = std::time::Instant::now();
    let mut buf = [0u8; 8];
    let r = tokio::time::timeout(Duration::from_secs(5), ws.read(&mut buf))
        .await
        .expect("the tunnel ends within 5 s");
    assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    gwd.stderr.wait_for("the timeout's log line", |l| {
        l.contains("/ws HTTP/2.0") && l.contains("timeout tunnel")
    });
}

/// A scripted WebSocket server (raw TCP), by request path:
/// * `/quiet-push`: switches, sends `tick`, then relays what it reads to
///   `got` until the visitor's side ends;
/// * `/bye`: switches, sends `bye` and half-closes;
/// * `/cl`: switches with a `Content-Length: 5` and echoes;
/// * `/auth`: 401 with `WWW-Authenticate`;
/// * anything else: switches and reads until closed, reporting when.
async fn scripted_server(
    got: tokio::sync::mpsc::UnboundedSender<(String, Vec<u8>)>,
) -> std::net::SocketAddr {
    use gwd_regtests::backend::{raw_server, read_head};
    let got = std::sync::Arc::new(got);
    let (addr, _) = raw_server(move |mut s| {
        let got = got.clone();
        async move {
            let head = read_head(&mut s).await;
            let path = head.split(' ').nth(1).unwrap_or("").to_string();
            let key = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("sec-websocket-key").then(|| v.trim().to_string())
                })
                .unwrap_or_default();
            if path == "/auth" {
                let _ = s
                    .write_all(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"ws\"\r\nContent-Length: 0\r\n\r\n")
                    .await;
                return;
            }
            let accept = gwd_regtests::websocket_accept(key.as_bytes());
            let extra = if path == "/cl" { "Content-Length: 5\r\n" } else { "" };
            let switch = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{extra}\r\n"
            );
            if s.write_all(switch.as_bytes()).await.is_err() {
                return;
            }
            match path.as_str() {
                "/bye" => {
                    let _ = s.write_all(b"bye").await;
                    let _ = s.shutdown().await;
                    let mut rest = Vec::new();
                    let _ = s.read_to_end(&mut rest).await;
                }
                "/cl" | "/quiet-push" => {
                    if path == "/quiet-push" {
                        let _ = s.write_all(b"tick").await;
                    }
                    let mut buf = [0u8; 1024];
                    loop {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                let _ = got.send((path.clone(), buf[..n].to_vec()));
                                if path == "/cl" {
                                    let _ = s.write_all(&buf[..n]).await;
                                }
                            }
                        }
                    }
                    let _ = got.send((path.clone(), b"<eof>".to_vec()));
                }
                _ => {
                    let mut rest = Vec::new();
                    let _ = s.read_to_end(&mut rest).await;
                    let _ = got.send((path.clone(), b"<eof>".to_vec()));
                }
            }
        }
    })
    .await;
    addr
}

fn scripted_config(server: std::net::SocketAddr) -> String {
    format!(
        r#"
[defaults]
timeout.client = "1s"
timeout.connect = "2s"
timeout.server = "1s"
timeout.tunnel = "20s"

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0", proto = "h2" }} ]
default_backend = "ws"

[backend.ws]
server = [ {{ name = "w1", addr = "{server}" }} ]
"#
    )
}

async fn open(c: &mut Client, path: &str) -> hyper_util::rt::TokioIo<hyper::upgrade::Upgraded> {
    let resp = c.send(websocket_connect(path)).await.expect("answer");
    assert_eq!(resp.status(), 200, "{:?}", resp.headers());
    assert!(
        resp.headers().get("content-length").is_none(),
        "{:?}",
        resp.headers()
    );
    TokioIo::new(hyper::upgrade::on(resp).await.expect("tunnel"))
}

/// A tunnel is timed by `timeout tunnel` only: a visitor silent for
/// longer than `timeout client` (and `server`) still gets its later
/// bytes to the server.
#[tokio::test(flavor = "multi_thread")]
async fn a_visitor_quiet_past_timeout_client_keeps_its_tunnel() {
    let (tx, mut got) = tokio::sync::mpsc::unbounded_channel();
    let gwd = Gwd::start(&scripted_config(scripted_server(tx).await));
    let mut c = Client::h2c(gwd.addr("www", 0)).await;
    let mut ws = open(&mut c, "/quiet-push").await;
    let mut tick = [0u8; 4];
    tokio::time::timeout(gwd_regtests::WAIT, ws.read_exact(&mut tick))
        .await
        .unwrap()
        .unwrap();
    // Quiet for one and a half times timeout client: the behaviour
    // under test, not a wait for readiness.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ws.write_all(b"late").await.unwrap();
    let (_, data) = tokio::time::timeout(gwd_regtests::WAIT, got.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(data, b"late", "the server got its visitor's bytes");
}

/// The server half-closing ends the visitor's stream at once (END_STREAM),
/// not when the visitor ends its side or a timer runs out.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_close_ends_the_visitors_stream_at_once() {
    let (tx, _got) = tokio::sync::mpsc::unbounded_channel();
    let gwd = Gwd::start(&scripted_config(scripted_server(tx).await));
    let mut c = Client::h2c(gwd.addr("www", 0)).await;
    let mut ws = open(&mut c, "/bye").await;
    let t0 = std::time::Instant::now();
    let mut all = Vec::new();
    tokio::time::timeout(gwd_regtests::WAIT, ws.read_to_end(&mut all))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(all, b"bye");
    assert!(
        t0.elapsed() < Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
}

/// A visitor that resets its stream ends the tunnel and closes the server
/// connection at once (it used to stay open for `timeout tunnel`).
#[tokio::test(flavor = "multi_thread")]
async fn a_visitor_reset_closes_the_server_connection_at_once() {
    let (tx, mut got) = tokio::sync::mpsc::unbounded_channel();
    let gwd = Gwd::start(&scripted_config(scripted_server(tx).await));
    let mut c = Client::h2c(gwd.addr("www", 0)).await;
    let ws = open(&mut c, "/hold").await;
    let t0 = std::time::Instant::now();
    drop(ws);
    let (_, data) = tokio::time::timeout(gwd_regtests::WAIT, got.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(data, b"<eof>");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    gwd.stderr
        .wait_for("the tunnel's line", |l| l.contains("GET /hold HTTP/2.0"));
}

/// A 101 with a Content-Length does not put a length on the visitor's
/// 200 (its tunnel would be cut there), and a server's refusal other than
/// a 2xx (here 401 with its challenge) reaches the visitor as it is.
#[tokio::test(flavor = "multi_thread")]
async fn lengths_never_limit_a_tunnel_and_refusals_are_relayed() {
    let (tx, _got) = tokio::sync::mpsc::unbounded_channel();
    let gwd = Gwd::start(&scripted_config(scripted_server(tx).await));
    let mut c = Client::h2c(gwd.addr("www", 0)).await;
    let mut ws = open(&mut c, "/cl").await;
    ws.write_all(b"0123456789").await.unwrap();
    let mut back = [0u8; 10];
    tokio::time::timeout(gwd_regtests::WAIT, ws.read_exact(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&back, b"0123456789");

    let resp = c.send(websocket_connect("/auth")).await.expect("answer");
    assert_eq!(resp.status(), 401);
    assert!(
        resp.headers().contains_key("www-authenticate"),
        "{:?}",
        resp.headers()
    );
}
