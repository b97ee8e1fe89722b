//! [`Table`]: the tasks waiting for a worker and the workers with the tasks sent to each,
//! and what both pools decide about them the same way under their lock: which worker a
//! waiting task goes to ([`Table::dispatch`]), which task a reply answers, what cancelling
//! and breaking the pool settle. A pool's own record of a worker says what differs through
//! [`Worker`]: what names it (a key, an MPI rank), when it takes tasks, and how a task's
//! frame reaches it (an outbox written after the unlock, frames the MPI thread sends).
//!
//! Nothing here blocks, encodes or runs user code: frames were encoded before their tasks
//! were queued, a worker only queues them for a write after the unlock, and the futures
//! settled here are returned as [`Finish`] values for after it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use future_core::{PoolStats, SubmitError, TaskError};
use task_wire::{Completion, Counters, Settled};

use crate::{Finish, InFlight, NewTask, Phase, SendAhead, TaskTime};

/// One task or `map` chunk, waiting or sent.
pub struct Task<T> {
    /// Unique in the pool.
    pub id: u64,
    /// The encoded task message, while the task may have to be sent: `None` once no worker
    /// but the one that has it may run it (it started, or its pool never sends it again).
    pub frame: Option<Arc<Vec<u8>>>,
    /// The frame's length.
    pub size: usize,
    /// Its time limit (the pool's, or its own from the submit).
    pub timeout: Option<Duration>,
    /// Its future's promise.
    pub completion: Box<dyn Completion>,
    /// Which workers may run it (see [`Dispatcher::Target`](crate::Dispatcher::Target)).
    pub target: T,
    /// Sent ahead to a busy worker that can skip it if it is cancelled before it starts:
    /// its word in that worker's cancel set (`pool-process`'s `cancels.rs`).
    pub ahead: Option<usize>,
}

impl<T> From<NewTask<T>> for Task<T> {
    fn from(task: NewTask<T>) -> Self {
        Task {
            id: task.id,
            size: task.frame.len(),
            frame: Some(Arc::new(task.frame)),
            timeout: task.timeout,
            completion: task.completion,
            target: task.target,
            ahead: None,
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .field("size", &self.size)
            .field("timeout", &self.timeout)
            .field("target", &self.target)
            .field("ahead", &self.ahead)
            .finish_non_exhaustive()
    }
}

/// What [`Table`] needs of a pool's record of one worker.
pub trait Worker {
    /// What names the worker in its pool.
    type Id: Copy + PartialEq + std::fmt::Display;
    /// Which workers may run a task (the pool's `Dispatcher::Target`).
    type Target;

    /// Its name in the pool.
    fn id(&self) -> Self::Id;

    /// How the pool's messages name it (`"worker process 4242"`); by default, by its id.
    fn describe(&self) -> String {
        format!("worker {}", self.id())
    }

    /// The tasks sent to it and not answered, in send order.
    fn in_flight(&self) -> &InFlight<Task<Self::Target>>;

    /// Where it is in its life with the pool; a worker that takes tasks from the start need
    /// not say.
    fn phase(&self) -> Phase {
        Phase::Ready
    }

    /// Past its start-up. While a worker starts, sending a task ahead to a busy one does
    /// not pay: the starting one may well take it sooner.
    fn started(&self) -> bool {
        self.phase().started()
    }

    /// Still one of the pool's live workers, for the statistics (a retired one is not: it
    /// never gets a task again).
    fn serves(&self) -> bool {
        self.phase() != Phase::Retired
    }

    /// When the time limit of its running task runs out, if it has one: a limit counts from
    /// the task's start (see [`InFlight::deadline`]).
    fn task_deadline(&self) -> Option<Instant> {
        self.in_flight().deadline(|t| t.timeout)
    }

    /// Whether it takes a task for `target` now, if it is idle or the rules let the task
    /// be sent ahead to it.
    fn takes(&self, target: &Self::Target) -> bool;

    /// Whether a task may ever be sent ahead to it, behind its running one.
    fn takes_ahead(&self) -> bool {
        true
    }

    /// Whether a task for `target` that no worker takes now lets the tasks behind it go
    /// first: one that waits for one particular worker must not hold back the others'.
    fn lets_others_pass(target: &Self::Target) -> bool {
        let _ = target;
        false
    }

    /// Queues `task`'s frame for it, to go after the unlock, and records the task in
    /// flight; the task's future says it runs (or, sent ahead, that it waits). `Err`: the
    /// task was not sent, and how it ended (it was cancelled meanwhile, say).
    fn queue(&mut self, task: Task<Self::Target>) -> Result<(), Settled>;

    /// Takes the task at `position` of its tasks in flight: answered, skipped, or its
    /// reply lost; for the front task, also how long it had the worker to itself.
    fn take(&mut self, position: usize) -> Option<(Task<Self::Target>, Option<Duration>)>;

