//! [`TaskFuture`]: the consumer's handle on a task's result (Python's `Future`).

pub(crate) mod listeners;
pub(crate) mod promise;
pub(crate) mod state;
pub(crate) mod task;

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::error::{FutureError, TaskError};
use crate::future::listeners::Action;
use crate::future::state::{Inner, Key, Status, run_callback};
use crate::sync::Arc;
use crate::unwind::drop_contained;
use crate::waiting::block::{block_on, deadline_after};

/// The result of a task that an executor runs: Python's `concurrent.futures.Future`.
///
/// An executor makes it (with [`Promise::new`](crate::executor::Promise::new)) and hands it to you;
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
/// | `f.result()`, `f.result(timeout)` | [`result`](Self::result), [`result_timeout`](Self::result_timeout) (clone the value); [`result_ref`](Self::result_ref), [`result_ref_timeout`](Self::result_ref_timeout) (read it in place: no `Clone` needed); [`take`](Self::take), [`take_timeout`](Self::take_timeout) (move it out) |
/// | `f.exception()`, `f.exception(timeout)` | [`exception`](Self::exception), [`exception_timeout`](Self::exception_timeout) |
/// | `f.add_done_callback(fn)` | [`add_done_callback`](Self::add_done_callback) |
/// | `await asyncio.wrap_future(f)` | `f.await`, on any async runtime |
///
/// ```
/// use rustures::{FutureError};
/// use rustures::executor::Promise;
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
    /// This handle's waker registration while it is polled as a `Future` (each handle has
    /// its own: a clone starts without one).
    polled: Option<Key>,
}

impl<T> Clone for TaskFuture<T> {
    fn clone(&self) -> Self {
        TaskFuture::from_inner(self.inner.clone())
    }
}

/// Two handles are equal when they belong to the same future (Python's futures hash by
/// identity).
///
/// To map futures to their inputs (Python's `{executor.submit(fn, x): x for x in xs}`), key
/// the map with [`TaskFuture::id`], a plain `Copy` value: a map keyed by the handles
/// themselves works too, but trips clippy's `mutable_key_type` lint (a future's state
/// changes; its hash, the identity, never does, which the lint cannot see).
///
/// ```
/// use std::collections::HashMap;
/// let (p1, f1) = rustures::executor::Promise::new();
/// let (_p2, f2) = rustures::executor::Promise::<u32>::new();
/// let futures = [f1.clone(), f2.clone()];
/// let urls: HashMap<_, &str> = [(f1.id(), "a.example"), (f2.id(), "b.example")].into();
/// p1.set_result(200);
/// for future in futures.iter().filter(|f| f.done()) {
///     assert_eq!((urls[&future.id()], future.result()), ("a.example", Ok(200)));
/// }
/// assert_eq!(f1, f1.clone());
/// assert_ne!(f1, f2);
/// ```
impl<T> PartialEq for TaskFuture<T> {
    fn eq(&self, other: &Self) -> bool {
        self.same_future(other)
    }
}

impl<T> Eq for TaskFuture<T> {}

impl<T> std::hash::Hash for TaskFuture<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id().hash(state);
    }
}

/// A future's identity, from [`TaskFuture::id`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FutureId(usize);

impl<T> TaskFuture<T> {
    pub(crate) fn from_inner(inner: Arc<Inner<T>>) -> Self {
        TaskFuture {
            inner,
            polled: None,
        }
    }

