//! Python's `concurrent.futures` futures for Rust: the layer every pool of this project
//! builds on, usable alone.
//!
//! - [`TaskFuture`]: the result of a task, Python's `Future` (cancel, done, result with a
//!   timeout, exception, done callbacks, and `.await` on any async runtime);
//! - [`Promise`]: the executor's side, the only one that completes a future; dropped
//!   without completing, it fails the future instead of leaving it pending forever;
//! - [`wait`] and [`as_completed`]: waiting on many futures, from any executors at once,
//!   woken by the completions themselves (no polling);
//! - [`Executor`]: the interface the thread pool (`pool-thread`) and the process pool
//!   (`pool-process`) share, with the lazy ordered [`Map`] they both return;
//! - [`executor`]: what executor authors build on: [`Task`](executor::Task) (a task whose
//!   closure lives in its future, so a waiting worker can run it itself), the worker-thread
//!   context, the panic boundaries.
//!
//! ```
//! use future_core::{as_completed, wait, FutureError, Promise, ReturnWhen};
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
//! Each future is one `Arc` holding a mutex around its status, outcome and the list of
//! listeners (wakers and callbacks) to tell when it is done. Every way of waiting registers
//! a [`std::task::Waker`] and is woken by the completion; see `WAITING.md` beside this
//! crate's sources for why no wake-up can be lost. The synchronization is model-checked
//! with loom: `RUSTFLAGS="--cfg loom" cargo test -p future-core --test loom --release`, or
//! `cargo xtask loom`.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod block;
mod chunk;
mod error;
mod executor_trait;
mod future;
mod listeners;
mod map;
mod promise;
mod state;
mod sync;
mod task;
mod unwind;
mod wait;
mod worker;

#[cfg(test)]
mod tests;

pub use chunk::ChunkResults;
pub use error::{FutureError, SubmitError, TaskError, TaskErrorKind, WaitTimeout, panic_message};
pub use executor_trait::{Executor, Portable};
pub use future::{Awaiting, TaskFuture};
pub use map::{ChunkFuture, Map, MapOptions};
pub use promise::Promise;
pub use unwind::{AbortIfPanic, catch_panic};
pub use wait::{AsCompleted, DoneAndNotDone, ReturnWhen, as_completed, wait};

/// For executor authors: what a pool builds on, beyond the [`Promise`] that completes a
/// future from anywhere.
///
/// - [`Task`]: a task whose closure lives in its future's own allocation (one allocation
///   per task); the queue holds the `Task`, and a worker thread that waits on the future
///   without a deadline runs the task itself if no thread has started it;
/// - [`WorkerThread`] and [`enter_worker`]: how a pool's worker thread tells this crate
///   which executor it works for and when it blocks in a wait (so the pool can start a
///   thread in its place);
/// - [`fill_slots`]: the panic-safe loop that writes a chunk's results in place;
/// - [`AbortIfPanic`] and [`catch_panic`]: the panic boundaries.
pub mod executor {
    pub use crate::chunk::fill_slots;
    pub use crate::task::Task;
    pub use crate::unwind::{AbortIfPanic, catch_panic, print_panics};
    pub use crate::worker::{ExecutorId, WorkerGuard, WorkerThread, blocking, enter_worker};
}
