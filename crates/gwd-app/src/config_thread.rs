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
//! # Idle, the thread ends
//!
//! A process with more than one thread pays on every socket call: the
//! kernel takes and drops a reference on the file (`fdget`/`fput`)
//! instead of borrowing it, as it may when the table of open files is
//! not shared. With `nbthread = 1` the configuration thread was the only
//! other thread, idle between reloads, and a `perf` profile of the plain
//! HTTP/1.1 path put those two functions 110 ns a request above
//! HAProxy's, which is single-threaded. So the thread ends once it has had
//! no job for [`IDLE`], and the next job starts a new one. (A `log`
//! target keeps a sender thread of its own, `gwd-log`, for as long as it
//! is configured.) Reloads
//! that come closer together than that (a reload storm, a deploy script,
//! the memory benchmark's hundred in a row) still share one heap; one
//! after a pause starts on a new thread, whose allocator takes over the
//! pages the ended thread left (mimalloc reclaims an ended thread's
//! abandoned pages on demand), so a pause adds no generation's worth of
//! memory.
//!
//! # Model
//!
//! [`ConfigThread::run`] sends a job and blocks until its result comes
//! back, [`ConfigThread::run_async`] awaits it; [`ConfigThread::submit`]
//! only sends. Jobs run one at a time, in the order sent. A job that
//! panics panics its caller, as if it had run there (a submitted one's
//! panic is only printed); the thread goes on with the next job. The
//! thread ends when every [`ConfigThread`] handle is dropped, or after
//! [`IDLE`] without a job; a handle starts a new one for its next job.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;

type Job = Box<dyn FnOnce() + Send>;

/// How long the thread waits for a job before it ends.
pub const IDLE: Duration = Duration::from_secs(5);

/// A handle to the configuration thread; clones send to the same thread.
#[derive(Clone)]
pub struct ConfigThread {
    shared: Arc<Slot>,
}

/// Where jobs go: the running thread's end of its channel, if one runs.
/// A job is sent while this lock is held, and the thread ends only after
/// taking it and finding its channel empty, so no job is sent to a
/// thread that has ended.
struct Slot {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    idle: Duration,
}

impl std::fmt::Debug for ConfigThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigThread").finish_non_exhaustive()
    }
}

impl ConfigThread {
    /// Starts the thread (named `gwd-config`).
    pub fn start() -> std::io::Result<ConfigThread> {
        Self::start_idling(IDLE)
    }

    /// [`start`](Self::start), the thread ending after `idle` without a
    /// job.
    pub fn start_idling(idle: Duration) -> std::io::Result<ConfigThread> {
        let shared = Arc::new(Slot {
            jobs: Mutex::new(None),
            idle,
        });
        let tx = spawn(Arc::downgrade(&shared), idle)?;
        *shared.jobs.lock() = Some(tx);
        Ok(ConfigThread { shared })
    }

    /// Whether a thread runs now (it ends when idle).
    pub fn is_running(&self) -> bool {
        self.shared.jobs.lock().is_some()
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
            // Every job is run (on the thread, or here when no thread can
            // be started), and its reply sent, panic or not.
            Err(_) => unreachable!("a configuration job ended without its reply"),
        }
    }

    /// Sends `job` to run on the thread, without waiting; starts the
    /// thread if it ended. Should no thread start (the system is out of
    /// them), the job runs here, on the caller's thread.
    pub fn submit(&self, job: impl FnOnce() + Send + 'static) {
        let mut job: Job = Box::new(job);
        let mut jobs = self.shared.jobs.lock();
        if let Some(tx) = jobs.as_ref() {
            match tx.send(job) {
                Ok(()) => return,
                // Cannot happen while the lock is held (see `Slot`); kept
                // safe anyway: a new thread takes the job.
                Err(mpsc::SendError(back)) => job = back,
            }
        }
        match spawn(Arc::downgrade(&self.shared), self.shared.idle) {
            Ok(tx) => {
                // The new thread's receiver is alive: it waits for this.
                let _ = tx.send(job);
                *jobs = Some(tx);
            }
            Err(e) => {
                *jobs = None;
                drop(jobs);
                tracing::warn!(error = %e, "cannot start the configuration thread: the job runs here");
                let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
            }
        }
    }
}

/// Starts a configuration thread; returns the sender of its jobs.
fn spawn(slot: Weak<Slot>, idle: Duration) -> std::io::Result<mpsc::Sender<Job>> {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("gwd-config".into())
        .spawn(move || serve_jobs(&rx, &slot, idle))?;
    Ok(tx)
}

fn serve_jobs(rx: &mpsc::Receiver<Job>, slot: &Weak<Slot>, idle: Duration) {
    // A panicking job must not take later reloads with it; its caller
    // learns of it from the dropped reply.
    let run = |job: Job| {
        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
    };
    loop {
        match rx.recv_timeout(idle) {
            Ok(job) => run(job),
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {
                let Some(slot) = slot.upgrade() else { return };
                let mut jobs = slot.jobs.lock();
                // A job sent before the lock was taken is in the channel.
                match rx.try_recv() {
                    Ok(job) => {
                        drop(jobs);
                        run(job);
                    }
                    Err(_) => {
                        *jobs = None;
                        return;
                    }
                }
            }
        }
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

    /// Polls (bounded) until the idle thread has ended.
    fn wait_ended(t: &ConfigThread) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while t.is_running() {
            assert!(
                std::time::Instant::now() < deadline,
                "the idle thread did not end"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn an_idle_thread_ends_and_the_next_job_starts_another() {
        let t = ConfigThread::start_idling(Duration::from_millis(20)).unwrap();
        let first = t.run(|| std::thread::current().id());
        assert!(t.is_running());
        wait_ended(&t);
        let second = t.run(|| std::thread::current().id());
        assert_ne!(first, second);
        assert!(t.is_running());
        assert_eq!(
            t.run(|| std::thread::current().name().map(str::to_owned)),
            Some("gwd-config".to_owned())
        );
    }

    /// Jobs sent around the moment the thread gives up waiting are all
    /// run, once each, in order.
    #[test]
    fn no_job_is_lost_at_the_idle_boundary() {
        let t = ConfigThread::start_idling(Duration::from_millis(1)).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        for i in 0..300u32 {
            let tx = tx.clone();
            t.submit(move || tx.send(i).unwrap());
            // Spacing around the idle limit: some jobs find the thread
            // waiting, some find it ending, some find none.
            std::thread::sleep(Duration::from_micros(u64::from(i % 7) * 300));
        }
        drop(tx);
        let got: Vec<u32> = rx.iter().collect();
        assert_eq!(got, (0..300).collect::<Vec<_>>());
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
