//! The dispatch state machine: the queue of waiting tasks, the table of workers with the
//! tasks sent to each, and every decision about them (which worker gets a task, what
//! happens to a dead worker's tasks, when the pool is finished). See `README.md` beside this file.
//! What `pool-mpi` decides alike (dispatch, replies, cancelling, breaking the pool) is
//! `pool_engine::Table`'s; here is what only this pool does: its worker records (a process,
//! its outbox and cancel set), starting them, their handshake and task timeouts, stopping
//! them, and what a dead worker's tasks become.
//!
//! All of it lives in one [`State`] behind one mutex, shared by the submitting threads
//! (which dispatch directly to an idle worker: no hop through another thread) and the
//! manager thread (which reads replies, detects deaths and starts workers). Nothing here
//! blocks or encodes under the lock: dispatch only queues frames encoded beforehand in the
//! chosen worker's outbox, which the dispatching thread writes after the unlock (see
//! `outbox.rs`); user callbacks never run under it (completions are returned as `Finish`
//! values and run after the unlock), and reaping happens outside it.

use std::process::{Child, ExitStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};

use future_core::{TaskError, TaskErrorKind};

use crate::cancels::{CancelGuard, CancelSet};
use crate::parent::builder::WorkerDeath;
use crate::parent::info::{WorkerInfo, WorkerState};
use crate::parent::outbox::{Frame, Outbox};
use crate::parent::status;
use crate::reply_copies::ReplyCopies;
use crate::stderr::StartupStderr;
use pool_engine::{Finish, InFlight, Phase, SendAhead, Table};
use task_wire::{Counters, Settled};

/// Tasks whose frames are larger than this go only to an idle worker (see
/// `pool_engine::SendAhead::small`). A worker reads its socket while it runs a task, so the
/// frames sent ahead wait in memory, not on the sender: the bound only keeps a large task
/// from waiting for one particular worker.
pub(crate) const SMALL_TASK: usize = 16 * 1024;

/// The settings the state machine follows (from the builder).
#[derive(Debug)]
pub(crate) struct Rules {
    pub(crate) max_workers: usize,
    pub(crate) max_tasks_per_child: Option<u64>,
    pub(crate) queue_bound: Option<usize>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) on_worker_death: WorkerDeath,
    pub(crate) tasks_per_worker: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) drop_grace: Option<Duration>,
}

impl Rules {
    /// When a task is sent ahead to a busy worker.
    pub(crate) fn send_ahead(&self) -> SendAhead {
        SendAhead {
            small: SMALL_TASK,
            // A task's time limit counts from when it becomes its worker's running task, and
            // a worker past it is killed and replaced, its unstarted tasks sent elsewhere: a
            // task with a time limit may wait behind another, and others behind it.
            timed: true,
            tasks_per_worker: self.tasks_per_worker,
        }
    }
}

/// After this many worker processes in a row failed to start (died or were killed before
/// they were ready, or missed the handshake timeout), the pool breaks with the last reason.
pub(crate) const MAX_STARTUP_FAILURES: u32 = 3;

/// How long a pool that the system refused a worker process (while others run) goes on with
/// the workers it has before it tries to start more (see [`State::worker_cap`]).
pub(crate) const START_RETRY: Duration = Duration::from_secs(1);

/// One task or `map` chunk, waiting or sent. Its frame is kept while it may have to be sent
/// again (if its worker dies before it starts it), and dropped once it is the front of a
/// worker's `in_flight`: a task that may have started is never sent again. `ahead`: sent
/// ahead to a busy worker and not started, its word in the worker's cancel set (see
/// `cancels.rs`); its future stays pending until it becomes the worker's front task.
pub(crate) type Task = pool_engine::Task<()>;

/// An outbox to write after the state lock is released (see `outbox.rs`).
pub(crate) struct Flush {
    pub(crate) outbox: Arc<Outbox>,
    /// The worker's unanswered frames are small enough for the manager to write them itself.
    pub(crate) manager_may_write: bool,
}

impl Flush {
    /// Writes the outbox on this thread (a submitter's: it may block, holding no lock).
    pub(crate) fn run(self) {
        self.outbox.flush();
    }
}

