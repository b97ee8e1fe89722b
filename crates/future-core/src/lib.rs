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
//! - [`WaitHook`]: how a pool's worker thread keeps working while it waits on a future,
//!   so nested submit-and-wait cannot deadlock.
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
mod executor;
mod future;
mod map;
mod promise;
mod state;
mod sync;
mod wait;

#[cfg(test)]
mod tests;

pub use block::{WaitHook, WaitHookGuard, install_wait_hook};
pub use chunk::ChunkResults;
pub use error::{FutureError, SubmitError, TaskError, TaskErrorKind, WaitTimeout, panic_message};
pub use executor::{Executor, Portable};
pub use future::{Awaiting, TaskFuture};
pub use map::{ChunkFuture, Map, MapOptions};
pub use promise::{Promise, catch_panic};
pub use wait::{AsCompleted, DoneAndNotDone, ReturnWhen, as_completed, wait};
