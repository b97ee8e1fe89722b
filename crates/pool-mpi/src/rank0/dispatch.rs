//! One pool's state on rank 0, and the decisions made under its lock: which waiting task
//! goes to which worker, which task timed out, what a reply answers. No MPI here and no
//! user code: the MPI thread sends what [`State::dispatch`] decided and completes the futures
//! after the unlock.
//!
//! Dispatch is `pool_engine::Table::dispatch`, as in `pool-process`: the oldest task goes to
//! an idle worker; when every worker is busy and recent tasks were short, a small task is
//! sent ahead, queued behind the worker's running one, up to `tasks_per_worker`. A large
//! task or one with a time limit goes only to an idle worker (see [`Rules::send_ahead`]).
//! What differs here: a worker is named by its rank, a task may be for one rank only
//! (`on_each_worker`), and a worker's frames wait in its `outgoing` list for the MPI thread.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use future_core::{TaskError, TaskErrorKind};
use pool_engine::{Finish, InFlight, Phase, SendAhead, Table, Worker as _};
use task_wire::{Counters, Settled};

use crate::messages;

/// A pool's fixed settings, as its dispatch uses them.
#[derive(Clone, Debug)]
pub(crate) struct Rules {
    /// The most tasks sent to one worker before it answers.
    pub(crate) tasks_per_worker: usize,
    /// The pool's default time limit per task.
    pub(crate) timeout: Option<Duration>,
}

impl Rules {
    /// When a task is sent ahead to a busy worker.
    pub(crate) fn send_ahead(&self) -> SendAhead {
        SendAhead {
            // What keeps rank 0 and a worker from waiting on each other (see `messages::SMALL`).
            small: messages::SMALL,
            // A time limit is counted from the task's send, and a worker past it cannot be
            // stopped, only retired: a task with a time limit goes only to an idle worker,
            // and nothing is sent ahead behind it.
            timed: false,
            tasks_per_worker: self.tasks_per_worker,
        }
    }
}

/// A task, waiting or sent; its target is the rank of the one worker that may run it (an
/// `on_each_worker` task), if any. Once sent it has no frame: the pool never sends a task
/// twice, and a time limit counts from the send (nothing is sent behind a task that has one,
/// see `Rules::send_ahead`).
pub(crate) type Task = pool_engine::Task<Option<i32>>;

/// One worker of the pool.
pub(crate) struct Worker {
    pub(crate) rank: i32,
    pub(crate) pid: u32,
    pub(crate) host: String,
    /// Where it is in its life with this pool: `Initializing` (it said hello to the MPI
    /// thread before the pool took it), `Ready`, or `Retired` after a task of it timed out.
    pub(crate) phase: Phase,
    /// Sent and not answered, in send order: the front one runs.
    pub(crate) in_flight: InFlight<Task>,
    /// The frames dispatched to it, for the MPI thread to send after the unlock.
    pub(crate) outgoing: Vec<Vec<u8>>,
}

impl Worker {
    pub(crate) fn new(rank: i32, pid: u32, host: String) -> Worker {
        Worker {
            rank,
            pid,
            host,
            phase: Phase::Initializing,
            in_flight: InFlight::default(),
            outgoing: Vec::new(),
        }
    }
}

impl pool_engine::Worker for Worker {
    type Id = i32;
    type Target = Option<i32>;

    fn id(&self) -> i32 {
        self.rank
    }

    fn describe(&self) -> String {
        format!(
            "MPI rank {} (process {} on {})",
            self.rank, self.pid, self.host
        )
    }

    fn in_flight(&self) -> &InFlight<Task> {
        &self.in_flight
    }

    fn phase(&self) -> Phase {
        self.phase
    }

    fn takes(&self, only_for: &Option<i32>) -> bool {
        self.phase == Phase::Ready && only_for.is_none_or(|rank| rank == self.rank)
    }

    fn lets_others_pass(only_for: &Option<i32>) -> bool {
        only_for.is_some()
    }

