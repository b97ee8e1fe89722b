//! [`ProcessPool`]: the handle users hold.

use std::ffi::OsString;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use future_core::{SubmitError, TaskError, TaskErrorKind, TaskFuture};

use crate::messages;
use crate::messages::FromWorker;
use crate::parent::builder::{ProcessPoolBuildError, ProcessPoolBuilder};
use crate::parent::dispatch::{Flush, Rules, State, Worker};
use crate::parent::info::WorkerInfo;
use crate::parent::manager::{self, Manager, Shared};
use crate::parent::manager_threads::ManagerThreads;
use crate::parent::spawn::Launch;
use crate::worker::{self, WORKER_TEST_NAME};
use pool_engine::{Dispatcher, Finish, Front, NewTask};
use task_wire::Counters;

/// A pool of worker processes running plain functions: Python's `ProcessPoolExecutor`,
/// for CPU-bound work that needs every core.
///
/// - **Workers** are this program started again, serving before its `main` runs (see
///   [`serve_before_main`](ProcessPoolBuilder::serve_before_main)); they start on demand up
///   to [`max_workers`](ProcessPoolBuilder::max_workers) and die with the pool's process.
/// - **A worker that dies** fails only the task it ran
///   ([`WorkerDied`](future_core::TaskErrorKind::WorkerDied), with its pid and signal or
///   exit code) and is replaced ([`WorkerDeath::Break`](crate::WorkerDeath::Break) is
///   Python's way). Three failed starts in a row break the pool, with an error that quotes
///   the exit and the worker's last lines of stderr.
/// - **Cancelling** succeeds until the task starts, also when it was sent ahead to a busy
///   worker (see [`tasks_per_worker`](ProcessPoolBuilder::tasks_per_worker)).
/// - **Done callbacks** run on the pool's manager thread and may call any pool method
///   without deadlock (a standby thread takes over the replies while one blocks); keep them
///   short all the same.
/// - **Dropping** the pool is [`shutdown()`](Self::shutdown): it waits for every task,
///   except after `shutdown_with` without `wait`, or past a
///   [`drop_grace`](ProcessPoolBuilder::drop_grace), or while the thread panics.
///
/// ```
/// use rustures::ProcessPool;
///
/// fn collatz_steps(mut n: u64) -> u32 {
///     let mut steps = 0;
///     while n != 1 {
///         n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
///         steps += 1;
///     }
///     steps
/// }
///
/// fn main() {
///     rustures::init();
///     let pool = ProcessPool::builder().max_workers(2).build().unwrap();
///     let future = pool.submit(collatz_steps, 27).unwrap();
///     assert_eq!(future.result(), Ok(111));
///     let steps: Vec<u32> = pool
///         .map(collatz_steps, 1..=5, Default::default())
///         .unwrap()
///         .map(Result::unwrap)
///         .collect();
///     assert_eq!(steps, vec![0, 1, 7, 2, 5]);
/// }
/// ```
pub struct ProcessPool {
    /// Makes the tasks, and queues them (see `Queue`).
    front: Front<Queue>,
}

/// The pool as its front end fills it.
struct Queue {
    shared: Arc<Shared>,
    /// The threads that manage the pool (see `manager_threads.rs`).
    manager_threads: crate::sync::Arc<ManagerThreads<Manager>>,
}

impl ProcessPool {
    /// A pool with the default settings (one worker per CPU at most); see
    /// [`builder`](Self::builder) for the others.
    ///
    /// Errors: see [`ProcessPoolBuilder::build`].
    ///
    /// ```
    /// let pool = rustures::ProcessPool::new().unwrap();
    /// assert_eq!(pool.max_workers(), std::thread::available_parallelism().unwrap().get());
    /// ```
    pub fn new() -> Result<ProcessPool, ProcessPoolBuildError> {
        ProcessPoolBuilder::new().build()
    }

