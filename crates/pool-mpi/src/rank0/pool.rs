//! [`MpiPool`]: the handle users hold.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, mpsc};
use std::time::Duration;

use future_core::{Portable, ShutdownOptions, SubmitError, TaskFuture};
use pool_engine::{Dispatcher, Finish, Front, NewTask, Worker as _};
use task_wire::Counters;

use crate::rank0::builder::{MpiPoolBuildError, MpiPoolBuilder, Source};
use crate::rank0::dispatch::{Rules, State, Worker};
use crate::rank0::mpi_thread::{self, Command, MpiThread};
use crate::session;

/// What a pool shares with the MPI thread.
pub(crate) struct Shared {
    pub(crate) rules: Rules,
    pub(crate) state: Mutex<State>,
    /// Signalled when the pool becomes idle while someone waits for it.
    idle: Condvar,
    pub(crate) counters: Counters,
    pub(crate) initializer: Option<isize>,
    pub(crate) print_panics: bool,
    spin: Duration,
    /// A worker rank that dies leaves the pool, and only its tasks fail (see `ulfm.rs`).
    fault_tolerant: bool,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // No user code runs under this lock: a poisoned one still holds a consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Settles `finish`'s futures (their done callbacks run here) and counts them.
    pub(crate) fn settle(&self, finish: Vec<Finish>) {
        if finish.is_empty() {
            return;
        }
        finish
            .into_iter()
            .for_each(|f| f.run("pool-mpi", &self.counters));
        self.notify_if_idle();
    }

    /// Waits until no task waits or runs (or the pool broke or was let go). Not on the MPI
    /// thread (in a done callback), which finishes the tasks: it would wait on itself, and
    /// every pool's completions with it.
    fn wait_idle(&self) {
        if mpi_thread::on_mpi_thread() {
            return;
        }
        let mut state = self.lock();
        state.waiters += 1;
        while !state.idle() && state.broken.is_none() {
            state = self
                .idle
                .wait_timeout(state, Duration::from_millis(100))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.waiters -= 1;
    }

    /// Wakes the threads waiting for the pool to be idle, if it is.
    pub(crate) fn notify_if_idle(&self) {
        self.notify_if_idle_in(&self.lock());
    }

    fn notify_if_idle_in(&self, state: &State) {
        if state.waiters > 0 && state.idle() {
            self.idle.notify_all();
        }
    }

    /// `count` tasks that the MPI thread took to complete are complete (and counted).
    pub(crate) fn completed(&self, count: usize) {
        let mut state = self.lock();
        state.completing -= count;
        self.notify_if_idle_in(&state);
    }
}

/// A pool of MPI worker processes running plain functions: mpi4py's `MPIPoolExecutor`,
/// with the same interface as the thread and process pools ([`Executor`](future_core::Executor), [`TaskFuture`]).
///
/// - [`from_world`](Self::from_world): the world's ranks 1..N-1 are the workers (static
///   mode, `mpirun -n N program`, as `mpiexec -n N python -m mpi4py.futures`);
/// - [`builder`](Self::builder)`.spawn_workers(n)`: `n` workers started with `MPI_Comm_spawn`
///   (as `MPIPoolExecutor(max_workers=n)`), from a program run with or without `mpirun`.
///
/// The program calls [`init`](crate::init) first in `main` on every rank. Tasks are plain
/// functions named across processes by offset (the workers run the same executable, at the
/// same path on every node: a build fingerprint checks it when the pool takes a worker).
///
/// Failures: a panic or error in a task fails only its future. A task past its
/// [`timeout`](crate::MpiPoolBuilder::timeout) fails with
/// [`TimedOut`](future_core::TaskErrorKind::TimedOut) and its worker is retired (it gets no more tasks).
/// A worker process that dies ends the whole MPI job (fail-stop), unless the job is fault
/// tolerant ([`fault_tolerant`](Self::fault_tolerant)): then only its tasks fail.
///
/// Done callbacks of this pool's futures run on the pool's MPI thread as replies arrive:
/// they may submit to any pool (submitting never waits here: the pool has no queue bound)
/// and shut this one down, but must not wait on a future of an MPI pool (only that thread
/// completes them). Dropping the pool waits for its tasks (Python's `with` block), then
/// lets its workers go; `shutdown()` or a drop in a done callback does not wait (the MPI
/// thread, which runs the callback, finishes the tasks afterwards).
///
/// ```no_run
/// use rustures::MapOptions;
/// fn cube(x: i64) -> i64 { x * x * x }
/// fn main() {
///     rustures::init();
///     let pool = rustures::MpiPool::builder().spawn_workers(2).unwrap();
///     let cubes: Vec<i64> = pool
///         .map(cube, 0..1000, MapOptions::new().chunksize(100))
///         .unwrap()
///         .map(Result::unwrap)
///         .collect();
///     assert_eq!(cubes[10], 1000);
/// }
/// ```
pub struct MpiPool {
    /// Makes the tasks, and queues them (see `Queue`).
    front: Front<Queue>,
}

/// The pool as its front end fills it.
struct Queue {
    shared: Arc<Shared>,
    mpi_thread: Arc<MpiThread>,
}

impl MpiPool {
    /// The pool of the world's worker ranks (1..N-1 under `mpirun -n N`), default settings.
    ///
    /// Errors: see [`MpiPoolBuilder::build`].
    ///
    /// ```no_run
    /// rustures::init();
    /// let pool = rustures::MpiPool::from_world().unwrap(); // mpirun -n 3: ranks 1 and 2
    /// assert_eq!(pool.max_workers(), 2);
    /// ```
    pub fn from_world() -> Result<MpiPool, MpiPoolBuildError> {
        MpiPoolBuilder::new().build()
    }

