//! The dispatch state machine: the queue of waiting tasks, the table of workers with the
//! tasks sent to each, and every decision about them (which worker gets a task, what
//! happens to a dead worker's tasks, when the pool is finished). See `DISPATCH.md`.
//!
//! All of it lives in one [`State`] behind one mutex, shared by the submitting threads
//! (which dispatch directly to an idle worker: no hop through another thread) and the
//! manager thread (which reads replies, detects deaths and starts workers). Nothing here
//! blocks for long under the lock: a send to a worker never waits on the manager (see
//! [`State::dispatch`]), user callbacks never run under it (completions are returned as
//! [`Finish`] values and run after the unlock), and reaping happens outside it.

use std::collections::VecDeque;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use future_core::{TaskError, TaskErrorKind};
use ipc_queue::{SendError, Sender};

use crate::builder::WorkerDeath;
use crate::completion::Completion;
use crate::protocol::{TaskMsg, ToWorker};
use crate::status;

/// Tasks whose encoded arguments are larger than this go only to an idle worker. With at
/// most `tasks_per_worker` small tasks unread in a worker's socket, a send never fills the
/// socket buffer (about 200 KiB), so a send under the lock never waits for a worker that is
/// itself blocked sending a reply the manager cannot read while the lock is held.
pub(crate) const SMALL_TASK: usize = 16 * 1024;

/// Tasks are queued behind a running one only while tasks take less than this on average.
const QUEUE_BELOW: Duration = Duration::from_millis(1);

/// The settings the state machine follows (from the builder).
#[derive(Debug)]
pub(crate) struct Rules {
    pub(crate) max_workers: usize,
    pub(crate) max_tasks_per_child: Option<u64>,
    pub(crate) queue_bound: Option<usize>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) on_worker_death: WorkerDeath,
    pub(crate) tasks_per_worker: usize,
}

/// One task or `map` chunk, waiting or sent.
pub(crate) struct Task {
    pub(crate) id: u64,
    pub(crate) trampoline: isize,
    pub(crate) func: isize,
    /// Kept after sending, to send again if the worker dies before it starts the task.
    pub(crate) payload: Vec<u8>,
    pub(crate) completion: Box<dyn Completion>,
}

/// Where a worker is in its handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Started; its `Hello` has not arrived.
    Hello,
    /// Fingerprint checked, `Init` sent; its `Ready` has not arrived.
    Initializing,
    /// Takes tasks.
    Ready,
}

/// Why the pool itself stopped a worker (so its death is not a surprise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Doom {
    /// Its task ran past the per-task timeout; it was sent SIGKILL.
    TimedOut,
    /// `terminate_workers` (SIGTERM) or `kill_workers` (SIGKILL).
    Stopped(&'static str),
    /// The pool broke; it was sent SIGKILL.
    Broken,
    /// A send to it failed: it is dying.
    Lost,
}

/// The parent's record of one worker process.
pub(crate) struct Worker {
    /// Unique in this pool (pids can be reused).
    pub(crate) key: u64,
    /// The nonce of the marker it was started with (see `marker.rs`).
    pub(crate) nonce: u64,
    pub(crate) pid: u32,
    pub(crate) child: Child,
    pub(crate) tx: Sender<ToWorker>,
    pub(crate) phase: Phase,
    /// Sent and not answered, in send order: the front one is running (or about to).
    pub(crate) in_flight: VecDeque<Task>,
    /// Tasks ever sent (for `max_tasks_per_child`).
    pub(crate) sent: u64,
    /// Since when the front task of `in_flight` has had the worker to itself.
    pub(crate) front_since: Option<Instant>,
    pub(crate) doom: Option<Doom>,
}

impl Worker {
    fn can_take(&self, rules: &Rules) -> bool {
        self.phase == Phase::Ready
            && self.doom.is_none()
            && rules.max_tasks_per_child.is_none_or(|max| self.sent < max)
    }

    /// Sends SIGKILL (or another signal); harmless on a process that already exited.
    pub(crate) fn signal(&self, signal: rustix::process::Signal) {
        if let Some(pid) = i32::try_from(self.pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            // The child is not reaped while its `Worker` exists (reaping takes it out of
            // the table first), so the pid still names our child, never a reused one.
            let _ = rustix::process::kill_process(pid, signal);
        }
    }
}