    /// The builder of a pool with other settings.
    ///
    /// ```
    /// let pool = rustures::ProcessPool::builder().max_workers(2).build().unwrap();
    /// assert_eq!(pool.max_workers(), 2);
    /// ```
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder::new()
    }

    pub(crate) fn from_builder(
        builder: ProcessPoolBuilder,
    ) -> Result<ProcessPool, ProcessPoolBuildError> {
        worker::end_uninitialized_copy(); // a worker copy that forgot `init` ends here
        builder.validate()?;
        let named = builder.initializer.map(task_wire::name_initializer);
        let initializer = named
            .transpose()
            .map_err(ProcessPoolBuildError::ForeignInitializer)?;
        let max_workers = builder.max_workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        let current_exe = std::env::current_exe()?;
        // `/proc/self/exe` names the running inode even if the file was replaced since.
        let program: OsString = if std::path::Path::new("/proc/self/exe").exists() {
            "/proc/self/exe".into()
        } else {
            current_exe.clone().into()
        };
        let args = builder.worker_args.unwrap_or_else(|| {
            [WORKER_TEST_NAME, "--exact", "-q"]
                .into_iter()
                .map(OsString::from)
                .collect()
        });
        let (wake_tx, wake_rx) = ipc_queue::channel::<FromWorker>()?;
        let shared = Arc::new(Shared {
            rules: Rules {
                max_workers,
                max_tasks_per_child: builder.max_tasks_per_child,
                queue_bound: builder.queue_bound,
                timeout: builder.timeout,
                on_worker_death: builder.on_worker_death,
                tasks_per_worker: builder.tasks_per_worker,
                handshake_timeout: builder.handshake_timeout,
                drop_grace: builder.drop_grace,
            },
            launch: Launch {
                program,
                arg0: current_exe.into(),
                args,
                env: builder.env,
                initializer,
                max_tasks: builder.max_tasks_per_child,
                spin: builder.spin,
                max_frame: builder.max_frame,
                print_panics: builder.print_task_panics,
            },
            fingerprint: messages::fingerprint(),
            state: Mutex::new(State::default()),
            room: Condvar::new(),
            wake_tx,
            counters: Counters::default(),
        });
        let manager = manager::new(shared.clone(), wake_rx)?;
        let manager_threads = ManagerThreads::new(shared.clone());
        ManagerThreads::start_thread(&manager_threads, None)?; // the standby
        if let Err(err) = ManagerThreads::start_thread(&manager_threads, Some(manager)) {
            manager_threads.abandon();
            return Err(err.into());
        }
        Ok(ProcessPool {
            front: Front::new(Queue {
                shared,
                manager_threads,
            }),
        })
    }

    pool_engine::front_methods! {
        examples: "rustures::ProcessPool::new().unwrap()", "";
        /// The most worker processes this pool runs at once.
        ///
        /// ```
        /// let pool = rustures::ProcessPool::builder().max_workers(4).build().unwrap();
        /// assert_eq!(pool.max_workers(), 4);
        /// ```
        max_workers;
        /// With a [`queue_bound`](ProcessPoolBuilder::queue_bound), it blocks while that many
        /// tasks wait. The future also fails with [`WorkerDied`](TaskErrorKind::WorkerDied)
        /// when its worker died running it (the pid is the worker's, and so is the signal or
        /// exit code), and with `Serialization` when the argument or the result exceeds the
        /// frame limit.
        ///
        /// An argument larger than [`max_frame`](ProcessPoolBuilder::max_frame) (64 MiB by
        /// default) is accepted here and fails its future at once, with a `Serialization`
        /// error that gives its size and names the setting: the argument is encoded straight
        /// into the frame, so its size is known only here, and like Python (where a pickling
        /// error is set on the future) every failure of one task's data is reported on its
        /// future, the same way for `submit`, `map` (one chunk's error) and the
        /// [`Executor`](future_core::Executor) trait. `submit`'s own errors are about the
        /// pool, never about one task's data.
        ///
        /// Errors: [`SubmitError::Shutdown`] after `shutdown`, [`SubmitError::Broken`] when
        /// the pool broke.
        submit;
        /// Past it, its worker is killed (and replaced) and its future fails with
        /// [`TimedOut`](TaskErrorKind::TimedOut).
        submit_with_timeout;
        /// The queue is bounded by [`queue_bound`](ProcessPoolBuilder::queue_bound):
        ///
        /// ```
        /// use rustures::SubmitError;
        /// fn nap(ms: u64) { std::thread::sleep(std::time::Duration::from_millis(ms)) }
        /// fn main() {
        ///     rustures::init();
        ///     let pool = rustures::ProcessPool::builder()
        ///         .max_workers(1).queue_bound(1).build().unwrap();
        ///     let mut futures = Vec::new();
        ///     let full = loop {
        ///         match pool.try_submit(nap, 200) {
        ///             Ok(future) => futures.push(future),
        ///             Err(err) => break err,
        ///         }
        ///     };
        ///     assert_eq!(full, SubmitError::Full);
        /// }
        /// ```
        try_submit;
        /// By default, 3 chunks per worker are submitted at a time: one running, two sent ahead
        /// or waiting. A chunk whose worker died gives the error for each of its elements;
        /// dropping the iterator cancels the chunks that have not started (also those sent
        /// ahead to a busy worker).
        map;
        map_unordered;
        /// It also waits for every worker to exit.
        shutdown;
        /// The tasks that have not started are those waiting for a worker and those sent
        /// ahead to a busy one (see [`submit`](Self::submit)). With `wait`, it also returns
        /// only once every worker exited and was reaped.
        shutdown_with;
        /// Here `running` counts the tasks sent ahead behind a running one too; `failed`
        /// counts panics, dead or killed workers, timeouts, serialization errors and a broken
        /// pool's tasks; `workers_replaced`, the worker processes started to replace one that
        /// died, was killed, timed out or retired (`max_tasks_per_child`).
        ///
        /// ```
        /// fn square(x: u64) -> u64 { x * x }
        /// fn main() {
        ///     rustures::init();
        ///     let pool = rustures::ProcessPool::builder().max_workers(1).build().unwrap();
        ///     assert_eq!(pool.stats().workers_started, 0, "workers start on demand");
        ///     assert_eq!(pool.submit(square, 3).unwrap().result(), Ok(9));
        ///     pool.shutdown();
        ///     let stats = pool.stats();
        ///     assert_eq!((stats.completed, stats.workers_started, stats.workers), (1, 1, 0));
        /// }
        /// ```
        stats;
    }

    /// Sends SIGTERM to every worker process now and shuts the pool down (Python 3.14's
    /// `terminate_workers`): the tasks not yet sent are cancelled, the running ones fail
    /// with a [`WorkerDied`](TaskErrorKind::WorkerDied) error, those sent but not started
    /// fail with [`Broken`](TaskErrorKind::Broken). Returns once every worker was reaped.
    ///
    /// ```
    /// let pool = rustures::ProcessPool::new().unwrap();
    /// pool.terminate_workers();
    /// assert!(pool.submit(|x: u8| x, 1).is_err());
    /// ```
    pub fn terminate_workers(&self) {
        self.stop_workers(rustix::process::Signal::TERM, "by terminate_workers");
    }

    /// Like [`terminate_workers`](Self::terminate_workers), with SIGKILL, which a worker
    /// cannot catch or ignore (Python 3.14's `kill_workers`).
    ///
    /// ```
    /// fn forever(_: ()) { loop { std::thread::park() } }
    /// fn main() {
    ///     rustures::init();
    ///     let pool = rustures::ProcessPool::new().unwrap();
    ///     let future = pool.submit(forever, ()).unwrap();
    ///     while !future.running() {
    ///         std::thread::sleep(std::time::Duration::from_millis(1)); // the worker starts
    ///     }
    ///     pool.kill_workers();
    ///     let err = future.exception().unwrap().unwrap();
    ///     assert_eq!(err.kind(), rustures::TaskErrorKind::WorkerDied);
    /// }
    /// ```
    pub fn kill_workers(&self) {
        self.stop_workers(rustix::process::Signal::KILL, "by kill_workers");
    }

    fn stop_workers(&self, signal: rustix::process::Signal, why: &'static str) {
        let mut cancelled = Vec::new();
        {
            let mut state = self.shared().lock();
            state.terminate(signal, why.to_owned(), &mut cancelled);
            self.shared().wake(&mut state);
            self.shared().room.notify_all();
        }
        self.front.dispatcher().settle(cancelled);
        self.join_manager();
    }

    /// The process ids of the pool's live worker processes (started ones included).
    ///
    /// ```
    /// let pool = rustures::ProcessPool::new().unwrap();
    /// assert!(pool.worker_pids().is_empty(), "workers start on demand");
    /// ```
    pub fn worker_pids(&self) -> Vec<u32> {
        self.shared().lock().workers.iter().map(|w| w.pid).collect()
    }

    /// What each live worker process is doing: starting, idle, running which task (and how
    /// many queued behind it), or stopping; since when.
    ///
    /// ```
    /// let pool = rustures::ProcessPool::new().unwrap();
    /// assert!(pool.workers().is_empty(), "workers start on demand");
    /// ```
    pub fn workers(&self) -> Vec<WorkerInfo> {
        self.shared()
            .lock()
            .workers
            .iter()
            .map(|w| w.info())
            .collect()
    }

    /// The pid of the worker process that has `future`'s task (running it, or queued behind
    /// the task it runs); `None` when the task waits for a worker, is done, or is not this
    /// pool's.
    ///
    /// ```
    /// fn main() {
    ///     rustures::init();
    ///     let pool = rustures::ProcessPool::new().unwrap();
    ///     let future = pool.submit(|ms: u64| std::thread::sleep(std::time::Duration::from_millis(ms)), 50).unwrap();
    ///     while !future.running() {
    ///         std::thread::yield_now();
    ///     }
    ///     assert_eq!(pool.worker_pid(&future), Some(pool.worker_pids()[0]));
    ///     future.result().unwrap();
    ///     assert_eq!(pool.worker_pid(&future), None);
    /// }
    /// ```
    pub fn worker_pid<T: 'static>(&self, future: &TaskFuture<T>) -> Option<u32> {
        let state = self.shared().lock();
        let mut workers = state.workers.iter();
        workers
            .find(|w| w.in_flight.iter().any(|t| t.completion.is_for(future)))
            .map(|w| w.pid)
    }

    /// The state shared with the manager.
    fn shared(&self) -> &Shared {
        &self.front.dispatcher().shared
    }

    /// Waits until the pool is finished: every task settled, every worker reaped.
    fn join_manager(&self) {
        self.front.dispatcher().manager_threads.wait_finished();
    }
}

