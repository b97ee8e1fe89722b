//! [`Executor`]: the one interface of the thread pool and the process pool.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::SubmitError;
use crate::future::TaskFuture;
use crate::map::{Map, MapOptions};

/// A value that can cross to another thread or process: `Serialize + DeserializeOwned +
/// Send + 'static`, the Rust counterpart of Python's "picklable". Implemented for every
/// such type.
///
/// ```
/// fn check<T: future_core::Portable>() {}
/// check::<(u64, String, Vec<f32>)>();
/// ```
pub trait Portable: Serialize + DeserializeOwned + Send + 'static {}

impl<T: Serialize + DeserializeOwned + Send + 'static> Portable for T {}

/// The interface that the thread pool and the process pool share, so a program switches
/// between them by changing the constructor alone: the project's main promise.
///
/// Tasks are plain functions `fn(A) -> R` with a [`Portable`] argument and result: the Rust
/// counterpart of Python's module-level functions with picklable arguments. A plain
/// function runs in another process of the same binary (a function pointer names the same
/// code there; a closure's captured state would not cross), and non-capturing closures
/// coerce to `fn` pointers. The thread pool also takes any closure through its own
/// `submit`; this trait is the common ground.
///
/// Both pools return the same [`TaskFuture`], so [`wait`](crate::wait) and
/// [`as_completed`](crate::as_completed) take futures from both in one call.
///
/// # Switching pools
/// Write the work against `&impl Executor`, and pick the pool where it is built:
///
/// ```ignore
/// fn crunch(pool: &impl Executor) -> u64 {
///     pool.map(is_prime, 1..100_000, MapOptions::new().chunksize(1_000))
///         .unwrap()
///         .filter(|r| *r.as_ref().unwrap())
///         .count() as u64
/// }
/// crunch(&ThreadPool::new()?);    // I/O-bound work, or cheap tasks
/// crunch(&ProcessPool::new()?);   // CPU-bound work that needs every core
/// ```
///
/// A complete (toy) executor, running each task on the calling thread:
///
/// ```
/// use future_core::{ChunkResults, Executor, Map, MapOptions, Portable, Promise, SubmitError, TaskFuture};
/// use std::cell::Cell;
///
/// #[derive(Default)]
/// struct Inline { shut: Cell<bool> }
///
/// impl Executor for Inline {
///     fn submit<A: Portable, R: Portable>(&self, f: fn(A) -> R, arg: A) -> Result<TaskFuture<R>, SubmitError> {
///         if self.shut.get() { return Err(SubmitError::Shutdown) }
///         let (promise, future) = Promise::new();
///         promise.run(|| f(arg));
///         Ok(future)
///     }
///     fn map<'a, A: Portable, R: Portable, I>(&'a self, f: fn(A) -> R, items: I, options: MapOptions)
///         -> Result<Map<'a, R>, SubmitError>
///     where I: IntoIterator<Item = A>, I::IntoIter: 'a
///     {
///         Map::new(items, options, 1, move |chunk: Vec<A>| {
///             if self.shut.get() { return Err(SubmitError::Shutdown) }
///             let (promise, future) = Promise::new();
///             promise.set_result(ChunkResults::run(chunk, f));
///             Ok(future)
///         })
///     }
///     fn shutdown(&self, _wait: bool, _cancel_futures: bool) { self.shut.set(true) }
/// }
/// # impl std::fmt::Debug for Inline { fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result { f.write_str("Inline") } }
///
/// fn double(x: i32) -> i32 { x * 2 }
/// fn total(pool: &impl Executor) -> i32 {
///     pool.map(double, 1..=3, MapOptions::new()).unwrap().map(|r| r.unwrap()).sum()
/// }
/// let pool = Inline::default();
/// assert_eq!(total(&pool), 12);
/// assert_eq!(pool.submit(double, 4).unwrap().result(), Ok(8));
/// pool.shutdown(true, false);
/// assert_eq!(pool.submit(double, 4).unwrap_err(), SubmitError::Shutdown);
/// ```
pub trait Executor {
    /// Schedules `f(arg)` and returns its future (Python's `submit(fn, *args)`).
    ///
    /// Errors: [`SubmitError::Shutdown`] after [`shutdown`](Self::shutdown),
    /// [`SubmitError::Broken`] when the executor broke. With a queue bound, it blocks
    /// until there is room.
    fn submit<A, R>(&self, f: fn(A) -> R, arg: A) -> Result<TaskFuture<R>, SubmitError>
    where
        A: Portable,
        R: Portable;

    /// Maps `f` over `items`: results in input order, lazily, with a bounded number of
    /// chunks in flight, each element's error its own (see [`Map`]).
    ///
    /// Errors: the executor refused the first chunk.
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
        I::IntoIter: 'a;

    /// Stops taking tasks (Python's `shutdown(wait, cancel_futures)`): with
    /// `cancel_futures`, cancels every task that has not started; with `wait`, returns once
    /// every running and queued task finished and the workers exited. Calling it again is
    /// harmless.
    fn shutdown(&self, wait: bool, cancel_futures: bool);
}
