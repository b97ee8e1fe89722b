//! [`ThreadPool`]: the public face of the pool.

use std::fmt;

use future_core::executor::{ChunkFuture, ChunkInput, ChunkResults, Task};
use future_core::{
    Map, MapOptions, MapUnordered, PoolStats, ShutdownOptions, SubmitError, TaskFuture,
};

use crate::builder::ThreadPoolBuilder;
use crate::job::Job;
use crate::registry::{Registry, WhenFull};
use crate::sync::Arc;

/// A work-stealing thread pool with Python's `ThreadPoolExecutor` interface: `submit`
/// functions, get [`TaskFuture`]s, `map` with ordered results, `shutdown` at the end.
///
/// Use it for I/O-bound work and for many small tasks. Its methods have the same names and
/// shapes as every pool of this project (`submit(f, arg)`, `try_submit`, `map`,
/// `map_unordered`, `shutdown`, `stats`; also as the [`Executor`](future_core::Executor) trait), so a program
/// written with plain functions switches to the process pool by changing the constructor
/// alone. Beyond them, [`spawn`](Self::spawn) takes any closure, and
/// [`scope`](Self::scope) tasks that borrow from the caller's stack.
///
/// - Threads start on demand, up to [`max_workers`](ThreadPoolBuilder::max_workers); an idle thread
///   is reused before a new one starts, and retires after the
///   [`keep_alive`](ThreadPoolBuilder::keep_alive).
/// - A task that panics fails its own future with the panic message; the thread goes on.
/// - A task that waits, without a timeout, on a task of its own pool that no thread has
///   started runs it itself (and nothing else); any other wait blocks, and the pool starts
///   a thread in its place if queued tasks need one. So nested submit-and-wait cannot
///   deadlock, even with one thread (see the crate docs for exactly what is guaranteed).
/// - An optional [`queue_bound`](ThreadPoolBuilder::queue_bound) makes `submit` block (and
///   [`try_submit`](Self::try_submit) say full) instead of growing the queue.
/// - Dropping the pool is `shutdown()`: every queued task runs and every thread is
///   joined; see [`Drop`](#impl-Drop-for-ThreadPool) for when it does not wait.
///
/// ```
/// use rustures::{as_completed, MapOptions};
///
/// fn square(n: u64) -> u64 { n * n }
///
/// let pool = rustures::ThreadPool::builder().max_workers(4).build().unwrap();
/// let futures: Vec<_> = (1..=5u64).map(|n| pool.submit(square, n).unwrap()).collect();
/// let total: u64 = as_completed(&futures, None).map(|f| f.unwrap().result().unwrap()).sum();
/// assert_eq!(total, 55);
///
/// let lengths: Vec<_> = pool
///     .map(|s: &str| s.len(), ["a", "bb", "ccc"], MapOptions::new())
///     .unwrap()
///     .collect::<Result<_, _>>()
///     .unwrap();
/// assert_eq!(lengths, [1, 2, 3]);
/// pool.shutdown();
/// ```
pub struct ThreadPool {
    pub(crate) registry: Arc<Registry>,
}

impl ThreadPool {
    /// A pool with the default settings: up to Python's `min(32, cpus + 4)` threads,
    /// started on demand, an unbounded queue (`ThreadPool::builder().build()`, which
    /// cannot fail with the defaults).
    ///
    /// ```
    /// let pool = rustures::ThreadPool::new();
    /// assert_eq!(pool.spawn(|| "hi").unwrap().result(), Ok("hi"));
    /// ```
    pub fn new() -> ThreadPool {
        ThreadPool::from_registry(ThreadPoolBuilder::new().registry_with_defaults())
    }

