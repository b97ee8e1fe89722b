//! Where the manager threads (`manager_threads.rs`) and the worker's held replies
//! (`worker/replies.rs`) take their synchronization primitives, threads and clock from.
//!
//! Normally std's; under `RUSTFLAGS="--cfg loom"` loom's, so the loom models in
//! `tests/loom.rs` explore every interleaving of the real threads (the pattern of tokio's
//! `src/loom/`). Timeouts are not modelled by loom: a timed wait is an untimed one there, and
//! the threads's models rely on notifications alone.

use std::sync::PoisonError;
use std::time::Duration;

#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};

#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Locks `mutex`, ignoring poisoning: no user code ever runs while the threads holds its lock,
/// so a poisoned lock still guards consistent state.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Waits on `condvar`, ignoring poisoning (see [`lock`]).
pub(crate) fn wait<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    condvar.wait(guard).unwrap_or_else(PoisonError::into_inner)
}

/// Waits on `condvar` at most `timeout` (no timeout under loom), ignoring poisoning.
pub(crate) fn wait_timeout<'a, T>(
    condvar: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Duration,
) -> MutexGuard<'a, T> {
    condvar
        .wait_timeout(guard, timeout)
        .unwrap_or_else(PoisonError::into_inner)
        .0
}

/// How long ago `since` was: none under loom, which models no time (so a model's branches do
/// not depend on the machine's clock).
pub(crate) fn elapsed(since: std::time::Instant) -> Duration {
    #[cfg(not(loom))]
    return since.elapsed();
    #[cfg(loom)]
    {
        let _ = since;
        Duration::ZERO
    }
}

/// Starts a detached thread named `name`.
pub(crate) fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    #[cfg(not(loom))]
    std::thread::Builder::new().name(name.to_owned()).spawn(f)?;
    #[cfg(loom)]
    loom::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)?;
    Ok(())
}
