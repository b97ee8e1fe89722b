//! The worker marker: what the pool puts in a worker's environment, and how a process knows
//! that it is a worker of a pool (and not a process that a worker's task started).
//!
//! The pool starts each worker with two variables: [`FD_ENV`], the number of the descriptor
//! of its socket (set by `ipc_queue`'s hand-off), and [`MARKER_ENV`], `<parent pid>:<nonce>`.
//! A process's environment is inherited by every process it starts, so a task that runs the
//! program again as a plain subprocess hands it both variables, while the socket itself is not
//! inherited (it is `CLOEXEC` in the worker). The marker is therefore bound to the one child
//! the pool started: a process is a worker only when the marker names its parent's pid, and
//! the worker repeats the nonce in its `Hello`, which the pool checks against the nonce it gave
//! that child. A grandchild, whose parent is the worker, runs `main` normally.

use std::hash::BuildHasher;

/// The environment variable that carries a worker's socket descriptor number.
pub(crate) const FD_ENV: &str = "POOL_PROCESS_WORKER_FD";

/// The environment variable that marks a worker: `<parent pid>:<nonce in hex>`.
pub(crate) const MARKER_ENV: &str = "POOL_PROCESS_WORKER";

/// A fresh nonce for the worker the pool is about to start (not a secret: it only tells one
/// start from another).
pub(crate) fn new_nonce(key: u64) -> u64 {
    std::collections::hash_map::RandomState::new().hash_one((
        key,
        std::process::id(),
        std::time::SystemTime::now(),
    ))
}

/// The value of [`MARKER_ENV`] for a child of this process with `nonce`.
pub(crate) fn value(nonce: u64) -> String {
    format!("{}:{nonce:x}", std::process::id())
}

/// The nonce of this process's marker, when the marker is present and names this process's
/// parent: only then was this process started as a worker by a pool (its parent).
pub(crate) fn bound_nonce() -> Option<u64> {
    let value = std::env::var(MARKER_ENV).ok()?;
    let (parent, nonce) = value.split_once(':')?;
    let parent: i32 = parent.parse().ok()?;
    let actual = rustix::process::getppid().map(|pid| pid.as_raw_nonzero().get());
    if actual != Some(parent) {
        return None; // inherited from a worker by a process it started: not ours
    }
    u64::from_str_radix(nonce, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_name_this_process_as_the_parent() {
        let value = value(0xabc);
        assert_eq!(value, format!("{}:abc", std::process::id()));
        assert_ne!(new_nonce(1), new_nonce(1), "fresh each time");
    }
}
