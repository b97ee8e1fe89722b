//! [`Executor`]: the one interface of every pool, with its settings ([`ShutdownOptions`])
//! and its statistics ([`PoolStats`]).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::SubmitError;
use crate::future::TaskFuture;
use crate::map::map_unordered::MapUnordered;
use crate::map::{Map, MapOptions};

/// A value that can cross to another thread or process: `Serialize + DeserializeOwned +
/// Send + 'static`, the Rust counterpart of Python's "picklable". Implemented for every
/// such type; several arguments travel as a tuple (`submit(f, (a, b))`, Python's
/// `submit(f, a, b)`).
///
/// ```
/// fn check<T: rustures::Portable>() {}
/// check::<(u64, String, Vec<f32>)>();
/// ```
pub trait Portable: Serialize + DeserializeOwned + Send + 'static {}

impl<T: Serialize + DeserializeOwned + Send + 'static> Portable for T {}

/// How [`Executor::shutdown_with`] shuts a pool down, named as Python names the arguments
/// of `shutdown(wait=True, cancel_futures=False)`; `Default` is Python's default.
///
/// ```
/// use rustures::ShutdownOptions;
/// let options = ShutdownOptions { wait: false, ..Default::default() };
/// assert_eq!(options, ShutdownOptions::new().wait(false));
/// assert!(!options.cancel_futures);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShutdownOptions {
    /// Return only once every running and queued task finished and the workers exited
    /// (default `true`). With `false` the call returns at once, and so does dropping the
    /// pool afterwards: the pool's resources go when its running tasks end.
    pub wait: bool,
    /// Cancel every task that has not started (default `false`).
    pub cancel_futures: bool,
}

impl Default for ShutdownOptions {
    fn default() -> Self {
        ShutdownOptions {
            wait: true,
            cancel_futures: false,
        }
    }
}

impl ShutdownOptions {
    /// Python's defaults: wait, do not cancel.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`wait`](Self::wait).
    #[must_use = "this returns new options; the ones it was called on are unchanged"]
    pub fn wait(mut self, wait: bool) -> Self {
        self.wait = wait;
        self
    }

    /// Sets [`cancel_futures`](Self::cancel_futures).
    #[must_use = "this returns new options; the ones it was called on are unchanged"]
    pub fn cancel_futures(mut self, cancel_futures: bool) -> Self {
        self.cancel_futures = cancel_futures;
        self
    }
}

/// What a pool has done and is doing, the same for every pool (from
/// [`Executor::stats`]): counters kept without a lock on any task's path, so they are
/// always on. Read at one moment, the fields may be a task apart from each other.
///
/// ```
/// let stats = rustures::PoolStats::default();
/// assert_eq!(stats.finished(), 0);
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Tasks submitted and not started.
    pub queued: usize,
    /// Tasks running now.
    pub running: usize,
    /// Tasks that finished with a value.
    pub completed: u64,
    /// Tasks that finished with an error: a panic, a dead worker, a timeout, ...
    pub failed: u64,
    /// Tasks cancelled before they started (seen by the pool).
    pub cancelled: u64,
    /// Workers alive now: threads, or processes.
    pub workers: usize,
    /// Workers started since the pool was built.
    pub workers_started: u64,
    /// Of those, the ones started to replace another: a dead or retired worker process,
    /// or a thread blocked in a wait.
    pub workers_replaced: u64,
}

impl PoolStats {
    /// Tasks that finished, with a value or an error.
    pub fn finished(&self) -> u64 {
        self.completed + self.failed
    }
}