    /// The builder of a pool with other settings, or of spawned workers.
    ///
    /// ```no_run
    /// rustures::init();
    /// let pool = rustures::MpiPool::builder().tasks_per_worker(8).spawn_workers(2).unwrap();
    /// assert_eq!(pool.max_workers(), 2);
    /// ```
    pub fn builder() -> MpiPoolBuilder {
        MpiPoolBuilder::new()
    }

    pub(crate) fn start(
        builder: MpiPoolBuilder,
        source: Source,
    ) -> Result<MpiPool, MpiPoolBuildError> {
        builder.validate()?;
        if source == Source::Spawn(0) {
            return Err(MpiPoolBuildError::InvalidSetting(
                "spawn_workers needs at least 1 worker",
            ));
        }
        if source == Source::World && !session::launched() {
            session::started_mpi_thread()?; // `init` was called, and this process may use MPI
            return Err(MpiPoolBuildError::NoWorkerRanks);
        }
        let named = builder.initializer.map(task_wire::name_initializer);
        let initializer = named
            .transpose()
            .map_err(MpiPoolBuildError::ForeignInitializer)?;
        let mpi_thread = session::started_mpi_thread()?;
        let shared = Arc::new(Shared {
            rules: Rules {
                tasks_per_worker: builder.tasks_per_worker,
                timeout: builder.timeout,
            },
            state: Mutex::new(State::default()),
            idle: Condvar::new(),
            counters: Counters::default(),
            initializer,
            print_panics: builder.print_task_panics,
            spin: builder.spin,
            fault_tolerant: source == Source::World && crate::ulfm::fault_tolerant(),
        });
        let (reply, answer) = mpsc::sync_channel(1);
        mpi_thread
            .send(Command::Attach {
                shared: shared.clone(),
                source,
                max_workers: builder.max_workers,
                reply,
            })
            .map_err(MpiPoolBuildError::Mpi)?;
        match answer.recv() {
            Ok(Ok(())) => Ok(MpiPool {
                front: Front::new(Queue { shared, mpi_thread }),
            }),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(MpiPoolBuildError::Mpi("the MPI thread ended".to_owned())),
        }
    }

