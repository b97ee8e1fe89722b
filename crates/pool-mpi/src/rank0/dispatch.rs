//! One pool's state on rank 0, and the decisions made under its lock: which waiting task
//! goes to which worker, which task timed out, what a reply answers. No MPI here and no
//! user code: the MPI thread sends what [`State::dispatch`] decided and completes the futures
//! after the unlock.
//!
//! Dispatch follows the rules of `pool_engine` (see `pool_engine::SendAhead`), as in
//! `pool-process`: the oldest task goes to an idle worker; when every worker is busy and
//! recent tasks were short, a small task is sent ahead, queued behind the worker's running
//! one, up to `tasks_per_worker`. A large task or one with a time limit goes only to an idle
//! worker (see [`Rules::send_ahead`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use future_core::{TaskError, TaskErrorKind};
use pool_engine::{Finish, InFlight, SendAhead, TaskTime};
use task_wire::{Completion, Counters, Settled};

use crate::wire;

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
            // What keeps rank 0 and a worker from waiting on each other (see `wire::SMALL`).
            small: wire::SMALL,
            // A time limit is counted from the task's send, and a worker past it cannot be
            // stopped, only retired: a task with a time limit goes only to an idle worker,
            // and nothing is sent ahead behind it.
            timed: false,
            tasks_per_worker: self.tasks_per_worker,
        }
    }
}

/// A task waiting for a worker.
pub(crate) struct Task {
    pub(crate) id: u64,
    /// Its encoded frame (`wire::encode_task`).
    pub(crate) frame: Vec<u8>,
    pub(crate) completion: Box<dyn Completion>,
    pub(crate) timeout: Option<Duration>,
    /// Only for this worker (an `on_each_worker` task), by rank.
    pub(crate) only_for: Option<i32>,
}

/// A task sent to a worker, not answered yet.
pub(crate) struct SentTask {
    pub(crate) id: u64,
    pub(crate) completion: Box<dyn Completion>,
    /// Its time limit, from its send: it went to an idle worker, and nothing is sent
    /// behind it (see `Rules::send_ahead`), so it starts when it is sent.
    pub(crate) timeout: Option<Duration>,
}

/// Where a worker is in its life with this pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Sent `Init`; the initializer runs.
    Initializing,
    /// Takes tasks.
    Ready,
    /// A task of it timed out: it gets no more tasks.
    Retired,
}

/// One worker of the pool.
pub(crate) struct Worker {
    pub(crate) rank: i32,
    pub(crate) pid: u32,
    pub(crate) host: String,
    pub(crate) phase: Phase,
    /// Sent and not answered, in send order: the front one runs.
    pub(crate) in_flight: InFlight<SentTask>,
}

impl Worker {
    pub(crate) fn new(rank: i32, pid: u32, host: String) -> Worker {
        Worker {
            rank,
            pid,
            host,
            phase: Phase::Initializing,
            in_flight: InFlight::default(),
        }
    }

    /// How this worker names itself in messages.
    pub(crate) fn describe(&self) -> String {
        format!(
            "MPI rank {} (process {} on {})",
            self.rank, self.pid, self.host
        )
    }

    fn takes(&self, task: &Task, may_queue: bool, rules: &Rules) -> bool {
        self.phase == Phase::Ready
            && task.only_for.is_none_or(|rank| rank == self.rank)
            && (self.in_flight.is_empty()
                || (may_queue
                    && rules.send_ahead().worker_takes(self.in_flight.len(), || {
                        self.in_flight.iter().any(|t| t.timeout.is_some())
                    })))
    }
}

/// The frames decided for one worker, in order.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) rank: i32,
    pub(crate) frames: Vec<Vec<u8>>,
}

/// The pool's state, under its mutex.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) pending: VecDeque<Task>,
    pub(crate) workers: Vec<Worker>,
    /// `shutdown` was called: no new task.
    pub(crate) shutdown: bool,
    /// Why the pool refuses every task, if it does.
    pub(crate) broken: Option<String>,
    /// Threads waiting for the pool to be idle (`shutdown`).
    pub(crate) waiters: usize,
    /// Tasks answered and being completed on the MPI thread (not counted yet).
    pub(crate) completing: usize,
    /// How long tasks take of late.
    task_time: TaskTime,
}

