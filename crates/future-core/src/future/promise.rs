//! [`Promise`]: the executor's side of a future, the only side that completes it.

use std::fmt;

use crate::error::{TaskError, TaskErrorKind};
use crate::future::TaskFuture;
use crate::future::state::{Inner, Status};
use crate::future::task::TaskCell;
use crate::sync::Arc;
use crate::unwind::catch_panic;

/// The producer's side of a [`TaskFuture`]: what an executor keeps while the task waits and
/// runs, and the only thing that can complete the future.
///
/// Python's executors call `set_running_or_notify_cancel`, `set_result` and
/// `set_exception` on the future they hand out ("you and I should not create futures; the
/// framework does"). Here those live on this separate type, so a user holding a
/// `TaskFuture` cannot complete it, and completing consumes the promise, so a future cannot
/// be completed twice. A promise dropped without completing (a worker that died, an
/// executor that went away) fails its future with a [`TaskErrorKind::Broken`] error:
/// nobody waits forever.
///
/// ```
/// use rustures::{TaskErrorKind};
/// use rustures::executor::Promise;
///
/// let (promise, future) = Promise::<i32>::new();
/// drop(promise); // the producer went away
/// let err = future.exception().unwrap().unwrap();
/// assert_eq!(err.kind(), TaskErrorKind::Broken);
/// ```
pub struct Promise<T> {
    inner: Arc<Inner<T>>,
    /// Set by `set_result`/`set_error`, so `Drop` need not lock again.
    completed: bool,
}

impl<T> Promise<T> {
    /// A pending future and the promise that completes it.
    ///
    /// ```
    /// let (promise, future) = rustures::executor::Promise::new();
    /// promise.set_result('x');
    /// assert_eq!(future.result(), Ok('x'));
    /// ```
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> (Promise<T>, TaskFuture<T>) {
        Self::new_spinning(std::time::Duration::ZERO)
    }

    /// Like [`new`](Self::new), for an executor whose tasks often finish within
    /// microseconds on *other* cores or processes: a thread blocked on this future (with
    /// `result`, `take`, `exception`) first polls it for up to `spin`, yielding its core
    /// between polls, and parks only then. Catching a fast completion awake saves the
    /// futex wake-up (tens of microseconds on a VM); a wait longer than `spin` costs at
    /// most `spin` of CPU. A thread pool whose workers share the waiter's cores should not
    /// spin: it would slow the worker it waits for.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (promise, future) = rustures::executor::Promise::new_spinning(Duration::from_micros(50));
    /// std::thread::spawn(move || promise.set_result(1));
    /// assert_eq!(future.result(), Ok(1));
    /// ```
    #[allow(clippy::new_ret_no_self)]
    pub fn new_spinning(spin: std::time::Duration) -> (Promise<T>, TaskFuture<T>) {
        let inner = Arc::new(Inner::new(spin, TaskCell::none()));
        let future = TaskFuture::from_inner(inner.clone());
        (
            Promise {
                inner,
                completed: false,
            },
            future,
        )
    }

    /// Another consumer handle on this promise's future.
    ///
    /// ```
    /// let (promise, _) = rustures::executor::Promise::new();
    /// let future = promise.future();
    /// promise.set_result(1);
    /// assert_eq!(future.result(), Ok(1));
    /// ```
    pub fn future(&self) -> TaskFuture<T> {
        TaskFuture::from_inner(self.inner.clone())
    }

    /// Marks the task as running, unless it was cancelled: returns true when the executor
    /// should run the task, false when it was cancelled and must be skipped (Python's
    /// `set_running_or_notify_cancel`; the waiters of a cancelled future were already
    /// woken by the cancel). Calling it again on a running future returns true.
    ///
    /// ```
    /// let (promise, future) = rustures::executor::Promise::<()>::new();
    /// future.cancel();
    /// assert!(!promise.set_running_or_notify_cancel());
    /// ```
    pub fn set_running_or_notify_cancel(&self) -> bool {
        // A cancel guard the start takes out is dropped outside the lock.
        self.inner.start() || self.inner.status() == Status::Running
    }