    pool_engine::front_methods! {
        examples: "rustures::MpiPool::from_world().unwrap()", "no_run";
        /// How many workers the pool has (mpi4py's `num_workers`; `max_workers`, as the other
        /// pools name it).
        ///
        /// ```no_run
        /// rustures::init();
        /// let pool = rustures::MpiPool::builder().max_workers(1).build().unwrap();
        /// assert_eq!(pool.max_workers(), 1);
        /// ```
        max_workers;
        /// Errors: [`SubmitError::Shutdown`] after `shutdown`, [`SubmitError::Broken`] when
        /// the pool broke or its session ended.
        submit;
        /// Past it, its future fails and its worker is retired: it gets no more tasks.
        submit_with_timeout;
        /// This pool has no queue bound: `try_submit` never blocks and is never full.
        try_submit;
        /// By default, `tasks_per_worker` chunks and one more per worker are in flight.
        map;
        map_unordered;
        /// In a done callback, which runs on the MPI thread that finishes the tasks, it
        /// returns at once and the tasks finish in the background.
        shutdown;
        /// Only the tasks not sent to a worker yet can be cancelled: a task sent to a worker
        /// has started. In a done callback (on the MPI thread, which finishes the tasks) it
        /// never waits.
        shutdown_with;
        /// Workers alive are those not retired.
        ///
        /// ```no_run
        /// rustures::init();
        /// let pool = rustures::MpiPool::from_world().unwrap();
        /// pool.submit(|x: u8| x, 1).unwrap().result().unwrap();
        /// pool.shutdown();
        /// assert_eq!(pool.stats().completed, 1);
        /// ```
        stats;
    }

    /// Runs `f(arg)` once on every worker of the pool (mpi4py users reach for
    /// `get_comm_workers` for such collective work): one future per worker, in rank order.
    /// Each task waits for its own worker.
    ///
    /// ```no_run
    /// fn host(_: ()) -> String { std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap() }
    /// rustures::init();
    /// let pool = rustures::MpiPool::from_world().unwrap();
    /// let hosts: Vec<String> = pool
    ///     .on_each_worker(host, ())
    ///     .unwrap()
    ///     .iter()
    ///     .map(|f| f.result().unwrap())
    ///     .collect();
    /// assert_eq!(hosts.len(), pool.max_workers());
    /// ```
    pub fn on_each_worker<A: Portable + Clone, R: Portable>(
        &self,
        f: fn(A) -> R,
        arg: A,
    ) -> Result<Vec<TaskFuture<R>>, SubmitError> {
        let ranks: Vec<i32> = {
            let state = self.shared().lock();
            state
                .workers
                .iter()
                .filter(|w| w.serves())
                .map(|w| w.rank)
                .collect()
        };
        ranks
            .into_iter()
            .map(|rank| {
                let timeout = self.shared().rules.timeout;
                self.front
                    .submit_task(f, arg.clone(), timeout, true, Some(rank))
            })
            .collect()
    }

    /// Whether a worker rank that dies fails only its own tasks, the pool going on with the
    /// others (`true`), or ends the MPI job (fail-stop). True for the world's ranks in a job
    /// started with `mpirun --with-ft ulfm` by a build with the `ulfm` feature (see
    /// `docs/MPI.md`); false otherwise, and always for spawned workers.
    ///
    /// ```no_run
    /// rustures::init();
    /// let pool = rustures::MpiPool::from_world().unwrap();
    /// println!("fault tolerant: {}", pool.fault_tolerant());
    /// ```
    pub fn fault_tolerant(&self) -> bool {
        self.shared().fault_tolerant
    }

    /// What the pool shares with the MPI thread.
    fn shared(&self) -> &Shared {
        &self.front.dispatcher().shared
    }
}

impl MpiPoolBuilder {
    /// Builds the pool of the world's worker ranks (static mode: ranks 1..N-1 under
    /// `mpirun -n N`, at most [`max_workers`](Self::max_workers) of them).
    ///
    /// Errors: a setting out of range; [`MpiPoolBuildError::NotInitialized`] without
    /// [`init`](crate::init); [`MpiPoolBuildError::NoWorkerRanks`] without `mpirun -n N` (N >= 2);
    /// [`MpiPoolBuildError::WorldInUse`] while another pool holds the ranks;
    /// [`MpiPoolBuildError::NotSameBuild`] when a rank runs another build.
    ///
    /// ```no_run
    /// rustures::init();
    /// let pool = rustures::MpiPool::builder().max_workers(2).build().unwrap();
    /// assert!(pool.max_workers() <= 2);
    /// ```
    pub fn build(self) -> Result<MpiPool, MpiPoolBuildError> {
        MpiPool::start(self, Source::World)
    }

