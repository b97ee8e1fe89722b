//! The state shared by a future's handles and its producer ([`Promise`](crate::Promise) or
//! [`Task`](crate::executor::Task)): one mutex around the status, the kind of outcome and the
//! listeners to tell when the future is done; beside it, the value and the task's closure,
//! each owned by whoever the status says. See `WAITING.md` for the protocol.
//!
//! No user code runs under the mutex: listeners run after it is released, a value is cloned
//! outside it (counted in `readers`), and a closure, value or cancel guard is dropped outside
//! it.

use std::task::Waker;
use std::time::Duration;

use crate::error::{FutureError, TaskError};
use crate::listeners::{Action, Key, Listeners, Taken};
use crate::sync::{Arc, Mutex, MutexGuard, UnsafeCell, lock, yield_now};
use crate::task::TaskCell;
use crate::unwind::{contain, drop_contained};

/// Where a future is in its life. Transitions (all under the state lock):
/// `Pending -> Running` (the producer starts the task, or a waiter runs it itself),
/// `Pending -> Cancelled` (a consumer cancels), `Pending | Running -> Finished` (the
/// producer completes, or is dropped). `Cancelled` and `Finished` are final.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Pending,
    Running,
    Cancelled,
    Finished,
}

impl Status {
    pub(crate) fn is_done(self) -> bool {
        matches!(self, Status::Cancelled | Status::Finished)
    }
}

/// What a done future holds (the value itself is in [`Inner::value`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Not finished, or cancelled.
    Empty,
    /// The value is in `Inner::value`.
    Value,
    /// Boxed: errors are rare, and the box keeps every future's state small.
    Failed(Box<TaskError>),
    /// The value was moved out by `take` or `.await`.
    Taken,
    /// The value is in `Inner::value` and was lent out by `result_ref`: it stays there
    /// (references to it live as long as the handles that gave them), and `take` refuses.
    Lent,
}

impl Outcome {
    /// The error a done future without a value gives (`Value` is no error).
    pub(crate) fn error(&self) -> Option<FutureError> {
        match self {
            Outcome::Failed(err) => Some(FutureError::Failed(TaskError::clone(err))),
            Outcome::Taken => Some(FutureError::Taken),
            Outcome::Empty => Some(FutureError::Cancelled),
            Outcome::Value | Outcome::Lent => None,
        }
    }
}

/// The lock-guarded part.
pub(crate) struct State<T> {
    pub(crate) status: Status,
    pub(crate) outcome: Outcome,
    /// Told once, in registration order, when `status` becomes done; empty after.
    pub(crate) listeners: Listeners<T>,
    /// Threads cloning the value outside the lock right now: the value is not moved out
    /// while one is counted.
    readers: u32,
    /// The executor's say on a cancel of a pending future (see
    /// `Promise::set_cancel_guard`): false refuses it.
    pub(crate) cancel_guard: Option<Box<CancelGuard>>,
}

/// An executor's veto on cancelling a pending future, asked under the future's lock.
pub(crate) type CancelGuard = Box<dyn Fn() -> bool + Send + Sync>;

/// The shared allocation.
pub(crate) struct Inner<T> {
    state: Mutex<State<T>>,
    /// The value: `Some` exactly while `outcome` is `Value`. Written once, under the lock,
    /// by the completion that sets `Value`; read through shared references outside the
    /// lock by threads counted in `readers` (`result` requires `T: Sync` for that); moved
    /// out under the lock, only while `readers` is zero, by the one `take` that sets
    /// `Taken`.
    value: UnsafeCell<Option<T>>,
    /// The task's closure, for a future made with `Task::new`; see [`TaskCell`]. (No
    /// `Drop` here: a `Task` consumes its closure before it lets go of the future, so the
    /// cell is empty when the last handle goes.)
    pub(crate) task: TaskCell<T>,
    /// How long, in microseconds, a thread blocked on this future alone spins before it
    /// parks (set by the producer: see `Promise::new_spinning`).
    spin_micros: u32,
}

// SAFETY: `value` is shared between threads only as the protocol above says: written and
// moved out under the lock with no reader counted (so never while referenced), and read
// through `&T` outside the lock only by `result`, which requires `T: Sync`. `task`'s
// closure is touched by one thread at a time (see `TaskCell`), and is `Send`. Everything
// else is behind the mutex.
unsafe impl<T: Send> Sync for Inner<T> {}