    /// The settings builder; see [`ThreadPoolBuilder`].
    ///
    /// ```
    /// let pool = rustures::ThreadPool::builder().max_workers(2).build().unwrap();
    /// assert_eq!(pool.max_workers(), 2);
    /// ```
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder::new()
    }

    pub(crate) fn from_registry(registry: Registry) -> ThreadPool {
        ThreadPool {
            registry: Arc::new(registry),
        }
    }

    /// Schedules `f(arg)` and returns its future (Python's `submit(fn, *args)`; several
    /// arguments go as a tuple: `submit(f, (a, b))`). The same call as every pool's, for a
    /// plain function; here `f` may be any closure too (see also [`spawn`](Self::spawn)).
    ///
    /// Called from one of this pool's own tasks, the task goes on that worker's own deque
    /// (others steal it when idle). With a [`queue_bound`](ThreadPoolBuilder::queue_bound), a call
    /// from outside blocks while the queue is full.
    ///
    /// Errors: [`SubmitError::Shutdown`] after [`shutdown`](Self::shutdown),
    /// [`SubmitError::Broken`] when an initializer panicked.
    ///
    /// ```
    /// use rustures::{FutureError, SubmitError};
    ///
    /// fn divide((a, b): (u32, u32)) -> u32 { a / b }
    ///
    /// let pool = rustures::ThreadPool::new();
    /// let ok = pool.submit(divide, (84, 2)).unwrap();
    /// let bad = pool.submit(divide, (1, 0)).unwrap();
    /// assert_eq!(ok.result(), Ok(42));
    /// assert_eq!(bad.result().unwrap_err().to_string(), "task panicked: attempt to divide by zero");
    /// pool.shutdown();
    /// assert_eq!(pool.submit(divide, (1, 1)).unwrap_err(), SubmitError::Shutdown);
    /// ```
    pub fn submit<F, A, R>(&self, f: F, arg: A) -> Result<TaskFuture<R>, SubmitError>
    where
        F: FnOnce(A) -> R + Send + 'static,
        A: Send + 'static,
        R: Send + 'static,
    {
        self.spawn_with(move || f(arg), WhenFull::Wait)
    }

    /// Like [`submit`](Self::submit), but when the [`queue_bound`](ThreadPoolBuilder::queue_bound)
    /// is reached, returns [`SubmitError::Full`] at once instead of blocking.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use rustures::SubmitError;
    ///
    /// let pool = rustures::ThreadPool::builder().max_workers(1).queue_bound(1).build().unwrap();
    /// let (release, gate) = mpsc::channel::<()>();
    /// let (started_tx, started) = mpsc::channel();
    /// let busy = pool.spawn(move || { started_tx.send(()).unwrap(); gate.recv().unwrap() }).unwrap();
    /// started.recv().unwrap(); // the one thread is busy
    /// let queued = pool.try_submit(|x: u32| x + 1, 0).unwrap(); // takes the one place in the queue
    /// assert_eq!(pool.try_submit(|x: u32| x + 1, 1).unwrap_err(), SubmitError::Full);
    /// release.send(()).unwrap();
    /// assert_eq!(queued.result(), Ok(1));
    /// # busy.result().unwrap();
    /// ```
    pub fn try_submit<F, A, R>(&self, f: F, arg: A) -> Result<TaskFuture<R>, SubmitError>
    where
        F: FnOnce(A) -> R + Send + 'static,
        A: Send + 'static,
        R: Send + 'static,
    {
        self.spawn_with(move || f(arg), WhenFull::Refuse)
    }

    /// Schedules any closure and returns its future, as [`std::thread::spawn`] returns a
    /// handle: the thread pool's own form of `submit`, for closures that capture.
    ///
    /// ```
    /// let pool = rustures::ThreadPool::new();
    /// let name = String::from("world");
    /// let greeting = pool.spawn(move || format!("hello, {name}")).unwrap();
    /// assert_eq!(greeting.result().as_deref(), Ok("hello, world"));
    /// ```
    pub fn spawn<F, R>(&self, f: F) -> Result<TaskFuture<R>, SubmitError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.spawn_with(f, WhenFull::Wait)
    }

    /// Like [`spawn`](Self::spawn), but returns [`SubmitError::Full`] at once when the
    /// [`queue_bound`](ThreadPoolBuilder::queue_bound) is reached.
    ///
    /// ```
    /// let pool = rustures::ThreadPool::new();
    /// assert_eq!(pool.try_spawn(|| 1).unwrap().result(), Ok(1));
    /// ```
    pub fn try_spawn<F, R>(&self, f: F) -> Result<TaskFuture<R>, SubmitError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.spawn_with(f, WhenFull::Refuse)
    }

    fn spawn_with<F, R>(&self, f: F, when_full: WhenFull) -> Result<TaskFuture<R>, SubmitError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (task, future) = Task::new(self.registry.id, f);
        Registry::push(&self.registry, Job::new(task), when_full)?;
        Ok(future)
    }

    /// Maps `f` over `items` (Python's `map`): results in input order, computed lazily
    /// with a bounded number of chunks in flight (by default `2 × max_workers`; set
    /// [`MapOptions::buffersize`]). Each element's result is its own: a panic gives an
    /// error for that element and the others go on. [`MapOptions::chunksize`] cuts the
    /// per-task cost for small elements; [`MapOptions::timeout`] is a total limit measured
    /// from this call. Dropping the iterator cancels the chunks that have not started.
    ///
    /// `f` may be any `Fn` closure (a plain function on every pool).
    ///
    /// To collect everything into a `Vec` at once, [`map_collect`](Self::map_collect) (any
    /// input) and [`map_slice`](Self::map_slice) (a slice) are much faster for small
    /// elements: every thread claims its own input and writes results in place, where this
    /// lazy map hands every element through the consumer's thread.
    ///
    /// Errors: invalid options, or the first chunk was refused (shut down or broken).
    ///
    /// ```
    /// use rustures::MapOptions;
    ///
    /// let pool = rustures::ThreadPool::new();
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
        I::IntoIter: Send + 'a,
    {
        Map::new(
            items,
            options,
            self.default_buffersize(),
            self.chunk_runner(f),
        )
    }

    /// Maps `f` over `items` like [`map`](Self::map), but yields each result as soon as
    /// its chunk is done, with its position in the input (Python's `imap_unordered`,
    /// mpi4py's `map(unordered=True)`); bounded in flight the same way.
    ///
    /// ```
    /// use rustures::MapOptions;
    ///
    /// let pool = rustures::ThreadPool::new();
    /// let mut squares: Vec<(usize, u64)> = pool
    ///     .map_unordered(|x: u64| x * x, 0..6u64, MapOptions::new().chunksize(2))
    ///     .unwrap()
    ///     .map(|(position, result)| (position, result.unwrap()))
    ///     .collect();
    /// squares.sort_unstable();
    /// assert_eq!(squares, [(0, 0), (1, 1), (2, 4), (3, 9), (4, 16), (5, 25)]);
    /// ```
    pub fn map_unordered<'a, A, R, F, I>(
        &'a self,
        f: F,
        items: I,
        options: MapOptions,
    ) -> Result<MapUnordered<'a, R>, SubmitError>
    where
        F: Fn(A) -> R + Send + Sync + 'static,
        A: Send + 'static,
        R: Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'a,
    {
        MapUnordered::new(
            items,
            options,
            self.default_buffersize(),
            self.chunk_runner(f),
        )
    }

    /// Chunks in flight for a map whose options do not say.
    fn default_buffersize(&self) -> usize {
        2 * self.registry.config.max_workers
    }

    /// What a map submits each chunk with: a task running `f` over the chunk.
    fn chunk_runner<A, R, F>(
        &self,
        f: F,
    ) -> impl FnMut(Vec<A>) -> Result<ChunkFuture<R>, SubmitError> + Send + '_
    where
        F: Fn(A) -> R + Send + Sync + 'static,
        A: Send + 'static,
        R: Send + 'static,
    {
        let f = std::sync::Arc::new(f);
        move |chunk: Vec<A>| {
            let f = f.clone();
            // A chunk cancelled (or refused) before it ran is dropped with its task's
            // closure, inside one boundary: `ChunkInput` drops its elements one by one
            // there, so two whose `Drop` panics do not abort the process.
            let chunk = ChunkInput::new(chunk);
            self.spawn(move || ChunkResults::run(chunk.into_vec(), &*f))
        }
    }

    /// Stops taking tasks and waits for every queued and running one, then for the
    /// threads to exit (Python's `shutdown()`); calling it again is harmless. Every later
    /// submit returns [`SubmitError::Shutdown`]. See [`shutdown_with`](Self::shutdown_with)
    /// for Python's `wait` and `cancel_futures`.
    ///
    /// ```
    /// let pool = rustures::ThreadPool::new();
    /// let f = pool.spawn(|| 1).unwrap();
    /// pool.shutdown();
    /// assert_eq!(f.result(), Ok(1));
    /// assert_eq!(pool.stats().workers, 0);
    /// pool.shutdown(); // idempotent
    /// ```
    pub fn shutdown(&self) {
        self.shutdown_with(ShutdownOptions::default());
    }

    /// Stops taking tasks, with Python's `shutdown(wait, cancel_futures)` named in
    /// [`ShutdownOptions`]. With `cancel_futures`, every task still queued is cancelled:
    /// its future reports cancelled at once; otherwise queued tasks still run. With `wait`,
    /// returns once the queued tasks ran and every thread exited, also when several threads
    /// call it at once (a thread of this pool never waits for itself, nor for another
    /// worker waiting here: a task may shut down its own pool). Without `wait`, it returns
    /// at once, and dropping the pool afterwards does not wait either: the threads exit
    /// when their tasks end.
    ///
    /// ```
    /// use rustures::ShutdownOptions;
    /// let pool = rustures::ThreadPool::new();
    /// pool.shutdown_with(ShutdownOptions { wait: false, cancel_futures: true });
    /// assert!(pool.spawn(|| 1).is_err());
    /// ```
    pub fn shutdown_with(&self, options: ShutdownOptions) {
        if !options.wait {
            self.registry.let_go();
        }
        self.registry.shutdown(options.wait, options.cancel_futures);
    }

    /// What the pool has done and is doing: tasks queued, running, completed, failed and
    /// cancelled; threads alive, started, and started in place of blocked ones. Counters
    /// kept without a lock on any task's path.
    ///
    /// ```
    /// let pool = rustures::ThreadPool::builder().max_workers(2).build().unwrap();
    /// pool.spawn(|| 1).unwrap().result().unwrap();
    /// pool.spawn(|| -> u8 { panic!("no") }).unwrap().exception().unwrap();
    /// pool.shutdown();
    /// let stats = pool.stats();
    /// assert_eq!((stats.completed, stats.failed, stats.running, stats.queued), (1, 1, 0, 0));
    /// assert!(stats.workers_started >= 1);
    /// ```
    pub fn stats(&self) -> PoolStats {
        self.registry.stats()
    }

    /// The most threads this pool runs tasks on at once (not counting threads blocked in
    /// a wait and those started in their place).
    ///
    /// ```
    /// let pool = rustures::ThreadPool::builder().max_workers(3).build().unwrap();
    /// assert_eq!(pool.max_workers(), 3);
    /// ```
    pub fn max_workers(&self) -> usize {
        self.registry.config.max_workers
    }
}

