//! Python's `ProcessPoolExecutor` for Rust: plain functions run in worker processes of the
//! same binary, with the same interface as the thread pool ([`future_core::Executor`],
//! [`future_core::TaskFuture`]), and a pool that survives its workers dying.
//!
//! - [`ProcessPool`]: `submit`, `submit_with_timeout`, `try_submit`, `map`,
//!   `map_unordered`, `shutdown` and `shutdown_with` (Python's defaults, and named
//!   [`ShutdownOptions`](future_core::ShutdownOptions)), `terminate_workers`, `kill_workers`,
//!   its statistics (`stats`: [`PoolStats`](future_core::PoolStats)) and what its workers do
//!   (`workers`, `worker_pid`: [`WorkerInfo`]); built by
//!   [`ProcessPoolBuilder`], which checks its settings in `build` (`max_workers`, `initializer`,
//!   `max_tasks_per_child`, `queue_bound`, per-task `timeout`, `handshake_timeout`,
//!   `drop_grace`, `print_task_panics`, [`WorkerDeath`] policy);
//! - no line in `main`: a started copy of the program becomes a worker before its `main`
//!   runs, from a constructor of this crate (Linux and the other ELF platforms, macOS), so
//!   argument parsing, an async runtime's start-up or anything else `main` does first never
//!   runs in a worker; [`init`] is the explicit form, for workers that run `main`
//!   ([`serve_before_main(false)`](ProcessPoolBuilder::serve_before_main), or a platform
//!   without constructors), and harmless elsewhere; [`test_worker!`] is the same constructor
//!   for test binaries, now optional.
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
//! # How a worker runs your function
//! A worker is this executable started again (through `/proc/self/exe`), with its end of a
//! socketpair in an environment variable; the crate's constructor (or [`init`]) sees the
//! variable and serves tasks before the program's `main` runs. A
//! `fn(A) -> R` crosses as its offset from a fixed anchor function, which is the same in
//! every process of the binary even though ASLR moves the base address, plus the offset of
//! a trampoline monomorphized for `A` and `R` that decodes the argument, calls the function
//! and encodes the result (the `task-wire` crate, shared with the MPI pool). A build
//! fingerprint checked at each worker's handshake (the executable's GNU build-id, a
//! code-layout probe, the crate and protocol versions)
//! guarantees that the offsets name the same code in the worker: a worker of another build
//! breaks the pool with a clear error instead of running the wrong code. Offsets only name
//! code of the executable itself, so `submit`, `map` and the builder check, before anything
//! is sent, that the function lies in the main program's executable segments: a function
//! from a shared library (a Rust dylib, `-C prefer-dynamic`, a plugin) is refused with an
//! error that says where it lies.
//!
//! # When a worker dies
//! The pool reads each worker's socket; EOF means the worker is gone, and `waitpid` says
//! how. The task it was running fails with a [`WorkerDied`](future_core::TaskErrorKind)
//! error naming the pid and the exit code or signal; the tasks sent to it and not started
//! go back to the head of the queue; a new worker starts. `src/parent/README.md`
//! describes the protocol.
//!
//! # When a task panics
//! The panic's message travels in the future's error
//! ([`Panicked`](future_core::TaskErrorKind), with the worker's pid), and nothing is printed
//! on the terminal (Python prints nothing for a task's exception either), also for the
//! panics of a value's `Serialize` or `Deserialize` and of the initializer, whatever
//! `RUST_BACKTRACE` says; the worker lives on.
//! [`print_task_panics(true)`](ProcessPoolBuilder::print_task_panics) makes the workers
//! print them as well.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]
#![deny(unsafe_op_in_unsafe_fn)]
// The examples spell out `fn main` on purpose: they show what `main` holds (or does not).
#![allow(clippy::needless_doctest_main)]

#[cfg(not(unix))]
compile_error!("pool-process supports Unix (Linux) only: it starts workers over Unix sockets");

mod cancels;
mod marker;
/// The parent's side: the pool, its settings, dispatch, the manager and its threads.
mod parent;
mod protocol;
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
