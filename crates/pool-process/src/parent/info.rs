//! What the pool shows of its workers: [`WorkerInfo`], for tests and operators.

use std::time::Instant;

/// A snapshot of one worker process, from [`ProcessPool::workers`](crate::ProcessPool::workers).
///
/// ```
/// fn main() {
///     let pool = rustures::ProcessPool::builder().max_workers(1).build().unwrap();
///     pool.submit(|x: u8| x, 1).unwrap().result().unwrap();
///     let workers = pool.workers();
///     assert_eq!(workers.len(), 1);
///     assert_eq!(workers[0].state, rustures::WorkerState::Idle);
///     assert_eq!(workers[0].tasks_sent, 1);
/// }
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerInfo {
    /// The worker's process id.
    pub pid: u32,
    /// What it is doing.
    pub state: WorkerState,
    /// Since when: its start, its last task's end, or when its running task got it.
    pub since: Instant,
    /// How many tasks (or `map` chunks) were sent to it.
    pub tasks_sent: u64,
}

/// What a worker process is doing (see [`WorkerInfo`]).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerState {
    /// Started: it has not answered the handshake yet, or runs the pool's initializer.
    Starting,
    /// Ready, with no task.
    Idle,
    /// Running task number `task` (tasks and `map` chunks are numbered from 0 in the order
    /// they were submitted), with `queued` more sent to it behind that one.
    Running {
        /// The number of the task it runs.
        task: u64,
        /// How many tasks wait behind it in this worker.
        queued: usize,
    },
    /// The pool stopped it (a timeout, `terminate_workers`, a broken pool): it is dying.
    Stopping,
}