impl<T> Inner<T> {
    pub(crate) fn new(spin: Duration, task: TaskCell<T>) -> Self {
        let spin_micros = u32::try_from(spin.as_micros()).unwrap_or(u32::MAX);
        Inner {
            state: Mutex::new(State {
                status: Status::Pending,
                outcome: Outcome::Empty,
                listeners: Listeners::new(),
                readers: 0,
                cancel_guard: None,
            }),
            value: UnsafeCell::new(None),
            task,
            spin_micros,
        }
    }

    /// How long a thread blocked on this future alone spins before it parks.
    pub(crate) fn spin(&self) -> Duration {
        Duration::from_micros(u64::from(self.spin_micros))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State<T>> {
        lock(&self.state)
    }

    /// How many listeners wait on this future (for tests that check nothing is left behind).
    #[cfg(test)]
    pub(crate) fn listener_count(&self) -> usize {
        self.lock().listeners.len()
    }

    /// Removes the listener registered under `key`, if it has not run yet; it is dropped
    /// outside the lock.
    pub(crate) fn unregister(&self, key: crate::listeners::Key) {
        let removed = self.lock().listeners.remove(key);
        drop_contained(removed);
    }

    /// Moves `state` from pending to `Cancelled`: `Some` when it was pending. The caller
    /// then, outside the lock, drops the cancel guard returned (executor code: inside a
    /// panic boundary), drops the closure, and runs the listeners returned.
    pub(crate) fn cancel_locked(
        state: &mut State<T>,
    ) -> Option<(Taken<T>, Option<Box<CancelGuard>>)> {
        if state.status != Status::Pending {
            return None;
        }
        if state.cancel_guard.as_ref().is_some_and(|allows| !allows()) {
            // The executor says the task has started where it runs.
            return None;
        }
        state.status = Status::Cancelled;
        let guard = state.cancel_guard.take();
        Some((state.listeners.take_all(), guard))
    }

    /// Completes the future with `result` and tells its listeners, unless it is done
    /// already (cancelled): then `result` is dropped, and false returned. The listeners
    /// run in this thread after the lock is released; no panic of theirs (nor of a value's
    /// drop, nor of a cancel guard's) gets out of here.
    pub(crate) fn complete(this: &Arc<Self>, result: Result<T, TaskError>) -> bool {
        let mut state = this.lock();
        if state.status.is_done() {
            drop(state);
            drop_contained(result);
            return false;
        }
        state.status = Status::Finished;
        match result {
            Ok(value) => {
                state.outcome = Outcome::Value;
                // SAFETY: under the lock, and the future was not done: no reader is
                // counted and nothing else touches `value` (see its field doc).
                this.value.with_mut(|slot| unsafe { *slot = Some(value) });
            }
            Err(err) => state.outcome = Outcome::Failed(Box::new(err)),
        }
        if state.listeners.is_untouched() && state.cancel_guard.is_none() {
            // The usual case: nobody to tell, nothing to drop.
            return true;
        }
        // Set only while `Pending`: a completion straight from it (a task failed before it
        // started) takes the executor's cancel guard too, to drop it outside the lock.
        let guard = state.cancel_guard.take();
        let failed = matches!(state.outcome, Outcome::Failed(_));
        let listeners = state.listeners.take_all();
        drop(state);
        if let Some(guard) = guard {
            drop_contained(guard);
        }
        run_listeners(listeners, this, failed);
        true
    }

    /// Reads a done future's result: a clone of its value (outside the lock), or its
    /// error.
    pub(crate) fn clone_result(&self) -> Result<T, FutureError>
    where
        T: Clone + Sync,
    {
        let mut state = self.lock();
        if let Some(err) = state.outcome.error() {
            return Err(err);
        }
        state.readers += 1;
        drop(state);
        let _reading = Reading(self);
        // SAFETY: `outcome` is `Value` and this thread is counted in `readers`, so the
        // value stays in place, unchanged, until `_reading` uncounts it; shared references
        // from several threads at once are fine since `T: Sync`.
        self.value.with(|slot| match unsafe { &*slot } {
            Some(value) => Ok(value.clone()),
            // Not reachable while `outcome` is `Value`.
            None => Err(FutureError::Taken),
        })
    }

    /// Lends a done future's value out for as long as `self` lives (outcome `Lent` after,
    /// so nothing moves it again), or gives its error.
    pub(crate) fn lend_result(&self) -> Result<&T, FutureError>
    where
        T: Sync,
    {
        let mut state = self.lock();
        if let Some(err) = state.outcome.error() {
            return Err(err);
        }
        // From here on `take` refuses: the value stays where it is until `self` is freed.
        state.outcome = Outcome::Lent;
        drop(state);
        // SAFETY: the outcome is `Lent`, so the value is `Some` and is never written or
        // moved again (`complete` writes only before the future is done, `take_result`
        // refuses a lent value); it is dropped only with `self`, which the returned
        // reference cannot outlive. Shared references from several threads are fine
        // since `T: Sync`.
        self.value
            .with(|slot| unsafe { (*slot).as_ref() })
            .ok_or(FutureError::Taken)
    }

    /// Moves a done future's value out (outcome `Taken` after), or gives its error (a lent
    /// value stays: `Lent`). Waits for threads still cloning the value.
    pub(crate) fn take_result(&self) -> Result<T, FutureError> {
        loop {
            let mut state = self.lock();
            if let Some(err) = state.outcome.error() {
                return Err(err);
            }
            if state.outcome == Outcome::Lent {
                return Err(FutureError::Lent);
            }
            if state.readers == 0 {
                state.outcome = Outcome::Taken;
                // SAFETY: under the lock with no reader counted: no reference to the value
                // exists, and no one else moves it (the outcome is now `Taken`).
                return self
                    .value
                    .with_mut(|slot| unsafe { (*slot).take() })
                    .ok_or(FutureError::Taken);
            }
            // Another thread is cloning the value (user code, outside the lock).
            drop(state);
            yield_now();
        }
    }

    pub(crate) fn status(&self) -> Status {
        self.lock().status
    }

    /// True when done; else leaves `waker` registered under `*key`. The waker is cloned
    /// (and a replaced one dropped) outside the lock: both are user code.
    pub(crate) fn poll_done(&self, waker: &Waker, key: &mut Option<Key>) -> bool {
        let mut clone: Option<Waker> = None;
        loop {
            let mut state = self.lock();
            if state.status.is_done() {
                drop(state);
                drop_contained(clone);
                return true;
            }
            if key.is_some_and(|k| state.listeners.is_waking(k, waker)) {
                drop(state);
                drop_contained(clone);
                return false;
            }
            let Some(new) = clone.take() else {
                // Clone outside the lock, then look again.
                drop(state);
                clone = Some(waker.clone());
                continue;
            };
            let unplaced = match *key {
                Some(k) => state.listeners.rewake(k, new),
                None => Err(new),
            };
            let replaced = match unplaced {
                Ok(old) => Some(old),
                Err(new) => {
                    *key = Some(state.listeners.insert(Action::Wake(new)));
                    None
                }
            };
            drop(state);
            drop_contained(replaced);
            return false;
        }
    }
}

/// Uncounts a reader of the value, also when its `clone` panics.
struct Reading<'a, T>(&'a Inner<T>);