/// Why the pool itself stopped a worker (so its death is not a surprise).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// Its task ran past the per-task timeout; it was sent SIGKILL.
    TimedOut,
    /// It did not answer the handshake within the handshake timeout; it was sent SIGKILL.
    HandshakeTimeout,
    /// `terminate_workers` (SIGTERM), `kill_workers` (SIGKILL), or the end of a dropped
    /// pool's grace period: why, as a clause that completes "(stopped ...)" (`"by
    /// kill_workers"`, `"because the pool was dropped and ..."`).
    Stopped(String),
    /// The pool broke; it was sent SIGKILL.
    Broken,
}

/// The parent's record of one worker process.
pub(crate) struct Worker {
    /// Unique in this pool (pids can be reused).
    pub(crate) key: u64,
    /// The nonce of the marker it was started with (see `marker.rs`).
    pub(crate) nonce: u64,
    pub(crate) pid: u32,
    /// When it was started.
    pub(crate) started: Instant,
    pub(crate) child: Child,
    pub(crate) outbox: Arc<Outbox>,
    /// Shared with the worker: the tasks sent ahead to it, and their cancels (`None`: it
    /// could not be made, and the worker is never sent a task ahead).
    pub(crate) cancels: Option<Arc<CancelSet>>,
    /// The copies of the replies it holds, read when it dies (see `reply_copies.rs`).
    pub(crate) reply_copies: Option<ReplyCopies>,
    /// Where it is in its handshake: `Hello`, `Initializing` (fingerprint checked, `Init`
    /// sent), `Ready`; never `Retired` (a worker past a time limit is killed and replaced).
    pub(crate) phase: Phase,
    /// Sent and not answered, in send order: the front one is running (or about to).
    pub(crate) in_flight: InFlight<Task>,
    /// The bytes of the frames in `in_flight`.
    pub(crate) unanswered: usize,
    /// Tasks ever sent.
    pub(crate) sent: u64,
    /// The most tasks it runs before it exits (`max_tasks_per_child`).
    pub(crate) max_tasks: Option<u64>,
    /// Since when it is idle (or stopping).
    pub(crate) since: Instant,
    pub(crate) stop_reason: Option<StopReason>,
    /// Its stderr until the handshake, quoted when it fails to start (see `stderr.rs`).
    pub(crate) stderr: StartupStderr,
}

impl Worker {
    /// When the pool kills this worker, and why: it has not answered the handshake by the
    /// handshake timeout, or its running task reached the per-task timeout.
    fn deadline(&self, rules: &Rules) -> Option<(Instant, StopReason)> {
        if self.stop_reason.is_some() {
            return None;
        }
        if self.phase == Phase::Hello {
            return Some((
                self.started + rules.handshake_timeout,
                StopReason::HandshakeTimeout,
            ));
        }
        Some((
            pool_engine::Worker::task_deadline(self)?,
            StopReason::TimedOut,
        ))
    }

