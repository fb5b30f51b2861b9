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
