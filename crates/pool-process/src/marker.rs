//! The worker marker: what the pool puts in a worker's environment, and how a process knows
//! that it is a worker of a pool (and not a process that a worker's task started).
//!
//! The pool starts each worker with its socket as stdin (`ipc_queue::spawn_with_stdin`) and
//! with [`MARKER_ENV`], `<parent pid>:<nonce>:<socket inode>`. A process's environment is
//! inherited by every process it starts, so a task that runs the program again as a plain
//! subprocess hands it the marker, while the socket itself is not inherited (the worker moves
//! it to a `CLOEXEC` descriptor and puts `/dev/null` on its stdin). The marker is therefore
//! bound to the one child the pool started: a process is a worker only when the marker names
//! its parent's pid, and the worker repeats the nonce in its `Hello`, which the pool checks
//! against the nonce it gave that child. A grandchild, whose parent is the worker, runs `main`
//! normally.
//!
//! **Dying with the pool.** A worker asks for `SIGKILL` when its parent dies
//! (`PR_SET_PDEATHSIG`), itself, the first time [`bound_nonce`] finds the marker bound to this
//! process (the crate's constructor, before `main`), then checks its parent's pid again. The
//! pool's pid changes as soon as the pool dies (the worker is re-parented), so a pool that died
//! before the request took effect is seen, and the worker exits. One that died even before the
//! first check leaves a process whose parent the marker does not name, as a grandchild's: it is
//! told apart by its stdin, which is still the very socket the marker names (its inode), and
//! exits too instead of running `main`.

use std::hash::BuildHasher;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, Ordering};

/// The environment variable that marks a worker: `<parent pid>:<nonce in hex>:<inode of its
/// socket in hex>`.
pub(crate) const MARKER_ENV: &str = "POOL_PROCESS_WORKER";

/// The exit code of a worker whose pool died before it could start serving.
pub(crate) const ORPHANED: i32 = 5;

/// Set once this process asked for `SIGKILL` on its parent's death.
static DEATH_SIGNAL_SET: AtomicBool = AtomicBool::new(false);

/// A fresh nonce for the worker the pool is about to start (not a secret: it only tells one
/// start from another).
pub(crate) fn new_nonce(key: u64) -> u64 {
    std::collections::hash_map::RandomState::new().hash_one((
        key,
        std::process::id(),
        std::time::SystemTime::now(),
    ))
}

/// The value of [`MARKER_ENV`] for a child of this process with `nonce`, whose stdin will be
/// `socket`.
pub(crate) fn value(nonce: u64, socket: BorrowedFd<'_>) -> std::io::Result<String> {
    let inode = rustix::fs::fstat(socket)?.st_ino;
    Ok(format!("{}:{nonce:x}:{inode:x}", std::process::id()))
}

/// The parent pid, nonce and socket inode in a marker's `value`.
fn parse(value: &str) -> Option<(i32, u64, u64)> {
    let mut parts = value.split(':');
    let parent = parts.next()?.parse().ok()?;
    let nonce = u64::from_str_radix(parts.next()?, 16).ok()?;
    let inode = u64::from_str_radix(parts.next()?, 16).ok()?;
    Some((parent, nonce, inode))
}

/// This process's parent's pid.
fn parent_pid() -> Option<i32> {
    rustix::process::getppid().map(|pid| pid.as_raw_nonzero().get())
}

/// The nonce of this process's marker, when the marker is present and names this process's
/// parent: only then was this process started as a worker by a pool (its parent).
///
/// The first time it finds the marker bound, it asks for `SIGKILL` when the parent dies and
/// checks the parent again; a worker whose pool died before that (or before this call: see
/// the module's docs) exits here with [`ORPHANED`], and never runs `main`.
pub(crate) fn bound_nonce() -> Option<u64> {
    let value = std::env::var(MARKER_ENV).ok()?;
    let (parent, nonce, inode) = parse(&value)?;
    if parent_pid() != Some(parent) {
        if stdin_is_socket(inode) {
            orphaned(); // the pool died before this process checked
        }
        return None; // inherited from a worker by a process it started: not ours
    }
    if !DEATH_SIGNAL_SET.load(Ordering::Relaxed) {
        die_with_parent();
        DEATH_SIGNAL_SET.store(true, Ordering::Relaxed);
        if parent_pid() != Some(parent) {
            orphaned(); // the pool died before the request took effect
        }
    }
    Some(nonce)
}

/// Asks the kernel to send this process `SIGKILL` when the thread that started it ends: the
/// pool's threads that start workers live until its last worker was reaped (see
/// `src/parent/README.md`), so that is when the pool's process ends. A process that cannot ask
/// (not Linux, or the request fails) exits: a worker that would outlive its pool is refused.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn die_with_parent() {
    let signal = Some(rustix::process::Signal::KILL);
    if rustix::process::set_parent_process_death_signal(signal).is_err() {
        orphaned();
    }
}

/// Elsewhere there is no such request: a worker whose pool is killed lives on until it next
/// reads its socket (which then reports the pool's end), as any child does.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn die_with_parent() {}

/// Whether fd 0 is the socket with `inode`: the one the pool gave this process.
fn stdin_is_socket(inode: u64) -> bool {
    // Not `std::io::stdin()`, which would set up std's buffered stdin (an allocation).
    let Ok(stat) = rustix::fs::fstat(rustix::stdio::stdin()) else {
        return false;
    };
    let kind = rustix::fs::FileType::from_raw_mode(stat.st_mode);
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)] // the type varies by OS
    let same = stat.st_ino as u64 == inode;
    kind == rustix::fs::FileType::Socket && same
}

/// Ends a worker whose pool is gone, before it serves or runs `main`.
fn orphaned() -> ! {
    std::process::exit(ORPHANED);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn values_name_this_process_as_the_parent() {
        let (_a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let value = value(0xabc, b.as_fd()).unwrap();
        let (parent, nonce, inode) = parse(&value).unwrap();
        assert_eq!(parent as u32, std::process::id());
        assert_eq!(nonce, 0xabc);
        assert_eq!(inode, rustix::fs::fstat(&b).unwrap().st_ino as u64);
        assert_ne!(new_nonce(1), new_nonce(1), "fresh each time");
    }
}