    /// What this worker is doing, for [`crate::WorkerInfo`].
    pub(crate) fn info(&self) -> WorkerInfo {
        let (state, since) = match (&self.stop_reason, self.phase, self.in_flight.front()) {
            (Some(_), _, _) | (None, Phase::Retired, _) => (WorkerState::Stopping, self.since),
            (None, Phase::Hello | Phase::Initializing, _) => (WorkerState::Starting, self.started),
            (None, Phase::Ready, None) => (WorkerState::Idle, self.since),
            (None, Phase::Ready, Some(task)) => (
                WorkerState::Running {
                    task: task.id,
                    queued: self.in_flight.len() - 1,
                },
                self.in_flight.front_since().unwrap_or(self.since),
            ),
        };
        WorkerInfo {
            pid: self.pid,
            state,
            since,
            tasks_sent: self.sent,
        }
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

impl pool_engine::Worker for Worker {
    type Id = u64;
    type Target = ();

    fn id(&self) -> u64 {
        self.key
    }

    fn describe(&self) -> String {
        format!("worker process {}", self.pid)
    }

    fn in_flight(&self) -> &InFlight<Task> {
        &self.in_flight
    }

    fn phase(&self) -> Phase {
        self.phase
    }

    fn takes(&self, _: &()) -> bool {
        self.phase == Phase::Ready
            && self.stop_reason.is_none()
            && self.max_tasks.is_none_or(|max| self.sent < max)
    }

    /// Only with a cancel set, which lets the worker skip a task cancelled before it starts.
    fn takes_ahead(&self) -> bool {
        self.cancels.is_some()
    }

    /// Queues the frame in this worker's outbox. A task for an idle worker starts at once:
    /// its future is marked running (`Err`: it was cancelled, and is dropped unsent). A task
    /// sent ahead, behind the running one, keeps a pending future, whose cancel asks the
    /// cancel set (see `cancels.rs`).
    fn queue(&mut self, mut task: Task) -> Result<(), Settled> {
        let Some(frame) = task.frame.take() else {
            // Every waiting task has its frame (see `Task::frame`); dropped, its promise
            // fails its future.
            return Err(Settled::Failed);
        };
        let ahead = match (&self.cancels, self.in_flight.is_empty()) {
            (Some(set), false) => set.queue(task.id).map(|slot| (set, slot)),
            _ => None,
        };
        if let Some((set, slot)) = ahead {
            // In place before the frame can reach the worker (it is written after the unlock).
            let guard = CancelGuard {
                set: Arc::downgrade(set),
                slot,
                id: task.id,
            };
            if !task
                .completion
                .send_ahead(Box::new(move || guard.allows_cancel()))
            {
                set.clear(slot, task.id);
                return Err(Settled::Cancelled); // cancelled after the check in `dispatch`
            }
            task.ahead = Some(slot);
        } else if !task.completion.start() {
            return Err(Settled::Cancelled); // cancelled after the check in `dispatch`
        }
        self.outbox.push(Some(task.id), frame.clone());
        if !self.in_flight.is_empty() {
            task.frame = Some(frame); // not started: kept, to be sent elsewhere if need be
        }
        self.unanswered += task.size;
        self.in_flight.push(task, Instant::now());
        self.sent += 1;
        Ok(())
    }

    /// Takes the task at `position` of `in_flight`: answered, or its reply is lost; for
    /// the front task, also how long it ran (see `InFlight::take`).
    fn take(&mut self, position: usize) -> Option<(Task, Option<Duration>)> {
        let now = Instant::now();
        let (task, took) = self.in_flight.take(position, now)?;
        self.unanswered -= task.size;
        if let (Some(set), Some(slot)) = (&self.cancels, task.ahead) {
            set.clear(slot, task.id);
        }
        if self.in_flight.is_empty() {
            self.since = now;
        }
        if position == 0 {
            if let Some(front) = self.in_flight.front_mut() {
                front.frame = None; // it starts now: never sent again
                if front.ahead.is_some() {
                    // The worker starts it now, if it has not yet: from here on its future
                    // says so. A future cancelled already stays cancelled: its cancel marked
                    // the task in the set, and the worker skips it.
                    front.completion.start();
                }
            }
        }
        Some((task, took))
    }

    /// Sends it SIGKILL; its tasks fail when its death is handled.
    fn stop_broken(&mut self, _: &TaskError, _: &mut Vec<Finish>) {
        if self.stop_reason.is_none() {
            self.stop_reason = Some(StopReason::Broken);
        }
        self.signal(rustix::process::Signal::KILL);
    }
}

/// Everything the pool knows, behind its one mutex: the engine's table (the waiting tasks,
/// the workers, `shutdown`, `broken`, the recent task time), read through `Deref`, and what
/// only this pool keeps.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) table: Table<Worker>,
    pub(crate) next_key: u64,
    /// `terminate_workers`/`kill_workers` was called: tasks sent to workers are lost.
    pub(crate) stopping: bool,
    /// The manager should look at the state (start a worker, arm a timeout, ...).
    pub(crate) wake_wanted: bool,
    /// A wake-up message is on its way to the manager and not yet read (coalescing).
    pub(crate) wake_sent: bool,
    /// Workers that left the table (died, were killed or retired) and that no worker
    /// started since replaces (for `PoolStats::workers_replaced`).
    pub(crate) unreplaced: u64,
    /// Worker processes in a row that failed to start (see `MAX_STARTUP_FAILURES`).
    pub(crate) startup_failures: u32,
    /// The most worker processes the pool runs for now, and until when: the system refused
    /// to start one more while others ran (`fork` failing with `EAGAIN` under
    /// `RLIMIT_NPROC`, say), so the pool goes on with those (see [`State::cap_workers`]).
    pub(crate) worker_cap: Option<(usize, Instant)>,
    /// `shutdown_with` without `wait` was called: dropping the pool does not wait.
    pub(crate) let_go: bool,
    /// The pool was dropped: when its grace period ends, and how long it was.
    pub(crate) terminate_at: Option<(Instant, Duration)>,
}

pool_engine::deref_to_table!(State, Worker);

impl State {
    fn starting(&self) -> usize {
        self.workers
            .iter()
            .filter(|w| w.phase != Phase::Ready)
            .count()
    }

