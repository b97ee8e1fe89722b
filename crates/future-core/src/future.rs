//! [`TaskFuture`]: the consumer's handle on a task's result (Python's `Future`).

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::block::{block_on, deadline_after};
use crate::error::{FutureError, TaskError};
use crate::state::{Action, Inner, Outcome, State, Status, run_callback, run_listeners};
use crate::sync::Arc;

/// The result of a task that an executor runs: Python's `concurrent.futures.Future`.
///
/// An executor makes it (with [`Promise::new`](crate::Promise::new)) and hands it to you;
/// only the executor completes it. The handle is cheap to clone (an `Arc`), is `Send + Sync`
/// when `T: Send`, and holds the value once the task finished. Every way of waiting on it
/// (`result`, [`wait`](crate::wait), [`as_completed`](crate::as_completed), `.await`) is
/// woken by the completion itself: nothing polls or sleeps in a loop.
///
/// Why not call it `Future`? Since edition 2024 `Future` is in the prelude as the async
/// trait; a type of the same name would shadow the trait wherever it is imported, and this
/// type also *is* awaitable (it implements [`IntoFuture`]). `TaskFuture` says what it is:
/// the future of a task.
///
/// | Python | here |
/// |---|---|
/// | `f.cancel()`, `f.cancelled()`, `f.running()`, `f.done()` | the same names |
/// | `f.result()`, `f.result(timeout)` | [`result`](Self::result), [`result_timeout`](Self::result_timeout) (clone the value), [`take`](Self::take), [`take_timeout`](Self::take_timeout) (move it out) |
/// | `f.exception()`, `f.exception(timeout)` | [`exception`](Self::exception), [`exception_timeout`](Self::exception_timeout) |
/// | `f.add_done_callback(fn)` | [`add_done_callback`](Self::add_done_callback) |
/// | `await asyncio.wrap_future(f)` | `f.await`, on any async runtime |
///
/// ```
/// use future_core::{FutureError, Promise};
///
/// let (promise, future) = Promise::new();
/// let worker = std::thread::spawn(move || {
///     if promise.set_running_or_notify_cancel() {
///         promise.set_result(6 * 7);
///     }
/// });
/// assert_eq!(future.result(), Ok(42));
/// assert!(future.done() && !future.cancelled());
/// worker.join().unwrap();
/// ```
pub struct TaskFuture<T> {
    pub(crate) inner: Arc<Inner<T>>,
}

impl<T> Clone for TaskFuture<T> {
    fn clone(&self) -> Self {
        TaskFuture {
            inner: self.inner.clone(),
        }
    }
}

impl<T> TaskFuture<T> {
    /// Cancels the task if it has not started: returns true when the future is now
    /// cancelled (it was pending, or already cancelled), false when the task is running or
    /// finished. A cancelled future is done at once: its callbacks run and every `wait`,
    /// `as_completed` and `result` waiting on it returns now, not when a worker would have
    /// dequeued it (Python's gh-92001).
    ///
    /// ```
    /// use future_core::{FutureError, Promise};
    /// let (promise, future) = Promise::<()>::new();
    /// assert!(future.cancel());
    /// assert!(future.cancel(), "cancelling twice is fine");
    /// assert!(!promise.set_running_or_notify_cancel(), "the executor skips the task");
    /// assert_eq!(future.result(), Err(FutureError::Cancelled));
    ///
    /// let (promise, future) = Promise::<()>::new();
    /// assert!(promise.set_running_or_notify_cancel());
    /// assert!(!future.cancel(), "a running task cannot be cancelled");
    /// ```
    pub fn cancel(&self) -> bool {
        let mut state = self.inner.lock();
        match state.status {
            Status::Cancelled => true,
            Status::Running | Status::Finished => false,
            Status::Pending => {
                let listeners = state.finish(Status::Cancelled, Outcome::Empty);
                drop(state);
                run_listeners(listeners, self);
                true
            }
        }
    }

