//! Python's `concurrent.futures` futures for Rust: the layer every pool of this project
//! builds on, usable alone.
//!
//! What you call:
//!
//! - [`TaskFuture`]: the result of a task, Python's `Future`: `cancel`, `done`,
//!   `result` with a timeout, `exception`, done callbacks; `.await` it on any async runtime
//!   (it is a `std::future::Future`); `Eq + Hash` by identity, and [`TaskFuture::id`]
//!   keys a `HashMap` of futures;
//! - [`wait`] and [`as_completed`]: waiting on many futures, from any executors at once,
//!   woken by the completions themselves (no polling); `as_completed` knows its length (a
//!   progress bar) and can give each future's input position ([`AsCompleted::indexed`]);
//! - the errors: [`FutureError`] (why a future gave no value), [`TaskError`] and
//!   [`TaskErrorKind`] (why a task failed), [`SubmitError`] (why a pool refused a task),
//!   [`WaitTimeout`];
//! - [`Executor`]: the interface every pool shares (`submit`, `try_submit`, `map`,
//!   `map_unordered`, `shutdown`, `stats`), with [`MapOptions`], [`ShutdownOptions`],
//!   [`PoolStats`], and the lazy maps [`Map`] (ordered) and [`MapUnordered`].
//!
//! What executor authors build on is in [`executor`]: [`Promise`](executor::Promise) (the
//! side that completes a future), [`Task`](executor::Task) (a task whose closure lives in
//! its future, so a waiting worker can run it itself), chunk results, worker-thread
//! context, panic boundaries.
//!
//! ```
//! use future_core::executor::Promise;
//! use future_core::{as_completed, wait, ReturnWhen};
//! use std::time::Duration;
//!
//! // An executor makes a promise/future pair per task and completes the promise.
//! let (promises, futures): (Vec<_>, Vec<_>) = (0..3u64).map(|_| Promise::new()).unzip();
//! let worker = std::thread::spawn(move || {
//!     for (n, promise) in promises.into_iter().enumerate() {
//!         promise.run(|| {
//!             if n == 1 { panic!("task {n} failed") }
//!             n * 10
//!         });
//!     }
//! });
//!
//! let sets = wait(&futures, Some(Duration::from_secs(60)), ReturnWhen::AllCompleted);
//! assert_eq!(sets.done.len(), 3);
//! assert_eq!(futures[0].result(), Ok(0));
//! assert_eq!(futures[1].result().unwrap_err().to_string(), "task panicked: task 1 failed");
//! for future in as_completed(&futures, None) {
//!     assert!(future.unwrap().done());
//! }
//! worker.join().unwrap();
//! ```
//!
//! # Design notes
//! Each future is one `Arc` holding one atomic state word (stage, outcome, who owns which
//! cell, the count of threads reading the value), one listener slot, the value, and (for a
//! pool's task) the task's closure; a mutex guards only the rare parts (a second listener
//! and more, an executor's cancel guard). Completing a future, taking its value, one waiter
//! or one callback take no lock. Every way of waiting registers a [`std::task::Waker`] and
//! is woken by the completion; no user code runs under a lock;
//! no panic of user code gets out of this crate's boundaries. See `src/README.md` in this
//! crate's sources. The synchronization is model-checked with loom (`cargo xtask loom`),
//! the `unsafe` code's tests run under Miri (`cargo xtask miri`).
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod error;
mod executor_trait;
/// The future and its state: the handle, the state word, the promise, the task cell, the
/// listeners.
mod future;
/// The maps: ordered, unordered, and their chunks.
mod map;
mod sync;
mod unwind;
/// Waiting on futures: `wait` and `as_completed`, the queue completions feed, blocking.
mod waiting;
mod worker;

#[cfg(test)]
mod tests;

pub use error::{FutureError, SubmitError, TaskError, TaskErrorKind, WaitTimeout};
pub use executor_trait::{Executor, PoolStats, Portable, ShutdownOptions};
pub use future::{FutureId, TaskFuture};
pub use map::map_unordered::MapUnordered;
pub use map::{Map, MapOptions};
pub use waiting::wait::{AsCompleted, DoneAndNotDone, Indexed, ReturnWhen, as_completed, wait};

pub mod executor {
    //! For executor authors: what a pool builds on.
    //!
    //! - [`Promise`]: the producer's side of a future, the only one that completes it;
    //!   dropped without completing, it fails the future instead of leaving it pending;
    //! - [`Task`]: a task whose closure lives in its future's own allocation (one allocation
    //!   per task); the queue holds the `Task`, and a worker thread that waits on the future
    //!   without a deadline runs the task itself if no thread has started it;
    //! - [`ChunkResults`] and [`ChunkFuture`]: one chunk of a map's results, dense;
    //!   [`ChunkInput`], a chunk's input on its way to its task (dropped unmapped, it drops
    //!   its elements one by one); [`fill_slots`], the panic-safe loop that writes a
    //!   chunk's results in place; [`Elements`], how a process-based pool encodes a
    //!   chunk's elements (plain numbers as one block of bytes);
    //! - [`WorkerThread`], [`enter_worker`] and [`blocking`]: how a pool's worker thread tells
    //!   this crate which executor it works for and when it blocks in a wait (so the pool can
    //!   start a thread in its place); [`block_on`], the waiting loop of this crate's
    //!   futures (spin, tell the pool, park), for an executor's own waits;
    //! - [`catch_panic`], [`AbortIfPanic`], [`print_panics`], [`panic_message`]: the panic
    //!   boundaries; [`drop_each`], which drops a collection of user values (the rest of a
    //!   failed chunk, results nobody reads) one boundary per element, without risking an
    //!   abort;
    //! - [`impl_executor_by_inherent_methods!`]: the `Executor` impl of a pool whose own
    //!   methods already bear the trait's names, written once.
    pub use crate::error::panic_message;
    pub use crate::future::promise::Promise;
    pub use crate::future::task::{Ran, Task};
    #[doc(inline)]
    pub use crate::impl_executor_by_inherent_methods;
    pub use crate::map::ChunkFuture;
    pub use crate::map::chunk::{ChunkInput, ChunkResults, fill_slots};
    pub use crate::map::elements::Elements;
    pub use crate::unwind::{AbortIfPanic, catch_panic, drop_each, print_panics};
    pub use crate::waiting::block::block_on;
    pub use crate::worker::{ExecutorId, WorkerGuard, WorkerThread, blocking, enter_worker};
}
