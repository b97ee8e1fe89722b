//! [`Pool`]: a thread pool or a process pool, chosen at run time, with the calls they
//! share.

use std::fmt;

use future_core::{
    Map, MapOptions, MapUnordered, PoolStats, Portable, ShutdownOptions, SubmitError, TaskFuture,
};
// Named by the docs' links (the `Executor` impl is the shared macro's).
#[cfg(doc)]
use future_core::Executor;
use pool_process::ProcessPool;
use pool_thread::ThreadPool;

/// A thread pool or a process pool, picked at run time, with the calls every pool shares
/// (for plain functions: `fn(A) -> R` with a [`Portable`] argument and result). A trait
/// object of [`Executor`] is not possible (its methods are generic); this is the one type
/// that holds either pool.
///
/// ```
/// use rustures::{MapOptions, Pool};
///
/// fn cube(x: u64) -> u64 { x * x * x }
///
/// fn main() {
///     let cpu_bound = std::env::args().any(|a| a == "--cpu");
///     let pool = if cpu_bound { Pool::processes(2).unwrap() } else { Pool::threads(4).unwrap() };
///     assert_eq!(pool.submit(cube, 3).unwrap().result(), Ok(27));
///     let total: u64 = pool.map(cube, 1..=10u64, MapOptions::new()).unwrap().map(Result::unwrap).sum();
///     assert_eq!(total, 3025);
///     pool.shutdown();
/// }
/// ```
#[derive(Debug)]
pub enum Pool {
    /// Tasks run on the threads of this process.
    Threads(ThreadPool),
    /// Tasks run in worker processes of this program (which serve before `main` runs).
    Processes(ProcessPool),
    /// Tasks run on the worker ranks of an MPI job (the `mpi` feature; call
    /// [`init`](crate::init) first in `main`, on every rank).
    #[cfg(feature = "mpi")]
    Mpi(pool_mpi::MpiPool),
}

/// `$call` on whichever pool `$pool` holds, named `$name`.
macro_rules! on_each {
    ($pool:expr, $name:ident => $call:expr) => {
        match $pool {
            Pool::Threads($name) => $call,
            Pool::Processes($name) => $call,
            #[cfg(feature = "mpi")]
            Pool::Mpi($name) => $call,
        }
    };
}

/// Why [`Pool::threads`] or [`Pool::processes`] could not build the pool.
#[derive(Debug)]
#[non_exhaustive]
pub enum PoolBuildError {
    /// The thread pool's settings were refused.
    Threads(pool_thread::ThreadPoolBuildError),
    /// The process pool's settings were refused, or it could not start.
    Processes(pool_process::ProcessPoolBuildError),
    /// The MPI pool could not be built (no worker ranks, no MPI session, ...).
    #[cfg(feature = "mpi")]
    Mpi(pool_mpi::MpiPoolBuildError),
}

impl fmt::Display for PoolBuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolBuildError::Threads(err) => err.fmt(f),
            PoolBuildError::Processes(err) => err.fmt(f),
            #[cfg(feature = "mpi")]
            PoolBuildError::Mpi(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for PoolBuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PoolBuildError::Threads(err) => err.source(),
            PoolBuildError::Processes(err) => err.source(),
            #[cfg(feature = "mpi")]
            PoolBuildError::Mpi(err) => err.source(),
        }
    }
}

impl Pool {
    /// A thread pool of at most `max_workers` threads (other settings: the defaults; build
    /// a [`ThreadPool`] with its builder and convert it with `Pool::from` for more).
    pub fn threads(max_workers: usize) -> Result<Pool, PoolBuildError> {
        ThreadPool::builder()
            .max_workers(max_workers)
            .build()
            .map(Pool::Threads)
            .map_err(PoolBuildError::Threads)
    }