    /// True when the future was cancelled.
    ///
    /// ```
    /// let (_p, f) = future_core::Promise::<u8>::new();
    /// assert!(!f.cancelled());
    /// f.cancel();
    /// assert!(f.cancelled());
    /// ```
    pub fn cancelled(&self) -> bool {
        self.status() == Status::Cancelled
    }

    /// True while the task is running (started and not finished).
    ///
    /// ```
    /// let (p, f) = future_core::Promise::new();
    /// assert!(!f.running());
    /// p.set_running_or_notify_cancel();
    /// assert!(f.running());
    /// p.set_result(1);
    /// assert!(!f.running());
    /// ```
    pub fn running(&self) -> bool {
        self.status() == Status::Running
    }

    /// True when the future is cancelled or finished (with a value or an error).
    ///
    /// ```
    /// let (p, f) = future_core::Promise::new();
    /// assert!(!f.done());
    /// p.set_result("x");
    /// assert!(f.done());
    /// ```
    pub fn done(&self) -> bool {
        self.status().is_done()
    }

    /// Blocks until the task finished and returns a clone of its value (Python's
    /// `result()`); see [`take`](Self::take) to move the value out instead.
    ///
    /// Errors: [`FutureError::Cancelled`], [`FutureError::Failed`] (a panic in the task, a
    /// dead worker, a dropped producer: nothing waits forever), [`FutureError::Taken`].
    ///
    /// ```
    /// let (p, f) = future_core::Promise::new();
    /// std::thread::spawn(move || p.run(|| vec![1, 2, 3]));
    /// assert_eq!(f.result(), Ok(vec![1, 2, 3]));
    /// assert_eq!(f.result(), Ok(vec![1, 2, 3]), "result can be read again");
    /// ```
    pub fn result(&self) -> Result<T, FutureError>
    where
        T: Clone,
    {
        self.result_until(None)
    }

    /// Like [`result`](Self::result), but gives up after `timeout` with
    /// [`FutureError::Timeout`]; a zero timeout only looks.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (p, f) = future_core::Promise::new();
    /// assert_eq!(f.result_timeout(Duration::ZERO), Err(future_core::FutureError::Timeout));
    /// p.set_result(3);
    /// assert_eq!(f.result_timeout(Duration::ZERO), Ok(3));
    /// ```
    pub fn result_timeout(&self, timeout: Duration) -> Result<T, FutureError>
    where
        T: Clone,
    {
        self.result_until(deadline_after(Some(timeout)))
    }

    fn result_until(&self, deadline: Option<Instant>) -> Result<T, FutureError>
    where
        T: Clone,
    {
        self.finished_state(deadline, |state| match &state.outcome {
            Outcome::Value(value) => Ok(value.clone()),
            other => Err(outcome_error(other)),
        })
    }

    /// Blocks until the task finished and moves its value out of the future, so `T` need
    /// not be `Clone`. Afterwards every handle of this future gives [`FutureError::Taken`]
    /// for the value (its state and errors read as before).
    ///
    /// ```
    /// struct NotClone(u32);
    /// let (p, f) = future_core::Promise::new();
    /// p.set_result(NotClone(9));
    /// assert_eq!(f.take().map(|v| v.0), Ok(9));
    /// assert_eq!(f.take().map(|v| v.0), Err(future_core::FutureError::Taken));
    /// ```
    pub fn take(&self) -> Result<T, FutureError> {
        self.take_until(None)
    }

    /// Like [`take`](Self::take), but gives up after `timeout` with
    /// [`FutureError::Timeout`] (and the value stays in the future).
    ///
    /// ```
    /// use std::time::Duration;
    /// let (p, f) = future_core::Promise::new();
    /// assert_eq!(f.take_timeout(Duration::from_millis(1)), Err(future_core::FutureError::Timeout));
    /// p.set_result(String::from("late"));
    /// assert_eq!(f.take_timeout(Duration::from_secs(5)).as_deref(), Ok("late"));
    /// ```
    pub fn take_timeout(&self, timeout: Duration) -> Result<T, FutureError> {
        self.take_until(deadline_after(Some(timeout)))
    }

