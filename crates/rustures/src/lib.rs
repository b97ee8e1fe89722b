//! Python's `concurrent.futures`, rebuilt in Rust: one dependency for the whole user API.
//!
//! - [`ThreadPool`] (I/O-bound work, many small tasks) and [`ProcessPool`] (CPU-bound work
//!   on every core, Unix) with the same calls: `submit(f, arg)`, `try_submit`, `map`,
//!   `map_unordered`, `shutdown`, `stats`, also as the [`Executor`] trait;
//! - [`Pool`]: either of them, chosen at run time, with the same calls again;
//! - with the `mpi` feature, `MpiPool` (pool-mpi: the same calls on the ranks of an MPI
//!   job, across machines) and `Pool::Mpi`;
//! - [`TaskFuture`], [`wait`], [`as_completed`], [`ReturnWhen`], [`MapOptions`],
//!   [`ShutdownOptions`], [`PoolStats`] and the errors;
//! - no line in `main` for a process pool: a started copy of the program becomes a worker
//!   before `main` runs (a constructor of `pool-process`), whatever `main` does first (parse
//!   arguments, build an async runtime); [`init`] is the explicit form, harmless to call:
//!   process workers serve there when they run `main`
//!   ([`ProcessPoolBuilder::serve_before_main`]`(false)`, a platform without constructors),
//!   and with the `mpi` feature MPI worker ranks do.
//!
//! The crates it gathers stay usable alone: `future-core` (futures, waiting, the
//! interface), `pool-thread`, `pool-process`.
//!
//! A program written for the thread pool runs on the process pool by changing the
//! constructor alone:
//!
//! ```
//! use rustures::{as_completed, MapOptions, ProcessPool, ThreadPool};
//!
//! fn is_prime(n: u64) -> bool {
//!     n > 1 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
//! }
//!
//! fn main() {
//!     // No line for the process pool: its workers serve before `main` runs.
//!     let pool = ThreadPool::new(); // or: ProcessPool::new().unwrap()
//!     let futures: Vec<_> = [97, 100, 7919].iter().map(|&n| pool.submit(is_prime, n).unwrap()).collect();
//!     let primes = as_completed(&futures, None).filter(|f| f.as_ref().unwrap().result() == Ok(true)).count();
//!     assert_eq!(primes, 2);
//!     let count = pool
//!         .map(is_prime, 0..10_000u64, MapOptions::new().chunksize(500))
//!         .unwrap()
//!         .filter(|r| *r.as_ref().unwrap())
//!         .count();
//!     assert_eq!(count, 1229);
//!     pool.shutdown();
//! }
//! ```

//! A task's result need not be `Clone`: [`TaskFuture::result_ref`] reads it in place (any
//! number of times, from any thread), [`TaskFuture::take`] moves it out, where `result()`
//! would clone it. Here the value is a `Result` whose error, `std::io::Error`, is not
//! `Clone`:
//!
//! ```
//! use rustures::{as_completed, ThreadPool};
//!
//! fn fetch(path: String) -> Result<Vec<u8>, std::io::Error> {
//!     std::fs::read(path) // a blocking HTTP call, say
//! }
//!
//! let pool = ThreadPool::new();
//! let pages: Vec<_> = ["/no/such/page", "/no/such/other"]
//!     .iter()
//!     .map(|p| pool.submit(fetch, p.to_string()).unwrap())
//!     .collect();
//! for page in as_completed(&pages, None) {
//!     match page.unwrap().result_ref().unwrap() {
//!         Ok(body) => println!("{} bytes", body.len()),
//!         Err(err) => assert_eq!(err.kind(), std::io::ErrorKind::NotFound),
//!     }
//! }
//! let future = pool.submit(fetch, "/no/such/page".into()).unwrap();
//! let moved: Result<Vec<u8>, std::io::Error> = future.take().unwrap();
//! assert!(moved.is_err());
//! ```

mod pool;

pub use future_core::{
    AsCompleted, DoneAndNotDone, Executor, FutureError, FutureId, Indexed, Map, MapOptions,
    MapUnordered, PoolStats, Portable, ReturnWhen, ShutdownOptions, SubmitError, TaskError,
    TaskErrorKind, TaskFuture, WaitTimeout, as_completed, wait,
};
pub use pool::{Pool, PoolBuildError};
// `MpiPool`, `MpiPoolBuilder`: present when pool-mpi's `mpi` feature is on (this crate's
// `mpi` feature turns it on), an empty glob otherwise.
#[allow(unused_imports, unreachable_pub)]
pub use pool_mpi::for_rustures::root::*;
#[cfg(not(feature = "mpi"))]
pub use pool_process::init;
pub use pool_process::{
    ProcessPool, ProcessPoolBuilder, WorkerDeath, WorkerInfo, WorkerState, test_worker,
};

/// The first line of `main` with the `mpi` feature: an MPI worker rank serves here
/// ([`pool_mpi::init`]), and so does a process pool's worker that runs `main`
/// ([`pool_process::init`]: process workers normally serve before `main`); neither returns
/// then. On rank 0 (or without `mpirun`) it returns, and the MPI session lasts until the
/// process exits.
///
/// ```no_run
/// rustures::init();
/// let pool = rustures::Pool::mpi_world().unwrap(); // under mpirun -n 3
/// assert_eq!(pool.submit(|x: u8| x + 1, 1).unwrap().result(), Ok(2));
/// ```
#[cfg(feature = "mpi")]
pub fn init() {
    pool_process::init();
    pool_mpi::init().keep_until_exit();
}
pub use pool_thread::{Scope, ThreadPool};

/// For executor authors: what a pool builds on (future-core's `executor` module:
/// `Promise`, the producer's side of a future; `Task`; the panic boundaries; ...). The
/// examples of [`TaskFuture`]'s methods complete their futures with a `Promise`.
pub use future_core::executor;

/// The settings builders and their errors, named by pool.
pub mod builders {
    // `MpiPoolBuildError`, `MpiPoolBuilder`: with pool-mpi's `mpi` feature.
    #[allow(unused_imports, unreachable_pub)]
    pub use pool_mpi::for_rustures::builders::*;
    pub use pool_process::{ProcessPoolBuildError, ProcessPoolBuilder};
    pub use pool_thread::{
        DEFAULT_KEEP_ALIVE, DEFAULT_MAX_EXTRA_THREADS, ThreadPoolBuildError, ThreadPoolBuilder,
        default_max_workers,
    };
}