/// Work to finish after the state lock is released: completing a future runs its done
/// callbacks, which may call back into the pool.
pub(crate) enum Finish {
    Fail(Box<dyn Completion>, TaskError),
    Cancel(Box<dyn Completion>),
}

impl Finish {
    pub(crate) fn run(self) {
        match self {
            Finish::Fail(completion, err) => completion.fail(err),
            Finish::Cancel(completion) => completion.cancel(),
        }
    }
}

/// Everything the pool knows, behind its one mutex.
pub(crate) struct State {
    pub(crate) pending: VecDeque<Task>,
    pub(crate) workers: Vec<Worker>,
    pub(crate) next_id: u64,
    pub(crate) next_key: u64,
    /// `shutdown` was called: no new tasks.
    pub(crate) shutdown: bool,
    /// `terminate_workers`/`kill_workers` was called: tasks sent to workers are lost.
    pub(crate) stopping: bool,
    /// Why the pool broke, once it did.
    pub(crate) broken: Option<String>,
    /// The manager should look at the state (start a worker, arm a timeout, ...).
    pub(crate) wake_wanted: bool,
    /// A wake-up message is on its way to the manager and not yet read (coalescing).
    pub(crate) wake_sent: bool,
    /// How many worker processes this pool started (for tests and stats).
    pub(crate) started: u64,
    /// The recent average time from a task getting its worker to its reply.
    pub(crate) task_time: Option<Duration>,
}

impl State {
    pub(crate) fn new() -> Self {
        State {
            pending: VecDeque::new(),
            workers: Vec::new(),
            next_id: 0,
            next_key: 0,
            shutdown: false,
            stopping: false,
            broken: None,
            wake_wanted: false,
            wake_sent: false,
            started: 0,
            task_time: None,
        }
    }

    fn starting(&self) -> usize {
        self.workers
            .iter()
            .filter(|w| w.phase != Phase::Ready)
            .count()
    }

    /// How many workers the manager should start now: one per waiting task that no
    /// starting worker will take, up to `max_workers` processes (dying ones included, so
    /// the count of processes never exceeds it).
    pub(crate) fn workers_to_start(&self, rules: &Rules) -> usize {
        if self.broken.is_some() || self.stopping {
            return 0;
        }
        let room = rules.max_workers.saturating_sub(self.workers.len());
        let uncovered = self.pending.len().saturating_sub(self.starting());
        room.min(uncovered)
    }

    /// True when the manager's work is over: shut down (or broken) and nothing left.
    pub(crate) fn finished(&self) -> bool {
        (self.shutdown || self.broken.is_some())
            && self.pending.is_empty()
            && self.workers.iter().all(|w| w.in_flight.is_empty())
            && (self.broken.is_none() || self.workers.is_empty())
    }

    /// The earliest per-task deadline, if a timeout is set and a task is running.
    pub(crate) fn next_deadline(&self, rules: &Rules) -> Option<Instant> {
        let timeout = rules.timeout?;
        self.workers
            .iter()
            .filter(|w| w.doom.is_none())
            .filter_map(|w| w.front_since)
            .min()
            .map(|since| since + timeout)
    }

    /// Kills the workers whose front task is past its deadline.
    pub(crate) fn enforce_timeouts(&mut self, rules: &Rules, now: Instant) {
        let Some(timeout) = rules.timeout else {
            return;
        };
        for worker in &mut self.workers {
            if worker.doom.is_none() && worker.front_since.is_some_and(|t| now >= t + timeout) {
                worker.doom = Some(Doom::TimedOut);
                worker.signal(rustix::process::Signal::KILL);
            }
        }
    }

