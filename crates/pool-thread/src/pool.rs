//! [`ThreadPool`]: the public face of the pool.

use std::fmt;

use future_core::executor::Task;
use future_core::{
    ChunkFuture, ChunkResults, Executor, Map, MapOptions, Portable, SubmitError, TaskFuture,
};

use crate::builder::{BuildError, Builder};
use crate::job::Job;
use crate::registry::{Registry, Room};
use crate::sync::Arc;

/// A work-stealing thread pool with Python's `ThreadPoolExecutor` interface: submit
/// closures, get [`TaskFuture`]s, `map` with ordered results, `shutdown` at the end.
///
/// Use it for I/O-bound work and for many small tasks; it also implements the
/// [`Executor`] trait it shares with the process pool, so code written against
/// `&impl Executor` with plain functions runs on either.
///
/// - Threads start on demand, up to [`max_workers`](Builder::max_workers); an idle thread
///   is reused before a new one starts, and retires after the
///   [`keep_alive`](Builder::keep_alive).
/// - A task that panics fails its own future with the panic message; the thread goes on.
/// - A task that waits, without a timeout, on a task of its own pool that no thread has
///   started runs it itself (and nothing else); any other wait blocks, and the pool starts
///   a thread in its place if queued tasks need one. So nested submit-and-wait cannot
///   deadlock, even with one thread (see the crate docs for exactly what is guaranteed).
/// - An optional [`queue_bound`](Builder::queue_bound) makes `submit` block (and
///   [`try_submit`](Self::try_submit) say full) instead of growing the queue.
/// - Dropping the pool is `shutdown(wait = true, cancel_futures = false)`: every queued
///   task runs and every thread is joined; see [`Drop`](#impl-Drop-for-ThreadPool) for
///   when it does not wait.
///
/// ```
/// use future_core::{as_completed, MapOptions};
///
/// let pool = pool_thread::ThreadPool::builder().max_workers(4).build().unwrap();
/// let futures: Vec<_> = (1..=5u64).map(|n| pool.submit(move || n * n).unwrap()).collect();
/// let total: u64 = as_completed(&futures, None).map(|f| f.unwrap().result().unwrap()).sum();
/// assert_eq!(total, 55);
///
/// let lengths: Vec<_> = pool
///     .map(|s: &str| s.len(), ["a", "bb", "ccc"], MapOptions::new())
///     .unwrap()
///     .collect::<Result<_, _>>()
///     .unwrap();
/// assert_eq!(lengths, [1, 2, 3]);
/// pool.shutdown(true, false);
/// ```
pub struct ThreadPool {
    pub(crate) registry: Arc<Registry>,
}

impl ThreadPool {
    /// A pool with the default settings: up to Python's `min(32, cpus + 4)` threads,
    /// started on demand, an unbounded queue. It is `ThreadPool::builder().build()`; with
    /// the defaults it does not fail.
    ///
    /// ```
    /// let pool = pool_thread::ThreadPool::new().unwrap();
    /// assert_eq!(pool.submit(|| "hi").unwrap().result(), Ok("hi"));
    /// ```
    pub fn new() -> Result<ThreadPool, BuildError> {
        Builder::new().build()
    }

    /// The settings builder; see [`Builder`].
    ///
    /// ```
    /// let pool = pool_thread::ThreadPool::builder().max_workers(2).build().unwrap();
    /// assert_eq!(pool.max_workers(), 2);
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn from_registry(registry: Registry) -> ThreadPool {
        ThreadPool {
            registry: Arc::new(registry),
        }
    }

