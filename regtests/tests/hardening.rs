//! Defects found by attacking gwd (issue 11), each pinned by a test that
//! failed before its fix: what a visitor may add, remove or rewrite on
//! its way through gwd, and in which order.

use gwd_regtests::Gwd;
use gwd_regtests::backend::{Backend, Proto};
use gwd_regtests::client::{Client, empty, read_all};
use http::Request;

fn config(app: &Backend) -> String {
    format!(
        r#"
[defaults]
timeout.connect = "2s"
timeout.client = "10s"
timeout.server = "10s"
option.forwardfor = true

[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
http-request = [
  {{ action = "set-header", name = "X-Via", value = "gwd %[fe_name]" }},
]
default_backend = "app"

[backend.app]
server = [ {{ name = "app1", addr = "{}" }} ]
"#,
        app.addr
    )
}

/// A visitor's `Connection` header names fields to drop at this hop. They
/// are dropped before gwd's rules run, so the visitor cannot delete what
/// gwd adds (`option forwardfor`, `set-header`), and never `Host`.
#[tokio::test(flavor = "multi_thread")]
async fn connection_options_cannot_delete_what_gwd_adds() {
    let app = Backend::start("app1", Proto::H1).await;
    let gwd = Gwd::start(&config(&app));
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    let req = Request::get("/headers")
        .header("host", "app.localhost")
        .header("connection", "x-forwarded-for, x-via, host, x-hop")
        .header("x-forwarded-for", "10.9.9.9")
        .header("x-hop", "dropped at this hop")
        .body(empty())
        .unwrap();
    let (status, _, body) = read_all(c.send(req).await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    // The visitor's own X-Forwarded-For was a connection option: dropped;
    // gwd's is added after and survives.
    let xff: Vec<_> = body
        .lines()
        .filter(|l| l.starts_with("h:x-forwarded-for:"))
        .collect();
    assert_eq!(xff, ["h:x-forwarded-for: 127.0.0.1"], "{body}");
    assert!(body.contains("h:x-via: gwd www\n"), "{body}");
    assert!(body.contains("h:host: app.localhost\n"), "{body}");
    assert!(!body.contains("x-hop"), "{body}");
    assert!(!body.contains("h:connection"), "{body}");
}