    /// Puts the frame in `outgoing` and marks the task's future running: a worker never
    /// skips a task sent to it (`Err`: it was cancelled meanwhile).
    fn queue(&mut self, mut task: Task) -> Result<(), Settled> {
        let Some(frame) = task.frame.take() else {
            return Err(Settled::Failed); // every waiting task has its frame
        };
        if !task.completion.start() {
            return Err(Settled::Cancelled);
        }
        self.outgoing.push(Arc::unwrap_or_clone(frame));
        self.in_flight.push(task, Instant::now());
        Ok(())
    }

    fn take(&mut self, position: usize) -> Option<(Task, Option<Duration>)> {
        self.in_flight.take(position, Instant::now())
    }

    /// Fails its tasks in flight: nothing more is received for a broken pool.
    fn stop_broken(&mut self, err: &TaskError, finish: &mut Vec<Finish>) {
        for task in self.in_flight.drain() {
            finish.push(Finish::Fail(task.completion, err.clone()));
        }
    }
}

/// The frames decided for one worker, in order.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) rank: i32,
    pub(crate) frames: Vec<Vec<u8>>,
}

/// The pool's state, under its mutex: the engine's table (the waiting tasks, the workers,
/// `shutdown`, `broken`, the recent task time), read through `Deref`, and what only this
/// pool keeps.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) table: Table<Worker>,
    /// Threads waiting for the pool to be idle (`shutdown`).
    pub(crate) waiters: usize,
    /// Tasks answered and being completed on the MPI thread (not counted yet).
    pub(crate) completing: usize,
}

pool_engine::deref_to_table!(State, Worker);

impl State {
    /// True when nothing is left to do: no task waits or runs.
    pub(crate) fn idle(&self) -> bool {
        self.pending.is_empty() && self.in_flight() == 0 && self.completing == 0
    }

    /// True when a worker has not answered its `Init` yet.
    pub(crate) fn starting(&self) -> bool {
        self.workers.iter().any(|w| w.phase == Phase::Initializing)
    }

    /// Moves waiting tasks to workers, oldest first (see the module docs), and returns the
    /// frames to send after the unlock. Cancelled tasks are dropped and counted.
    pub(crate) fn dispatch(&mut self, rules: &Rules, counters: &Counters) -> Vec<Outgoing> {
        // The pool's workers are fixed when it is built: it is full with all of them.
        let full = self.workers.len();
        let touched = self.table.dispatch(rules.send_ahead(), full, counters);
        touched
            .into_iter()
            .filter_map(|rank| {
                let frames = std::mem::take(&mut self.worker_mut(rank)?.outgoing);
                Some(Outgoing { rank, frames })
            })
            .collect()
    }

    /// Fails the tasks past their time limit with `TimedOut` and retires their workers
    /// (the worker cannot be stopped without ending the MPI job: it gets no more tasks, and
    /// its task's late reply is dropped). With every worker retired, the pool breaks.
    pub(crate) fn expire(&mut self, now: Instant, finish: &mut Vec<Finish>) {
        let mut retired = Vec::new();
        for worker in &mut self.table.workers {
            if worker.task_deadline().is_none_or(|at| now < at) {
                continue;
            }
            let Some(task) = worker.in_flight.pop_front() else {
                continue;
            };
            let limit = task.timeout.unwrap_or_default();
            worker.phase = Phase::Retired;
            let why = format!(
                "the task ran longer than its timeout of {limit:?}; its worker, {}, is retired \
                 (an MPI rank cannot be stopped alone)",
                worker.describe()
            );
            let err = TaskError::new(TaskErrorKind::TimedOut, why);
            finish.push(Finish::Fail(task.completion, err));
            retired.push((
                worker.rank,
                format!("{}, which was retired", worker.describe()),
            ));
        }
        for (rank, which) in retired {
            self.fail_tasks_only_for(rank, &which, finish);
        }
        self.break_if_no_worker_left("was retired after a task timed out", finish);
    }

