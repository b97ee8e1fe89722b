//! The manager thread: starts workers (`spawn.rs`), reads every worker's replies, notices
//! deaths and timeouts, and lets the workers go at the end. See `README.md` beside this file.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use future_core::{TaskError, TaskErrorKind};
use ipc_queue::{Frame, Receiver, RecvError, SelectError, Selector, Sender};

use crate::marker;
use crate::messages::{FromWorker, Init, ToWorker};
use crate::parent::dispatch::{Flush, Rules, State, Worker};
use crate::parent::outbox::{self, FlushThread, Outbox};
use crate::parent::spawn::{self, Launch, Spawned};
use crate::stderr::StartupStderr;
use pool_engine::{Finish, Phase};
use task_wire::Completion;
use task_wire::Counters;

/// What the pool's handle and its manager thread share.
pub(crate) struct Shared {
    pub(crate) rules: Rules,
    pub(crate) launch: Launch,
    pub(crate) fingerprint: task_wire::Fingerprint,
    pub(crate) state: Mutex<State>,
    /// Signalled when waiting tasks were taken, or the pool shut down or broke: wakes
    /// `submit` calls blocked on the queue bound.
    pub(crate) room: Condvar,
    /// The manager's wake-up channel (its receiver is the manager's receiver 0).
    pub(crate) wake_tx: Sender<FromWorker>,
    /// What became of the tasks, and the workers started (see `stats.rs`).
    pub(crate) counters: Counters,
}

impl Shared {
    /// Locks the state. A poisoned lock is taken anyway: no user code runs under it, so
    /// the state is consistent.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Wakes the manager if the state asks for it and no wake-up is already on its way. A
    /// write under the lock that cannot block: at most one wake-up message (a few bytes) is
    /// ever unread in the wake channel.
    pub(crate) fn wake_if_wanted(&self, state: &mut State) {
        if state.wake_wanted && !state.wake_sent && self.wake_tx.send(&FromWorker::Wake).is_ok() {
            state.wake_sent = true;
        }
        state.wake_wanted = false;
    }

    /// Wakes the manager unconditionally (shutdown, terminate).
    pub(crate) fn wake(&self, state: &mut State) {
        state.wake_wanted = true;
        self.wake_if_wanted(state);
    }
}

/// The manager's state, made for a pool: its receivers and selector, and the writer of what
/// it must not write itself. One of the pool.s manager threads (`manager_threads.rs`) manages with it.
pub(crate) fn new(shared: Arc<Shared>, wake_rx: Receiver<FromWorker>) -> std::io::Result<Manager> {
    let launch = &shared.launch;
    let held = shared.rules.tasks_per_worker / 2;
    let init = ToWorker::Init(Init {
        initializer: launch.initializer,
        max_held: u32::try_from(held).unwrap_or(u32::MAX),
        max_tasks: launch.max_tasks,
        spin_ns: u64::try_from(launch.spin.as_nanos()).unwrap_or(u64::MAX),
        max_frame: launch.max_frame as u64,
        print_panics: launch.print_panics,
    });
    let init_frame = Arc::new(task_wire::encode_message(&init));
    Ok(Manager {
        receivers: vec![wake_rx],
        keys: vec![u64::MAX],
        selector: Selector::new(),
        shared,
        active: false,
        flush_thread: FlushThread::start()?,
        init_frame,
        jobs: Vec::new(),
    })
}

/// Work for the manager's thread that runs user code, so it runs with the slot free (see
/// `manager_threads.rs`): completing a future from its reply, or failing or cancelling one.
pub(crate) enum Job {
    /// The reply's frame, with the offset of its results.
    Complete(Box<dyn Completion>, Frame, usize),
    Finish(Finish),
}

impl Job {
    /// Runs it (user code: done callbacks, `Deserialize`) and counts its task.
    pub(crate) fn run(self, counters: &Counters) {
        match self {
            // Decoding runs the result's `Deserialize`, completing runs the done callbacks:
            // both catch their panics; this is the manager's last line of defence.
            Job::Complete(completion, frame, at) => {
                // The results are decoded straight from the frame, which is dropped right
                // after: a large result is held twice only while it is decoded.
                let results = frame.get(at..).unwrap_or_default();
                pool_engine::complete("pool-process", completion, results, counters);
            }
            Job::Finish(finish) => finish.run("pool-process", counters),
        }
    }
}

pub(crate) struct Manager {
    /// Receiver 0 is the wake channel; the others are the workers', with their keys in
    /// `keys` at the same index.
    receivers: Vec<Receiver<FromWorker>>,
    keys: Vec<u64>,
    selector: Selector,
    shared: Arc<Shared>,
    /// Tasks were in flight at the previous turn of the loop.
    active: bool,
    /// Writes the frames that the manager must not write itself (see `outbox.rs`).
    flush_thread: FlushThread,
    /// The encoded `Init` message, the same for every worker.
    init_frame: outbox::Frame,
    /// User code to run once the slot is free.
    jobs: Vec<Job>,
}

