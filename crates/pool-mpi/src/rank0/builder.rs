//! [`MpiPoolBuilder`]: a pool's settings, and the errors of building one.

use std::fmt;
use std::time::Duration;

use pool_engine::{SettingError, check_settings};

/// Why an MPI pool could not be built.
///
/// ```
/// # #[cfg(feature = "mpi")] {
/// use rustures::builders::{MpiPoolBuildError, MpiPoolBuilder};
/// let err = MpiPoolBuilder::new().tasks_per_worker(0).validate().unwrap_err();
/// assert!(matches!(err, MpiPoolBuildError::InvalidSetting(_)));
/// # }
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MpiPoolBuildError {
    /// `max_workers(0)`: a pool needs at least one worker.
    ZeroWorkers,
    /// A setting out of its range (`spawn_workers(0)`, `tasks_per_worker` of 0 or above 64,
    /// a zero `timeout`): the text names it.
    InvalidSetting(&'static str),
    /// The program did not call [`init`](crate::init) before building a pool.
    NotInitialized,
    /// [`MpiPool::from_world`](crate::MpiPool::from_world) in a process that `mpirun` did
    /// not start with at least 2 ranks: there is no worker rank.
    NoWorkerRanks,
    /// Another pool holds the world's worker ranks; drop it first.
    WorldInUse,
    /// A worker runs another build of the program (checked by the build fingerprint when
    /// the pool takes it): the text says which rank and both fingerprints.
    NotSameBuild(String),
    /// This process does not take part in an MPI job (a process that an MPI rank started, a
    /// process pool's worker): it cannot build an MPI pool.
    NotInMpiJob,
    /// The [`initializer`](MpiPoolBuilder::initializer) is not a function of the program's
    /// executable (it comes from a shared library): the text says where it lies.
    ForeignInitializer(String),
    /// The MPI session ended (its guard was dropped) or could not start; the text says why.
    Mpi(String),
}

impl fmt::Display for MpiPoolBuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MpiPoolBuildError::ZeroWorkers => f.write_str("max_workers must be at least 1"),
            MpiPoolBuildError::InvalidSetting(what) => {
                write!(f, "invalid MPI pool setting: {what}")
            }
            MpiPoolBuildError::NotInitialized => f.write_str(
                "init() was not called: call rustures::init() (pool_mpi::init() without \
                 rustures) first thing in main, on every rank",
            ),
            MpiPoolBuildError::NoWorkerRanks => f.write_str(
                "no worker ranks: run the program with mpirun -n N (N >= 2; ranks 1..N-1 are \
                 the workers), or spawn workers with MpiPool::builder().spawn_workers(n)",
            ),
            MpiPoolBuildError::WorldInUse => {
                f.write_str("another MPI pool holds the world's worker ranks: drop it first")
            }
            MpiPoolBuildError::NotInMpiJob => f.write_str(
                "this process is not part of an MPI job (it was started by an MPI rank, or \
                 is a process pool's worker): it cannot build an MPI pool",
            ),
            MpiPoolBuildError::NotSameBuild(why) => f.write_str(why),
            MpiPoolBuildError::ForeignInitializer(why) => {
                write!(f, "the initializer cannot run on an MPI worker: {why}")
            }
            MpiPoolBuildError::Mpi(why) => write!(f, "MPI: {why}"),
        }
    }
}

impl std::error::Error for MpiPoolBuildError {}

/// Where a pool's workers come from.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// The world's ranks 1..N-1 (`mpirun -n N`).
    World,
    /// `n` processes started with `MPI_Comm_spawn`.
    Spawn(usize),
}

/// The settings of an [`MpiPool`](crate::MpiPool): mpi4py's `MPIPoolExecutor(max_workers,
/// initializer)` and more. [`build`](Self::build) uses the world's worker ranks;
/// [`spawn_workers`](Self::spawn_workers) starts its own.
///
/// ```
/// # #[cfg(feature = "mpi")] {
/// use std::time::Duration;
/// fn setup() {}
/// let builder = rustures::MpiPoolBuilder::new()
///     .max_workers(4)
///     .initializer(setup)
///     .tasks_per_worker(8)
///     .timeout(Duration::from_secs(60));
/// assert!(builder.validate().is_ok());
/// # }
/// ```
#[must_use = "a builder does nothing until `build` or `spawn_workers` is called"]
#[derive(Clone, Debug)]
pub struct MpiPoolBuilder {
    pub(crate) max_workers: Option<usize>,
    pub(crate) initializer: Option<fn()>,
    pub(crate) tasks_per_worker: usize,
    pub(crate) timeout: Option<Duration>,
    pub(crate) print_task_panics: bool,
    pub(crate) spin: Duration,
}

impl Default for MpiPoolBuilder {
    fn default() -> Self {
        MpiPoolBuilder {
            max_workers: None,
            initializer: None,
            tasks_per_worker: 32,
            timeout: None,
            print_task_panics: false,
            spin: Duration::ZERO,
        }
    }
}

impl MpiPoolBuilder {
    /// The default settings: every worker rank, no initializer, 32 small tasks in flight
    /// per worker, no time limit.
    pub fn new() -> Self {
        Self::default()
    }

    pool_engine::setters! {
        /// Use at most this many workers (mpi4py's `max_workers` in static mode): the ranks
        /// 1..=n of the world. Default: every worker rank. 0 makes `build` fail.
        fn max_workers(max_workers: usize) = Some(max_workers);

        /// A function each worker runs once before the pool's first task (mpi4py's
        /// `initializer`). If it panics, the pool breaks: pending tasks fail with a `Broken`
        /// error that quotes the panic.
        fn initializer(initializer: fn()) = Some(initializer);

        /// How many small tasks may be sent to one worker before it answers (default 32):
        /// tasks go to idle workers first; a worker gets tasks queued behind its running one
        /// only while recent tasks took under a millisecond, and only small ones (1 KiB
        /// encoded) without a time limit. A task sent to a worker has started: it can no longer
        /// be cancelled. 0 or more than 64 makes `build` fail.
        fn tasks_per_worker(tasks: usize) = tasks;

        /// A time limit per task, counted from its send: past it the future fails with
        /// `TimedOut` and the worker is retired (an MPI rank cannot be stopped without ending
        /// the job; the task runs on in it until it returns). Zero makes `build` fail.
        fn timeout(timeout: Duration) = Some(timeout);

        /// Print the panics of tasks in the workers (default: they travel in the futures'
        /// errors only).
        fn print_task_panics(print: bool) = print;

        /// How long a thread waiting on one of the pool's futures polls before it blocks
        /// (default: it blocks at once, which measured faster on a machine with fewer cores
        /// than busy threads; with a core to spare, 50 µs saves a wake-up per round trip).
        fn spin(spin: Duration) = spin;
    }

    /// Checks the settings: what `build` and `spawn_workers` refuse.
    pub fn validate(&self) -> Result<(), MpiPoolBuildError> {
        Ok(check_settings(
            self.max_workers,
            self.tasks_per_worker,
            self.timeout,
        )?)
    }
}

impl From<SettingError> for MpiPoolBuildError {
    fn from(err: SettingError) -> Self {
        match err {
            SettingError::ZeroWorkers => MpiPoolBuildError::ZeroWorkers,
            SettingError::Invalid(what) => MpiPoolBuildError::InvalidSetting(what),
        }
    }
}