    /// Cancels the task if it has not started: returns true when the future is now
    /// cancelled (it was pending, or already cancelled), false when the task is running or
    /// finished. A cancelled future is done at once: its callbacks run and every `wait`,
    /// `as_completed` and `result` waiting on it returns now, not when a worker would have
    /// dequeued it (Python's gh-92001).
    ///
    /// ```
    /// use rustures::{FutureError};
    /// use rustures::executor::Promise;
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
        Self::cancel_inner(&self.inner) || self.cancelled()
    }

    /// Cancels a pending future: true when this call cancelled it. Its cancel guard and
    /// its task's closure (if any) are dropped, and its listeners told, outside any lock;
    /// a panic of either drop is contained, so the listeners are told all the same.
    pub(crate) fn cancel_inner(inner: &Arc<Inner<T>>) -> bool {
        Inner::cancel(inner)
    }

    /// True when the future was cancelled.
    ///
    /// ```
    /// let (_p, f) = rustures::executor::Promise::<u8>::new();
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
    /// let (p, f) = rustures::executor::Promise::new();
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
    /// let (p, f) = rustures::executor::Promise::new();
    /// assert!(!f.done());
    /// p.set_result("x");
    /// assert!(f.done());
    /// ```
    pub fn done(&self) -> bool {
        self.status().is_done()
    }

    /// Blocks until the task finished and returns a clone of its value (Python's
    /// `result()`). For a value that is not `Clone` (a `Result` with `std::io::Error`, an
    /// HTTP client's error, ...): [`result_ref`](Self::result_ref) reads it in place,
    /// [`take`](Self::take) moves it out (also for values that are not `Sync`: the value is
    /// cloned by counted readers, with no lock held, so threads may clone it at the same time).
    ///
    /// In a worker thread of the pool that made the task, if no thread has started the
    /// task yet, this runs it right here instead of blocking (and only it: a waiting worker
    /// never runs other tasks). So nested submit-and-wait goes on even with one thread.
    ///
    /// Errors: [`FutureError::Cancelled`], [`FutureError::Failed`] (a panic in the task, a
    /// dead worker, a dropped producer: nothing waits forever), [`FutureError::Taken`].
    ///
    /// ```
    /// let (p, f) = rustures::executor::Promise::new();
    /// std::thread::spawn(move || p.run(|| vec![1, 2, 3]));
    /// assert_eq!(f.result(), Ok(vec![1, 2, 3]));
    /// assert_eq!(f.result(), Ok(vec![1, 2, 3]), "result can be read again");
    /// ```
    pub fn result(&self) -> Result<T, FutureError>
    where
        T: Clone + Sync,
    {
        self.result_until(None)
    }

    /// Like [`result`](Self::result), but gives up after `timeout` with
    /// [`FutureError::Timeout`]; a zero timeout only looks. A wait with a timeout never
    /// runs the task itself (that could keep it past its deadline): it blocks.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (p, f) = rustures::executor::Promise::new();
    /// assert_eq!(f.result_timeout(Duration::ZERO), Err(rustures::FutureError::Timeout));
    /// p.set_result(3);
    /// assert_eq!(f.result_timeout(Duration::ZERO), Ok(3));
    /// ```
    pub fn result_timeout(&self, timeout: Duration) -> Result<T, FutureError>
    where
        T: Clone + Sync,
    {
        self.result_until(deadline_after(Some(timeout)))
    }

    fn result_until(&self, deadline: Option<Instant>) -> Result<T, FutureError>
    where
        T: Clone + Sync,
    {
        if !self.wait_until(deadline) {
            return Err(FutureError::Timeout);
        }
        self.inner.clone_result()
    }

    /// Blocks until the task finished and moves its value out of the future, so `T` need
    /// not be `Clone`. Afterwards every handle of this future gives [`FutureError::Taken`]
    /// for the value (its state and errors read as before).
    ///
    /// ```
    /// struct NotClone(u32);
    /// let (p, f) = rustures::executor::Promise::new();
    /// p.set_result(NotClone(9));
    /// assert_eq!(f.take().map(|v| v.0), Ok(9));
    /// assert_eq!(f.take().map(|v| v.0), Err(rustures::FutureError::Taken));
    /// ```
    pub fn take(&self) -> Result<T, FutureError> {
        self.take_until(None)
    }

    /// Like [`take`](Self::take), but gives up after `timeout` with
    /// [`FutureError::Timeout`] (and the value stays in the future).
    ///
    /// ```
    /// use std::time::Duration;
    /// let (p, f) = rustures::executor::Promise::new();
    /// assert_eq!(f.take_timeout(Duration::from_millis(1)), Err(rustures::FutureError::Timeout));
    /// p.set_result(String::from("late"));
    /// assert_eq!(f.take_timeout(Duration::from_secs(5)).as_deref(), Ok("late"));
    /// ```
    pub fn take_timeout(&self, timeout: Duration) -> Result<T, FutureError> {
        self.take_until(deadline_after(Some(timeout)))
    }

    /// Blocks until the task finished and lends its value in place: a reference that lives
    /// as long as this handle, for values that are not `Clone` (a task's `Result` with an
    /// I/O or HTTP error type, say), read by any number of threads at once (`T: Sync`).
    /// Python's `result()` returns the future's own object the same way.
    ///
    /// A lent value stays in the future until its last handle is dropped:
    /// [`take`](Self::take) (and `.await`) then fail with [`FutureError::Lent`]; to move the
    /// value out instead, call `take` alone. The errors are `result`'s.
    ///
    /// ```
    /// use rustures::executor::Promise;
    ///
    /// fn read(path: &str) -> Result<Vec<u8>, std::io::Error> { std::fs::read(path) }
    ///
    /// let (promise, future) = Promise::new();
    /// std::thread::spawn(move || promise.run(|| read("/no/such/file")));
    /// match future.result_ref().unwrap() {
    ///     Ok(bytes) => println!("{} bytes", bytes.len()),
    ///     Err(err) => assert_eq!(err.kind(), std::io::ErrorKind::NotFound),
    /// }
    /// ```
    pub fn result_ref(&self) -> Result<&T, FutureError>
    where
        T: Sync,
    {
        self.result_ref_until(None)
    }

    /// Like [`result_ref`](Self::result_ref), but gives up after `timeout` with
    /// [`FutureError::Timeout`] (and lends nothing).
    ///
    /// ```
    /// use std::time::Duration;
    /// let (p, f) = rustures::executor::Promise::new();
    /// assert_eq!(f.result_ref_timeout(Duration::ZERO), Err(rustures::FutureError::Timeout));
    /// p.set_result(String::from("here"));
    /// assert_eq!(f.result_ref_timeout(Duration::ZERO).map(String::as_str), Ok("here"));
    /// ```
    pub fn result_ref_timeout(&self, timeout: Duration) -> Result<&T, FutureError>
    where
        T: Sync,
    {
        self.result_ref_until(deadline_after(Some(timeout)))
    }

    fn result_ref_until(&self, deadline: Option<Instant>) -> Result<&T, FutureError>
    where
        T: Sync,
    {
        if !self.wait_until(deadline) {
            return Err(FutureError::Timeout);
        }
        self.inner.lend_result()
    }

    pub(crate) fn take_until(&self, deadline: Option<Instant>) -> Result<T, FutureError> {
        match self.wait_seen(deadline) {
            None => Err(FutureError::Timeout),
            Some(Some(seen)) => self.inner.take_result_from(seen),
            Some(None) => self.inner.take_result(),
        }
    }

    /// Blocks until the task finished; returns its error if it failed, `None` if it gave a
    /// value (Python's `exception()`). Cancelled futures give `Err(Cancelled)`.
    ///
    /// ```
    /// use rustures::TaskErrorKind;
    /// let (p, f) = rustures::executor::Promise::<u8>::new();
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
    /// let (p, f) = rustures::executor::Promise::new();
    /// assert_eq!(f.exception_timeout(Duration::ZERO), Err(rustures::FutureError::Timeout));
    /// p.set_result(1);
    /// assert_eq!(f.exception_timeout(Duration::ZERO), Ok(None));
    /// ```
    pub fn exception_timeout(&self, timeout: Duration) -> Result<Option<TaskError>, FutureError> {
        self.exception_until(deadline_after(Some(timeout)))
    }

    fn exception_until(&self, deadline: Option<Instant>) -> Result<Option<TaskError>, FutureError> {
        if !self.wait_until(deadline) {
            return Err(FutureError::Timeout);
        }
        self.inner.exception()
    }

    /// Calls `callback` with this future once it is done (finished or cancelled): at once,
    /// in this thread, if it already is; else in the thread that completes or cancels it,
    /// after the state is set and outside any lock. Callbacks run exactly once each, in the
    /// order they were added. A panicking callback is caught and reported on stderr, and
    /// the others still run.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// let (p, f) = rustures::executor::Promise::new();
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
    pub(crate) fn register(&self, action: Action<T>) -> Option<Key> {
        let action = match self.inner.register(action) {
            Ok(key) => return Some(key),
            Err(action) => action,
        };
        match action {
            Action::Callback(callback) => run_callback(callback, self),
            Action::DoneQueue(done_queue, index) => done_queue.record(index, self.failed()),
            Action::Wake(waker) => drop_contained(waker),
        }
        None
    }

    pub(crate) fn status(&self) -> Status {
        self.inner.status()
    }

    /// True when the task ran and failed (Python: done, not cancelled, exception set).
    pub(crate) fn failed(&self) -> bool {
        self.inner.failed()
    }

    /// True when both handles belong to the same future.
    ///
    /// ```
    /// let (_p, f) = rustures::executor::Promise::<()>::new();
    /// let (_q, g) = rustures::executor::Promise::<()>::new();
    /// assert!(f.same_future(&f.clone()));
    /// assert!(!f.same_future(&g));
    /// ```
    pub fn same_future(&self, other: &TaskFuture<T>) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// This future's identity: equal for every handle of the same future, different from
    /// every other live future's (an identity is only reused once every handle of its
    /// future is gone). The key for maps and sets of futures: a plain `Copy` value, which
    /// clippy's `mutable_key_type` lint accepts (it flags the handles themselves as keys).
    ///
    /// ```
    /// use std::collections::HashMap;
    /// let (_p, f) = rustures::executor::Promise::<u8>::new();
    /// let names = HashMap::from([(f.id(), "first")]);
    /// assert_eq!(names[&f.clone().id()], "first");
    /// ```
    pub fn id(&self) -> FutureId {
        FutureId(Arc::as_ptr(&self.inner) as *const () as usize)
    }

    /// Blocks until the future is done (true) or `deadline` passes (false). Without a
    /// deadline, in a worker thread of the executor that made the task, runs the task here
    /// if no thread has started it.
    pub(crate) fn wait_until(&self, deadline: Option<Instant>) -> bool {
        self.wait_seen(deadline).is_some()
    }

    /// [`wait_until`](Self::wait_until): `Some` when done, with the state word as this
    /// thread last saw it where it knows it (a guess for `Inner::take_result_from`, which
    /// checks it by its CAS); `None` when `deadline` passed.
    fn wait_seen(&self, deadline: Option<Instant>) -> Option<Option<usize>> {
        let word = self.inner.word();
        if Inner::<T>::word_is_done(word) {
            return Some(Some(word));
        }
        if deadline.is_none() && self.run_here() {
            return Some(None);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let mut key = None;
        let spin = self.inner.spin();
        // The first poll starts from the word loaded above (`run_here` changed nothing
        // when it returned false; a word changed by others makes its CAS retry).
        let mut seen = Some(word);
        let done = block_on(
            &mut |waker| self.inner.poll_done_from(waker, &mut key, &mut seen),
            deadline,
            spin,
        );
        if let (false, Some(key)) = (done, key) {
            self.inner.unregister(key);
        }
        done.then_some(seen)
    }

    /// Runs the future's task on this thread, if it has one that no thread has started and
    /// this thread is a worker of the executor that made it; true when it ran here.
    pub(crate) fn run_here(&self) -> bool {
        let Some(executor) = self.inner.task.executor() else {
            return false;
        };
        if !crate::worker::works_for(executor) {
            return false;
        }
        let Some(started) = self.inner.start_seen() else {
            return false;
        };
        // SAFETY: this thread's `start_seen` moved the stage off `Pending`.
        let closure = unsafe { self.inner.task.take() };
        match closure {
            Some(closure) => {
                let ran = crate::future::task::run_here(&self.inner, closure, started);
                crate::worker::ran_here(ran);
            }
            // A future with an executor always has a closure; finish it all the same.
            None => {
                let err = TaskError::new(
                    crate::TaskErrorKind::Other,
                    "the task had no closure to run",
                );
                Inner::complete(&self.inner, Err(err));
            }
        }
        true
    }
}