    /// The pool broke, failing its tasks with `err`: the worker stops, and its tasks in
    /// flight fail now (into `finish`) or when its end is handled.
    fn stop_broken(&mut self, err: &TaskError, finish: &mut Vec<Finish>);
}

/// The tasks waiting for a worker, the workers, and whether the pool still takes tasks:
/// the part of a pool's state that both pools keep alike, behind the pool's one mutex.
pub struct Table<W: Worker> {
    /// The tasks not sent to a worker yet, oldest first.
    pub pending: VecDeque<Task<W::Target>>,
    /// The pool's workers.
    pub workers: Vec<W>,
    /// `shutdown` was called: no new tasks.
    pub shutdown: bool,
    /// Why the pool broke, once it did: it refuses every task.
    pub broken: Option<String>,
    /// How long tasks took of late, from getting their worker to their reply.
    pub task_time: TaskTime,
}

/// Lets a pool's state, which keeps its own fields beside the engine's [`Table`] in its
/// field `table`, be read and changed as that table (`state.pending`, `state.dispatch(..)`):
/// `deref_to_table!(State, Worker)`.
#[macro_export]
macro_rules! deref_to_table {
    ($state:ty, $worker:ty) => {
        impl ::std::ops::Deref for $state {
            type Target = $crate::Table<$worker>;

            fn deref(&self) -> &Self::Target {
                &self.table
            }
        }

        impl ::std::ops::DerefMut for $state {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.table
            }
        }
    };
}

impl<W: Worker> Default for Table<W> {
    fn default() -> Self {
        Table {
            pending: VecDeque::new(),
            workers: Vec::new(),
            shutdown: false,
            broken: None,
            task_time: TaskTime::default(),
        }
    }
}

impl<W: Worker> std::fmt::Debug for Table<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("pending", &self.pending.len())
            .field("workers", &self.workers.len())
            .field("in_flight", &self.in_flight())
            .field("shutdown", &self.shutdown)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

impl<W: Worker> Table<W> {
    /// Why the pool refuses new tasks, if it does (see [`crate::refusal`]).
    pub fn refusal(&self) -> Option<SubmitError> {
        crate::refusal(self.broken.as_ref(), self.shutdown)
    }

    /// Tasks sent to workers and not answered.
    pub fn in_flight(&self) -> usize {
        self.workers.iter().map(|w| w.in_flight().len()).sum()
    }

    /// The pool's statistics: `counters` (atomics: no user code runs), and what the table
    /// holds now.
    pub fn stats(&self, counters: &Counters) -> PoolStats {
        let workers = self.workers.iter().filter(|w| w.serves()).count();
        counters.read(self.pending.len(), self.in_flight(), workers)
    }

    /// The earliest time limit of a running task (see [`Worker::task_deadline`]).
    pub fn next_task_deadline(&self) -> Option<Instant> {
        self.workers.iter().filter_map(W::task_deadline).min()
    }

    /// The worker named `id`.
    pub fn worker(&self, id: W::Id) -> Option<&W> {
        self.workers.iter().find(|w| w.id() == id)
    }

    /// The worker named `id`, to change.
    pub fn worker_mut(&mut self, id: W::Id) -> Option<&mut W> {
        self.workers.iter_mut().find(|w| w.id() == id)
    }

    /// Moves waiting tasks to workers, oldest first, and returns the workers that were
    /// queued frames (for the pool to send after the unlock), in the order of their first.
    ///
    /// A task goes to the least loaded worker that takes it: an idle one, or, when sending
    /// ahead pays and `send_ahead` lets this task and this worker, a busy one (see
    /// [`SendAhead`]). The pool is `full` with that many workers: until then one it starts
    /// takes a task sooner than a busy one, so nothing is sent ahead. A task that no worker
    /// takes waits at the head of the queue, and so do those behind it (unless it waits for
    /// one particular worker, see [`Worker::lets_others_pass`]). Cancelled tasks are dropped
    /// and counted in `counters`. A broken pool dispatches nothing.
    pub fn dispatch(
        &mut self,
        send_ahead: SendAhead,
        full: usize,
        counters: &Counters,
    ) -> Vec<W::Id> {
        let mut touched: Vec<W::Id> = Vec::new();
        if self.broken.is_some() {
            return touched;
        }
        // Nothing here changes it: the workers' start-up and the recent task time.
        let started = self.workers.iter().filter(|w| w.started()).count();
        let queueing_pays = send_ahead.pays(started, full, self.task_time);
        let mut passed_over = Vec::new();
        while let Some(task) = self.pending.pop_front() {
            if task.completion.is_cancelled() {
                counters.settled(Settled::Cancelled);
                continue;
            }
            let timed = task.timeout.is_some();
            let may_queue = queueing_pays && send_ahead.task_may_go(task.size, timed);
            let takes = |w: &W| {
                let sent = w.in_flight();
                let holds_timed = || sent.iter().any(|t| t.timeout.is_some());
                w.takes(&task.target)
                    && (sent.is_empty()
                        || (may_queue
                            && w.takes_ahead()
                            && send_ahead.worker_takes(sent.len(), holds_timed)))
            };
            let target = self
                .workers
                .iter()
                .enumerate()
                .filter(|(_, w)| takes(w))
                .min_by_key(|(_, w)| w.in_flight().len())
                .map(|(index, _)| index);
            let Some(worker) = target.and_then(|index| self.workers.get_mut(index)) else {
                if W::lets_others_pass(&task.target) {
                    passed_over.push(task);
                    continue;
                }
                self.pending.push_front(task);
                break;
            };
            let id = worker.id();
            match worker.queue(task) {
                Ok(()) if !touched.contains(&id) => touched.push(id),
                Ok(()) => {}
                Err(how) => counters.settled(how),
            }
        }
        for task in passed_over.into_iter().rev() {
            self.pending.push_front(task);
        }
        touched
    }

