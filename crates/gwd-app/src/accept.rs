//! Accepting visitor connections: one loop per listening socket, the
//! `maxconn` budgets (bind, frontend, process) taken around each accept, and
//! the listeners a configuration's binds get (sockets kept by a reload or
//! handed over by an upgrade, TLS settings read anew).

use super::*;

/// One accept loop's parts.
pub(crate) struct AcceptLoop {
    pub(crate) proxy: Arc<Proxy>,
    pub(crate) listener: Arc<Listener>,
    pub(crate) handshaker: Handshaker,
    pub(crate) frontend: gwd_config::FrontendId,
    pub(crate) proto: BindProto,
    pub(crate) bind_slot: Option<Arc<tokio::sync::Semaphore>>,
    pub(crate) fe_slot: Option<Arc<tokio::sync::Semaphore>>,
    pub(crate) process_slot: Option<Arc<tokio::sync::Semaphore>>,
    pub(crate) tracker: TaskTracker,
    pub(crate) tunnel_tracker: TaskTracker,
    /// This loop's generation ends (a reload or the stop).
    pub(crate) stop: watch::Receiver<bool>,
    /// The stop: a loop waiting for a `maxconn` slot gives up.
    pub(crate) shutdown: watch::Receiver<bool>,
    /// The stop: visitor connections finish and close.
    pub(crate) conn_stop: gwd_http::StopSignal,
    /// Registration connections close (after the visitors' drain).
    pub(crate) tunnel_shutdown: watch::Receiver<bool>,
}

