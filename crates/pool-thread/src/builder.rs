//! [`ThreadPoolBuilder`]: the settings of a [`ThreadPool`], and [`ThreadPoolBuildError`].

use std::fmt;
use std::time::Duration;

use crate::pool::ThreadPool;
use crate::registry::{Config, Registry};
use crate::sleep::MAX_THREADS;

/// How long an idle thread waits for work before it exits, unless set otherwise.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// How many threads beyond `max_workers` may start in place of workers blocked in a wait,
/// unless set otherwise.
pub const DEFAULT_MAX_EXTRA_THREADS: usize = 64;

/// Numbers the default thread name prefixes, like Python's `ThreadPoolExecutor-N` (a
/// plain counter, std's even under loom).
static POOLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Python's default `max_workers`: `min(32, cpus + 4)`.
///
/// ```
/// let n = rustures::builders::default_max_workers();
/// assert!((5..=32).contains(&n));
/// ```
pub fn default_max_workers() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cpus + 4).min(32)
}

/// The settings of a [`ThreadPool`]: Python's `ThreadPoolExecutor(max_workers,
/// thread_name_prefix, initializer)`, plus a queue bound, an idle keep-alive and a stack
/// size.
///
/// ```
/// use std::time::Duration;
///
/// let pool = rustures::ThreadPool::builder()
///     .max_workers(4)
///     .thread_name_prefix("crawler")
///     .initializer(|| println!("thread {:?} starts", std::thread::current().name()))
///     .queue_bound(1_000)
///     .keep_alive(Duration::from_secs(30))
///     .stack_size(1 << 20)
///     .build()
///     .unwrap();
/// let name = pool.spawn(|| std::thread::current().name().map(str::to_owned)).unwrap();
/// assert_eq!(name.result(), Ok(Some("crawler_0".to_owned())));
/// ```
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Clone)]
pub struct ThreadPoolBuilder {
    max_workers: Option<usize>,
    thread_name_prefix: Option<String>,
    initializer: Option<std::sync::Arc<dyn Fn() + Send + Sync>>,
    queue_bound: Option<usize>,
    keep_alive: Option<Duration>,
    stack_size: Option<usize>,
    max_extra_threads: Option<usize>,
    drop_grace: Option<Duration>,
    print_task_panics: bool,
}

impl Default for ThreadPoolBuilder {
    fn default() -> Self {
        ThreadPoolBuilder {
            max_workers: None,
            thread_name_prefix: None,
            initializer: None,
            queue_bound: None,
            keep_alive: Some(DEFAULT_KEEP_ALIVE),
            stack_size: None,
            max_extra_threads: None,
            drop_grace: None,
            print_task_panics: false,
        }
    }
}

impl ThreadPoolBuilder {
    /// The default settings (same as [`ThreadPool::builder`]).
    ///
    /// ```
    /// let pool = rustures::builders::ThreadPoolBuilder::new().build().unwrap();
    /// assert_eq!(pool.max_workers(), rustures::builders::default_max_workers());
    /// ```
    pub fn new() -> ThreadPoolBuilder {
        ThreadPoolBuilder::default()
    }

    /// The most threads the pool runs at once (default [`default_max_workers`]: Python's
    /// `min(32, cpus + 4)`). Threads start on demand, so a pool that never gets busy never
    /// starts them all. `0` makes [`build`](Self::build) fail with
    /// [`ThreadPoolBuildError::ZeroWorkers`].
    ///
    /// ```
    /// let err = rustures::ThreadPool::builder().max_workers(0).build().unwrap_err();
    /// assert_eq!(err, rustures::builders::ThreadPoolBuildError::ZeroWorkers);
    /// ```
    pub fn max_workers(mut self, max_workers: usize) -> ThreadPoolBuilder {
        self.max_workers = Some(max_workers);
        self
    }

