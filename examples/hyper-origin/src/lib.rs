//! A hyper application behind NAT that publishes itself through a
//! reverse-HTTP gateway: it dials out (TLS, client certificate, ALPN `h2`),
//! the gateway files the connection under the certificate's name, and
//! visitors' requests for that name arrive here over the tunnel. Nothing of
//! gwd runs in this process: only the `gwd-rhttp` library.
//!
//! The application itself is an ordinary hyper service ([`app`]); the
//! only reverse-HTTP code is [`serve`], a dozen lines around
//! [`gwd_rhttp::Dialer`].
//!
//! Run against the example gateway (from the repository root):
//!
//! ```text
//! cargo run -p gwd -- -f examples/reverse/gateway.toml &
//! cargo run -p gwd-example-hyper-origin -- 127.0.0.1:8444
//! curl -H 'Host: app.localhost' http://127.0.0.1:8080/hello
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::path::Path;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::service::Service;

pub use gwd_rhttp::{Dialer, DialerConfig, DialerStats, IncomingBody, RhttpError};

/// The application: a plain hyper service. `/hello` greets, `/echo`
/// returns the request body, anything else is 404.
pub fn app() -> impl Service<
    Request<IncomingBody>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    hyper::service::service_fn(|req: Request<IncomingBody>| async move {
        let resp = match req.uri().path() {
            "/hello" => {
                let host = req
                    .uri()
                    .authority()
                    .map_or("?", |a| a.as_str())
                    .to_string();
                Response::new(Full::new(Bytes::from(format!(
                    "hello from a hyper app behind the tunnel ({host})\n"
                ))))
            }
            "/echo" => match req.into_body().collect().await {
                Ok(b) => Response::new(Full::new(b.to_bytes())),
                Err(_) => status(StatusCode::BAD_REQUEST),
            },
            _ => status(StatusCode::NOT_FOUND),
        };
        Ok::<_, Infallible>(resp)
    })
}

fn status(s: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(format!("{s}\n"))));
    *r.status_mut() = s;
    r
}

/// Builds a dialer for `gateway` (`host:port`), verifying the gateway's
/// certificate for `sni` against `ca` and presenting `cert`/`key`.
pub fn dialer(
    gateway: &str,
    sni: &str,
    ca: &Path,
    cert: &Path,
    key: &Path,
    nbconn: usize,
) -> Result<Dialer, RhttpError> {
    let mut cfg = DialerConfig::from_pem_files(gateway, sni, ca, cert, key)?;
    cfg.nbconn = nbconn;
    Dialer::new(cfg)
}

/// Serves [`app`] on the dialer's tunnels until `shutdown` completes, then
/// sends GOAWAY, drains and returns.
pub async fn serve(dialer: &Dialer, shutdown: impl Future<Output = ()>) -> Result<(), RhttpError> {
    let svc = app();
    // Adapts the hyper service to the tunnel: the dialer calls a closure
    // per request and needs an answer, never an error.
    let tunnel_service = move |req: Request<IncomingBody>| {
        let fut = svc.call(req);
        async move {
            match fut.await {
                Ok(r) => r,
                Err(never) => match never {},
            }
        }
    };
    dialer.run(tunnel_service, shutdown).await
}