/// Accepts on one listener until its generation ends, serving each
/// connection in its own tracked task.
pub(crate) async fn accept_loop(a: AcceptLoop) {
    let AcceptLoop {
        proxy,
        listener,
        handshaker,
        frontend: fe,
        proto,
        bind_slot,
        fe_slot,
        process_slot,
        tracker,
        tunnel_tracker,
        mut stop,
        shutdown,
        conn_stop,
        tunnel_shutdown,
    } = a;
    let registration = proxy.frontend(fe).conf.is_registration();
    let tcp_mode = proxy.frontend(fe).conf.mode == gwd_config::ProxyMode::Tcp;
    let mut failures = AcceptFailures::default();
    loop {
        // The bind's own `maxconn` before accepting: at its limit this
        // bind stops accepting (connections wait in the kernel's backlog)
        // until one of its own closes.
        let bind_permit = match &bind_slot {
            None => None,
            Some(s) => tokio::select! {
                p = s.clone().acquire_owned() => p.ok(),
                _ = stop.wait_for(|s| *s) => break,
            },
        };
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        // The limits shared with other binds (the frontend's `maxconn`,
        // the process's) after it: taken before, an idle bind's loop
        // would sit on them and starve its busy siblings. A loop holds at
        // most one accepted connection while it waits, so a full frontend
        // or process stops accepting all the same. A reload does not drop
        // that connection: only the stop does.
        let accepted = match accepted {
            Ok(conn) => {
                let mut down = shutdown.clone();
                // `biased`: a free slot is taken even when the stop has
                // begun, so the connection is served (its request answered
                // with `close`) rather than dropped with its request
                // unread, which resets it.
                let fe_permit = match &fe_slot {
                    None => None,
                    Some(s) => tokio::select! {
                        biased;
                        p = s.clone().acquire_owned() => p.ok(),
                        _ = down.wait_for(|s| *s) => break,
                    },
                };
                let slot = match &process_slot {
                    None => None,
                    Some(s) => tokio::select! {
                        biased;
                        p = s.clone().acquire_owned() => p.ok(),
                        _ = down.wait_for(|s| *s) => break,
                    },
                };
                Ok((conn, (slot, fe_permit, bind_permit)))
            }
            Err(e) => Err(e),
        };
        match accepted {
            Ok(((tcp, peer), slot)) if registration => {
                let serve = gwd_reverse::serve_registration(
                    proxy.clone(),
                    fe,
                    handshaker.clone(),
                    proto,
                    tcp,
                    peer,
                    tunnel_shutdown.clone(),
                );
                tunnel_tracker.spawn(holding(slot, serve));
            }
            Ok(((tcp, peer), slot)) if tcp_mode => {
                // A TCP relay runs to its end through a soft stop (as
                // HAProxy's): only `hard-stop-after` cuts it.
                let serve = gwd_http::serve_tcp(proxy.clone(), fe, handshaker.clone(), tcp, peer);
                tracker.spawn(holding(slot, serve));
            }
            Ok(((tcp, peer), slot)) => {
                let serve = gwd_http::serve_connection(
                    proxy.clone(),
                    fe,
                    handshaker.clone(),
                    proto,
                    tcp,
                    peer,
                    conn_stop.clone(),
                );
                tracker.spawn(holding(slot, serve));
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning; the
                // listener stays up, and the log says so once a second,
                // not once a try.
                failures.note(&e);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// A bind's TLS settings as gwd-tls takes them.
pub(crate) fn tls_settings(t: &gwd_config::BindTls) -> gwd_tls::BindTlsSettings {
    gwd_tls::BindTlsSettings {
        certs: gwd_tls::CertSources {
            crts: t.crts.clone(),
            crt_lists: t.crt_lists.clone(),
            key: t.key.clone(),
        },
        alpn: t.alpn.clone(),
        verify: match t.verify {
            Verify::None => gwd_tls::PeerVerify::None,
            Verify::Optional => gwd_tls::PeerVerify::Optional,
            Verify::Required => gwd_tls::PeerVerify::Required,
        },
        ca: t.ca.clone(),
        versions: t
            .versions
            .iter()
            .map(|v| match v {
                gwd_config::TlsVersion::Tls12 => gwd_tls::TlsVersion::Tls12,
                gwd_config::TlsVersion::Tls13 => gwd_tls::TlsVersion::Tls13,
            })
            .collect(),
        tls12_suites: t.ciphers.clone(),
        tls13_suites: t.ciphersuites.clone(),
    }
}

/// The server TLS settings of a bind: every certificate and key read now
/// (at start and at each reload), through the loader `gwd check` uses
/// ([`crate::check_tls`]); expiry warnings go to the log.
pub(crate) fn bind_tls(
    fe: &Frontend,
    bind: &Bind,
    addr: SocketAddr,
) -> Result<Option<Arc<rustls::ServerConfig>>, StartError> {
    let Some(t) = &bind.tls else {
        return Ok(None);
    };
    let tls =
        gwd_tls::bind_server_config(&tls_settings(t), gwd_tls::unix_now()).map_err(|source| {
            StartError::Tls {
                frontend: fe.name.clone(),
                addr,
                source,
            }
        })?;
    for w in &tls.warnings {
        tracing::warn!(frontend = %fe.name, %addr, "{w}");
    }
    Ok(Some(tls.config))
}

/// A bind's listener: `kept` (a reload keeps the socket of an address
/// still bound) or a socket bound now, with this config's TLS settings.
pub(crate) fn bind_listener(
    fi: usize,
    fe: &Frontend,
    bind: &Bind,
    addr: SocketAddr,
    kept: Option<Arc<Listener>>,
) -> Result<BoundListener, StartError> {
    let tls = bind_tls(fe, bind, addr)?;
    let listener = match kept {
        Some(l) => l,
        None => Arc::new(
            Listener::bind(addr, tls.clone()).map_err(|source| StartError::Bind {
                frontend: fe.name.clone(),
                addr,
                source,
            })?,
        ),
    };
    Ok(BoundListener {
        frontend: gwd_config::FrontendId::new(fi),
        proto: bind.proto,
        maxconn: bind.maxconn,
        handshaker: listener.handshaker_with(tls),
        listener,
        configured: addr,
    })
}

/// Accept errors, logged at most once a second with how many there were.
#[derive(Debug, Default)]
struct AcceptFailures {
    since: Option<Instant>,
    count: u64,
}

impl AcceptFailures {
    fn note(&mut self, e: &std::io::Error) {
        self.count += 1;
        let now = Instant::now();
        if self
            .since
            .is_none_or(|s| now.duration_since(s) >= Duration::from_secs(1))
        {
            tracing::warn!(error = %e, failures = self.count, "accept failed");
            self.since = Some(now);
            self.count = 0;
        }
    }
}

/// `serve`, run while `slot` (the connection's limits) is held, in one
/// future: the task holds it inline, one allocation per connection. (An
/// `async move` block that captured `serve` and awaited it would keep
/// room for it twice, the captured value and the one being awaited.)
fn holding<S: Send + 'static, F: Future<Output = ()> + Send + 'static>(
    slot: S,
    serve: F,
) -> Holding<S, F> {
    Holding { serve, _slot: slot }
}

pin_project_lite::pin_project! {
    /// See [`holding`]. Fields drop in order: the connection closes, then
    /// its limits are released.
    struct Holding<S, F> {
        #[pin]
        serve: F,
        _slot: S,
    }
}

impl<S, F: Future<Output = ()>> Future for Holding<S, F> {
    type Output = ();
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        self.project().serve.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    /// A connection's task holds its serve future once, beside its
    /// limits: no second copy, no box of its own.
    #[test]
    fn holding_keeps_the_future_once() {
        let big = [0u8; 2048];
        let serve = async move {
            tokio::task::yield_now().await;
            std::hint::black_box(&big);
        };
        let serve_size = std::mem::size_of_val(&serve);
        let wrapped = super::holding(0u64, serve);
        assert_eq!(std::mem::size_of_val(&wrapped), serve_size + 8);
    }

    /// The limits are released once the connection's future is done
    /// with, and not before.
    #[test]
    fn holding_releases_the_slot_after_the_connection() {
        let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(1));
        let permit = sem.clone().try_acquire_owned().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let held = rt.block_on(async {
            let mut fut = std::pin::pin!(super::holding(permit, tokio::task::yield_now()));
            assert!(
                futures_util::poll!(fut.as_mut()).is_pending(),
                "yields once"
            );
            sem.available_permits()
        });
        assert_eq!(held, 0, "held while the connection runs");
        assert_eq!(sem.available_permits(), 1, "dropped with the future");
    }
}