impl Default for ThreadPool {
    /// [`ThreadPool::new`].
    fn default() -> Self {
        ThreadPool::new()
    }
}

future_core::executor::impl_executor_by_inherent_methods!(
    /// The [`Executor`](future_core::Executor) interface, for plain functions: the same calls as the inherent ones.
    ///
    /// ```
    /// use rustures::{Executor, MapOptions};
    ///
    /// fn double(x: u32) -> u32 { x * 2 }
    /// fn run(pool: &impl Executor) -> Vec<u32> {
    ///     pool.map(double, [1, 2, 3], MapOptions::new()).unwrap().map(Result::unwrap).collect()
    /// }
    /// let pool = rustures::ThreadPool::new();
    /// assert_eq!(run(&pool), [2, 4, 6]);
    /// assert_eq!(Executor::submit(&pool, double, 21).unwrap().result(), Ok(42));
    /// ```
    ThreadPool
);

impl Drop for ThreadPool {
    /// `shutdown()`, like the end of Python's `with` block: every queued task runs and
    /// every thread is joined. Two exceptions, so that a drop never blocks where it should
    /// not:
    /// - after a [`shutdown_with`](Self::shutdown_with) without `wait`, the pool is let
    ///   go: its threads finish the tasks they have and exit on their own;
    /// - with a [`drop_grace`](ThreadPoolBuilder::drop_grace) (or while the thread is panicking: a
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
            .field("stats", &self.stats())
            .field("shutdown", &self.registry.sleep.is_shut_down())
            .finish_non_exhaustive()
    }
}
