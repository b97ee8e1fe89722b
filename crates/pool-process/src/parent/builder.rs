//! [`ProcessPoolBuilder`]: the pool's settings, and the errors of building a pool.

use std::ffi::OsString;
use std::fmt;
use std::time::Duration;

use pool_engine::{SettingError, check_settings};

use crate::parent::pool::ProcessPool;
use crate::worker::SERVE_IN_MAIN_ENV;

/// What the pool does when a worker process dies unexpectedly (killed by a signal, or
/// exiting while it has tasks).
///
/// ```
/// use rustures::{ProcessPool, WorkerDeath};
/// let pool = ProcessPool::builder().on_worker_death(WorkerDeath::Break).build().unwrap();
/// # drop(pool);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WorkerDeath {
    /// Fail only the task the worker was running (with a `WorkerDied` error naming the pid
    /// and the signal or exit code), send the tasks queued behind it to other workers, and
    /// start a new worker. The default.
    #[default]
    Replace,
    /// Python's behaviour: the pool breaks for good. Every pending task fails with a
    /// `Broken` error, the other workers are stopped, and `submit` returns
    /// `SubmitError::Broken`.
    Break,
}

/// Why a pool could not be built.
///
/// ```
/// use rustures::{builders::ProcessPoolBuildError, ProcessPool};
/// let err = ProcessPool::builder().max_workers(0).build().unwrap_err();
/// assert!(matches!(err, ProcessPoolBuildError::ZeroWorkers));
/// assert_eq!(err.to_string(), "max_workers must be at least 1");
/// ```
#[non_exhaustive]
#[derive(Debug)]
pub enum ProcessPoolBuildError {
    /// `max_workers(0)`: a pool needs at least one worker (Python raises `ValueError`).
    ZeroWorkers,
    /// A setting out of its range (`max_tasks_per_child(0)`, `queue_bound(0)`,
    /// `tasks_per_worker` of 0 or above 64, `max_frame(0)`, a zero `timeout` or
    /// `handshake_timeout`, an `env` or `worker_args` entry that no process can be given):
    /// the text names it.
    InvalidSetting(&'static str),
    /// This process was started as a pool worker that serves where `main` calls
    /// [`init`](crate::init) (its pool was built with
    /// [`serve_before_main(false)`](ProcessPoolBuilder::serve_before_main), or the platform
    /// runs no constructor), and it builds a pool before it called `init`: building a pool
    /// here would start workers of workers without end. Workers that serve before `main`
    /// (the default) never get here.
    ///
    /// `build` does not return it: such a copy of the program prints this error on its
    /// stderr and exits there (with code 4), so that it does not go on with the program's
    /// own work while its pool waits for it; the pool sees the exit at once and reports it
    /// with the copy's words (see [`ProcessPool`]).
    NotInitialized,
    /// The [`initializer`](ProcessPoolBuilder::initializer) is not a function of the
    /// program's executable (it comes from a shared library), so a worker process cannot
    /// find it; the text says where it lies.
    ForeignInitializer(String),
    /// The pool's internal channel or thread could not be created.
    Io(std::io::Error),
}

impl fmt::Display for ProcessPoolBuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessPoolBuildError::ZeroWorkers => f.write_str("max_workers must be at least 1"),
            ProcessPoolBuildError::InvalidSetting(what) => {
                write!(f, "invalid process pool setting: {what}")
            }
            ProcessPoolBuildError::NotInitialized => f.write_str(
                "this process is a pool worker that serves where main calls init() \
                 (rustures::init(), or pool_process::init() without rustures), and it \
                 builds a pool before it called it: call init() before main builds a pool",
            ),
            ProcessPoolBuildError::ForeignInitializer(why) => {
                write!(f, "the initializer cannot run in a worker process: {why}")
            }
            ProcessPoolBuildError::Io(err) => write!(f, "cannot set up the process pool: {err}"),
        }
    }
}

impl std::error::Error for ProcessPoolBuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProcessPoolBuildError::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl From<SettingError> for ProcessPoolBuildError {
    fn from(err: SettingError) -> Self {
        match err {
            SettingError::ZeroWorkers => ProcessPoolBuildError::ZeroWorkers,
            SettingError::Invalid(what) => ProcessPoolBuildError::InvalidSetting(what),
        }
    }
}

impl From<std::io::Error> for ProcessPoolBuildError {
    fn from(err: std::io::Error) -> Self {
        ProcessPoolBuildError::Io(err)
    }
}