    /// Names the threads `prefix_0`, `prefix_1`, ... (default `ThreadPool-N` with `N`
    /// numbering the pools of this process). A retired thread's number is reused. A
    /// prefix with a NUL byte makes [`build`](Self::build) fail with
    /// [`ThreadPoolBuildError::InvalidSetting`].
    ///
    /// ```
    /// let pool = rustures::ThreadPool::builder().thread_name_prefix("io").build().unwrap();
    /// let name = pool.spawn(|| std::thread::current().name().unwrap().to_owned()).unwrap();
    /// assert_eq!(name.result().unwrap(), "io_0");
    /// ```
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> ThreadPoolBuilder {
        self.thread_name_prefix = Some(prefix.into());
        self
    }

    /// Runs `initializer` once at the start of each worker thread, before its first task.
    /// If it panics the pool breaks (Python's `BrokenThreadPool`): every queued task fails
    /// with a [`TaskErrorKind::Broken`](future_core::TaskErrorKind::Broken) error naming
    /// the panic, and later submits return
    /// [`SubmitError::Broken`](future_core::SubmitError::Broken).
    ///
    /// ```
    /// thread_local!(static CONN: std::cell::Cell<u32> = const { std::cell::Cell::new(0) });
    /// let pool = rustures::ThreadPool::builder()
    ///     .initializer(|| CONN.with(|c| c.set(42)))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(pool.spawn(|| CONN.with(|c| c.get())).unwrap().result(), Ok(42));
    /// ```
    pub fn initializer<F>(mut self, initializer: F) -> ThreadPoolBuilder
    where
        F: Fn() + Send + Sync + 'static,
    {
        self.initializer = Some(std::sync::Arc::new(initializer));
        self
    }

    /// Lets at most `bound` tasks wait in the queue (default: unbounded, like Python).
    /// When it is full, [`ThreadPool::submit`] blocks until a worker takes a task and
    /// [`ThreadPool::try_submit`] returns
    /// [`SubmitError::Full`](future_core::SubmitError::Full); so a producer that outruns
    /// the pool holds memory flat. Tasks submitted by the pool's own tasks never block
    /// (that could deadlock) but do count. `0` makes [`build`](Self::build) fail.
    ///
    /// ```
    /// let pool = rustures::ThreadPool::builder().queue_bound(64).build().unwrap();
    /// let futures: Vec<_> = (0..1_000).map(|i| pool.spawn(move || i).unwrap()).collect();
    /// assert!(pool.stats().queued <= 64);
    /// assert_eq!(futures[999].result(), Ok(999));
    /// ```
    pub fn queue_bound(mut self, bound: usize) -> ThreadPoolBuilder {
        self.queue_bound = Some(bound);
        self
    }

    /// How long an idle thread waits for work before it exits (default
    /// [`DEFAULT_KEEP_ALIVE`]); `None` keeps idle threads forever (Python's behaviour).
    /// A thread only retires while no queued task counts on it.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = rustures::ThreadPool::builder().keep_alive(None).build().unwrap();
    /// let pool = rustures::ThreadPool::builder()
    ///     .keep_alive(Duration::from_millis(100))
    ///     .build()
    ///     .unwrap();
    /// ```
    pub fn keep_alive(mut self, keep_alive: impl Into<Option<Duration>>) -> ThreadPoolBuilder {
        self.keep_alive = keep_alive.into();
        self
    }

    /// The stack size of each worker thread, in bytes (default: std's, 2 MiB unless
    /// `RUST_MIN_STACK` says otherwise).
    ///
    /// ```
    /// let pool = rustures::ThreadPool::builder().stack_size(8 << 20).build().unwrap();
    /// assert_eq!(pool.spawn(|| 1).unwrap().result(), Ok(1));
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> ThreadPoolBuilder {
        self.stack_size = Some(bytes);
        self
    }