    /// Moves waiting tasks to workers, oldest first, and returns the tasks it could not
    /// send (too large, unencodable) to fail.
    ///
    /// A task goes to an idle worker if there is one. Otherwise, when the pool may still
    /// start a worker, it waits (the manager starts one, and whichever worker frees up first
    /// takes it). Only when all `max_workers` exist does a worker get a second (third, ...)
    /// small task queued behind its running one, the least loaded worker first, up to
    /// `tasks_per_worker`. A large task goes only to an idle worker, which is blocked reading
    /// its socket, so the send cannot stall.
    pub(crate) fn dispatch(&mut self, rules: &Rules, failed: &mut Vec<Finish>) {
        if self.broken.is_some() || self.stopping {
            return;
        }
        let popped_before = self.pending.len();
        while let Some(task) = self.pending.front() {
            if task.completion.is_cancelled() {
                self.pending.pop_front();
                continue;
            }
            let small = task.payload.len() <= SMALL_TASK;
            let may_queue = small && self.queueing_pays(rules);
            let target = self
                .workers
                .iter()
                .enumerate()
                .filter(|(_, w)| w.can_take(rules))
                .filter(|(_, w)| {
                    w.in_flight.is_empty()
                        || (may_queue && w.in_flight.len() < rules.tasks_per_worker)
                })
                .min_by_key(|(_, w)| w.in_flight.len())
                .map(|(index, _)| index);
            let Some(index) = target else {
                break;
            };
            let Some(task) = self.pending.pop_front() else {
                break;
            };
            if !task.completion.start() {
                continue; // cancelled after the check above
            }
            self.send(index, task, rules, failed);
        }
        if self.pending.len() < popped_before && rules.timeout.is_some() {
            self.wake_wanted = true; // a task may have started: the manager arms its timer
        }
        if self.workers_to_start(rules) > 0 {
            self.wake_wanted = true;
        }
    }

    /// True when queueing a task behind a running one is worth it: every one of the
    /// `max_workers` workers is up (none starting, which would take the task sooner), and
    /// recent tasks were short, so the round trip between tasks matters and the queued task
    /// waits little. Long tasks are never queued behind each other while a worker could
    /// free up and take them: that is how queueing avoids starving the other workers.
    fn queueing_pays(&self, rules: &Rules) -> bool {
        let ready = self
            .workers
            .iter()
            .filter(|w| w.phase == Phase::Ready)
            .count();
        ready >= rules.max_workers && self.task_time.is_some_and(|t| t < QUEUE_BELOW)
    }

    /// Sends `task` to worker `index` and records it in flight.
    fn send(&mut self, index: usize, mut task: Task, rules: &Rules, failed: &mut Vec<Finish>) {
        let Some(worker) = self.workers.get_mut(index) else {
            self.pending.push_front(task);
            return;
        };
        let msg = ToWorker::Task(TaskMsg {
            id: task.id,
            trampoline: task.trampoline,
            func: task.func,
            payload: std::mem::take(&mut task.payload),
        });
        let result = worker.tx.send(&msg);
        if let ToWorker::Task(sent) = msg {
            task.payload = sent.payload;
        }
        match result {
            Ok(()) => {
                if worker.in_flight.is_empty() {
                    worker.front_since = Some(Instant::now());
                }
                worker.in_flight.push_back(task);
                worker.sent += 1;
            }
            Err(SendError::TooLarge { size, max }) => failed.push(Finish::Fail(
                task.completion,
                TaskError::new(
                    TaskErrorKind::Serialization,
                    format!(
                        "the task's arguments ({size} bytes encoded) are larger than the \
                         frame limit of {max} bytes"
                    ),
                ),
            )),
            Err(SendError::Encode(err)) => failed.push(Finish::Fail(
                task.completion,
                TaskError::new(
                    TaskErrorKind::Serialization,
                    format!("the task could not be encoded: {err}"),
                ),
            )),
            Err(_) => {
                // The worker is gone (its EOF will reach the manager): send elsewhere.
                worker.doom = Some(Doom::Lost);
                self.pending.push_front(task);
                let _ = rules;
            }
        }
    }

    /// Takes worker `key`'s answered task: its reply is for the oldest task sent to it.
    pub(crate) fn take_answered(&mut self, key: u64, id: u64) -> Option<Box<dyn Completion>> {
        let worker = self.workers.iter_mut().find(|w| w.key == key)?;
        let position = worker.in_flight.iter().position(|t| t.id == id)?;
        let task = worker.in_flight.remove(position)?;
        let took = worker.front_since.map(|since| since.elapsed());
        worker.front_since = if worker.in_flight.is_empty() {
            None
        } else {
            Some(Instant::now())
        };
        if let Some(took) = took {
            // An exponentially weighted average (weight 1/4) of how long tasks take.
            self.task_time = Some(match self.task_time {
                Some(average) => (average * 3 + took) / 4,
                None => took,
            });
        }
        Some(task.completion)
    }