    /// Worker `rank` died (a fault-tolerant job, see `ulfm.rs`): it leaves the pool, and the
    /// tasks sent to it fail: the one it ran, and those sent ahead, which may have run too
    /// (their replies held, see `pool_engine::replies`), so that none runs twice. The tasks
    /// that only it could run fail; with no worker left, the pool breaks.
    pub(crate) fn worker_died(&mut self, rank: i32, finish: &mut Vec<Finish>) {
        let Some(index) = self.workers.iter().position(|w| w.rank == rank) else {
            return;
        };
        let mut worker = self.table.workers.remove(index);
        let who = worker.describe();
        for (position, task) in worker.in_flight.drain().enumerate() {
            let when = if position == 0 {
                "while it ran the task"
            } else {
                "with the task sent to it (it may have run it)"
            };
            let err = TaskError::new(TaskErrorKind::WorkerDied, format!("{who} died {when}"));
            finish.push(Finish::Fail(task.completion, err));
        }
        self.fail_tasks_only_for(rank, &format!("{who}, which died"), finish);
        self.break_if_no_worker_left("died or was retired", finish);
    }

    /// Fails the waiting tasks that only worker `rank` could run (`on_each_worker`), now that
    /// it never will: they were for `which`.
    fn fail_tasks_only_for(&mut self, rank: i32, which: &str, finish: &mut Vec<Finish>) {
        let (orphans, others): (VecDeque<Task>, VecDeque<Task>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|t| t.target == Some(rank));
        self.table.pending = others;
        for orphan in orphans {
            let err = TaskError::new(TaskErrorKind::Broken, format!("the task was for {which}"));
            finish.push(Finish::Fail(orphan.completion, err));
        }
    }

