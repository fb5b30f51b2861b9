//! The one thread every configuration is built on: the first at start
//! and each reload's.
//!
//! # Why one thread
//!
//! gwd's allocator (mimalloc) gives each thread its own heap, and keeps a
//! heap's freed pages for that heap's next allocations. A configuration
//! (parsed file, maps, proxy state) is allocated where it is built and
//! freed in one piece when a reload replaces it. Built always on the same
//! thread, each configuration reuses the pages its predecessors freed,
//! so memory after many reloads stays where it was after the first
//! (issue 13: within 2 %). Built at start on the main thread and then on
//! another, the first reload's heap would hold one configuration and
//! every later one two (the new beside the one it replaces): one step up
//! after the first reload, measured at +3.8 %.
//!
//! # Model
//!
//! [`ConfigThread::run`] sends a job and blocks until its result comes
//! back, [`ConfigThread::run_async`] awaits it; [`ConfigThread::submit`]
//! only sends. Jobs run one at a time, in the order sent. A job that
//! panics panics its caller, as if it had run there (a submitted one's
//! panic is only printed); the thread goes on with the next job. The
//! thread ends when every [`ConfigThread`] handle is dropped.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;

type Job = Box<dyn FnOnce() + Send>;

/// A handle to the configuration thread; clones send to the same thread.
#[derive(Clone)]
pub struct ConfigThread {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for ConfigThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigThread").finish_non_exhaustive()
    }
}

impl ConfigThread {
    /// Starts the thread (named `gwd-config`).
    pub fn start() -> std::io::Result<ConfigThread> {
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("gwd-config".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    // A panicking job must not take later reloads with it;
                    // its caller learns of it from the dropped reply.
                    let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
                }
            })?;
        Ok(ConfigThread { jobs })
    }

    /// Runs `job` on the thread and waits for its result (blocks the
    /// calling thread: call it outside async code, or from a blocking
    /// one).
    pub fn run<R: Send + 'static>(&self, job: impl FnOnce() -> R + Send + 'static) -> R {
        let (tx, rx) = mpsc::sync_channel(1);
        self.submit(move || {
            let _ = tx.send(std::panic::catch_unwind(AssertUnwindSafe(job)));
        });
        Self::outcome(rx.recv())
    }

    /// As [`run`](Self::run), awaiting the result instead of blocking.
    pub async fn run_async<R: Send + 'static>(
        &self,
        job: impl FnOnce() -> R + Send + 'static,
    ) -> R {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(move || {
            let _ = tx.send(std::panic::catch_unwind(AssertUnwindSafe(job)));
        });
        Self::outcome(rx.await)
    }

    fn outcome<R, E>(got: Result<std::thread::Result<R>, E>) -> R {
        match got {
            Ok(Ok(r)) => r,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            // The thread only ends once no handle is left, and this is one.
            Err(_) => unreachable!("the configuration thread ended while a handle was alive"),
        }
    }

    /// Sends `job` to run on the thread, without waiting.
    pub fn submit(&self, job: impl FnOnce() + Send + 'static) {
        // The receiving end lives as long as any handle (see the loop in
        // `start`), so a send cannot fail while `self` exists.
        let _ = self.jobs.send(Box::new(job));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_run_in_order_on_one_named_thread() {
        let t = ConfigThread::start().unwrap();
        let names: Vec<_> = (0..3)
            .map(|i| t.run(move || (i, std::thread::current().name().map(str::to_owned))))
            .collect();
        let first = std::thread::current().id();
        assert_ne!(t.run(|| std::thread::current().id()), first);
        let ids: Vec<_> = (0..3)
            .map(|_| t.run(|| std::thread::current().id()))
            .collect();
        assert!(ids.windows(2).all(|w| w[0] == w[1]), "one thread: {ids:?}");
        for (i, (n, name)) in names.into_iter().enumerate() {
            assert_eq!(n, i);
            assert_eq!(name.as_deref(), Some("gwd-config"));
        }
    }

    #[test]
    fn a_panicking_job_panics_its_caller_and_the_thread_goes_on() {
        let t = ConfigThread::start().unwrap();
        let caught = std::panic::catch_unwind(AssertUnwindSafe(|| t.run(|| panic!("boom"))));
        let payload = caught.expect_err("the caller panics");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
        assert_eq!(t.run(|| 7), 7);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn run_async_awaits_without_blocking_the_runtime() {
        let t = ConfigThread::start().unwrap();
        // The job waits for a message sent by a task of this runtime:
        // had run_async blocked the runtime's one thread, it never would.
        let (tx, rx) = std::sync::mpsc::channel::<u32>();
        let sender = tokio::spawn(async move { tx.send(5).unwrap() });
        assert_eq!(t.run_async(move || rx.recv().unwrap() + 1).await, 6);
        sender.await.unwrap();
    }
}