impl Manager {
    /// The user code that the last turn left to run, in order.
    pub(crate) fn take_jobs(&mut self) -> Vec<Job> {
        std::mem::take(&mut self.jobs)
    }

    fn finish(&mut self, finish: Vec<Finish>) {
        self.jobs.extend(finish.into_iter().map(Job::Finish));
    }

    /// One turn of the manager: starts the workers wanted, waits for a message (or a
    /// deadline) and handles it. False once the pool is finished: every worker was let go
    /// and reaped.
    pub(crate) fn turn(&mut self) -> bool {
        let (to_start, finished) = {
            let mut state = self.shared.lock();
            state.wake_wanted = false;
            if state.shutdown && state.in_flight() == 0 {
                // Nothing runs: the waiting tasks wait for workers still starting. Those
                // cancelled meanwhile must neither keep a worker starting nor keep the
                // pool from finishing (a drop would wait for a copy that may never serve).
                state.drop_cancelled(&self.shared.counters);
            }
            (state.workers_to_start(&self.shared.rules), state.finished())
        };
        if finished {
            self.release_workers();
            return false;
        }
        for _ in 0..to_start {
            if !self.start_worker() {
                // The next turn decides again, now, with the failure counted: another try,
                // a pool that goes on with fewer workers, or a broken one. Waiting for a
                // message instead could wait for ever: no worker may ever send one.
                return true;
            }
        }
        let now = Instant::now();
        let (deadline, busy) = {
            let mut state = self.shared.lock();
            let deadline = state.next_deadline(&self.shared.rules);
            if deadline.is_some_and(|deadline| deadline <= now) {
                // Enforced here too, not only when the wait times out: a pool that keeps
                // receiving messages never times out.
                let mut finish = Vec::new();
                state.enforce_timeouts(&self.shared.rules, now, &mut finish);
                drop(state);
                self.finish(finish);
                return true;
            }
            let busy = state.in_flight() > 0;
            (deadline, busy)
        };
        // Spin while tasks are in flight, and once more after the last reply (the next task
        // of a caller that waits on each result comes right away); after that one bounded
        // spin the manager blocks, so an idle pool uses no CPU.
        let spin = if busy || self.active {
            self.shared.launch.spin
        } else {
            Duration::ZERO
        };
        self.active = busy;
        self.selector.set_spin(spin);
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        match self.selector.recv_any_frame(&mut self.receivers, timeout) {
            Ok((0, _)) => self.shared.lock().wake_sent = false,
            Ok((index, frame)) => self.on_frames(index, frame),
            Err(SelectError::Timeout) => {} // the next turn enforces the deadline
            Err(SelectError::Recv { index: 0, error }) => {
                // The wake channel cannot fail while the pool holds its sender.
                let mut finish = Vec::new();
                self.shared.lock().break_pool(
                    format!("the pool's internal wake-up channel failed: {error}"),
                    &mut finish,
                );
                self.finish(finish);
                self.receivers.truncate(1);
                self.release_workers();
                return false;
            }
            Err(SelectError::Recv { index, error }) => self.on_recv_error(index, error),
            Err(SelectError::NoReceivers) => return false,
            Err(SelectError::Io(_)) | Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
        true
    }

    /// Starts one worker process and adds it to the table; false when it could not.
    fn start_worker(&mut self) -> bool {
        let key = {
            let mut state = self.shared.lock();
            state.next_key += 1;
            state.next_key - 1
        };
        let nonce = marker::new_nonce(key);
        let slots = self.shared.rules.tasks_per_worker;
        match spawn::spawn(&self.shared.launch, nonce, slots) {
            Ok(Spawned {
                child,
                tx,
                rx,
                cancels,
                reply_copies,
                stderr,
            }) => {
                let mut state = self.shared.lock();
                let replaces = state.unreplaced > 0;
                state.unreplaced -= u64::from(replaces);
                self.shared.counters.worker_started(replaces);
                let send_buffer = tx.send_buffer_size().ok();
                state.workers.push(Worker {
                    key,
                    nonce,
                    pid: child.id(),
                    started: Instant::now(),
                    since: Instant::now(),
                    child,
                    outbox: Arc::new(Outbox::new(tx, send_buffer)),
                    cancels,
                    reply_copies,
                    phase: Phase::Hello,
                    in_flight: Default::default(),
                    unanswered: 0,
                    sent: 0,
                    max_tasks: self.shared.rules.max_tasks_per_child,
                    stop_reason: None,
                    stderr,
                });
                self.receivers.push(rx);
                self.keys.push(key);
                true
            }
            Err(err) => {
                let mut finish = Vec::new();
                {
                    let mut state = self.shared.lock();
                    // With workers alive, the pool goes on with them (the system may run
                    // no more processes of this user now); with none, nothing runs the
                    // tasks: a start-up failure, and a few in a row break the pool.
                    if !state.cap_workers(Instant::now()) {
                        let why = format!("cannot start a worker process: {err}");
                        state.startup_failed(why, &self.shared.rules, &mut finish);
                    }
                    self.shared.room.notify_all();
                }
                self.finish(finish);
                false
            }
        }
    }

    /// Handles `frame`, from receiver `index`, and the frames of that worker that came with
    /// it (a worker sends several replies in one write: see `pool_engine::replies`); then writes
    /// what they dispatched, together.
    fn on_frames(&mut self, index: usize, frame: Frame) {
        let key = self.keys[index];
        let mut flushes = Vec::new();
        let mut next = Ok(frame);
        let error = loop {
            match next {
                Ok(frame) => match task_wire::split::<FromWorker>(&frame) {
                    Ok((msg, at)) => flushes.extend(self.on_message(key, msg, frame, at)),
                    Err(err) => {
                        let message = format!("the worker's reply could not be decoded: {err}");
                        flushes.extend(self.fail_front(key, message));
                    }
                },
                Err(RecvError::Empty) => {}
                Err(error) => break Some(error),
            }
            let receiver = &mut self.receivers[index];
            if !receiver.has_buffered() {
                break None;
            }
            next = receiver.try_recv_frame();
        };
        // One write per worker, however many of its frames were queued meanwhile.
        flushes.dedup_by(|a, b| Arc::ptr_eq(&a.outbox, &b.outbox));
        self.flush(flushes);
        if let Some(error) = error {
            self.on_recv_error(index, error);
        }
    }

    /// Handles `msg`, the start of `frame` (a reply's results follow at `at`), and returns
    /// the outboxes to write.
    fn on_message(&mut self, key: u64, msg: FromWorker, frame: Frame, at: usize) -> Vec<Flush> {
        let (rules, counters) = (&self.shared.rules, &self.shared.counters);
        let mut finish = Vec::new();
        let mut flushes = Vec::new();
        let mut answered = None;
        {
            let mut state = self.shared.lock();
            match msg {
                FromWorker::Reply { id } => {
                    answered = state.take_answered(key, id);
                    flushes = state.dispatch(rules, counters);
                }
                FromWorker::Skipped { id } => {
                    finish.extend(state.take_skipped(key, id).map(Finish::Skipped));
                    flushes = state.dispatch(rules, counters);
                }
                FromWorker::Hello {
                    pid,
                    nonce,
                    fingerprint,
                    ..
                } => {
                    flushes.extend(self.on_hello(
                        &mut state,
                        key,
                        (pid, nonce),
                        fingerprint,
                        &mut finish,
                    ));
                }
                FromWorker::Ready => {
                    if let Some(worker) = state.worker_mut(key) {
                        worker.phase = Phase::Ready;
                        worker.since = Instant::now();
                        // It serves: its stderr is the pool's again (see `stderr.rs`).
                        worker.stderr = StartupStderr::default();
                        state.startup_failures = 0;
                    }
                    flushes = state.dispatch(rules, counters);
                }
                FromWorker::InitFailed(message) => {
                    state.initializer_failed(key, &message, &mut finish);
                }
                FromWorker::Wake => {}
            }
            if rules.queue_bound.is_some() || state.broken.is_some() {
                self.shared.room.notify_all();
            }
        }
        if let Some(completion) = answered {
            self.jobs.push(Job::Complete(completion, frame, at));
        }
        self.finish(finish);
        flushes
    }

    /// Writes what dispatch queued: here when it cannot block, else on the flush thread.
    fn flush(&self, flushes: Vec<Flush>) {
        for flush in flushes {
            if flush.manager_may_write {
                flush.run();
            } else {
                self.flush_thread.flush(flush.outbox);
            }
        }
    }

    fn on_hello(
        &self,
        state: &mut State,
        key: u64,
        (pid, nonce): (u32, u64),
        fingerprint: task_wire::Fingerprint,
        finish: &mut Vec<Finish>,
    ) -> Option<Flush> {
        if state.worker(key).is_some_and(|w| w.nonce != nonce) {
            state.break_pool(
                format!(
                    "worker process {pid} answered the handshake with another start's marker \
                     (its environment was not the one this pool gave it)"
                ),
                finish,
            );
            return None;
        }
        if fingerprint != self.shared.fingerprint {
            state.break_pool(
                format!(
                    "worker process {pid} is not the same build as the pool, so it cannot run \
                     its functions (was the executable rebuilt or replaced?): the pool is \
                     [{}], the worker is [{fingerprint}]",
                    self.shared.fingerprint
                ),
                finish,
            );
            return None;
        }
        let worker = state.worker_mut(key)?;
        worker.outbox.push(None, self.init_frame.clone());
        worker.phase = Phase::Initializing;
        // A failed write: the worker is dying, and its EOF follows.
        Some(Flush {
            outbox: worker.outbox.clone(),
            manager_may_write: true,
        })
    }

    fn on_recv_error(&mut self, index: usize, error: RecvError) {
        let key = self.keys[index];
        match error {
            RecvError::FrameTooLarge { announced, max } => {
                let flushes = self.fail_front(
                    key,
                    format!("the task's result ({announced} bytes) is larger than the frame limit of {max} bytes"),
                );
                self.flush(flushes);
            }
            RecvError::Decode(err) => {
                let message = format!("the worker's reply could not be decoded: {err}");
                let flushes = self.fail_front(key, message);
                self.flush(flushes);
            }
            RecvError::Timeout | RecvError::Empty => {}
            _ => {
                // Disconnected (EOF: the worker exited or was killed), or a broken socket.
                self.receivers.remove(index);
                self.keys.remove(index);
                self.on_death(key);
            }
        }
    }

    /// Fails the task at the front of worker `key` (its reply cannot be read), and returns
    /// the outboxes to write.
    fn fail_front(&mut self, key: u64, message: String) -> Vec<Flush> {
        let (front, flushes) = {
            let mut state = self.shared.lock();
            let front = state.take_front(key);
            (
                front,
                state.dispatch(&self.shared.rules, &self.shared.counters),
            )
        };
        if let Some(completion) = front {
            let err = TaskError::new(TaskErrorKind::Serialization, message);
            self.finish(vec![Finish::Fail(completion, err)]);
        }
        flushes
    }

    /// A worker's socket reached EOF: reap it, settle its tasks, and go on.
    fn on_death(&mut self, key: u64) {
        let worker = {
            let mut state = self.shared.lock();
            let Some(position) = state.workers.iter().position(|w| w.key == key) else {
                return;
            };
            state.unreplaced += 1;
            state.workers.remove(position)
        };
        let mut worker = worker;
        let status = spawn::reap(&mut worker.child);
        if worker.phase != Phase::Ready {
            worker.stderr.settle(); // what it said before it failed to start
        }
        let undelivered = worker.outbox.take_undelivered();
        self.recover_replies(&mut worker);
        let mut finish = Vec::new();
        let flushes = {
            let mut state = self.shared.lock();
            let rules = &self.shared.rules;
            state.worker_died(worker, status, undelivered, rules, &mut finish);
            self.shared.room.notify_all();
            state.dispatch(rules, &self.shared.counters)
        };
        self.flush(flushes);
        self.finish(finish);
    }

    /// Completes the tasks of a dead worker whose replies it held, from their copies (see
    /// `reply_copies.rs`): they ended before it died.
    fn recover_replies(&mut self, worker: &mut Worker) {
        let Some(copies) = &worker.reply_copies else {
            return;
        };
        for reply in copies.take() {
            let Ok((msg, at)) = task_wire::split::<FromWorker>(&reply) else {
                continue;
            };
            let (FromWorker::Reply { id } | FromWorker::Skipped { id }) = msg else {
                continue;
            };
            // A copy of a reply that came all the same answers no task in flight.
            let Some(position) = worker.in_flight.iter_mut().position(|t| t.id == id) else {
                continue;
            };
            let Some((task, _)) = worker.in_flight.take(position, Instant::now()) else {
                continue;
            };
            self.jobs.push(match msg {
                FromWorker::Reply { .. } => Job::Complete(task.completion, Frame::from(reply), at),
                _ => Job::Finish(Finish::Skipped(task.completion)),
            });
        }
    }

    /// The end: close every worker's socket (each exits 0 when it sees EOF) and reap them.
    /// A worker that has not answered the handshake is killed instead: it has not taken its
    /// socket (its `main` runs, and may never reach `init`), so nothing tells it to go.
    fn release_workers(&mut self) {
        let workers: Vec<Worker> = std::mem::take(&mut self.shared.lock().workers);
        self.receivers.truncate(1);
        self.keys.truncate(1);
        let mut children = Vec::with_capacity(workers.len());
        for worker in workers {
            if worker.phase == Phase::Hello {
                // Still our child (not reaped): the pid names it.
                worker.signal(rustix::process::Signal::KILL);
            }
            let Worker {
                child,
                outbox,
                stderr,
                ..
            } = worker;
            outbox.close();
            children.push((child, stderr));
        }
        for (mut child, mut stderr) in children {
            spawn::reap(&mut child);
            stderr.settle(); // what a worker killed before its handshake had said
        }
        self.shared.room.notify_all();
    }
}
