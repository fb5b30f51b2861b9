//! A minimal application (no hyper, no gwd) registering itself with a
//! reverse-HTTP gateway and serving the requests that come down the
//! tunnels.
//!
//! ```text
//! cargo run -p gwd-rhttp --example origin -- \
//!     127.0.0.1:8444 localhost ca.crt app.localhost.crt app.localhost.key [nbconn]
//! ```
//!
//! The gateway files the tunnels under the certificate's CN; a visitor's
//! request for that name is answered here. Ctrl-C sends GOAWAY on every
//! tunnel, lets in-flight requests finish and exits.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use gwd_rhttp::{Dialer, DialerConfig, IncomingBody};
use http_body_util::Full;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 5 {
        eprintln!("usage: origin GATEWAY:PORT SNI CA_PEM CERT_PEM KEY_PEM [NBCONN]");
        std::process::exit(2);
    }
    let mut cfg = DialerConfig::from_pem_files(
        args[0].clone(),
        &args[1],
        &PathBuf::from(&args[2]),
        &PathBuf::from(&args[3]),
        &PathBuf::from(&args[4]),
    )?;
    cfg.nbconn = args.get(5).map(|n| n.parse()).transpose()?.unwrap_or(2);
    cfg.idle_ping = Some(Duration::from_secs(20));
    let dialer = Dialer::new(cfg)?;
    let stats = dialer.stats();

    // The application: any async function from request to response.
    let app = |req: http::Request<IncomingBody>| async move {
        let (parts, body) = req.into_parts();
        let received = body
            .collect_bytes(1 << 20)
            .await
            .map(|b| b.len())
            .unwrap_or(0);
        let text = format!(
            "hello from behind the NAT: {} {} ({} body bytes)\n",
            parts.method, parts.uri, received
        );
        http::Response::builder()
            .header("content-type", "text/plain")
            .body(Full::new(Bytes::from(text)))
            .expect("valid response")
    };

    tokio::spawn(async move {
        if stats
            .wait_until(|s| s.tunnels_up > 0, Duration::from_secs(30))
            .await
        {
            eprintln!("origin: registered ({:?})", stats.snapshot());
        }
    });
    dialer
        .run(app, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    eprintln!("origin: drained, bye");
    Ok(())
}