    /// Starts `workers` new processes of this program (with this process's arguments) with
    /// `MPI_Comm_spawn` and builds the pool of them (mpi4py's
    /// `MPIPoolExecutor(max_workers=n)`); they serve in [`init`](crate::init) and exit when
    /// the pool is dropped. Works with or without `mpirun` (a program run alone starts MPI as a
    /// singleton). Spawning takes a fraction of a second; spawned workers talk over TCP.
    ///
    /// Errors: those of [`build`](Self::build) (`spawn_workers(0)` is
    /// [`MpiPoolBuildError::InvalidSetting`]), and [`MpiPoolBuildError::Mpi`] when the spawn fails.
    ///
    /// ```no_run
    /// rustures::init();
    /// let pool = rustures::MpiPool::builder().spawn_workers(2).unwrap();
    /// assert_eq!(pool.max_workers(), 2);
    /// ```
    pub fn spawn_workers(self, workers: usize) -> Result<MpiPool, MpiPoolBuildError> {
        MpiPool::start(self, Source::Spawn(workers))
    }
}

impl Dispatcher for Queue {
    const CRATE: &'static str = "pool-mpi";
    const WORKER: &'static str = "an MPI worker";
    /// The rank of the one worker that may run the task (`on_each_worker`), if any.
    type Target = Option<i32>;
    type Worker = Worker;
    type State = State;

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.lock()
    }

    /// The pool's workers are fixed when it is built.
    fn max_workers(&self) -> usize {
        self.shared.lock().workers.len()
    }

    /// Queues the task for the MPI thread, which dispatches it. The pool has no queue
    /// bound: it never blocks and is never full.
    fn enqueue(&self, task: NewTask<Option<i32>>, _: bool) -> Result<(), SubmitError> {
        {
            let mut state = self.shared.lock();
            if let Some(refused) = state.refusal() {
                return Err(refused);
            }
            state.pending.push_back(task.into());
        }
        self.mpi_thread.poke();
        Ok(())
    }

    fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    fn spin(&self) -> Duration {
        self.shared.spin
    }

    fn timeout(&self) -> Option<Duration> {
        self.shared.rules.timeout
    }

    fn settle(&self, finish: Vec<Finish>) {
        self.shared.settle(finish);
    }

    /// Nothing is sent ahead that a worker could skip: only the waiting tasks cancel.
    fn shutting_down(&self, _: &mut State, _: bool) {}

    /// Pokes the MPI thread, which finishes the tasks, then waits for them (see
    /// `Shared::wait_idle`).
    fn after_shutdown(&self, wait: bool) {
        self.mpi_thread.poke();
        if wait {
            self.shared.wait_idle();
        }
    }

    /// `tasks_per_worker` and one more per worker.
    fn default_buffersize(&self) -> usize {
        let workers = self.shared.lock().workers.len();
        workers
            .max(1)
            .saturating_mul(self.shared.rules.tasks_per_worker + 1)
    }
}

future_core::executor::impl_executor_by_inherent_methods!(MpiPool);

impl Drop for MpiPool {
    /// [`shutdown()`](MpiPool::shutdown) (wait for the tasks), then lets the workers go:
    /// the world's ranks wait for the next pool, spawned workers exit. While the thread
    /// panics, the waiting tasks are cancelled and the running ones are not waited for. On
    /// the MPI thread (a done callback that held the last handle) it does not wait either:
    /// the workers are let go once the tasks are done.
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        self.shutdown_with(ShutdownOptions {
            wait: !panicking,
            cancel_futures: panicking,
        });
        let queue = self.front.dispatcher();
        let _ = queue.mpi_thread.send(Command::Detach(queue.shared.clone()));
    }
}

// A pool is shared between threads as the other pools are.
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<MpiPool>();
};

impl fmt::Debug for MpiPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.front.fmt_pool("MpiPool", f)
    }
}