/// The settings of a [`ProcessPool`], Python's `ProcessPoolExecutor(max_workers,
/// initializer, max_tasks_per_child)` and more.
///
/// ```
/// use rustures::ProcessPool;
/// use std::time::Duration;
///
/// fn setup() { /* runs once in each worker before its first task */ }
///
/// let pool = ProcessPool::builder()
///     .max_workers(2)
///     .initializer(setup)
///     .max_tasks_per_child(1000)
///     .queue_bound(10_000)
///     .timeout(Duration::from_secs(60))
///     .build()
///     .unwrap();
/// assert_eq!(pool.max_workers(), 2);
/// ```
///
/// No setter panics: a setting out of its range makes [`build`](Self::build) fail with a
/// [`ProcessPoolBuildError`], and a builder does nothing until `build` is called:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// rustures::ProcessPool::builder().max_workers(2); // error: the builder is dropped
/// ```
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Clone)]
pub struct ProcessPoolBuilder {
    pub(crate) max_workers: Option<usize>,
    pub(crate) initializer: Option<fn()>,
    pub(crate) max_tasks_per_child: Option<u64>,
    pub(crate) queue_bound: Option<usize>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) on_worker_death: WorkerDeath,
    pub(crate) tasks_per_worker: usize,
    pub(crate) spin: Duration,
    pub(crate) worker_args: Option<Vec<OsString>>,
    pub(crate) env: Vec<(OsString, OsString)>,
    pub(crate) max_frame: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) drop_grace: Option<Duration>,
    pub(crate) print_task_panics: bool,
}

/// How long a started worker may take to reach `init` by default.
pub(crate) const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for ProcessPoolBuilder {
    fn default() -> Self {
        ProcessPoolBuilder {
            max_workers: None,
            initializer: None,
            max_tasks_per_child: None,
            queue_bound: None,
            timeout: None,
            on_worker_death: WorkerDeath::Replace,
            tasks_per_worker: 8,
            spin: Duration::from_micros(100),
            worker_args: None,
            env: Vec::new(),
            max_frame: ipc_queue::DEFAULT_MAX_FRAME,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            drop_grace: None,
            print_task_panics: false,
        }
    }
}

impl ProcessPoolBuilder {
    /// The default settings: one worker per CPU, started on demand, replaced when it dies;
    /// no initializer, no task limits, no queue bound, no timeout.
    ///
    /// ```
    /// let pool = rustures::ProcessPoolBuilder::new().build().unwrap();
    /// assert!(pool.max_workers() >= 1);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    pool_engine::setters! {
        /// At most this many worker processes (Python's `max_workers`); default: the number
        /// of CPUs. Workers start on demand, and an idle worker is reused before a new one
        /// starts. 0 makes [`build`](Self::build) fail with [`ProcessPoolBuildError::ZeroWorkers`].
        ///
        /// ```
        /// let pool = rustures::ProcessPool::builder().max_workers(3).build().unwrap();
        /// assert_eq!(pool.max_workers(), 3);
        /// ```
        fn max_workers(max_workers: usize) = Some(max_workers);

        /// A function each worker runs once before its first task (Python's `initializer`),
        /// to set up per-process state. If it panics, the pool breaks: pending tasks fail with
        /// a `Broken` error that quotes the panic, and `submit` returns `SubmitError::Broken`.
        ///
        /// ```
        /// fn setup() { /* open this worker's connection, load its model, ... */ }
        /// let pool = rustures::ProcessPool::builder().initializer(setup).build().unwrap();
        /// # drop(pool);
        /// ```
        fn initializer(initializer: fn()) = Some(initializer);

        /// A worker exits after this many tasks (a `map` chunk counts as one) and a new one
        /// replaces it on demand (Python's `max_tasks_per_child`): a cap on leaks in the tasks.
        ///
        /// 0 makes [`build`](Self::build) fail with [`ProcessPoolBuildError::InvalidSetting`].
        ///
        /// ```
        /// let pool = rustures::ProcessPool::builder().max_tasks_per_child(100).build().unwrap();
        /// # drop(pool);
        /// ```
        fn max_tasks_per_child(max_tasks: u64) = Some(max_tasks);