    /// Breaks the pool when none of its workers takes tasks any more: every one `what`.
    fn break_if_no_worker_left(&mut self, what: &str, finish: &mut Vec<Finish>) {
        if self.broken.is_none() && !self.workers.iter().any(|w| w.serves()) {
            self.break_pool(format!("every worker of the pool {what}"), finish);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use future_core::TaskFuture;
    use future_core::executor::Promise;
    use task_wire::Single;

    const RULES: Rules = Rules {
        tasks_per_worker: 4,
        timeout: None,
    };

    fn task(id: u64, size: usize, timeout: Option<Duration>) -> (Task, TaskFuture<u8>) {
        let (promise, future) = Promise::new();
        let task = Task {
            id,
            frame: Some(Arc::new(vec![0; size])),
            size,
            completion: Box::new(Single(promise)),
            timeout,
            target: None,
            ahead: None,
        };
        (task, future)
    }

    fn ready(ranks: &[i32]) -> State {
        let mut state = State::default();
        for &rank in ranks {
            let mut worker = Worker::new(rank, 100 + rank as u32, "here".to_owned());
            worker.phase = Phase::Ready;
            state.workers.push(worker);
        }
        state
    }

    fn sent(out: &[Outgoing]) -> Vec<(i32, usize)> {
        out.iter().map(|o| (o.rank, o.frames.len())).collect()
    }

    #[test]
    fn large_and_timed_tasks_go_only_to_idle_workers() {
        let counters = Counters::default();
        let mut state = ready(&[1]);
        state.task_time.record(Duration::from_micros(5));
        let (small, _f1) = task(0, 10, None);
        let (large, _f2) = task(1, messages::SMALL + 1, None);
        state.pending.extend([small, large]);
        assert_eq!(sent(&state.dispatch(&RULES, &counters)), vec![(1, 1)]);
        assert_eq!(
            state.pending.len(),
            1,
            "the large task waits for an idle worker"
        );
        assert!(state.take_answered(1, 0).is_some());
        assert_eq!(sent(&state.dispatch(&RULES, &counters)), vec![(1, 1)]);

        let mut state = ready(&[1]);
        state.task_time.record(Duration::from_micros(5));
        let (timed, timed_future) = task(2, 10, Some(Duration::from_millis(1)));
        let (behind, _f3) = task(3, 10, None);
        let (mut for_it, for_it_future) = task(4, 10, None);
        for_it.target = Some(1);
        state.pending.extend([timed, behind, for_it]);
        assert_eq!(sent(&state.dispatch(&RULES, &counters)), vec![(1, 1)]);
        assert_eq!(state.pending.len(), 2, "nothing queues behind a timed task");
        let mut finish = Vec::new();
        state.expire(Instant::now() + Duration::from_secs(1), &mut finish);
        assert_eq!(state.workers[0].phase, Phase::Retired);
        finish
            .into_iter()
            .for_each(|f| f.run("pool-mpi", &counters));
        let err = timed_future.exception().unwrap().unwrap();
        assert_eq!(err.kind(), TaskErrorKind::TimedOut);
        assert!(state.broken.is_some(), "its only worker is retired");
        let err = for_it_future.exception().unwrap().unwrap();
        assert!(err.message().contains("retired"), "{err}");
        assert_eq!(
            state.take_answered(1, 2).map(|_| ()),
            None,
            "a late reply is dropped"
        );
    }

    #[test]
    fn a_dead_worker_fails_its_tasks_and_the_last_one_breaks_the_pool() {
        let counters = Counters::default();
        let mut state = ready(&[1]);
        state.task_time.record(Duration::from_micros(5));
        let (running, running_future) = task(0, 10, None);
        let (ahead, ahead_future) = task(1, 10, None);
        state.pending.extend([running, ahead]);
        assert_eq!(sent(&state.dispatch(&RULES, &counters)), vec![(1, 2)]);
        state.workers.extend(ready(&[2]).table.workers);
        let (mut only_for_it, only_for_it_future) = task(2, 10, None);
        only_for_it.target = Some(1);
        let (other, _f) = task(3, 10, None);
        state.pending.extend([only_for_it, other]);
        let mut finish = Vec::new();
        state.worker_died(1, &mut finish);
        finish
            .into_iter()
            .for_each(|f| f.run("pool-mpi", &counters));
        assert_eq!(state.workers.len(), 1, "the dead worker left the pool");
        assert!(state.broken.is_none(), "one worker is left");
        let running = running_future.exception().unwrap().unwrap();
        assert_eq!(running.kind(), TaskErrorKind::WorkerDied);
        assert!(running.message().contains("MPI rank 1"), "{running}");
        assert!(
            running.message().contains("while it ran the task"),
            "{running}"
        );
        let ahead = ahead_future.exception().unwrap().unwrap();
        assert_eq!(ahead.kind(), TaskErrorKind::WorkerDied);
        assert!(ahead.message().contains("may have run it"), "{ahead}");
        let orphan = only_for_it_future.exception().unwrap().unwrap();
        assert!(orphan.message().contains("which died"), "{orphan}");
        assert_eq!(state.pending.len(), 1, "the other waiting task stays");

        let mut finish = Vec::new();
        state.worker_died(2, &mut finish);
        assert!(state.broken.is_some(), "no worker is left");
        assert!(state.pending.is_empty());
        assert_eq!(finish.len(), 1, "the waiting task fails with the pool");
    }

    #[test]
    fn a_task_for_one_worker_waits_for_it_without_holding_back_the_others() {
        let counters = Counters::default();
        let mut state = ready(&[1, 2]);
        let (busy, _f0) = task(0, 10, None);
        state.pending.push_back(busy);
        state.dispatch(&RULES, &counters);
        let busy_rank = state
            .workers
            .iter()
            .find(|w| !w.in_flight.is_empty())
            .unwrap()
            .rank;
        let (mut for_busy, _f1) = task(1, 10, None);
        for_busy.target = Some(busy_rank);
        let (other, _f2) = task(2, 10, None);
        state.pending.extend([for_busy, other]);
        let out = state.dispatch(&RULES, &counters);
        assert_eq!(sent(&out), vec![(3 - busy_rank, 1)]);
        assert_eq!(state.pending.len(), 1);
        assert_eq!(state.pending[0].id, 1);
    }
}