    /// Gives the executor a say on cancels of this future while it is pending: `allows` is
    /// asked, under the future's (rare) lock, when someone cancels it; `false` (the task has in
    /// fact started where it runs, say in a worker process that took it from its own
    /// queue) refuses the cancel as if the future were running. For an executor whose task
    /// can start before `set_running_or_notify_cancel` is called. It must be quick and
    /// must not use this future (it runs under its lock). It is dropped when the future
    /// leaves `Pending`, after the lock is released and inside a panic boundary: a panic
    /// of its drop is contained, and the waiters and callbacks of a cancel are told all
    /// the same.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use rustures::executor::Promise;
    ///
    /// let started = Arc::new(AtomicBool::new(false));
    /// let (promise, future) = Promise::<u8>::new();
    /// let flag = started.clone();
    /// promise.set_cancel_guard(move || !flag.load(Ordering::Acquire));
    /// started.store(true, Ordering::Release); // the worker took it
    /// assert!(!future.cancel(), "too late: it started");
    /// promise.set_result(1);
    /// assert_eq!(future.result(), Ok(1));
    /// ```
    pub fn set_cancel_guard(&self, allows: impl Fn() -> bool + Send + Sync + 'static) {
        self.inner.set_cancel_guard(Box::new(allows));
    }

    /// Cancels the future if the task has not started (what an executor does for
    /// `shutdown(cancel_futures = true)`); same rules as [`TaskFuture::cancel`].
    ///
    /// ```
    /// let (promise, future) = rustures::executor::Promise::<u8>::new();
    /// assert!(promise.cancel());
    /// assert!(future.cancelled());
    /// ```
    pub fn cancel(&self) -> bool {
        self.future().cancel()
    }

    /// True when the future was cancelled (the executor may drop the task unrun).
    ///
    /// ```
    /// let (promise, future) = rustures::executor::Promise::<u8>::new();
    /// assert!(!promise.is_cancelled());
    /// future.cancel();
    /// assert!(promise.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.inner.status() == Status::Cancelled
    }

    /// Completes the future with `value`: every waiter wakes and the done callbacks run,
    /// in this thread. A cancelled future stays cancelled and `value` is dropped.
    ///
    /// ```
    /// let (promise, future) = rustures::executor::Promise::new();
    /// promise.set_result(5u64);
    /// assert_eq!(future.result(), Ok(5));
    /// ```
    pub fn set_result(mut self, value: T) {
        self.complete(Ok(value));
    }

    /// Completes the future with a task error (Python's `set_exception`).
    ///
    /// ```
    /// use rustures::{FutureError, TaskError, TaskErrorKind};
    /// let (promise, future) = rustures::executor::Promise::<u8>::new();
    /// let err = TaskError::new(TaskErrorKind::WorkerDied, "worker 7 exited with code 99");
    /// promise.set_error(err.clone());
    /// assert_eq!(future.result(), Err(FutureError::Failed(err)));
    /// ```
    pub fn set_error(mut self, error: TaskError) {
        self.complete(Err(error));
    }

    /// Completes the future with `Ok` value or `Err` task error.
    ///
    /// ```
    /// let (promise, future) = rustures::executor::Promise::new();
    /// promise.set_outcome(Ok::<_, rustures::TaskError>(3));
    /// assert_eq!(future.result(), Ok(3));
    /// ```
    pub fn set_outcome(self, outcome: Result<T, TaskError>) {
        match outcome {
            Ok(value) => self.set_result(value),
            Err(err) => self.set_error(err),
        }
    }

    /// Runs `task` for this future the way an executor should: skips it if the future was
    /// cancelled, marks it running, catches a panic as a [`TaskErrorKind::Panicked`] error,
    /// and completes the future. Returns false when the task was skipped.
    ///
    /// ```
    /// let (promise, future) = rustures::executor::Promise::new();
    /// assert!(promise.run(|| 2 + 2));
    /// assert_eq!(future.result(), Ok(4));
    /// ```
    pub fn run(self, task: impl FnOnce() -> T) -> bool {
        if !self.set_running_or_notify_cancel() {
            return false;
        }
        self.set_outcome(catch_panic(task));
        true
    }

    /// Completes the future (a cancelled one stays cancelled: `outcome` is dropped). The
    /// listeners run here; no panic of theirs gets out.
    fn complete(&mut self, outcome: Result<T, TaskError>) {
        self.completed = true;
        // From a guess, not a load: a promise nobody waits on yet is plain `PENDING` (one
        // CAS); any other word fails the CAS, which goes on from the word it found.
        Inner::complete_pending(&self.inner, outcome);
    }
}

impl<T> Drop for Promise<T> {
    fn drop(&mut self) {
        if self.completed {
            return;
        }
        self.complete(Err(TaskError::new(
            TaskErrorKind::Broken,
            "the task's producer went away without completing it \
             (its worker or executor was dropped or died)",
        )));
    }
}

impl<T> fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Promise")
            .field("future", &self.future())
            .finish()
    }
}