        /// Backpressure: once this many tasks wait for a worker, `submit` blocks until one is
        /// taken and `try_submit` returns `SubmitError::Full`. Default: unbounded, like
        /// Python (whose docs warn about the memory this can take).
        ///
        /// 0 makes [`build`](Self::build) fail with [`ProcessPoolBuildError::InvalidSetting`].
        ///
        /// ```
        /// let pool = rustures::ProcessPool::builder().queue_bound(1000).build().unwrap();
        /// # drop(pool);
        /// ```
        fn queue_bound(bound: usize) = Some(bound);

        /// A time limit per task: a task still running this long after it started has its
        /// worker killed (and replaced), and its future fails with a `TimedOut` error. The
        /// clock starts when the worker becomes free for the task (when it was sent to an idle
        /// worker, or when the worker's previous task replied). Zero makes
        /// [`build`](Self::build) fail with [`ProcessPoolBuildError::InvalidSetting`].
        ///
        /// ```
        /// let pool = rustures::ProcessPool::builder()
        ///     .timeout(std::time::Duration::from_secs(30))
        ///     .build()
        ///     .unwrap();
        /// # drop(pool);
        /// ```
        fn timeout(timeout: Duration) = Some(timeout);

        /// What to do when a worker dies unexpectedly: replace it (the default) or break the
        /// pool (Python's behaviour); see [`WorkerDeath`].
        ///
        /// ```
        /// use rustures::{ProcessPool, WorkerDeath};
        /// let pool = ProcessPool::builder().on_worker_death(WorkerDeath::Replace).build().unwrap();
        /// # drop(pool);
        /// ```
        fn on_worker_death(policy: WorkerDeath) = policy;

        /// How many small tasks may be sent to one worker before it answers (default 8): more
        /// than one hides the round trip between tiny tasks, and lets a busy worker send up to
        /// half as many replies in one write. Tasks go to idle workers first; a
        /// worker is given a task queued behind its running one only when all `max_workers`
        /// workers are up and recent tasks took under a millisecond on average, so long tasks
        /// never queue behind each other while another worker could take them. Large tasks
        /// (over 16 KiB encoded) are only sent to an idle worker. A task sent ahead can still be
        /// cancelled until the worker starts it: its future stays pending, and the worker skips
        /// it.
        ///
        /// 0, or more than 64, makes [`build`](Self::build) fail with
        /// [`ProcessPoolBuildError::InvalidSetting`].
        ///
        /// ```
        /// let pool = rustures::ProcessPool::builder().tasks_per_worker(4).build().unwrap();
        /// # drop(pool);
        /// ```
        fn tasks_per_worker(tasks: usize) = tasks;

