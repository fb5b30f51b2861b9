//! Waiting until every task of a set has finished: how a dialer's `run`
//! returns only after its slots and tunnel tasks have drained.
//!
//! Model: a count of live tasks and a `closed` flag. [`TaskTracker::wait`]
//! completes once the tracker is closed and the count is zero. The count
//! is decremented by a guard owned by the spawned future, so a task that
//! panics or is aborted still leaves the set.
//!
//! Why not tokio-util's `TaskTracker`: it needs tokio-util's `rt` feature,
//! which builds the `futures-util` family (four more crates) into every
//! user of this crate for this one use.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;

/// A cloneable handle on one set of tracked tasks.
#[derive(Clone, Debug, Default)]
pub(crate) struct TaskTracker {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    live: AtomicUsize,
    closed: AtomicBool,
    /// Woken when the set may have become closed and empty.
    idle: Notify,
}

impl Inner {
    fn done(&self) -> bool {
        self.closed.load(Ordering::Acquire) && self.live.load(Ordering::Acquire) == 0
    }
}

/// Owned by a tracked task's future: leaving the set on drop.
struct Member(Arc<Inner>);

impl Drop for Member {
    fn drop(&mut self) {
        if self.0.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl TaskTracker {
    pub(crate) fn new() -> TaskTracker {
        TaskTracker::default()
    }

    /// Spawns `task` on the current runtime as a member of the set.
    pub(crate) fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner.live.fetch_add(1, Ordering::AcqRel);
        let member = Member(self.inner.clone());
        tokio::spawn(async move {
            let _member = member;
            task.await
        })
    }

    /// Marks the set complete: [`TaskTracker::wait`] may now finish.
    /// Tasks may still be spawned (a slot starting its tunnel's task).
    pub(crate) fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.idle.notify_waiters();
    }

    /// Completes once the set is closed and every member has finished.
    pub(crate) async fn wait(&self) {
        loop {
            let idle = self.inner.idle.notified();
            tokio::pin!(idle);
            // Registered before the check, so a wake between the check and
            // the await is not lost.
            idle.as_mut().enable();
            if self.inner.done() {
                return;
            }
            idle.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

    #[tokio::test]
    async fn wait_ends_when_closed_and_every_task_finished() {
        let t = TaskTracker::new();
        let (go_a, a) = oneshot::channel::<()>();
        let (go_b, b) = oneshot::channel::<()>();
        t.spawn(async move {
            let _ = a.await;
        });
        t.spawn(async move {
            let _ = b.await;
        });
        t.close();
        let mut wait = Box::pin(t.wait());
        assert!(futures_poll_once(&mut wait).await.is_none());
        go_a.send(()).unwrap();
        tokio::task::yield_now().await;
        assert!(
            futures_poll_once(&mut wait).await.is_none(),
            "one task is still live"
        );
        go_b.send(()).unwrap();
        wait.await;
    }

    #[tokio::test]
    async fn wait_needs_close_and_panicking_tasks_leave_the_set() {
        let t = TaskTracker::new();
        let h = t.spawn(async { panic!("task failed") });
        assert!(h.await.is_err());
        let mut wait = Box::pin(t.wait());
        assert!(
            futures_poll_once(&mut wait).await.is_none(),
            "not closed yet"
        );
        t.close();
        wait.await;
    }

    /// Polls `f` once: `Some` if it completed.
    async fn futures_poll_once<F: Future + Unpin>(f: &mut F) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut *f).poll(cx) {
                std::task::Poll::Ready(v) => Some(v),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