/// The interface every pool shares, so a program switches between them by changing the
/// constructor alone: the project's main promise. Each pool also has the same methods
/// under the same names inherently, so code that does not name this trait switches the
/// same way; write `&impl Executor` to take any pool.
///
/// Tasks are plain functions `fn(A) -> R` with a [`Portable`] argument and result: the Rust
/// counterpart of Python's module-level functions with picklable arguments. A plain
/// function runs in another process of the same binary (a function pointer names the same
/// code there; a closure's captured state would not cross), and non-capturing closures
/// coerce to `fn` pointers. Several arguments go as a tuple: `submit(f, (a, b))` for
/// Python's `submit(f, a, b)` (or `functools.partial`).
///
/// Every pool returns the same [`TaskFuture`], so [`wait`](crate::wait) and
/// [`as_completed`](crate::as_completed) take futures from several pools in one call.
///
/// A complete (toy) executor, running each task on the calling thread:
///
/// ```
/// use rustures::executor::{ChunkResults, Promise};
/// use rustures::{Executor, Map, MapOptions, MapUnordered, PoolStats, Portable};
/// use rustures::{ShutdownOptions, SubmitError, TaskFuture};
/// use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
///
/// #[derive(Debug, Default)]
/// struct Inline { shut: AtomicBool, done: AtomicU64 }
///
/// impl Inline {
///     fn run_chunk<A, R>(&self, f: fn(A) -> R, chunk: Vec<A>) -> Result<TaskFuture<ChunkResults<R>>, SubmitError> {
///         if self.shut.load(Ordering::Relaxed) { return Err(SubmitError::Shutdown) }
///         let (promise, future) = Promise::new();
///         promise.set_result(ChunkResults::run(chunk, f));
///         Ok(future)
///     }
/// }
///
/// impl Executor for Inline {
///     fn submit<A: Portable, R: Portable>(&self, f: fn(A) -> R, arg: A) -> Result<TaskFuture<R>, SubmitError> {
///         if self.shut.load(Ordering::Relaxed) { return Err(SubmitError::Shutdown) }
///         let (promise, future) = Promise::new();
///         promise.run(|| f(arg));
///         self.done.fetch_add(1, Ordering::Relaxed);
///         Ok(future)
///     }
///     fn try_submit<A: Portable, R: Portable>(&self, f: fn(A) -> R, arg: A) -> Result<TaskFuture<R>, SubmitError> {
///         self.submit(f, arg)
///     }
///     fn map<'a, A, R, I>(&'a self, f: fn(A) -> R, items: I, options: MapOptions)
///         -> Result<Map<'a, R>, SubmitError>
///     where A: Portable, R: Portable, I: IntoIterator<Item = A>, I::IntoIter: Send + 'a
///     {
///         Map::new(items, options, 1, move |chunk: Vec<A>| self.run_chunk(f, chunk))
///     }
///     fn map_unordered<'a, A, R, I>(&'a self, f: fn(A) -> R, items: I, options: MapOptions)
///         -> Result<MapUnordered<'a, R>, SubmitError>
///     where A: Portable, R: Portable, I: IntoIterator<Item = A>, I::IntoIter: Send + 'a
///     {
///         MapUnordered::new(items, options, 1, move |chunk: Vec<A>| self.run_chunk(f, chunk))
///     }
///     fn shutdown_with(&self, _options: ShutdownOptions) { self.shut.store(true, Ordering::Relaxed) }
///     fn stats(&self) -> PoolStats {
///         let mut stats = PoolStats::default();
///         stats.completed = self.done.load(Ordering::Relaxed);
///         stats
///     }
/// }
///
/// fn double(x: i32) -> i32 { x * 2 }
/// fn total(pool: &impl Executor) -> i32 {
///     pool.map(double, 1..=3, MapOptions::new()).unwrap().map(|r| r.unwrap()).sum()
/// }
/// let pool = Inline::default();
/// assert_eq!(total(&pool), 12);
/// assert_eq!(pool.submit(double, 4).unwrap().result(), Ok(8));
/// assert_eq!(pool.stats().completed, 1);
/// pool.shutdown();
/// assert_eq!(pool.submit(double, 4).unwrap_err(), SubmitError::Shutdown);
/// ```
pub trait Executor {
    /// Schedules `f(arg)` and returns its future (Python's `submit(fn, *args)`).
    ///
    /// Errors: [`SubmitError::Shutdown`] after a shutdown, [`SubmitError::Broken`] when the
    /// executor broke, [`SubmitError::Invalid`] when it cannot take this task. With a queue
    /// bound, it blocks until there is room.
    fn submit<A, R>(&self, f: fn(A) -> R, arg: A) -> Result<TaskFuture<R>, SubmitError>
    where
        A: Portable,
        R: Portable;

    /// Like [`submit`](Self::submit), but never blocks: with the queue at its bound it
    /// returns [`SubmitError::Full`].
    fn try_submit<A, R>(&self, f: fn(A) -> R, arg: A) -> Result<TaskFuture<R>, SubmitError>
    where
        A: Portable,
        R: Portable;

    /// Maps `f` over `items`: results in input order, lazily, with a bounded number of
    /// chunks in flight, each element's error its own (see [`Map`]).
    ///
    /// Errors: invalid options, or the executor refused the first chunk.
    fn map<'a, A, R, I>(
        &'a self,
        f: fn(A) -> R,
        items: I,
        options: MapOptions,
    ) -> Result<Map<'a, R>, SubmitError>
    where
        A: Portable,
        R: Portable,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'a;

    /// Maps `f` over `items` like [`map`](Self::map), yielding each result as soon as its
    /// chunk is done, with its position in the input (mpi4py's `map(unordered=True)`;
    /// see [`MapUnordered`]).
    fn map_unordered<'a, A, R, I>(
        &'a self,
        f: fn(A) -> R,
        items: I,
        options: MapOptions,
    ) -> Result<MapUnordered<'a, R>, SubmitError>
    where
        A: Portable,
        R: Portable,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'a;

    /// Stops taking tasks (Python's `shutdown(wait, cancel_futures)`, named in
    /// [`ShutdownOptions`]). Calling it again is harmless.
    fn shutdown_with(&self, options: ShutdownOptions);

    /// `shutdown_with(ShutdownOptions::default())`: Python's `shutdown()`, which waits for
    /// every task and cancels none.
    fn shutdown(&self) {
        self.shutdown_with(ShutdownOptions::default());
    }

    /// What the pool has done and is doing.
    fn stats(&self) -> PoolStats;
}