    /// A process pool of at most `max_workers` worker processes (other settings: the
    /// defaults; build a [`ProcessPool`] with its builder and convert it with `Pool::from`
    /// for more).
    pub fn processes(max_workers: usize) -> Result<Pool, PoolBuildError> {
        ProcessPool::builder()
            .max_workers(max_workers)
            .build()
            .map(Pool::Processes)
            .map_err(PoolBuildError::Processes)
    }

    /// The MPI pool of the world's worker ranks (ranks 1..N-1 under `mpirun -n N`; the
    /// `mpi` feature), default settings.
    #[cfg(feature = "mpi")]
    pub fn mpi_world() -> Result<Pool, PoolBuildError> {
        pool_mpi::MpiPool::from_world()
            .map(Pool::Mpi)
            .map_err(PoolBuildError::Mpi)
    }

    /// An MPI pool of `workers` processes started with `MPI_Comm_spawn` (the `mpi`
    /// feature), default settings.
    #[cfg(feature = "mpi")]
    pub fn mpi_spawn_workers(workers: usize) -> Result<Pool, PoolBuildError> {
        pool_mpi::MpiPool::builder()
            .spawn_workers(workers)
            .map(Pool::Mpi)
            .map_err(PoolBuildError::Mpi)
    }

    /// Schedules `f(arg)` and returns its future; see [`Executor::submit`].
    pub fn submit<A: Portable, R: Portable>(
        &self,
        f: fn(A) -> R,
        arg: A,
    ) -> Result<TaskFuture<R>, SubmitError> {
        on_each!(self, pool => pool.submit(f, arg))
    }

    /// Like [`submit`](Self::submit), never blocking on a full queue; see
    /// [`Executor::try_submit`].
    pub fn try_submit<A: Portable, R: Portable>(
        &self,
        f: fn(A) -> R,
        arg: A,
    ) -> Result<TaskFuture<R>, SubmitError> {
        on_each!(self, pool => pool.try_submit(f, arg))
    }

    /// Maps `f` over `items`, results in input order; see [`Executor::map`].
    pub fn map<'a, A, R, I>(
        &'a self,
        f: fn(A) -> R,
        items: I,
        options: MapOptions,
    ) -> Result<Map<'a, R>, SubmitError>
    where
        A: Portable,
        R: Portable,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'a,
    {
        on_each!(self, pool => pool.map(f, items, options))
    }

    /// Maps `f` over `items`, results as they finish with their positions; see
    /// [`Executor::map_unordered`].
    pub fn map_unordered<'a, A, R, I>(
        &'a self,
        f: fn(A) -> R,
        items: I,
        options: MapOptions,
    ) -> Result<MapUnordered<'a, R>, SubmitError>
    where
        A: Portable,
        R: Portable,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'a,
    {
        on_each!(self, pool => pool.map_unordered(f, items, options))
    }

    /// Python's `shutdown()`: waits for every task, cancels none.
    pub fn shutdown(&self) {
        self.shutdown_with(ShutdownOptions::default());
    }

    /// Python's `shutdown(wait, cancel_futures)`, named.
    pub fn shutdown_with(&self, options: ShutdownOptions) {
        on_each!(self, pool => pool.shutdown_with(options))
    }

    /// What the pool has done and is doing.
    pub fn stats(&self) -> PoolStats {
        on_each!(self, pool => pool.stats())
    }
}

impl From<ThreadPool> for Pool {
    fn from(pool: ThreadPool) -> Self {
        Pool::Threads(pool)
    }
}

impl From<ProcessPool> for Pool {
    fn from(pool: ProcessPool) -> Self {
        Pool::Processes(pool)
    }
}

#[cfg(feature = "mpi")]
impl From<pool_mpi::MpiPool> for Pool {
    fn from(pool: pool_mpi::MpiPool) -> Self {
        Pool::Mpi(pool)
    }
}

future_core::executor::impl_executor_by_inherent_methods!(
    /// The same calls through the shared interface, so a `Pool` goes where `&impl Executor`
    /// is asked for.
    Pool
);
