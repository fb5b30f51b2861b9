//! The process's signals, as HAProxy reads them: stop, hard stop, reload;
//! the others logged and ignored.

use super::*;

/// The process's signals, as HAProxy reads them.
pub struct Signals {
    /// Resolves on SIGTERM, SIGINT or SIGUSR1 (HAProxy's soft stop).
    pub stop: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
    /// Resolves on the next one (a hard stop).
    pub hard: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
    /// Changes on each SIGHUP or SIGUSR2 (HAProxy's reload): give it to
    /// [`App::reload_from`]. Dropped, those signals are logged as not
    /// available and ignored.
    pub reloads: watch::Receiver<u64>,
}

impl std::fmt::Debug for Signals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signals")
            .field("reloads", &*self.reloads.borrow())
            .finish_non_exhaustive()
    }
}

/// Installs gwd's signal handlers now (inside a Tokio runtime), not when
/// a future is first polled: call it before saying "ready", or a signal
/// sent in between takes its default action. SIGTTOU and SIGTTIN (pause
/// and resume listeners) and SIGQUIT (pool dump) are logged as not
/// supported yet and ignored: none of HAProxy's operator signals kills,
/// suspends or core-dumps gwd.
pub fn signals() -> Signals {
    let (tx, rx) = watch::channel(0u32);
    let (reload_tx, reloads) = watch::channel(0u64);
    let watcher = watch_signals(tx, reload_tx);
    tokio::spawn(watcher);
    let (mut first, mut second) = (rx.clone(), rx);
    Signals {
        stop: Box::pin(async move {
            if first.wait_for(|n| *n >= 1).await.is_err() {
                std::future::pending::<()>().await;
            }
        }),
        hard: Box::pin(async move {
            if second.wait_for(|n| *n >= 2).await.is_err() {
                std::future::pending::<()>().await;
            }
        }),
        reloads,
    }
}

/// The stop and hard-stop futures of [`signals`], without reloading
/// (SIGHUP and SIGUSR2 are then logged and ignored).
pub fn stop_signals() -> (
    impl Future<Output = ()> + Send + 'static,
    impl Future<Output = ()> + Send + 'static,
) {
    let s = signals();
    (s.stop, s.hard)
}

/// Installs the handlers now, and returns the task that counts stop
/// signals into `stops` and logs the others.
fn watch_signals(
    stops: watch::Sender<u32>,
    reloads: watch::Sender<u64>,
) -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let kinds = [
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::interrupt(), "SIGINT"),
        (SignalKind::user_defined1(), "SIGUSR1"),
        (SignalKind::hangup(), "SIGHUP"),
        (SignalKind::user_defined2(), "SIGUSR2"),
        // HAProxy's pause/resume of listeners and its pool dump: their
        // default actions would suspend or core-dump gwd.
        (SignalKind::from_raw(libc::SIGTTOU), "SIGTTOU"),
        (SignalKind::from_raw(libc::SIGTTIN), "SIGTTIN"),
        (SignalKind::quit(), "SIGQUIT"),
    ];
    let mut streams = Vec::new();
    for (kind, name) in kinds {
        match signal(kind) {
            Ok(s) => streams.push((s, name)),
            Err(e) => tracing::warn!(signal = name, error = %e, "cannot watch signal"),
        }
    }
    async move {
        loop {
            if streams.is_empty() {
                return std::future::pending().await;
            }
            let (got, i, _) = futures_util::future::select_all(
                streams
                    .iter_mut()
                    .map(|(s, name)| Box::pin(async move { s.recv().await.map(|_| *name) })),
            )
            .await;
            match got {
                // SIGUSR1 is HAProxy's soft stop: the same drain as SIGTERM.
                // A second one is a hard stop (Ctrl-C twice).
                Some(name @ ("SIGTERM" | "SIGINT" | "SIGUSR1")) => {
                    let n = *stops.borrow() + 1;
                    if n == 1 {
                        say!(
                            "gwd: {name} received: stopping (in-flight requests finish, within hard-stop-after)"
                        );
                    } else {
                        say!("gwd: {name} received again: hard stop, closing what is still open");
                    }
                    stops.send_replace(n);
                }
                // HAProxy's reload: the configuration file is read again.
                Some(name @ ("SIGHUP" | "SIGUSR2")) if reloads.receiver_count() > 0 => {
                    say!("gwd: {name} received: reloading the configuration");
                    reloads.send_modify(|n| *n += 1);
                }
                Some(name @ ("SIGHUP" | "SIGUSR2")) => {
                    say!(
                        "gwd: {name} received: reloading is not available here; the running \
                     configuration stays in force"
                    );
                }
                // Pausing listeners (SIGTTOU/SIGTTIN) and the pool dump
                // (SIGQUIT) do not exist yet: say so, and keep serving
                // instead of stopping or dumping core as the default
                // actions would.
                Some(name) => {
                    let what = match name {
                        "SIGTTOU" | "SIGTTIN" => "pausing and resuming listeners",
                        _ => "dumping pools",
                    };
                    say!(
                        "gwd: {name} received: {what} is not supported yet; the running \
                     configuration stays in force (restart gwd to apply a new one)"
                    );
                }
                // A stream that ended watches nothing more; the others do.
                None => {
                    drop(streams.swap_remove(i));
                }
            }
        }
    }
}