    /// Schedules `f()` and returns its future (Python's `submit`).
    ///
    /// Called from one of this pool's own tasks, the task goes on that worker's own deque
    /// (others steal it when idle). With a [`queue_bound`](Builder::queue_bound), a call
    /// from outside blocks while the queue is full.
    ///
    /// Errors: [`SubmitError::Shutdown`] after [`shutdown`](Self::shutdown),
    /// [`SubmitError::Broken`] when an initializer panicked.
    ///
    /// ```
    /// use future_core::FutureError;
    ///
    /// let pool = pool_thread::ThreadPool::new().unwrap();
    /// let ok = pool.submit(|| 6 * 7).unwrap();
    /// let bad = pool.submit(|| -> u8 { panic!("no luck") }).unwrap();
    /// assert_eq!(ok.result(), Ok(42));
    /// assert_eq!(bad.result().unwrap_err().to_string(), "task panicked: no luck");
    /// pool.shutdown(true, false);
    /// assert_eq!(pool.submit(|| 1).unwrap_err(), future_core::SubmitError::Shutdown);
    /// ```
    pub fn submit<F, R>(&self, f: F) -> Result<TaskFuture<R>, SubmitError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.submit_with(f, Room::Wait)
    }

    /// Like [`submit`](Self::submit), but when the [`queue_bound`](Builder::queue_bound)
    /// is reached, returns [`SubmitError::Full`] at once instead of blocking.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use future_core::SubmitError;
    ///
    /// let pool = pool_thread::ThreadPool::builder().max_workers(1).queue_bound(1).build().unwrap();
    /// let (release, gate) = mpsc::channel::<()>();
    /// let (started_tx, started) = mpsc::channel();
    /// let busy = pool.submit(move || { started_tx.send(()).unwrap(); gate.recv().unwrap() }).unwrap();
    /// started.recv().unwrap(); // the one thread is busy
    /// let queued = pool.try_submit(|| 1).unwrap(); // takes the one place in the queue
    /// assert_eq!(pool.try_submit(|| 2).unwrap_err(), SubmitError::Full);
    /// release.send(()).unwrap();
    /// assert_eq!(queued.result(), Ok(1));
    /// # busy.result().unwrap();
    /// ```
    pub fn try_submit<F, R>(&self, f: F) -> Result<TaskFuture<R>, SubmitError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.submit_with(f, Room::Fail)
    }

    fn submit_with<F, R>(&self, f: F, room: Room) -> Result<TaskFuture<R>, SubmitError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (task, future) = Task::new(self.registry.id, f);
        Registry::push(&self.registry, Job::new(task), room)?;
        Ok(future)
    }

    /// Maps `f` over `items` (Python's `map`): results in input order, computed lazily
    /// with a bounded number of chunks in flight (by default `2 × max_workers`; set
    /// [`MapOptions::buffersize`]). Each element's result is its own: a panic gives an
    /// error for that element and the others go on. [`MapOptions::chunksize`] cuts the
    /// per-task cost for small elements; [`MapOptions::timeout`] is a total limit measured
    /// from this call. Dropping the iterator cancels the chunks that have not started.
    ///
    /// This takes any `Fn` closure; the [`Executor::map`] of this pool is the same for
    /// plain functions (same arguments, so either resolves the same way).
    ///
    /// To collect everything into a `Vec` at once, [`map_collect`](Self::map_collect) (any
    /// input) and [`map_slice`](Self::map_slice) (a slice) are much faster for small
    /// elements: every thread claims its own input and writes results in place, where this
    /// lazy map hands every element through the consumer's thread.
    ///
    /// Errors: the first chunk was refused (shut down or broken).
    ///
    /// ```
    /// use future_core::MapOptions;
    ///
    /// let pool = pool_thread::ThreadPool::new().unwrap();
    /// let offset = 10;
    /// let out: Vec<_> = pool
    ///     .map(move |x: i32| {
    ///         if x == 2 { panic!("two") }
    ///         x + offset
    ///     }, 0..4, MapOptions::new().chunksize(2))
    ///     .unwrap()
    ///     .collect();
    /// assert_eq!(out[0], Ok(10));
    /// assert_eq!(out[2].as_ref().unwrap_err().to_string(), "task panicked: two");
    /// assert_eq!(out[3], Ok(13));
    /// ```
    pub fn map<'a, A, R, F, I>(
        &'a self,
        f: F,
        items: I,
        options: MapOptions,
    ) -> Result<Map<'a, R>, SubmitError>
    where
        F: Fn(A) -> R + Send + Sync + 'static,
        A: Send + 'static,
        R: Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
    {
        let f = Arc::new(f);
        let default_buffersize = 2 * self.registry.config.max_workers;
        Map::new(items, options, default_buffersize, move |chunk: Vec<A>| {
            let f = f.clone();
            let future: ChunkFuture<R> = self.submit(move || ChunkResults::run(chunk, &*f))?;
            Ok(future)
        })
    }

    /// Stops taking tasks (Python's `shutdown(wait, cancel_futures)`); calling it again is
    /// harmless. Every later submit returns [`SubmitError::Shutdown`].
    ///
    /// With `cancel_futures`, every task still queued is cancelled: its future reports
    /// cancelled at once. Otherwise queued tasks still run. With `wait`, returns once the
    /// queued tasks ran and every thread exited, also when several threads call it at
    /// once (a thread of this pool never waits for itself, nor for another worker waiting
    /// here: a task may shut down its own pool).
    ///
    /// ```
    /// let pool = pool_thread::ThreadPool::new().unwrap();
    /// let f = pool.submit(|| 1).unwrap();
    /// pool.shutdown(true, false);
    /// assert_eq!(f.result(), Ok(1));
    /// assert_eq!(pool.num_threads(), 0);
    /// pool.shutdown(true, true); // idempotent
    /// ```
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        if !wait {
            self.registry.let_go();
        }
        self.registry.shutdown(wait, cancel_futures);
    }

    /// The most threads this pool runs at once.
    ///
    /// ```
    /// let pool = pool_thread::ThreadPool::builder().max_workers(3).build().unwrap();
    /// assert_eq!(pool.max_workers(), 3);
    /// ```
    pub fn max_workers(&self) -> usize {
        self.registry.config.max_workers
    }

    /// The threads running now (started on demand, minus the retired and exited).
    ///
    /// ```
    /// let pool = pool_thread::ThreadPool::builder().max_workers(3).build().unwrap();
    /// assert_eq!(pool.num_threads(), 0);
    /// pool.submit(|| ()).unwrap().result().unwrap();
    /// assert_eq!(pool.num_threads(), 1);
    /// ```
    pub fn num_threads(&self) -> usize {
        self.registry.sleep.threads()
    }

    /// The tasks waiting in the queues now (not yet taken by a thread).
    ///
    /// ```
    /// let pool = pool_thread::ThreadPool::new().unwrap();
    /// assert_eq!(pool.queued_tasks(), 0);
    /// ```
    pub fn queued_tasks(&self) -> usize {
        self.registry.queued()
    }
}