    pub(crate) fn take_until(&self, deadline: Option<Instant>) -> Result<T, FutureError> {
        self.finished_state(deadline, take_outcome)
    }

    /// Blocks until the task finished; returns its error if it failed, `None` if it gave a
    /// value (Python's `exception()`). Cancelled futures give `Err(Cancelled)`.
    ///
    /// ```
    /// use future_core::TaskErrorKind;
    /// let (p, f) = future_core::Promise::<u8>::new();
    /// std::thread::spawn(move || p.run(|| panic!("no luck")));
    /// let err = f.exception().unwrap().expect("the task panicked");
    /// assert_eq!(err.kind(), TaskErrorKind::Panicked);
    /// assert_eq!(err.message(), "no luck");
    /// ```
    pub fn exception(&self) -> Result<Option<TaskError>, FutureError> {
        self.exception_until(None)
    }

    /// Like [`exception`](Self::exception), but gives up after `timeout` with
    /// [`FutureError::Timeout`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let (p, f) = future_core::Promise::new();
    /// assert_eq!(f.exception_timeout(Duration::ZERO), Err(future_core::FutureError::Timeout));
    /// p.set_result(1);
    /// assert_eq!(f.exception_timeout(Duration::ZERO), Ok(None));
    /// ```
    pub fn exception_timeout(&self, timeout: Duration) -> Result<Option<TaskError>, FutureError> {
        self.exception_until(deadline_after(Some(timeout)))
    }

    fn exception_until(&self, deadline: Option<Instant>) -> Result<Option<TaskError>, FutureError> {
        self.finished_state(deadline, |state| match &state.outcome {
            Outcome::Failed(err) => Ok(Some(err.clone())),
            Outcome::Value(_) | Outcome::Taken => Ok(None),
            Outcome::Empty => Err(FutureError::Cancelled),
        })
    }

    /// Calls `callback` with this future once it is done (finished or cancelled): at once,
    /// in this thread, if it already is; else in the thread that completes or cancels it,
    /// after the state is set and outside any lock. Callbacks run exactly once each, in the
    /// order they were added. A panicking callback is caught and reported on stderr, and
    /// the others still run.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// let (p, f) = future_core::Promise::new();
    /// let (tx, rx) = mpsc::channel();
    /// f.add_done_callback(move |f| tx.send(f.result()).unwrap());
    /// p.set_result(10);
    /// assert_eq!(rx.recv().unwrap(), Ok(10));
    /// ```
    pub fn add_done_callback<F>(&self, callback: F)
    where
        F: FnOnce(&TaskFuture<T>) + Send + 'static,
    {
        // When already done, `register` runs the callback here at once.
        let _key = self.register(Action::Callback(Box::new(callback)));
    }

    /// Registers `action` and returns its key while the future is not done. When it is
    /// done, a callback action runs at once in this thread, a waker action is dropped, and
    /// the result is `None`.
    pub(crate) fn register(&self, action: Action<T>) -> Option<u64> {
        let mut state = self.inner.lock();
        if !state.status.is_done() {
            return Some(state.register(action));
        }
        drop(state);
        if let Action::Callback(callback) = action {
            run_callback(callback, self);
        }
        None
    }

    pub(crate) fn status(&self) -> Status {
        self.inner.lock().status
    }

    /// True when the task ran and failed (Python: done, not cancelled, exception set).
    pub(crate) fn failed(&self) -> bool {
        matches!(self.inner.lock().outcome, Outcome::Failed(_))
    }

    /// True when both handles belong to the same future.
    ///
    /// ```
    /// let (_p, f) = future_core::Promise::<()>::new();
    /// let (_q, g) = future_core::Promise::<()>::new();
    /// assert!(f.same_future(&f.clone()));
    /// assert!(!f.same_future(&g));
    /// ```
    pub fn same_future(&self, other: &TaskFuture<T>) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// An identity for deduplication (the shared allocation's address).
    pub(crate) fn id(&self) -> usize {
        Arc::as_ptr(&self.inner) as *const () as usize
    }