impl<T> Drop for Reading<'_, T> {
    fn drop(&mut self) {
        self.0.lock().readers -= 1;
    }
}

/// Runs the listeners of a future that just became done, in registration order, outside
/// any lock. A panicking callback is caught and reported on stderr, a panicking waker is
/// caught; either way the others still run.
pub(crate) fn run_listeners<T>(listeners: Taken<T>, inner: &Arc<Inner<T>>, failed: bool) {
    if listeners.is_empty() {
        return;
    }
    let mut future = None;
    for listener in listeners {
        match listener {
            Action::Wake(waker) => contain(move || waker.wake()),
            Action::Tally(tally, index) => tally.record(index, failed),
            Action::Callback(callback) => {
                let future =
                    future.get_or_insert_with(|| crate::TaskFuture::from_inner(inner.clone()));
                run_callback(callback, future);
            }
        }
    }
    drop_contained(future);
}

/// Runs one callback, catching and reporting a panic (Python logs it and goes on).
pub(crate) fn run_callback<T>(
    callback: crate::listeners::Callback<T>,
    future: &crate::TaskFuture<T>,
) {
    if let Err(err) = crate::unwind::catch_panic(move || callback(future)) {
        eprintln!(
            "future-core: a done callback panicked (the other callbacks still ran): {}",
            err.message()
        );
    }
}