impl Dispatcher for Queue {
    const CRATE: &'static str = "pool-process";
    const WORKER: &'static str = "a worker process";
    type Target = ();
    type Worker = Worker;
    type State = State;

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.lock()
    }

    fn max_workers(&self) -> usize {
        self.shared.rules.max_workers
    }

    /// The arguments are encoded straight into the frame: its size is known only now.
    fn check_frame(&self, frame: &[u8]) -> Result<(), TaskError> {
        let max = self.shared.launch.max_frame;
        if frame.len() > max {
            return Err(TaskError::new(
                TaskErrorKind::Serialization,
                format!(
                    "the task's arguments ({} bytes encoded) are larger than the frame limit \
                     of {max} bytes (raise it with ProcessPoolBuilder::max_frame)",
                    frame.len()
                ),
            ));
        }
        Ok(())
    }

    /// Queues a task, dispatches what can be dispatched, and writes what was dispatched
    /// after the unlock.
    fn enqueue(&self, task: NewTask<()>, block: bool) -> Result<(), SubmitError> {
        let rules = &self.shared.rules;
        let mut state = self.shared.lock();
        loop {
            if let Some(refused) = state.refusal() {
                return Err(refused);
            }
            let Some(bound) = rules.queue_bound else {
                break;
            };
            if state.pending.len() < bound {
                break;
            }
            state.drop_cancelled(&self.shared.counters);
            if state.pending.len() < bound {
                break;
            }
            if !block {
                return Err(SubmitError::Full);
            }
            // A done callback of this pool waiting here: the manager goes on without it.
            self.manager_threads.blocking();
            state = self
                .shared
                .room
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        state.pending.push_back(task.into());
        let flushes = state.dispatch(rules, &self.shared.counters);
        self.shared.wake_if_wanted(&mut state);
        drop(state);
        flushes.into_iter().for_each(Flush::run);
        Ok(())
    }

    fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    fn spin(&self) -> Duration {
        self.shared.launch.spin
    }

    fn timeout(&self) -> Option<Duration> {
        self.shared.rules.timeout
    }

    /// Completes `finish`'s futures (their done callbacks run here) and counts them.
    fn settle(&self, finish: Vec<Finish>) {
        let counters = &self.shared.counters;
        finish
            .into_iter()
            .for_each(|f| f.run("pool-process", counters));
    }

    /// Without `wait`, dropping the pool does not wait either; the manager and the
    /// submitters blocked on the queue bound are woken.
    fn shutting_down(&self, state: &mut State, wait: bool) {
        state.let_go |= !wait;
        self.shared.wake(state);
        self.shared.room.notify_all();
    }

    /// Waits for every task and every worker (see `join_manager`).
    fn after_shutdown(&self, wait: bool) {
        if wait {
            self.manager_threads.wait_finished();
        }
    }

    /// Two chunks per worker, plus the queued ones.
    /// Three chunks per worker: one running and two sent ahead or waiting (more would hold
    /// more large chunks in memory, which are never sent ahead).
    fn default_buffersize(&self) -> usize {
        self.shared.rules.max_workers.saturating_mul(3)
    }
}