    /// The most worker processes the pool runs now: `max_workers`, or fewer while the
    /// system refuses more (see [`State::cap_workers`]).
    fn max_workers(&self, rules: &Rules) -> usize {
        match self.worker_cap {
            Some((cap, _)) => cap.min(rules.max_workers),
            None => rules.max_workers,
        }
    }

    /// How many workers the manager should start now: one per waiting task that no
    /// starting worker will take, up to `max_workers` processes (dying ones included, so
    /// the count of processes never exceeds it), or fewer while the system refuses more.
    pub(crate) fn workers_to_start(&self, rules: &Rules) -> usize {
        if self.broken.is_some() || self.stopping {
            return 0;
        }
        let room = self.max_workers(rules).saturating_sub(self.workers.len());
        let uncovered = self.pending.len().saturating_sub(self.starting());
        room.min(uncovered)
    }

    /// True when the manager's work is over: shut down (or broken) and nothing left.
    pub(crate) fn finished(&self) -> bool {
        (self.shutdown || self.broken.is_some())
            && self.pending.is_empty()
            && self.in_flight() == 0
            && (self.broken.is_none() || self.workers.is_empty())
    }

    /// The earliest deadline: a worker's handshake, a running task's timeout, the end of a
    /// dropped pool's grace period, the next try to start the workers the system refused.
    pub(crate) fn next_deadline(&self, rules: &Rules) -> Option<Instant> {
        let terminate = self.terminate_at.filter(|_| !self.stopping);
        self.workers
            .iter()
            .filter_map(|w| w.deadline(rules))
            .map(|(deadline, _)| deadline)
            .chain(terminate.map(|(at, _)| at))
            .chain(self.worker_cap.map(|(_, retry)| retry))
            .min()
    }

    /// Kills the workers past their deadline (see [`Worker::deadline`]), and all of them
    /// when a dropped pool's grace period is over; lifts a cap on the workers whose time is
    /// up (the manager tries to start them again).
    pub(crate) fn enforce_timeouts(
        &mut self,
        rules: &Rules,
        now: Instant,
        finish: &mut Vec<Finish>,
    ) {
        if self.worker_cap.is_some_and(|(_, retry)| now >= retry) {
            self.worker_cap = None;
        }
        if let Some((at, grace)) = self.terminate_at {
            if now >= at && !self.stopping {
                let why = format!(
                    "because the pool was dropped and its grace period of {grace:?} ran out"
                );
                self.terminate(rustix::process::Signal::KILL, why, finish);
            }
        }
        for worker in &mut self.workers {
            if let Some((deadline, stop_reason)) = worker.deadline(rules) {
                if now >= deadline {
                    worker.stop_reason = Some(stop_reason);
                    worker.signal(rustix::process::Signal::KILL);
                }
            }
        }
    }

