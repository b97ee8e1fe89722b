//! Python's `ProcessPoolExecutor` for Rust: plain functions run in worker processes of the
//! same binary, behind the interface the thread pool has ([`future_core::Executor`],
//! [`future_core::TaskFuture`]), in a pool that survives its workers dying.
//! [`ProcessPool`] is built by [`ProcessPoolBuilder`]; [`WorkerInfo`] says what each worker
//! does.
//!
//! ```
//! use future_core::{Executor, MapOptions};
//! use pool_process::ProcessPool;
//!
//! fn is_prime(n: u64) -> bool {
//!     n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
//! }
//!
//! // Written against the shared interface: the thread pool runs it unchanged.
//! fn count_primes(pool: &impl Executor, below: u64) -> usize {
//!     pool.map(is_prime, 0..below, MapOptions::new().chunksize(1_000))
//!         .unwrap()
//!         .filter(|r| *r.as_ref().unwrap())
//!         .count()
//! }
//!
//! fn main() {
//!     // No line for the pool's workers: they serve before `main` runs.
//!     let pool = ProcessPool::builder().max_workers(2).build().unwrap();
//!     assert_eq!(count_primes(&pool, 10_000), 1229);
//! }
//! ```
//!
//! A worker is this executable started again, serving tasks from a constructor of this
//! crate before the program's `main` runs ([`init`] is the explicit form, for workers that
//! run `main`). A function crosses as its offset in the executable (`task-wire`), checked by
//! a build fingerprint at each worker's handshake; a function from a shared library is
//! refused before anything is sent. A worker that dies fails only the task it ran (with
//! [`WorkerDied`](future_core::TaskErrorKind)) and is replaced; a task's panic travels in
//! its future's error and prints nothing unless
//! [`print_task_panics`](ProcessPoolBuilder::print_task_panics) asks. The design note is
//! `src/parent/README.md`.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]
#![deny(unsafe_op_in_unsafe_fn)]
// The examples spell out `fn main` on purpose: they show what `main` holds (or does not).
#![allow(clippy::needless_doctest_main)]

#[cfg(not(unix))]
compile_error!("pool-process supports Unix (Linux) only: it starts workers over Unix sockets");

mod cancels;
mod marker;
mod messages;
/// The parent's side: the pool, its settings, dispatch, the manager and its threads.
mod parent;
mod reply_copies;
mod shared_memory;
mod stderr;
mod sync;
/// The worker's side: serving tasks in a started copy of the program.
mod worker;

pub use parent::builder::{ProcessPoolBuildError, ProcessPoolBuilder, WorkerDeath};
pub use parent::info::{WorkerInfo, WorkerState};
/// The manager threads, public only under `cfg(loom)` for the models.
#[cfg(loom)]
#[doc(hidden)]
pub use parent::manager_threads;
pub use parent::pool::ProcessPool;
pub use worker::{WORKER_TEST_NAME, init, serve_before_main};