impl State {
    /// Tasks sent to workers and not answered.
    pub(crate) fn in_flight(&self) -> usize {
        self.workers.iter().map(|w| w.in_flight.len()).sum()
    }

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
        let mut out: Vec<Outgoing> = Vec::new();
        if self.broken.is_some() {
            return out;
        }
        // Tasks for one busy worker, passed over; they go back to the front, in order.
        let mut skipped: Vec<Task> = Vec::new();
        let now = Instant::now();
        // Nothing dispatch does changes it: the phases and the recent task time.
        let queueing_pays = self.queueing_pays(rules);
        while let Some(task) = self.pending.pop_front() {
            if task.completion.is_cancelled() {
                counters.settled(Settled::Cancelled);
                continue;
            }
            let timed = task.timeout.is_some();
            let may_queue =
                queueing_pays && rules.send_ahead().task_may_go(task.frame.len(), timed);
            let target = self
                .workers
                .iter()
                .enumerate()
                .filter(|(_, w)| w.takes(&task, may_queue, rules))
                .min_by_key(|(_, w)| w.in_flight.len())
                .map(|(index, _)| index);
            let Some(index) = target else {
                // A task for one worker only must not hold back the others' tasks.
                if task.only_for.is_some() {
                    skipped.push(task);
                    continue;
                }
                self.pending.push_front(task);
                break;
            };
            if !task.completion.start() {
                counters.settled(Settled::Cancelled);
                continue;
            }
            let Some(worker) = self.workers.get_mut(index) else {
                break;
            };
            let sent = SentTask {
                id: task.id,
                completion: task.completion,
                timeout: task.timeout,
            };
            worker.in_flight.push(sent, now);
            match out.iter_mut().find(|o| o.rank == worker.rank) {
                Some(outgoing) => outgoing.frames.push(task.frame),
                None => out.push(Outgoing {
                    rank: worker.rank,
                    frames: vec![task.frame],
                }),
            }
        }
        for task in skipped.into_iter().rev() {
            self.pending.push_front(task);
        }
        out
    }

    /// True when queueing a task behind a running one is worth it (see
    /// `pool_engine::SendAhead::pays`). The pool's workers are fixed when it is built: it is
    /// full once none of them still runs its initializer (a retired worker counts, as it
    /// never becomes a worker that could take the task sooner).
    fn queueing_pays(&self, rules: &Rules) -> bool {
        let starting = self
            .workers
            .iter()
            .filter(|w| w.phase == Phase::Initializing)
            .count();
        let full = self.workers.len();
        rules
            .send_ahead()
            .pays(full - starting, full, self.task_time)
    }

    /// Takes the task `id` that worker `rank` answered (`None`: a reply for a task the pool
    /// gave up on, such as one that timed out).
    pub(crate) fn take_answered(&mut self, rank: i32, id: u64) -> Option<Box<dyn Completion>> {
        let worker = self.workers.iter_mut().find(|w| w.rank == rank)?;
        let position = worker.in_flight.iter().position(|t| t.id == id)?;
        let (task, took) = worker.in_flight.take(position, Instant::now())?;
        if let Some(took) = took {
            self.task_time.record(took);
        }
        Some(task.completion)
    }

    /// Fails the tasks past their time limit with `TimedOut` and retires their workers
    /// (the worker cannot be stopped without ending the MPI job: it gets no more tasks, and
    /// its task's late reply is dropped). With every worker retired, the pool breaks.
    pub(crate) fn expire(&mut self, now: Instant, finish: &mut Vec<Finish>) {
        for worker in &mut self.workers {
            let expired = worker
                .in_flight
                .deadline(|t| t.timeout)
                .is_some_and(|at| now >= at);
            if !expired {
                continue;
            }
            let Some(task) = worker.in_flight.pop_front() else {
                continue;
            };
            let limit = task.timeout.unwrap_or_default();
            worker.phase = Phase::Retired;
            // Tasks waiting for this worker alone (`on_each_worker`) can never run now.
            let rank = worker.rank;
            let (orphans, others): (VecDeque<Task>, VecDeque<Task>) =
                std::mem::take(&mut self.pending)
                    .into_iter()
                    .partition(|t| t.only_for == Some(rank));
            self.pending = others;
            for orphan in orphans {
                finish.push(Finish::Fail(
                    orphan.completion,
                    TaskError::new(
                        TaskErrorKind::Broken,
                        format!("the task was for {}, which was retired", worker.describe()),
                    ),
                ));
            }
            finish.push(Finish::Fail(
                task.completion,
                TaskError::new(
                    TaskErrorKind::TimedOut,
                    format!(
                        "the task ran longer than its timeout of {limit:?}; its worker, {}, \
                         is retired (an MPI rank cannot be stopped alone)",
                        worker.describe()
                    ),
                ),
            ));
        }
        if !self.workers.is_empty() && self.workers.iter().all(|w| w.phase == Phase::Retired) {
            self.break_pool(
                "every worker of the pool was retired after a task timed out".to_owned(),
                finish,
            );
        }
    }

    /// The earliest time limit of a running task.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.workers
            .iter()
            .filter_map(|w| w.in_flight.deadline(|t| t.timeout))
            .min()
    }

    /// Cancels the tasks not sent to a worker yet.
    pub(crate) fn cancel_pending(&mut self, finish: &mut Vec<Finish>) {
        finish.extend(self.pending.drain(..).map(|t| Finish::Cancel(t.completion)));
    }

    /// Breaks the pool: every waiting task fails, and so does every task sent and not
    /// answered.
    pub(crate) fn break_pool(&mut self, reason: String, finish: &mut Vec<Finish>) {
        if self.broken.is_some() {
            return;
        }
        let err = pool_engine::broken(&reason);
        for task in self.pending.drain(..) {
            finish.push(Finish::Fail(task.completion, err.clone()));
        }
        for worker in &mut self.workers {
            for task in worker.in_flight.drain() {
                finish.push(Finish::Fail(task.completion, err.clone()));
            }
        }
        self.broken = Some(reason);
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
            frame: vec![0; size],
            completion: Box::new(Single(promise)),
            timeout,
            only_for: None,
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
    fn idle_workers_first_then_small_tasks_queue_once_tasks_are_short() {
        let counters = Counters::default();
        let mut state = ready(&[1, 2]);
        let mut futures = Vec::new();
        for id in 0..6 {
            let (task, future) = task(id, 10, None);
            state.pending.push_back(task);
            futures.push(future);
        }
        // No task time known yet: one task per worker.
        assert_eq!(
            sent(&state.dispatch(&RULES, &counters)),
            vec![(1, 1), (2, 1)]
        );
        assert!(futures[0].running());
        // A short task answered: queueing pays; worker 1 takes up to 4.
        assert!(state.take_answered(1, 0).is_some());
        let out = state.dispatch(&RULES, &counters);
        assert_eq!(sent(&out).iter().map(|s| s.1).sum::<usize>(), 4);
        assert!(state.workers.iter().all(|w| w.in_flight.len() <= 4));
    }

    #[test]
    fn large_and_timed_tasks_go_only_to_idle_workers() {
        let counters = Counters::default();
        let mut state = ready(&[1]);
        state.task_time.record(Duration::from_micros(5));
        let (small, _f1) = task(0, 10, None);
        let (large, _f2) = task(1, wire::SMALL + 1, None);
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
        for_it.only_for = Some(1);
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
        for_busy.only_for = Some(busy_rank);
        let (other, _f2) = task(2, 10, None);
        state.pending.extend([for_busy, other]);
        let out = state.dispatch(&RULES, &counters);
        assert_eq!(sent(&out), vec![(3 - busy_rank, 1)]);
        assert_eq!(state.pending.len(), 1);
        assert_eq!(state.pending[0].id, 1);
    }

    #[test]
    fn cancelled_tasks_are_dropped_and_counted() {
        let counters = Counters::default();
        let mut state = ready(&[1]);
        let (task, future) = task(0, 10, None);
        state.pending.push_back(task);
        assert!(future.cancel());
        assert!(state.dispatch(&RULES, &counters).is_empty());
        assert_eq!(counters.read(0, 0, 0).cancelled, 1);
    }
}