    /// How many threads beyond [`max_workers`](Self::max_workers) the pool may start in
    /// place of workers blocked in a wait (default [`DEFAULT_MAX_EXTRA_THREADS`]).
    ///
    /// A task that waits on a future it cannot run itself (one already started on
    /// another thread, a plain promise, `wait` on several, a scope's end) blocks its
    /// thread. While it is blocked it does not count toward `max_workers`: if queued tasks
    /// would otherwise have no thread, the pool starts one in its place, up to this many
    /// extra threads in all. So waits inside tasks do not starve the queue, and
    /// `max_workers` bounds the threads *running* tasks, not those blocked. When the
    /// blocked task goes on, the extra thread finishes the task it has and retires. `0`
    /// keeps Python's behaviour (blocked workers are not replaced; a pool whose every
    /// worker waits on queued tasks then deadlocks).
    ///
    /// ```
    /// use rustures::executor::Promise;
    /// let pool = rustures::ThreadPool::builder().max_workers(1).build().unwrap();
    /// let (promise, later) = Promise::new();
    /// let waiting = pool.spawn(move || later.result().unwrap() + 1).unwrap();
    /// // The one worker may be blocked in `later.result()`; this task still runs.
    /// pool.spawn(move || promise.set_result(41)).unwrap();
    /// assert_eq!(waiting.result(), Ok(42));
    /// ```
    pub fn max_extra_threads(mut self, extra: usize) -> ThreadPoolBuilder {
        self.max_extra_threads = Some(extra);
        self
    }

    /// How long dropping the pool lets its tasks run on: past it, the tasks not started
    /// are cancelled and the running ones are let go (a thread cannot be stopped from
    /// outside: it ends when its task returns). Default: no limit, so `Drop` waits for
    /// every task, like Python's `with` block, except while the thread is panicking (then
    /// no grace at all unless one is set: a failed assertion in a test that owns a pool
    /// with a stuck task must not hang). After `shutdown(wait = false)` the drop returns at
    /// once.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = rustures::ThreadPool::builder()
    ///     .drop_grace(Duration::from_secs(10))
    ///     .build()
    ///     .unwrap();
    /// drop(pool); // waits at most 10 s for running tasks
    /// ```
    pub fn drop_grace(mut self, grace: Duration) -> ThreadPoolBuilder {
        self.drop_grace = Some(grace);
        self
    }

    /// Whether a task's panic is also printed by the panic hook (`thread '..' panicked
    /// at ..`) on stderr. Default: no, as Python prints nothing for a task's exception: the
    /// message travels in the future's [`TaskError`](future_core::TaskError).
    ///
    /// ```
    /// let pool = rustures::ThreadPool::builder().print_task_panics(true).build().unwrap();
    /// let err = pool.spawn(|| -> u8 { panic!("printed, and in the error") }).unwrap().result();
    /// assert!(err.is_err());
    /// ```
    pub fn print_task_panics(mut self, print: bool) -> ThreadPoolBuilder {
        self.print_task_panics = print;
        self
    }

    /// Builds the pool. No thread starts until the first submit.
    ///
    /// Errors: [`ThreadPoolBuildError::ZeroWorkers`], [`ThreadPoolBuildError::TooManyWorkers`],
    /// [`ThreadPoolBuildError::InvalidSetting`].
    ///
    /// ```
    /// let pool = rustures::ThreadPool::builder().max_workers(2).build().unwrap();
    /// assert_eq!(pool.stats().workers, 0);
    /// ```
    pub fn build(self) -> Result<ThreadPool, ThreadPoolBuildError> {
        self.validate()?;
        Ok(ThreadPool::from_registry(self.registry_with_defaults()))
    }

    /// The most threads beyond `max_workers`, as set or by default (never past
    /// [`MAX_THREADS`] in all when not set).
    fn extra_threads(&self, max_workers: usize) -> usize {
        self.max_extra_threads
            .unwrap_or(DEFAULT_MAX_EXTRA_THREADS.min(MAX_THREADS.saturating_sub(max_workers)))
    }