/// Implements [`Executor`] for a pool whose inherent methods already bear the trait's
/// names and signatures (`submit`, `try_submit`, `map`, `map_unordered`, `shutdown_with`,
/// `stats`): each trait method calls the inherent one. Every pool of this workspace has
/// both (so code that never names the trait switches pools by its constructor too), and
/// this is the one place the forwarding is written. Attributes before the type (a doc
/// comment) go on the `impl`.
///
/// ```
/// use rustures::executor::{ChunkResults, Promise};
/// use rustures::{Executor, Map, MapOptions, MapUnordered, PoolStats, Portable};
/// use rustures::{ShutdownOptions, SubmitError, TaskFuture};
///
/// /// Runs each task on the calling thread.
/// #[derive(Debug)]
/// struct Inline;
///
/// impl Inline {
///     fn submit<A: Portable, R: Portable>(&self, f: fn(A) -> R, arg: A) -> Result<TaskFuture<R>, SubmitError> {
///         let (promise, future) = Promise::new();
///         promise.run(|| f(arg));
///         Ok(future)
///     }
///     fn try_submit<A: Portable, R: Portable>(&self, f: fn(A) -> R, arg: A) -> Result<TaskFuture<R>, SubmitError> {
///         self.submit(f, arg)
///     }
///     fn run_chunk<A, R>(&self, f: fn(A) -> R, chunk: Vec<A>) -> Result<TaskFuture<ChunkResults<R>>, SubmitError> {
///         let (promise, future) = Promise::new();
///         promise.set_result(ChunkResults::run(chunk, f));
///         Ok(future)
///     }
///     fn map<'a, A, R, I>(&'a self, f: fn(A) -> R, items: I, options: MapOptions) -> Result<Map<'a, R>, SubmitError>
///     where A: Portable, R: Portable, I: IntoIterator<Item = A>, I::IntoIter: Send + 'a
///     {
///         Map::new(items, options, 1, move |chunk: Vec<A>| self.run_chunk(f, chunk))
///     }
///     fn map_unordered<'a, A, R, I>(&'a self, f: fn(A) -> R, items: I, options: MapOptions)
///         -> Result<MapUnordered<'a, R>, SubmitError>
///     where A: Portable, R: Portable, I: IntoIterator<Item = A>, I::IntoIter: Send + 'a
///     {
///         MapUnordered::new(items, options, 1, move |chunk: Vec<A>| self.run_chunk(f, chunk))
///     }
///     fn shutdown_with(&self, _options: ShutdownOptions) {}
///     fn stats(&self) -> PoolStats { PoolStats::default() }
/// }
///
/// rustures::executor::impl_executor_by_inherent_methods!(
///     /// The same calls through the shared interface.
///     Inline
/// );
///
/// fn double(x: i32) -> i32 { x * 2 }
/// fn total(pool: &impl Executor) -> i32 {
///     pool.map(double, 1..=3, MapOptions::new()).unwrap().map(|r| r.unwrap()).sum()
/// }
/// assert_eq!(total(&Inline), 12);
/// assert_eq!(Executor::submit(&Inline, double, 4).unwrap().result(), Ok(8));
/// ```
#[macro_export]
macro_rules! impl_executor_by_inherent_methods {
    ($(#[$attr:meta])* $pool:ty) => {
        $(#[$attr])*
        impl $crate::Executor for $pool {
            fn submit<A, R>(
                &self,
                f: fn(A) -> R,
                arg: A,
            ) -> ::core::result::Result<$crate::TaskFuture<R>, $crate::SubmitError>
            where
                A: $crate::Portable,
                R: $crate::Portable,
            {
                <$pool>::submit(self, f, arg)
            }

            fn try_submit<A, R>(
                &self,
                f: fn(A) -> R,
                arg: A,
            ) -> ::core::result::Result<$crate::TaskFuture<R>, $crate::SubmitError>
            where
                A: $crate::Portable,
                R: $crate::Portable,
            {
                <$pool>::try_submit(self, f, arg)
            }

            fn map<'a, A, R, I>(
                &'a self,
                f: fn(A) -> R,
                items: I,
                options: $crate::MapOptions,
            ) -> ::core::result::Result<$crate::Map<'a, R>, $crate::SubmitError>
            where
                A: $crate::Portable,
                R: $crate::Portable,
                I: ::core::iter::IntoIterator<Item = A>,
                I::IntoIter: ::core::marker::Send + 'a,
            {
                <$pool>::map(self, f, items, options)
            }

            fn map_unordered<'a, A, R, I>(
                &'a self,
                f: fn(A) -> R,
                items: I,
                options: $crate::MapOptions,
            ) -> ::core::result::Result<$crate::MapUnordered<'a, R>, $crate::SubmitError>
            where
                A: $crate::Portable,
                R: $crate::Portable,
                I: ::core::iter::IntoIterator<Item = A>,
                I::IntoIter: ::core::marker::Send + 'a,
            {
                <$pool>::map_unordered(self, f, items, options)
            }

            fn shutdown_with(&self, options: $crate::ShutdownOptions) {
                <$pool>::shutdown_with(self, options)
            }

            fn stats(&self) -> $crate::PoolStats {
                <$pool>::stats(self)
            }
        }
    };
}
