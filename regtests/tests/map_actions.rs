//! `http-request set-map / del-map / add-acl / del-acl`: maps changed by
//! traffic, seen by the very next request.

use gwd_regtests::backend::{Backend, Proto};
use gwd_regtests::client::{Client, empty, read_all};
use gwd_regtests::{Gwd, scratch_dir};
use http::Request;

#[tokio::test(flavor = "multi_thread")]
async fn traffic_updates_maps_and_acls() {
    let app = Backend::start("app", Proto::H1).await;
    let api = Backend::start("api", Proto::H1).await;
    let dir = scratch_dir("mapactions");
    let hosts = dir.join("hosts.map");
    let blocked = dir.join("blocked.acl");
    std::fs::write(&hosts, "# host backend\nknown.test api\n").unwrap();
    std::fs::write(&blocked, "").unwrap();
    let gwd = Gwd::start(&format!(
        r#"
[frontend.www]
bind = [ {{ addr = "127.0.0.1:0" }} ]
acl.to_api = "req.hdr(host),field(1,:),map({hosts},none) -m str api"
acl.blocked = "req.hdr(x-user) -f {blocked}"
http-request = [
  {{ action = "set-map", map = "{hosts}", key = "%[req.hdr(x-host)]", value = "%[req.hdr(x-to)]", if = "{{ path /admin/route }}" }},
  {{ action = "del-map", map = "{hosts}", key = "%[req.hdr(x-host)]", if = "{{ path /admin/unroute }}" }},
  {{ action = "add-acl", map = "{blocked}", key = "%[req.hdr(x-user)]", if = "{{ path /admin/block }}" }},
  {{ action = "del-acl", map = "{blocked}", key = "%[req.hdr(x-user)]", if = "{{ path /admin/unblock }}" }},
  {{ action = "return", status = 204, if = "{{ path_beg /admin/ }}" }},
  {{ action = "deny", if = "blocked" }},
]
use_backend = [ {{ backend = "api", if = "to_api" }} ]
default_backend = "app"

[backend.app]
server = [ {{ name = "a", addr = "{}" }} ]

[backend.api]
server = [ {{ name = "b", addr = "{}" }} ]
"#,
        app.addr,
        api.addr,
        hosts = hosts.display(),
        blocked = blocked.display(),
    ));
    let mut c = Client::h1(gwd.addr("www", 0)).await;
    let served_by = |h: &http::HeaderMap| h["x-served-by"].to_str().unwrap().to_string();
    let (_, h, _) = c.get("known.test", "/").await;
    assert_eq!(served_by(&h), "api", "entry from the file");
    let (_, h, _) = c.get("new.test:8080", "/").await;
    assert_eq!(served_by(&h), "app");

    async fn admin(c: &mut Client, path: &str, hdrs: &[(&str, &str)]) {
        let mut b = Request::get(path).header("host", "admin");
        for (n, v) in hdrs {
            b = b.header(*n, *v);
        }
        let (status, _, _) = read_all(c.send(b.body(empty()).unwrap()).await.unwrap()).await;
        assert_eq!(status, 204, "{path}");
    }

    admin(
        &mut c,
        "/admin/route",
        &[("x-host", "new.test"), ("x-to", "api")],
    )
    .await;
    let (_, h, _) = c.get("new.test:8080", "/").await;
    assert_eq!(
        served_by(&h),
        "api",
        "set-map added the key; the next request sees it"
    );
    admin(
        &mut c,
        "/admin/route",
        &[("x-host", "known.test"), ("x-to", "elsewhere")],
    )
    .await;
    let (_, h, _) = c.get("known.test", "/").await;
    assert_eq!(served_by(&h), "app", "set-map updated an existing key");
    admin(&mut c, "/admin/unroute", &[("x-host", "new.test")]).await;
    let (_, h, _) = c.get("new.test", "/").await;
    assert_eq!(served_by(&h), "app", "del-map removed it");

    let as_user = |user: &'static str| {
        Request::get("/")
            .header("host", "x")
            .header("x-user", user)
            .body(empty())
            .unwrap()
    };
    let (status, _, _) = read_all(c.send(as_user("mallory")).await.unwrap()).await;
    assert_eq!(status, 200);
    admin(&mut c, "/admin/block", &[("x-user", "mallory")]).await;
    admin(&mut c, "/admin/block", &[("x-user", "mallory")]).await;
    let (status, _, _) = read_all(c.send(as_user("mallory")).await.unwrap()).await;
    assert_eq!(status, 403, "add-acl took effect");
    let (status, _, _) = read_all(c.send(as_user("alice")).await.unwrap()).await;
    assert_eq!(status, 200);
    admin(&mut c, "/admin/unblock", &[("x-user", "mallory")]).await;
    let (status, _, _) = read_all(c.send(as_user("mallory")).await.unwrap()).await;
    assert_eq!(
        status, 200,
        "del-acl removed every occurrence (add-acl added it once)"
    );
}
