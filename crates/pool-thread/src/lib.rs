//! A work-stealing thread pool with Python's `concurrent.futures.ThreadPoolExecutor`
//! interface, minus its flaws: the queue can be bounded, idle threads retire, and a task that
//! waits on tasks of its own pool does not deadlock it.
//!
//! - [`ThreadPool`]: `submit` a function or `spawn` any closure and get a
//!   [`future_core::TaskFuture`]; `map` (lazy, ordered), `map_collect` and `map_slice` (eager,
//!   into a `Vec`); [`scope`] for tasks that borrow from the caller's stack, [`join`] for two
//!   closures at once; `shutdown`, also on drop.
//! - [`ThreadPoolBuilder`]: `max_workers` (Python's `min(32, cpus + 4)` by default), a queue
//!   bound, an idle keep-alive, a thread name prefix, an initializer, a stack size.
//! - The [`future_core::Executor`] trait, shared with the process pool: code written against
//!   it switches pools by changing the constructor.
//!
//! [`scope`]: ThreadPool::scope
//! [`join`]: ThreadPool::join
//!
//! ```
//! use future_core::MapOptions;
//! use pool_thread::ThreadPool;
//!
//! let pool: &'static ThreadPool =
//!     Box::leak(Box::new(ThreadPool::builder().max_workers(1).build().unwrap()));
//!
//! // Ordered, lazy map; a panic is that element's error only.
//! let quotients: Vec<_> = pool
//!     .map(|x: u32| 100 / x, [4, 0, 5], MapOptions::new())
//!     .unwrap()
//!     .map(|r| r.ok())
//!     .collect();
//! assert_eq!(quotients, [Some(25), None, Some(20)]);
//!
//! // A task that waits on tasks it submitted: no deadlock, even on one thread.
//! fn fib(pool: &'static ThreadPool, n: u64) -> u64 {
//!     if n < 2 { return n }
//!     let a = pool.spawn(move || fib(pool, n - 1)).unwrap();
//!     let b = pool.spawn(move || fib(pool, n - 2)).unwrap();
//!     a.result().unwrap() + b.result().unwrap()
//! }
//! assert_eq!(pool.spawn(move || fib(pool, 15)).unwrap().result(), Ok(610));
//! ```
//!
//! # Waiting inside a task
//! When a task waits (`result`, `take`, `exception`, `wait`, `as_completed`, a nested `map`,
//! the end of a [`scope`], a [`join`]):
//!
//! - an untimed wait on a task of this pool that no thread has started runs that task on the
//!   waiting thread (the stack grows on the heap when it runs low), so a task that waits only
//!   on tasks it (or the tasks it waits on) submitted never deadlocks, whatever `max_workers`;
//! - a wait never runs any other task, and a wait with a timeout runs nothing, so it returns
//!   at its deadline;
//! - any other wait spins briefly, then blocks, and a blocked thread does not count toward
//!   `max_workers`: the pool starts a thread in its place when queued tasks need one, up to
//!   [`max_extra_threads`](ThreadPoolBuilder::max_extra_threads) beyond it. So a task may
//!   wait on a promise that a later task completes, even on a one-thread pool. Past that
//!   limit, a pool whose every thread is blocked on queued tasks deadlocks, as any bounded
//!   pool does.
//!
//! The sleep/wake protocol behind this, and why it cannot lose a wake-up, is argued in the
//! design note `src/sleep/README.md` and model-checked with loom (`cargo xtask loom`).
#![cfg_attr(not(test), warn(clippy::unwrap_used))]
#![deny(unsafe_op_in_unsafe_fn)]

// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod sync;

/// The queue bound, public only under `cfg(loom)` for the models.
#[cfg(loom)]
#[doc(hidden)]
pub mod bound;
#[cfg(not(loom))]
mod bound;

/// The sleep/wake protocol, public only under `cfg(loom)` for the models.
#[cfg(loom)]
#[doc(hidden)]
pub mod sleep;
#[cfg(not(loom))]
mod sleep;

mod builder;
mod collect;
mod job;
mod join;
mod latch;
mod pool;
mod queue;
mod registry;
mod scope;
mod stats;
mod worker;

pub use builder::{
    DEFAULT_KEEP_ALIVE, DEFAULT_MAX_EXTRA_THREADS, ThreadPoolBuildError, ThreadPoolBuilder,
    default_max_workers,
};
pub use pool::ThreadPool;
pub use scope::Scope;

/// The former name of [`ThreadPoolBuilder`] (one name per pool's builder, as the process
/// pool's `ProcessPoolBuilder`).
#[doc(hidden)]
pub type Builder = ThreadPoolBuilder;