impl<T> fmt::Debug for TaskFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state_name = self.inner.describe();
        f.debug_struct("TaskFuture")
            .field("state", &state_name)
            .finish()
    }
}

/// A `TaskFuture` is a [`Future`](std::future::Future) whose output moves the value out,
/// like [`TaskFuture::take`] (tokio's `JoinHandle` does the same): `.await` it on any async
/// runtime, `futures::join!` it, push it into a `FuturesUnordered` (for `select!`, `.fuse()`
/// it first). Once one handle has taken the value, every other handle of the same future
/// gives [`FutureError::Taken`] for it (its state and errors read as before). A handle
/// dropped while polled unregisters its waker.
///
/// ```
/// let (p, f) = rustures::executor::Promise::new();
/// std::thread::spawn(move || p.set_result(7));
/// let other = f.clone();
/// assert_eq!(futures::executor::block_on(f), Ok(7));
/// assert_eq!(other.result(), Err(rustures::FutureError::Taken));
/// ```
impl<T> std::future::Future for TaskFuture<T> {
    type Output = Result<T, FutureError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // The key stays in the handle while the waker is cloned: if that clone (user
        // code) panics, the registration it replaces is still the handle's, and goes
        // with the handle's drop.
        if this.inner.poll_done(cx.waker(), &mut this.polled) {
            // Its registration (if any) was taken by the completion.
            this.polled = None;
            Poll::Ready(this.inner.take_result())
        } else {
            Poll::Pending
        }
    }
}

impl<T> Drop for TaskFuture<T> {
    fn drop(&mut self) {
        if let Some(key) = self.polled.take() {
            self.inner.unregister(key);
        }
    }
}
