//! The one place this crate takes its synchronization primitives from.
//!
//! Normally these are std's; under `RUSTFLAGS="--cfg loom"` they are loom's, so the loom
//! models in `tests/loom.rs` explore every interleaving of the real code (the pattern of
//! tokio's `src/loom/`). Timeouts are not modelled by loom: `park_timeout` parks without one.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicUsize};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::thread::{Thread, current as current_thread, park, park_timeout, yield_now};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicUsize};
#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};
#[cfg(loom)]
pub(crate) use loom::thread::{Thread, current as current_thread, park, yield_now};

/// Under loom a timed park is an untimed one: models never rely on a timeout firing.
#[cfg(loom)]
pub(crate) fn park_timeout(_timeout: std::time::Duration) {
    park();
}

/// Locks `mutex`, ignoring poisoning: no user code ever runs while this crate holds a lock,
/// so a poisoned lock still guards consistent state.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// An `UnsafeCell` whose accesses loom can check (tokio's `loom::cell::UnsafeCell`): every
/// access goes through [`with`](UnsafeCell::with) (shared) or
/// [`with_mut`](UnsafeCell::with_mut) (exclusive), and loom reports two that race.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Calls `f` with a pointer for reading.
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Calls `f` with a pointer for writing.
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;