    /// Moves waiting tasks to workers, oldest first (see `Table::dispatch`): queues their
    /// frames in the workers' outboxes, and returns those outboxes to flush after the unlock.
    ///
    /// A task goes to an idle worker if there is one. Otherwise, when the pool may still
    /// start a worker, it waits (the manager starts one, and whichever worker frees up first
    /// takes it). Only when all `max_workers` exist does a worker get a second (third, ...)
    /// small task queued behind its running one, the least loaded worker first, up to
    /// `tasks_per_worker`. A large task goes only to an idle worker.
    pub(crate) fn dispatch(&mut self, rules: &Rules, counters: &Counters) -> Vec<Flush> {
        if self.stopping {
            return Vec::new();
        }
        let waiting_before = self.pending.len();
        // The pool starts workers on demand: it is full once `max_workers` of them are
        // ready, and until then a worker it starts takes a task sooner than a busy one.
        let touched = self
            .table
            .dispatch(rules.send_ahead(), rules.max_workers, counters);
        if self.pending.len() < waiting_before && rules.timeout.is_some() {
            self.wake_wanted = true; // a task may have started: the manager arms its timer
        }
        if self.workers_to_start(rules) > 0 {
            self.wake_wanted = true;
        }
        self.workers
            .iter()
            .filter(|w| touched.contains(&w.key))
            .map(|w| Flush {
                outbox: w.outbox.clone(),
                manager_may_write: w.outbox.manager_may_write(w.unanswered),
            })
            .collect()
    }

    /// Stops the pool now: no new task, the waiting ones cancelled, every worker sent
    /// `signal` (their running tasks fail with `WorkerDied`, saying `why`).
    pub(crate) fn terminate(
        &mut self,
        signal: rustix::process::Signal,
        why: String,
        finish: &mut Vec<Finish>,
    ) {
        self.shutdown = true;
        self.stopping = true;
        self.cancel_pending(finish);
        for worker in &mut self.workers {
            if worker.stop_reason.is_none() {
                worker.stop_reason = Some(StopReason::Stopped(why.clone()));
            }
            worker.signal(signal);
        }
    }

    /// The system refused to start a worker process. With others alive, the pool goes on
    /// with them: it runs no more processes than it has now until [`START_RETRY`] has passed
    /// (then it tries again, when tasks wait), and true. The refusal is not a worker that
    /// failed to start: the pool's tasks run, and it must not break for that. With none
    /// alive, false: nothing would run the tasks, so it counts as a start-up failure.
    pub(crate) fn cap_workers(&mut self, now: Instant) -> bool {
        let alive = self
            .workers
            .iter()
            .filter(|w| w.stop_reason.is_none())
            .count();
        if alive == 0 {
            return false;
        }
        self.worker_cap = Some((self.workers.len(), now + START_RETRY));
        true
    }

    /// Counts a worker that failed to start, for `why`. Under `WorkerDeath::Replace` the
    /// waiting tasks make the manager start another, until `MAX_STARTUP_FAILURES` in a row
    /// break the pool; under `WorkerDeath::Break` the pool breaks at once.
    pub(crate) fn startup_failed(&mut self, why: String, rules: &Rules, finish: &mut Vec<Finish>) {
        self.startup_failures += 1;
        if rules.on_worker_death == WorkerDeath::Break {
            self.break_pool(why, finish);
        } else if self.startup_failures >= MAX_STARTUP_FAILURES {
            let n = self.startup_failures;
            self.break_pool(
                format!("{n} worker processes in a row failed to start; the last one: {why}"),
                finish,
            );
        }
    }