/// The [`Executor`] interface (shared with the process pool) for plain functions; the
/// inherent [`ThreadPool::submit`] and [`ThreadPool::map`] also take closures.
///
/// ```
/// use future_core::{Executor, MapOptions};
///
/// fn double(x: u32) -> u32 { x * 2 }
/// fn run(pool: &impl Executor) -> Vec<u32> {
///     pool.map(double, [1, 2, 3], MapOptions::new()).unwrap().map(Result::unwrap).collect()
/// }
/// let pool = pool_thread::ThreadPool::new().unwrap();
/// assert_eq!(run(&pool), [2, 4, 6]);
/// assert_eq!(Executor::submit(&pool, double, 21).unwrap().result(), Ok(42));
/// ```
impl Executor for ThreadPool {
    fn submit<A, R>(&self, f: fn(A) -> R, arg: A) -> Result<TaskFuture<R>, SubmitError>
    where
        A: Portable,
        R: Portable,
    {
        ThreadPool::submit(self, move || f(arg))
    }

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
        I::IntoIter: 'a,
    {
        ThreadPool::map(self, f, items, options)
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        ThreadPool::shutdown(self, wait, cancel_futures);
    }
}

impl Drop for ThreadPool {
    /// `shutdown(wait = true, cancel_futures = false)`, like the end of Python's `with`
    /// block: every queued task runs and every thread is joined. Two exceptions, so that
    /// a drop never blocks where it should not:
    /// - after a [`shutdown`](Self::shutdown) with `wait = false`, the pool is let go: its
    ///   threads finish the tasks they have and exit on their own;
    /// - with a [`drop_grace`](Builder::drop_grace) (or while the thread is panicking: a
    ///   failed assertion in a test that owns a busy pool), the drop waits at most that
    ///   long (no time at all while panicking, unless set), then cancels the tasks not
    ///   started and lets the running ones go.
    fn drop(&mut self) {
        self.registry.drop_handle();
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field(
                "thread_name_prefix",
                &self.registry.config.thread_name_prefix,
            )
            .field("max_workers", &self.max_workers())
            .field("threads", &self.num_threads())
            .field("queued", &self.queued_tasks())
            .field("shut_down", &self.registry.sleep.is_shut_down())
            .finish()
    }
}
