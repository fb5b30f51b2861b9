//! `gwd-example-hyper-origin [GATEWAY] [NBCONN]`: registers the example
//! hyper app with a reverse-HTTP gateway (default `127.0.0.1:8444`, the
//! example gateway) using the committed test PKI, until Ctrl-C.

use std::path::Path;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let gateway = args.next().unwrap_or_else(|| "127.0.0.1:8444".into());
    let nbconn = args.next().and_then(|n| n.parse().ok()).unwrap_or(2);
    let pki = Path::new("examples/reverse/pki");
    let dialer = match gwd_example_hyper_origin::dialer(
        &gateway,
        "gateway.localhost",
        &pki.join("ca.crt"),
        &pki.join("origin.crt"),
        &pki.join("origin.key"),
        nbconn,
    ) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e} (run from the repository root)");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("dialing {gateway} with {nbconn} tunnel(s); Ctrl-C to stop");
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match gwd_example_hyper_origin::serve(&dialer, stop).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
