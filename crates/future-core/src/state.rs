//! The state shared by a [`Promise`](crate::Promise) and its
//! [`TaskFuture`](crate::TaskFuture) handles: one mutex around the status, the outcome and
//! the listeners to tell when the future is done. See `WAITING.md` for the protocol.

use std::task::Waker;

use crate::error::TaskError;
use crate::sync::{Mutex, MutexGuard, lock};

/// Where a future is in its life. Transitions (all under the state lock):
/// `Pending -> Running` (the producer starts the task), `Pending -> Cancelled` (a consumer
/// cancels), `Pending | Running -> Finished` (the producer completes, or is dropped).
/// `Cancelled` and `Finished` are final.
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

/// What a finished future holds.
pub(crate) enum Outcome<T> {
    /// Not finished, or cancelled.
    Empty,
    Value(T),
    Failed(TaskError),
    /// The value was moved out by `take` or `.await`.
    Taken,
}

/// A done-callback of the public API, or an internal one (a `wait` tally, ...). It gets the
/// future it was registered on.
pub(crate) type Callback<T> = Box<dyn FnOnce(&crate::TaskFuture<T>) + Send>;

/// What to do when the future becomes done.
pub(crate) enum Action<T> {
    Callback(Callback<T>),
    Wake(Waker),
}

pub(crate) struct Listener<T> {
    key: u64,
    action: Action<T>,
}

/// The lock-guarded part.
pub(crate) struct State<T> {
    pub(crate) status: Status,
    pub(crate) outcome: Outcome<T>,
    /// Told once, in registration order, when `status` becomes done; always empty after.
    listeners: Vec<Listener<T>>,
    next_key: u64,
}

/// The shared allocation.
pub(crate) struct Inner<T> {
    state: Mutex<State<T>>,
    /// How long a thread blocked on this future alone spins before it parks (set by the
    /// producer: see `Promise::new_spinning`).
    pub(crate) spin: std::time::Duration,
}

impl<T> Inner<T> {
    pub(crate) fn new(spin: std::time::Duration) -> Self {
        Inner {
            spin,
            state: Mutex::new(State {
                status: Status::Pending,
                outcome: Outcome::Empty,
                listeners: Vec::new(),
                next_key: 0,
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State<T>> {
        lock(&self.state)
    }

    /// How many listeners wait on this future (for tests that check nothing is left behind).
    #[cfg(test)]
    pub(crate) fn listener_count(&self) -> usize {
        self.lock().listeners.len()
    }

    /// Removes the listener registered under `key`, if it has not run yet.
    pub(crate) fn unregister(&self, key: u64) {
        let mut state = self.lock();
        if let Some(pos) = state.listeners.iter().position(|l| l.key == key) {
            // `remove`, not `swap_remove`: the others keep their registration order.
            drop(state.listeners.remove(pos));
        }
    }
}

impl<T> State<T> {
    /// Adds a listener to a future that is not done yet, returning its key.
    pub(crate) fn register(&mut self, action: Action<T>) -> u64 {
        debug_assert!(!self.status.is_done());
        let key = self.next_key;
        self.next_key += 1;
        self.listeners.push(Listener { key, action });
        key
    }

    /// Points the waker listener `key` at `waker` (async tasks may move between polls).
    /// Returns false when no listener `key` is left (it ran, or was removed).
    pub(crate) fn rewake(&mut self, key: u64, waker: &Waker) -> bool {
        match self.listeners.iter_mut().find(|l| l.key == key) {
            Some(Listener {
                action: Action::Wake(old),
                ..
            }) => {
                if !old.will_wake(waker) {
                    old.clone_from(waker);
                }
                true
            }
            _ => false,
        }
    }

    /// Moves the state to the final `status` and hands back the listeners to run, which the
    /// caller must run (with [`run_listeners`]) after releasing the lock.
    pub(crate) fn finish(&mut self, status: Status, outcome: Outcome<T>) -> Vec<Listener<T>> {
        debug_assert!(status.is_done() && !self.status.is_done());
        self.status = status;
        self.outcome = outcome;
        std::mem::take(&mut self.listeners)
    }
}

/// Runs the listeners of a future that just became done, in registration order, outside
/// any lock. A panicking callback is caught and reported on stderr; the others still run.
pub(crate) fn run_listeners<T>(listeners: Vec<Listener<T>>, future: &crate::TaskFuture<T>) {
    for listener in listeners {
        match listener.action {
            Action::Wake(waker) => waker.wake(),
            Action::Callback(callback) => run_callback(callback, future),
        }
    }
}

/// Runs one callback, catching and reporting a panic (Python logs it and goes on).
pub(crate) fn run_callback<T>(callback: Callback<T>, future: &crate::TaskFuture<T>) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| callback(future)));
    if let Err(payload) = outcome {
        eprintln!(
            "future-core: a done callback panicked (the other callbacks still ran): {}",
            crate::error::panic_message(&*payload)
        );
    }
}