    /// Blocks until done or `deadline`, then reads the final state with `read`.
    fn finished_state<R>(
        &self,
        deadline: Option<Instant>,
        read: impl FnOnce(&mut State<T>) -> Result<R, FutureError>,
    ) -> Result<R, FutureError> {
        if !self.wait_until(deadline) {
            return Err(FutureError::Timeout);
        }
        read(&mut self.inner.lock())
    }

    /// Blocks until the future is done (true) or `deadline` passes (false).
    pub(crate) fn wait_until(&self, deadline: Option<Instant>) -> bool {
        if self.done() {
            return true;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        let mut key = None;
        let spin = self.inner.spin;
        let done = block_on(&mut |waker| self.poll_done(waker, &mut key), deadline, spin);
        if let (false, Some(key)) = (done, key) {
            self.inner.unregister(key);
        }
        done
    }

    /// True when done; else leaves `waker` registered under `*key`.
    fn poll_done(&self, waker: &Waker, key: &mut Option<u64>) -> bool {
        let mut state = self.inner.lock();
        if state.status.is_done() {
            return true;
        }
        let still_registered = key.is_some_and(|k| state.rewake(k, waker));
        if !still_registered {
            *key = Some(state.register(Action::Wake(waker.clone())));
        }
        false
    }
}

/// Moves the value out of a done future's state.
fn take_outcome<T>(state: &mut State<T>) -> Result<T, FutureError> {
    match std::mem::replace(&mut state.outcome, Outcome::Taken) {
        Outcome::Value(value) => Ok(value),
        other => {
            let err = outcome_error(&other);
            state.outcome = other;
            Err(err)
        }
    }
}

/// The error a done future without a value gives.
fn outcome_error<T>(outcome: &Outcome<T>) -> FutureError {
    match outcome {
        Outcome::Failed(err) => FutureError::Failed(err.clone()),
        Outcome::Taken => FutureError::Taken,
        Outcome::Empty => FutureError::Cancelled,
        // Callers match `Value` first; a value is no error.
        Outcome::Value(_) => FutureError::Taken,
    }
}

impl<T> fmt::Debug for TaskFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.lock();
        let state_name = match (&state.status, &state.outcome) {
            (Status::Pending, _) => "pending",
            (Status::Running, _) => "running",
            (Status::Cancelled, _) => "cancelled",
            (Status::Finished, Outcome::Failed(_)) => "failed",
            (Status::Finished, Outcome::Taken) => "finished (value taken)",
            (Status::Finished, _) => "finished",
        };
        f.debug_struct("TaskFuture")
            .field("state", &state_name)
            .finish()
    }
}

/// `future.await` moves the value out, like [`TaskFuture::take`], on any async runtime.
///
/// ```
/// let (p, f) = future_core::Promise::new();
/// std::thread::spawn(move || p.set_result(7));
/// assert_eq!(futures::executor::block_on(async { f.await }), Ok(7));
/// ```
impl<T> std::future::IntoFuture for TaskFuture<T> {
    type Output = Result<T, FutureError>;
    type IntoFuture = Awaiting<T>;

    fn into_future(self) -> Awaiting<T> {
        Awaiting {
            future: self,
            key: None,
        }
    }
}

/// The `std::future::Future` that `TaskFuture::await` polls; dropping it unregisters its
/// waker.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Awaiting<T> {
    future: TaskFuture<T>,
    key: Option<u64>,
}

impl<T> std::future::Future for Awaiting<T> {
    type Output = Result<T, FutureError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.future.poll_done(cx.waker(), &mut this.key) {
            this.key = None;
            Poll::Ready(take_outcome(&mut this.future.inner.lock()))
        } else {
            Poll::Pending
        }
    }
}

impl<T> Drop for Awaiting<T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.future.inner.unregister(key);
        }
    }
}

impl<T> fmt::Debug for Awaiting<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Awaiting")
            .field("future", &self.future)
            .finish()
    }
}