    /// Settles the tasks of a worker that died (already taken out of the table and
    /// reaped, with `status`): fails the task it was running, re-queues those it had not
    /// started (or fails them, when the pool broke or is stopping), and breaks the pool in
    /// `WorkerDeath::Break` mode or when the worker died before it was ready. `undelivered`
    /// are the tasks whose frames never reached it (see `outbox.rs`): none of them started,
    /// the front one included.
    pub(crate) fn worker_died(
        &mut self,
        mut worker: Worker,
        exit: Option<ExitStatus>,
        undelivered: Vec<(u64, Frame)>,
        rules: &Rules,
        finish: &mut Vec<Finish>,
    ) {
        for (id, frame) in undelivered {
            if let Some(task) = worker.in_flight.iter_mut().find(|t| t.id == id) {
                task.frame = Some(frame);
            }
        }
        let pid = worker.pid;
        let how = status::describe(exit);
        let clean_exit = exit.is_some_and(|s| s.success());
        if worker.phase != Phase::Ready {
            // It had no task. The pool stopped it (broke, or was told to): nothing to say.
            if matches!(
                worker.stop_reason,
                None | Some(StopReason::HandshakeTimeout)
            ) {
                let why = startup_failure(&worker, exit, rules);
                self.startup_failed(why, rules, finish);
            }
            return;
        }
        let unexpected =
            worker.stop_reason.is_none() && !(clean_exit && worker.in_flight.is_empty());
        // The task it ran: the one whose frame the pool dropped when it became the front (it
        // may have started: never sent again), or which the cancel set says it started (a task
        // sent ahead, whose reply before it the worker held, see `pool_engine::replies`). Those
        // whose replies it held ended, and were completed from their copies.
        let set = worker.cancels.clone();
        let started = |task: &Task| {
            task.frame.is_none()
                || matches!((task.ahead, &set), (Some(slot), Some(set)) if set.started(slot, task.id))
        };
        let mut running = None;
        let mut behind = Vec::with_capacity(worker.in_flight.len());
        for task in worker.in_flight.drain() {
            if !started(&task) {
                behind.push(task);
            } else if running.is_none() {
                running = Some(task);
            } else {
                // Only one task runs at a time; should another say it started, it is failed
                // rather than run twice.
                let err = format!("worker process {pid} {how} after it started the task");
                let err = TaskError::new(TaskErrorKind::WorkerDied, err);
                finish.push(Finish::Fail(task.completion, err));
            }
        }
        if let Some(running) = running {
            let err = match &worker.stop_reason {
                Some(StopReason::TimedOut) => TaskError::new(
                    TaskErrorKind::TimedOut,
                    format!(
                        "the task ran longer than its timeout of {:?}; its worker process \
                         {pid} was killed and replaced",
                        running.timeout.unwrap_or_default()
                    ),
                ),
                Some(StopReason::Stopped(why)) => TaskError::new(
                    TaskErrorKind::WorkerDied,
                    format!("worker process {pid} {how} (stopped {why})"),
                ),
                Some(StopReason::Broken) => TaskError::new(
                    TaskErrorKind::Broken,
                    format!(
                        "the pool is broken: {}; worker process {pid} {how}",
                        self.broken.as_deref().unwrap_or("unknown reason")
                    ),
                ),
                // A worker with a task passed the handshake: no handshake timeout.
                None | Some(StopReason::HandshakeTimeout) => TaskError::new(
                    TaskErrorKind::WorkerDied,
                    format!("worker process {pid} {how} while running the task"),
                ),
            };
            finish.push(Finish::Fail(running.completion, err));
        }
        if unexpected && rules.on_worker_death == WorkerDeath::Break {
            // The tasks behind it are failed by `break_pool` through `pending`.
            for mut task in behind.into_iter().rev() {
                task.ahead = None; // its word was in the dead worker's set
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
            for task in behind {
                finish.push(Finish::Fail(
                    task.completion,
                    TaskError::new(TaskErrorKind::Broken, why.clone()),
                ));
            }
            return;
        }
        // Not started: back to the head of the queue, in their order.
        for mut task in behind.into_iter().rev() {
            task.ahead = None; // its word was in the dead worker's set
            self.pending.push_front(task);
        }
    }
}

/// Why `worker`, which died before it was ready, failed to start: what happened (killed by a
/// signal, or exited with a code; before the handshake or in the initializer) and the last
/// lines it wrote on stderr, which say why in its own words (`init`'s, or the program's).
fn startup_failure(worker: &Worker, exit: Option<ExitStatus>, rules: &Rules) -> String {
    let pid = worker.pid;
    let how = status::describe(exit);
    if worker.phase == Phase::Initializing {
        return format!("worker process {pid} {how} while it ran the pool's initializer");
    }
    let said = worker.stderr.tail();
    if worker.stop_reason == Some(StopReason::HandshakeTimeout) {
        return format!(
            "worker process {pid} did not answer the pool's handshake within the handshake \
             timeout of {:?} and was killed{said}",
            rules.handshake_timeout
        );
    }
    format!("worker process {pid} {how} before the handshake{said}")
}
