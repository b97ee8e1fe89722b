//! Where the held replies (`replies.rs`), `pool-process`'s manager threads and `pool-mpi`'s
//! inbox take their synchronization primitives, threads and clock from.
//!
//! Normally std's; under `RUSTFLAGS="--cfg loom"` loom's, so the loom models in
//! `tests/loom.rs` explore every interleaving of the real code (the pattern of tokio's
//! `src/loom/`). Loom models no time: a timed wait is an untimed one there, and no time
//! passes.

use std::sync::PoisonError;
use std::time::{Duration, Instant};

#[cfg(not(loom))]
pub use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(not(loom))]
pub use std::sync::{Arc, Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub use std::thread::JoinHandle;

#[cfg(loom)]
pub use loom::sync::atomic::{AtomicBool, Ordering};
#[cfg(loom)]
pub use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
#[cfg(loom)]
pub use loom::thread::JoinHandle;

/// Locks `mutex`, ignoring poisoning: no user code runs under these locks, so a poisoned one
/// still guards consistent state.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Waits on `condvar`, ignoring poisoning (see [`lock`]).
pub fn wait<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    condvar.wait(guard).unwrap_or_else(PoisonError::into_inner)
}

/// Waits on `condvar` at most `timeout` (no timeout under loom), ignoring poisoning.
pub fn wait_timeout<'a, T>(
    condvar: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Duration,
) -> MutexGuard<'a, T> {
    condvar
        .wait_timeout(guard, timeout)
        .unwrap_or_else(PoisonError::into_inner)
        .0
}

/// How long ago `since` was: none under loom (so a model's branches do not depend on the
/// machine's clock).
pub fn elapsed(since: Instant) -> Duration {
    #[cfg(not(loom))]
    return since.elapsed();
    #[cfg(loom)]
    {
        let _ = since;
        Duration::ZERO
    }
}

/// Starts a thread named `name`.
pub fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<JoinHandle<()>> {
    #[cfg(not(loom))]
    return std::thread::Builder::new().name(name.to_owned()).spawn(f);
    #[cfg(loom)]
    loom::thread::Builder::new().name(name.to_owned()).spawn(f)
}