future_core::executor::impl_executor_by_inherent_methods!(ProcessPool);

impl Drop for ProcessPool {
    /// [`shutdown()`](ProcessPool::shutdown) (wait, cancel nothing), bounded by the
    /// [`drop_grace`](ProcessPoolBuilder::drop_grace) when one is set; after
    /// [`shutdown_with`](ProcessPool::shutdown_with) without `wait`, returns at once. While
    /// the thread panics, cancels the waiting tasks and kills the workers still running one
    /// after the grace period (none by default), so that unwinding never hangs on a stuck
    /// task.
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        let grace = match self.shared().rules.drop_grace {
            None if panicking => Some(Duration::ZERO),
            grace => grace,
        };
        let mut cancelled = Vec::new();
        let let_go = {
            let mut state = self.shared().lock();
            state.shutdown = true;
            if panicking {
                state.cancel_pending(&mut cancelled);
            }
            if let Some(grace) = grace {
                state.terminate_at = Some((Instant::now() + grace, grace));
            }
            self.shared().wake(&mut state);
            self.shared().room.notify_all();
            state.let_go
        };
        self.front.dispatcher().settle(cancelled);
        if !let_go {
            self.join_manager();
        }
    }
}

impl fmt::Debug for ProcessPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.front.fmt_pool("ProcessPool", f)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pool_can_be_shared_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<super::ProcessPool>();
        send_sync::<crate::ProcessPoolBuilder>();
    }
}