    /// Takes the front task of worker `key` (its reply could not be read).
    pub(crate) fn take_front(&mut self, key: u64) -> Option<Box<dyn Completion>> {
        let worker = self.workers.iter_mut().find(|w| w.key == key)?;
        let task = worker.in_flight.pop_front()?;
        worker.front_since = worker.in_flight.front().map(|_| Instant::now());
        Some(task.completion)
    }

    /// Breaks the pool: fails every waiting task, and stops every worker (their in-flight
    /// tasks fail when their deaths are handled).
    pub(crate) fn break_pool(&mut self, reason: String, finish: &mut Vec<Finish>) {
        if self.broken.is_some() {
            return;
        }
        let err = TaskError::new(
            TaskErrorKind::Broken,
            format!("the pool is broken: {reason}"),
        );
        for task in self.pending.drain(..) {
            finish.push(Finish::Fail(task.completion, err.clone()));
        }
        for worker in &mut self.workers {
            if worker.doom.is_none() {
                worker.doom = Some(Doom::Broken);
            }
            worker.signal(rustix::process::Signal::KILL);
        }
        self.broken = Some(reason);
    }

    /// Settles the tasks of a worker that died (already taken out of the table and
    /// reaped, with `status`): fails the task it was running, re-queues those it had not
    /// started (or fails them, when the pool broke or is stopping), and breaks the pool in
    /// `WorkerDeath::Break` mode or when the worker died before it was ready.
    pub(crate) fn worker_died(
        &mut self,
        mut worker: Worker,
        exit: Option<ExitStatus>,
        rules: &Rules,
        finish: &mut Vec<Finish>,
    ) {
        let pid = worker.pid;
        let how = status::describe(exit);
        let clean_exit = exit.is_some_and(|s| s.success());
        if worker.phase != Phase::Ready {
            if worker.doom.is_none() && !self.shutdown && self.broken.is_none() {
                self.break_pool(
                    format!(
                        "worker process {pid} {how} before it was ready; the program must call \
                         pool_process::init() first thing in main (or use \
                         pool_process::test_worker!() in a test binary)"
                    ),
                    finish,
                );
            }
            return;
        }
        let unexpected = worker.doom.is_none() && !(clean_exit && worker.in_flight.is_empty());
        if let Some(running) = worker.in_flight.pop_front() {
            let err = match worker.doom {
                Some(Doom::TimedOut) => TaskError::new(
                    TaskErrorKind::TimedOut,
                    format!(
                        "the task ran longer than the pool's per-task timeout of {:?}; its \
                         worker process {pid} was killed and replaced",
                        rules.timeout.unwrap_or_default()
                    ),
                ),
                Some(Doom::Stopped(by)) => TaskError::new(
                    TaskErrorKind::WorkerDied,
                    format!("worker process {pid} {how} (stopped by {by})"),
                ),
                Some(Doom::Broken) => TaskError::new(
                    TaskErrorKind::Broken,
                    format!(
                        "the pool is broken: {}; worker process {pid} {how}",
                        self.broken.as_deref().unwrap_or("unknown reason")
                    ),
                ),
                None | Some(Doom::Lost) => TaskError::new(
                    TaskErrorKind::WorkerDied,
                    format!("worker process {pid} {how} while running the task"),
                ),
            };
            finish.push(Finish::Fail(running.completion, err));
        }
        if unexpected && rules.on_worker_death == WorkerDeath::Break {
            // The tasks behind it are failed by `break_pool` through `pending`.
            for task in worker.in_flight.drain(..).rev() {
                self.pending.push_front(task);
            }
            self.break_pool(
                format!("worker process {pid} {how} (the pool breaks when a worker dies)"),
                finish,
            );
            return;
        }
        if self.broken.is_some() || self.stopping {
            let why = match &self.broken {
                Some(reason) => format!("the pool is broken: {reason}"),
                None => "the pool's workers were stopped before the task started".to_owned(),
            };
            for task in worker.in_flight.drain(..) {
                finish.push(Finish::Fail(
                    task.completion,
                    TaskError::new(TaskErrorKind::Broken, why.clone()),
                ));
            }
            return;
        }
        // Not started: back to the head of the queue, in their order.
        for task in worker.in_flight.drain(..).rev() {
            self.pending.push_front(task);
        }
    }
}