        /// How long a worker, the pool's result thread, and a thread blocked on one of the
        /// pool's futures (`result`, `take`: see
        /// [`Promise::new_spinning`](future_core::executor::Promise::new_spinning)) poll
        /// before they block in the kernel (default 100 µs): a blocking wake-up across cores
        /// costs tens of microseconds on a VM, so a short spin keeps round trips fast. Only spent
        /// while tasks flow: an idle pool blocks and uses no CPU. `Duration::ZERO` never spins.
        ///
        /// ```
        /// let pool = rustures::ProcessPool::builder()
        ///     .spin(std::time::Duration::ZERO)
        ///     .build()
        ///     .unwrap();
        /// # drop(pool);
        /// ```
        fn spin(spin: Duration) = spin;
    }

    /// The command-line arguments a worker is started with. Default:
    /// `__pool_process_worker --exact -q`, which no program sees when its workers serve
    /// before `main` (the default: see [`serve_before_main`](Self::serve_before_main)), and
    /// which makes a test binary whose workers run `main` run no test and exit at once (see
    /// [`WORKER_TEST_NAME`](crate::WORKER_TEST_NAME)). Change it when the workers run `main`
    /// (`serve_before_main(false)`) and `main` looks at its arguments before it calls
    /// [`init`](crate::init). An argument with a NUL byte makes [`build`](Self::build) fail
    /// with [`ProcessPoolBuildError::InvalidSetting`].
    ///
    /// ```
    /// let pool = rustures::ProcessPool::builder().worker_args(["--worker"]).build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn worker_args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.worker_args = Some(args.into_iter().map(Into::into).collect());
        self
    }

    /// Sets an environment variable for the worker processes (they inherit the rest of the
    /// parent's environment). An empty name, a name with `=`, or a NUL byte in either makes
    /// [`build`](Self::build) fail with [`ProcessPoolBuildError::InvalidSetting`].
    ///
    /// ```
    /// let pool = rustures::ProcessPool::builder().env("RUST_BACKTRACE", "1").build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Where the workers serve. Default `true`: before the program's `main` runs at all, from
    /// the crate's constructor, on every platform with constructor sections (Linux and the
    /// other ELF platforms, macOS): whatever `main` does first (parse its arguments, build an
    /// async runtime) never runs in a worker, and `main` needs no [`init`](crate::init).
    ///
    /// `false`: a worker runs the program's `main` from the top and serves where `main`
    /// calls `init` (which never returns in a worker), as on a platform without constructor
    /// sections: for a program whose workers must run what `main` does before `init`, or
    /// whose tasks need what the program's other constructors set up (those that the linker
    /// placed after this crate's do not run in a worker that serves before `main`). A copy
    /// of the program that never calls `init` then fails to start (see [`ProcessPool`]), and
    /// one that builds a pool before it exits there (see [`ProcessPoolBuildError::NotInitialized`]).
    /// [`test_worker!`](crate::test_worker) serves before `main` either way.
    ///
    /// ```
    /// fn main() {
    ///     // Runs in every worker too (with `serve_before_main(false)`), and must come first:
    ///     rustures::init();
    ///     let pool = rustures::ProcessPool::builder()
    ///         .serve_before_main(false)
    ///         .build()
    ///         .unwrap();
    ///     assert_eq!(pool.submit(|x: u8| x + 1, 1).unwrap().result(), Ok(2));
    /// }
    /// ```
    pub fn serve_before_main(mut self, before_main: bool) -> Self {
        // Carried by the workers' environment (see `worker::SERVE_IN_MAIN_ENV`).
        self.env.retain(|(key, _)| key != SERVE_IN_MAIN_ENV);
        if !before_main {
            self.env.push((SERVE_IN_MAIN_ENV.into(), "1".into()));
        }
        self
    }

    pool_engine::setters! {
        /// The largest encoded task (arguments) or result, in bytes; default
        /// [`ipc_queue::DEFAULT_MAX_FRAME`] (64 MiB), at most [`ipc_queue::MAX_FRAME_LIMIT`]
        /// (a larger value means that). A larger argument fails its future at once and a larger
        /// result fails it when the worker finishes, both with a `Serialization` error; the
        /// worker lives on. 0 makes [`build`](Self::build) fail with
        /// [`ProcessPoolBuildError::InvalidSetting`].
        ///
        /// ```
        /// let pool = rustures::ProcessPool::builder().max_frame(1 << 30).build().unwrap();
        /// # drop(pool);
        /// ```
        fn max_frame(bytes: usize) = bytes.min(ipc_queue::MAX_FRAME_LIMIT);

        /// How long a started worker process may take to answer the pool's handshake (default
        /// 30 s): a worker serves before `main`, in milliseconds, unless the program's other
        /// constructors hold it up; with [`serve_before_main(false)`](Self::serve_before_main), a
        /// copy of the program that does long work before it calls [`init`](crate::init) (or
        /// never calls it, and does not exit either) is killed then. Such a worker counts as one
        /// that failed to start (see [`ProcessPool`]'s docs: a few in a row break the pool, with
        /// this reason). The initializer's run is not included. Zero makes
        /// [`build`](Self::build) fail with [`ProcessPoolBuildError::InvalidSetting`].
        ///
        /// ```
        /// let pool = rustures::ProcessPool::builder()
        ///     .handshake_timeout(std::time::Duration::from_secs(5))
        ///     .build()
        ///     .unwrap();
        /// # drop(pool);
        /// ```
        fn handshake_timeout(timeout: Duration) = timeout;

        /// How long dropping the pool lets its tasks run on: past it, the workers still running
        /// a task are killed (their futures fail with `WorkerDied`, saying so) and the tasks not
        /// started are cancelled. Default: no limit, so `Drop` waits for every task, like Python's
        /// `with` block, except while the thread is panicking (then no grace at all: a failing
        /// assertion in a thread that owns a pool with a stuck task must not hang). After
        /// `shutdown_with` without `wait` the drop returns at once and the grace runs in the background.
        ///
        /// ```
        /// let pool = rustures::ProcessPool::builder()
        ///     .drop_grace(std::time::Duration::from_secs(10))
        ///     .build()
        ///     .unwrap();
        /// drop(pool); // waits at most 10 s for running tasks
        /// ```
        fn drop_grace(grace: Duration) = Some(grace);

        /// Whether a task's panic is also printed by the panic hook (`thread '..' panicked at
        /// ..`) on stderr, by the worker process that caught it. Default: no, as Python prints
        /// nothing for a task's exception: the message travels in the future's
        /// [`TaskError`](future_core::TaskError). The same holds for the other panics of user code
        /// that fail one task (a `Serialize` or `Deserialize` impl, in a worker or on the pool's
        /// own threads; the initializer, whose panic breaks the pool); the argument's `Serialize`
        /// runs in the thread that calls `submit`, which prints its caught panics if it asked
        /// with [`print_panics`](future_core::executor::print_panics). With printing on, the
        /// panic hook also prints the backtrace that `RUST_BACKTRACE` asks for, which the task's time includes.
        ///
        /// ```
        /// fn main() {
        ///     let pool = rustures::ProcessPool::builder().print_task_panics(true).build().unwrap();
        ///     let err = pool.submit(|()| -> u8 { panic!("printed, and in the error") }, ()).unwrap();
        ///     assert!(err.result().is_err());
        /// }
        /// ```
        fn print_task_panics(print: bool) = print;
    }

    /// Checks the settings that have a range (before anything is created).
    pub(crate) fn validate(&self) -> Result<(), ProcessPoolBuildError> {
        check_settings(self.max_workers, self.tasks_per_worker, self.timeout)?;
        let invalid = [
            (
                self.max_tasks_per_child == Some(0),
                "max_tasks_per_child must be at least 1",
            ),
            (
                self.queue_bound == Some(0),
                "queue_bound must be at least 1",
            ),
            (
                self.handshake_timeout.is_zero(),
                "handshake_timeout must be longer than zero",
            ),
            (self.max_frame == 0, "max_frame must be at least 1 byte"),
            (
                !self.env.iter().all(|(k, v)| valid_env(k, v)),
                "an env name must be non-empty, without '=' or NUL, and its value without NUL",
            ),
            (
                self.worker_args.iter().flatten().any(has_nul),
                "worker_args must not contain a NUL byte",
            ),
        ];
        match invalid.into_iter().find(|(bad, _)| *bad) {
            Some((_, what)) => Err(ProcessPoolBuildError::InvalidSetting(what)),
            None => Ok(()),
        }
    }

    /// Builds the pool. No worker starts yet: they start on demand.
    ///
    /// Errors: [`ProcessPoolBuildError::ZeroWorkers`], [`ProcessPoolBuildError::InvalidSetting`],
    /// [`ProcessPoolBuildError::ForeignInitializer`], [`ProcessPoolBuildError::Io`].
    ///
    /// In a copy of the program that a pool started as a worker serving where `main` calls
    /// [`init`](crate::init), and that did not call it yet, `build` does not return: the
    /// copy exits there (see [`ProcessPoolBuildError::NotInitialized`]).
    ///
    /// ```
    /// fn main() {
    ///     let pool = rustures::ProcessPool::builder().max_workers(2).build().unwrap();
    ///     assert_eq!(pool.submit(|x: u8| x + 1, 1).unwrap().result(), Ok(2));
    /// }
    /// ```
    pub fn build(self) -> Result<ProcessPool, ProcessPoolBuildError> {
        ProcessPool::from_builder(self)
    }
}

fn has_nul(s: &OsString) -> bool {
    s.as_encoded_bytes().contains(&0)
}

/// True when `key=value` can be put in a process's environment.
fn valid_env(key: &OsString, value: &OsString) -> bool {
    !key.is_empty() && !key.as_encoded_bytes().contains(&b'=') && !has_nul(key) && !has_nul(value)
}

impl fmt::Debug for ProcessPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPoolBuilder")
            .field("max_workers", &self.max_workers)
            .field("initializer", &self.initializer.is_some())
            .field("max_tasks_per_child", &self.max_tasks_per_child)
            .field("queue_bound", &self.queue_bound)
            .field("timeout", &self.timeout)
            .field("on_worker_death", &self.on_worker_death)
            .field("tasks_per_worker", &self.tasks_per_worker)
            .field("spin", &self.spin)
            .field("worker_args", &self.worker_args)
            .field("env", &self.env)
            .field("max_frame", &self.max_frame)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("drop_grace", &self.drop_grace)
            .field("print_task_panics", &self.print_task_panics)
            .finish()
    }
}