    /// Checks every setting.
    fn validate(&self) -> Result<(), ThreadPoolBuildError> {
        let max_workers = self.max_workers.unwrap_or_else(default_max_workers);
        if max_workers == 0 {
            return Err(ThreadPoolBuildError::ZeroWorkers);
        }
        let threads = max_workers.saturating_add(self.extra_threads(max_workers));
        if threads > MAX_THREADS {
            return Err(ThreadPoolBuildError::TooManyWorkers {
                requested: threads,
                limit: MAX_THREADS,
            });
        }
        if self.queue_bound == Some(0) {
            return Err(ThreadPoolBuildError::InvalidSetting(
                "queue_bound must be at least 1",
            ));
        }
        if self
            .thread_name_prefix
            .as_ref()
            .is_some_and(|prefix| prefix.contains('\0'))
        {
            return Err(ThreadPoolBuildError::InvalidSetting(
                "thread_name_prefix must not contain a NUL byte",
            ));
        }
        Ok(())
    }

    /// The pool's shared state for settings that [`validate`](Self::validate) accepted
    /// (the defaults always are: `ThreadPool::new` builds with them directly).
    pub(crate) fn registry_with_defaults(self) -> Registry {
        let max_workers = self.max_workers.unwrap_or_else(default_max_workers);
        let max_extra_threads = self.extra_threads(max_workers);
        let thread_name_prefix = self.thread_name_prefix.unwrap_or_else(|| {
            format!(
                "ThreadPool-{}",
                POOLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            )
        });
        let config = Config {
            max_workers,
            max_extra_threads,
            drop_grace: self.drop_grace,
            print_task_panics: self.print_task_panics,
            thread_name_prefix,
            initializer: self.initializer,
            keep_alive: self.keep_alive,
            stack_size: self.stack_size,
        };
        Registry::new(config, self.queue_bound)
    }
}

impl fmt::Debug for ThreadPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolBuilder")
            .field("max_workers", &self.max_workers)
            .field("thread_name_prefix", &self.thread_name_prefix)
            .field("initializer", &self.initializer.as_ref().map(|_| "Fn()"))
            .field("queue_bound", &self.queue_bound)
            .field("keep_alive", &self.keep_alive)
            .field("stack_size", &self.stack_size)
            .field("max_extra_threads", &self.max_extra_threads)
            .field("drop_grace", &self.drop_grace)
            .field("print_task_panics", &self.print_task_panics)
            .finish()
    }
}

/// Why [`ThreadPoolBuilder::build`] refused the settings.
///
/// ```
/// use rustures::{builders::ThreadPoolBuildError, ThreadPool};
/// let err = ThreadPool::builder().queue_bound(0).build().unwrap_err();
/// assert!(matches!(err, ThreadPoolBuildError::InvalidSetting(_)));
/// assert_eq!(err.to_string(), "invalid thread pool setting: queue_bound must be at least 1");
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ThreadPoolBuildError {
    /// `max_workers` was 0 (Python raises `ValueError`); the message, "max_workers must be
    /// at least 1", is the process pool's.
    ZeroWorkers,
    /// `max_workers` (plus `max_extra_threads`) was above what the pool supports.
    TooManyWorkers {
        /// The threads asked for.
        requested: usize,
        /// The most supported.
        limit: usize,
    },
    /// A setting out of its range (`queue_bound(0)`, a `thread_name_prefix` with a NUL
    /// byte): the text names it.
    InvalidSetting(&'static str),
}

impl fmt::Display for ThreadPoolBuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThreadPoolBuildError::ZeroWorkers => f.write_str("max_workers must be at least 1"),
            ThreadPoolBuildError::TooManyWorkers { requested, limit } => {
                write!(
                    f,
                    "max_workers plus max_extra_threads is {requested}, \
                     at most {limit} threads are supported"
                )
            }
            ThreadPoolBuildError::InvalidSetting(what) => {
                write!(f, "invalid thread pool setting: {what}")
            }
        }
    }
}

impl std::error::Error for ThreadPoolBuildError {}