    /// Takes task `task` of worker `id`, which it answered, and counts how long it took.
    pub fn take_answered(&mut self, id: W::Id, task: u64) -> Option<Box<dyn Completion>> {
        let (task, took) = self.take(id, task)?;
        if let Some(took) = took {
            self.task_time.record(took);
        }
        Some(task.completion)
    }

    /// Takes task `task` of worker `id`, which it skipped: it was sent ahead and cancelled
    /// before it started (its future is cancelled already).
    pub fn take_skipped(&mut self, id: W::Id, task: u64) -> Option<Box<dyn Completion>> {
        Some(self.take(id, task)?.0.completion)
    }

    /// Takes the front task of worker `id` (its reply could not be read).
    pub fn take_front(&mut self, id: W::Id) -> Option<Box<dyn Completion>> {
        Some(self.worker_mut(id)?.take(0)?.0.completion)
    }

    fn take(&mut self, id: W::Id, task: u64) -> Option<(Task<W::Target>, Option<Duration>)> {
        let worker = self.worker_mut(id)?;
        let position = worker.in_flight().iter().position(|t| t.id == task)?;
        worker.take(position)
    }

    /// Drops the waiting tasks that were cancelled, and counts them.
    pub fn drop_cancelled(&mut self, counters: &Counters) {
        self.pending.retain(|t| {
            let cancelled = t.completion.is_cancelled();
            if cancelled {
                counters.settled(Settled::Cancelled);
            }
            !cancelled
        });
    }

    /// Cancels the tasks not sent to a worker yet.
    pub fn cancel_pending(&mut self, finish: &mut Vec<Finish>) {
        finish.extend(self.pending.drain(..).map(|t| Finish::Cancel(t.completion)));
    }

    /// Cancels the tasks sent ahead to busy workers that can skip them (see
    /// [`Task::ahead`]); they stay in flight until their workers skip them.
    pub fn cancel_sent_ahead(&self, finish: &mut Vec<Finish>) {
        let ahead = self
            .workers
            .iter()
            .flat_map(|w| w.in_flight().iter().skip(1));
        let ahead = ahead.filter(|t| t.ahead.is_some());
        finish.extend(ahead.map(|t| Finish::CancelAhead(t.completion.canceller())));
    }

    /// `shutdown_with`'s part under the lock: no new tasks; with `cancel_futures`, the
    /// tasks that have not started are cancelled (waiting ones, and those sent ahead that
    /// their workers can skip).
    pub fn shut_down(&mut self, cancel_futures: bool, finish: &mut Vec<Finish>) {
        self.shutdown = true;
        if cancel_futures {
            self.cancel_pending(finish);
            self.cancel_sent_ahead(finish);
        }
    }

    /// The initializer panicked in worker `id` with `message`: the pool breaks, as every
    /// worker runs the same initializer.
    pub fn initializer_failed(&mut self, id: W::Id, message: &str, finish: &mut Vec<Finish>) {
        let worker = self
            .worker(id)
            .map_or_else(|| format!("worker {id}"), W::describe);
        let reason = format!("the worker initializer panicked in {worker}: {message}");
        self.break_pool(reason, finish);
    }

    /// Breaks the pool for `reason`: every waiting task fails, every worker stops (see
    /// [`Worker::stop_broken`]), and the pool refuses new tasks.
    pub fn break_pool(&mut self, reason: String, finish: &mut Vec<Finish>) {
        if self.broken.is_some() {
            return;
        }
        let err = crate::broken(&reason);
        for task in self.pending.drain(..) {
            finish.push(Finish::Fail(task.completion, err.clone()));
        }
        for worker in &mut self.workers {
            worker.stop_broken(&err, finish);
        }
        self.broken = Some(reason);
    }
}
