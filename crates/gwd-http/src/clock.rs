//! One clock read per poll of a connection's task.
//!
//! # Model
//!
//! A request's life takes the time at a handful of points (its start,
//! each attempt, the request going out, the answer's head, its end, the
//! connection going idle again), and most of them fall in the same poll
//! of the connection's task: a keep-alive HTTP/1.1 request is usually
//! served in two polls (the request arrives; the answer arrives). Each
//! read of the clock costs a `clock_gettime` through the vDSO (20-25 ns
//! on the development machine's virtual CPUs, nine a request: 1.4 % of
//! gwd's CPU under load). HAProxy reads the clock once per turn of its
//! event loop for the same reason.
//!
//! [`scoped`] runs a future so that, during each of its polls, `now()`
//! reads the clock once and then hands out that reading.
//!
//! # Invariants
//!
//! - A reading never outlives the poll that took it: each poll of a
//!   scoped future starts with no reading, and the scope's end restores
//!   the enclosing scope's (nested scopes each have their own).
//! - Outside any scope, `now()` reads the clock every time (unit tests,
//!   background tasks, the configuration thread).
//! - Whether a timer that fired is due is decided on a `fresh()` reading.
//! - Within a poll nothing waits (that is what `Pending` is for), so a
//!   reading is as old as the work done since it was taken: microseconds
//!   on the request path, where timings are logged in milliseconds and
//!   timers fire at millisecond resolution.
//! - The reading is Tokio's [`Instant`](tokio::time::Instant), so a
//!   test with Tokio's paused clock sees the paused time, as it would
//!   without the scope.

use std::cell::Cell;
use std::future::Future;

thread_local! {
    /// Scopes being polled on this thread (nested: several).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// The innermost scope's reading in its current poll, once taken.
    static READING: Cell<Option<tokio::time::Instant>> = const { Cell::new(None) };
}

/// The time: in a scoped poll, the poll's one reading (taken now if none
/// was); otherwise a fresh reading.
pub(crate) fn now() -> tokio::time::Instant {
    if DEPTH.get() == 0 {
        return tokio::time::Instant::now();
    }
    READING.get().unwrap_or_else(|| {
        let t = tokio::time::Instant::now();
        READING.set(Some(t));
        t
    })
}

/// A fresh reading, scope or not, for the check that a timer which fired
/// is really due: the timer driver may have fired it (on another worker,
/// with `nbthread` > 1) after this poll took its reading, and a deadline
/// re-armed from that older reading would fire again at once, round and
/// round until the task's budget ran out.
pub(crate) fn fresh() -> tokio::time::Instant {
    tokio::time::Instant::now()
}

/// `now()` as the standard library's instant.
pub(crate) fn now_std() -> std::time::Instant {
    now().into_std()
}

/// Time since `since` (zero if `since` is later), by `now_std()`.
pub(crate) fn since(since: std::time::Instant) -> std::time::Duration {
    now_std().saturating_duration_since(since)
}

/// Runs `f` with one clock reading per poll (see the module docs): what
/// gwd does for each visitor connection's task, and for each request a
/// reverse-HTTP origin serves.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let answer = gwd_http::clock::scoped(async { 42 }).await;
/// assert_eq!(answer, 42);
/// # }
/// ```
pub fn scoped<F: Future>(f: F) -> Scoped<F> {
    Scoped { inner: f }
}

pin_project_lite::pin_project! {
    /// A future run by [`scoped`]: `F` inline, nothing beside it.
    pub struct Scoped<F> {
        #[pin]
        inner: F,
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let _poll = Poll::enter();
        self.project().inner.poll(cx)
    }
}

/// One poll of a scoped future: entered with no reading; on leaving
/// (also by unwinding) the enclosing scope's reading is back.
struct Poll {
    outer: Option<tokio::time::Instant>,
}

impl Poll {
    fn enter() -> Poll {
        DEPTH.set(DEPTH.get() + 1);
        Poll {
            outer: READING.replace(None),
        }
    }
}

impl Drop for Poll {
    fn drop(&mut self) {
        READING.set(self.outer);
        DEPTH.set(DEPTH.get() - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn outside_a_scope_every_read_is_fresh() {
        let a = now();
        std::thread::sleep(Duration::from_millis(2));
        assert!(now() - a >= Duration::from_millis(2));
    }

    #[tokio::test]
    async fn one_reading_per_poll_and_a_new_one_at_the_next_poll() {
        let (first, second) = scoped(async {
            let a = now();
            std::thread::sleep(Duration::from_millis(2));
            // Same poll: the same reading.
            assert_eq!(now(), a);
            assert_eq!(now_std(), a.into_std());
            tokio::task::yield_now().await;
            // A new poll: a new reading.
            (a, now())
        })
        .await;
        assert!(second - first >= Duration::from_millis(2));
        // The scope is left: fresh reads again.
        let x = now();
        std::thread::sleep(Duration::from_millis(2));
        assert!(now() > x);
    }

    #[tokio::test]
    async fn a_nested_scope_has_its_own_reading_and_gives_the_outer_one_back() {
        scoped(async {
            let outer = now();
            std::thread::sleep(Duration::from_millis(2));
            let inner = scoped(async { now() }).await;
            assert!(inner - outer >= Duration::from_millis(2));
            assert_eq!(now(), outer);
        })
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn tokio_s_paused_clock_is_what_a_scope_reads() {
        let before = tokio::time::Instant::now();
        scoped(async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            assert!(now() - before >= Duration::from_secs(60));
        })
        .await;
    }

    #[test]
    fn a_panicking_poll_leaves_the_scope() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(scoped(async {
                let _ = now();
                panic!("in the scope");
            }))
        }));
        assert!(r.is_err());
        let x = now();
        std::thread::sleep(Duration::from_millis(2));
        assert!(now() > x, "still scoped after the panic");
    }
}
