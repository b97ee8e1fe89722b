//! A work-stealing thread pool with Python's `concurrent.futures.ThreadPoolExecutor`
//! interface, minus its flaws: the queue can be bounded, idle threads retire, and a task
//! that waits on tasks of its own pool does not deadlock it (see [Waiting inside a
//! task](#waiting-inside-a-task)).
//!
//! - [`ThreadPool`]: `submit` any `FnOnce() -> R + Send` closure and get a
//!   [`future_core::TaskFuture`]; `map` with ordered, lazy results; `map_collect` and
//!   `map_slice`, the eager maps into a `Vec` where every thread claims its own input;
//!   [`scope`] for tasks that borrow from the caller's stack, and [`join`] for two
//!   closures at once (rayon's `join`: no allocation, no future); `shutdown(wait,
//!   cancel_futures)`, also on drop.
//! - [`ThreadPoolBuilder`]: `max_workers` (Python's `min(32, cpus + 4)` by default), a thread name
//!   prefix, an initializer, a queue bound, an idle keep-alive and a stack size.
//! - The [`future_core::Executor`] trait, shared with the process pool: code written
//!   against it with plain functions switches pools by changing the constructor.
//!
//! [`scope`]: ThreadPool::scope
//! [`join`]: ThreadPool::join
//!
//! ```
//! use future_core::{wait, MapOptions, ReturnWhen};
//! use pool_thread::ThreadPool;
//!
//! let pool = ThreadPool::builder().max_workers(4).thread_name_prefix("demo").build().unwrap();
//!
//! // Submit closures, get futures.
//! let futures: Vec<_> = (0..8u64).map(|i| pool.spawn(move || i * i).unwrap()).collect();
//! let done = wait(&futures, None, ReturnWhen::AllCompleted).done;
//! assert_eq!(done.len(), 8);
//! assert_eq!(futures[3].result(), Ok(9));
//!
//! // Ordered, lazy map; a panic is that element's error only.
//! let halves: Vec<_> = pool
//!     .map(|x: u32| 100 / x, [4, 0, 5], MapOptions::new())
//!     .unwrap()
//!     .map(|r| r.ok())
//!     .collect();
//! assert_eq!(halves, [Some(25), None, Some(20)]);
//!
//! // Nested waits do not deadlock: the waiting thread runs the inner tasks.
//! fn fib(pool: &'static ThreadPool, n: u64) -> u64 {
//!     if n < 2 { return n }
//!     let a = pool.spawn(move || fib(pool, n - 1)).unwrap();
//!     let b = pool.spawn(move || fib(pool, n - 2)).unwrap();
//!     a.result().unwrap() + b.result().unwrap()
//! }
//! let single: &'static ThreadPool =
//!     Box::leak(Box::new(ThreadPool::builder().max_workers(1).build().unwrap()));
//! assert_eq!(single.spawn(move || fib(single, 15)).unwrap().result(), Ok(610));
//!
//! pool.shutdown();
//! ```
//!
//! # Waiting inside a task
//! What is guaranteed when a task waits (with `result`, `take`, `exception`, `wait`,
//! `as_completed`, a nested `map`, the end of a [`scope`]):
//!
//! - A wait **without a timeout** on a task of the same pool that no thread has started
//!   runs that task itself, on the waiting thread (the stack grows on the heap when it
//!   runs low). So a task that waits only on tasks it (or the tasks it waits on)
//!   submitted never deadlocks, whatever `max_workers`, even 1: Fibonacci-style nested
//!   submit-and-wait, nested `map`, chains of any depth.
//! - A wait **never runs any other task**: not a sibling, not unrelated queued work. A
//!   wait **with a timeout** never runs anything, so it returns at its deadline.
//! - Every other wait first keeps looking for a short while (up to 300 µs, yielding its
//!   core: a stolen task is often about done, and starting a thread costs more), then
//!   blocks its thread, and a blocked thread does not count toward
//!   `max_workers`: when queued tasks would otherwise have no thread, the pool starts one
//!   in its place, up to [`max_extra_threads`](ThreadPoolBuilder::max_extra_threads) (default 64)
//!   beyond `max_workers`. So a task may wait on a promise that a later task completes,
//!   or on work submitted from outside, even on a one-thread pool. Past that limit, a pool
//!   whose every thread is blocked waiting on queued tasks deadlocks, as any bounded pool
//!   does (Python's does with its first blocked thread).
//! - A scope's end waits for the scope's own tasks: in a worker, it first runs those of
//!   them sitting in its own deque (wherever they sit: other tasks left above them stay
//!   queued), then blocks as above. A [`join`] takes its second closure back off its own
//!   deque the same way and runs it when no thread took it; if one did, it waits for it
//!   as above.
//!
//! # Inside
//! Submits from outside go to a crossbeam-deque `Injector`; a task's own submits go to
//! its worker's local deque, which the other workers steal from. Idle workers spin a
//! little, then sleep; `src/sleep/README.md` explains the sleep/wake protocol
//! (one atomic word: sleepers, in-flight submits, shutdown, and the idle-thread tokens
//! that decide when a submit starts a thread) and why it cannot lose a wake-up. It is
//! model-checked with loom: `RUSTFLAGS="--cfg loom" cargo test -p pool-thread --test loom
//! --release`.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]
#![deny(unsafe_op_in_unsafe_fn)]

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
    BuildError, DEFAULT_KEEP_ALIVE, DEFAULT_MAX_EXTRA_THREADS, ThreadPoolBuilder,
    default_max_workers,
};
pub use pool::ThreadPool;
pub use scope::Scope;

/// The former name of [`ThreadPoolBuilder`] (one name per pool's builder, as the process
/// pool's `ProcessPoolBuilder`).
#[doc(hidden)]
pub type Builder = ThreadPoolBuilder;
