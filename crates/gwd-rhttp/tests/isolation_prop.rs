//! Property: whatever the sequence of names asked for, a request never
//! reaches a tunnel registered under another name.

mod common;

use common::*;
use gwd_rhttp::{GatewayOptions, RegistryErrorKind};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const NAMES: [&str; 4] = ["a.localhost", "b.localhost", "c.localhost", "zz.localhost"];

#[test]
fn random_requests_never_reach_another_names_tunnel() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let p = pki(&NAMES[..3]);
    let (gw, _dialers) = rt.block_on(async {
        let gw = Gateway::start(&p, GatewayOptions::default()).await;
        let mut dialers = Vec::new();
        for (i, n) in NAMES[..3].iter().enumerate() {
            dialers.push(run_dialer(
                dialer_config(gw.addr, &p, n, i + 1),
                echo_service(n),
            ));
        }
        for (i, n) in NAMES[..3].iter().enumerate() {
            assert!(gw.registry.wait_for_tunnels(n, i + 1, WAIT).await);
        }
        (gw, dialers)
    });
    let mut runner = TestRunner::new(Config {
        cases: 24,
        ..Config::default()
    });
    runner
        .run(
            &proptest::collection::vec((0usize..4, any::<bool>()), 1..24),
            |picks| {
                let results = rt.block_on(async {
                    let mut tasks = Vec::new();
                    for (i, upper) in picks {
                        let reg = gw.registry.clone();
                        let asked = if upper {
                            NAMES[i].to_ascii_uppercase()
                        } else {
                            NAMES[i].to_string()
                        };
                        tasks.push(tokio::spawn(async move {
                            let got = match reg.try_acquire(&asked) {
                                Ok(lease) => {
                                    let resp = lease
                                        .send_request(get(&format!("https://{asked}/")))
                                        .await
                                        .unwrap();
                                    Ok(resp.headers()["x-origin"].to_str().unwrap().to_string())
                                }
                                Err(e) => Err(e.kind()),
                            };
                            (i, got)
                        }));
                    }
                    let mut out = Vec::new();
                    for t in tasks {
                        out.push(tokio::time::timeout(WAIT, t).await.unwrap().unwrap());
                    }
                    out
                });
                for (i, got) in results {
                    match got {
                        Ok(origin) => prop_assert_eq!(origin.as_str(), NAMES[i]),
                        Err(kind) => {
                            prop_assert_eq!(i, 3, "registered name refused");
                            prop_assert_eq!(kind, RegistryErrorKind::NoTunnel);
                        }
                    }
                }
                Ok(())
            },
        )
        .unwrap();
}
