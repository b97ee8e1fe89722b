//! The manager threads: the threads that take turns holding the pool's manager, so that user
//! code run by the manager can never stall the pool.
//!
//! The manager completes futures itself as replies arrive (a hop to another thread would cost
//! a wake-up per task), and completing a future runs its done callbacks and its result's
//! `Deserialize`. A callback may call back into the pool: submit to a full bounded queue (which
//! waits for room that the manager frees), wait on another future (which the manager
//! completes), `shutdown()` (which waits for the manager to finish). If the thread
//! holding the manager's state were stuck there, nothing would move again.
//!
//! So the manager's state (`Manager`: the receivers, the selector) lives in a *slot* that a
//! thread takes it from while it reads and decides, and puts it back into before it runs user
//! code (a *job run*). The user code is a queue of jobs in the slot (`Slot::jobs`), run one at
//! a time by whoever runs jobs. A standby thread watches the slot: the manager left in it,
//! unmoved, for a whole period (`PERIOD`) means a job run stuck in a job (or slow), and the
//! standby takes the manager, runs the jobs queued behind the stuck one and goes on managing;
//! the thread stuck in the job becomes a standby when it returns. A job that is about to wait
//! on the pool itself (`submit` waiting for room in a full bounded queue, `shutdown()` waiting
//! for the end: `ManagerThreads::blocking`) asks for the hand-over at once instead of a period
//! later. So a pool has its manager thread and one standby, plus one thread for each callback
//! blocked at the same time; no completion waits on another future's callback, and a callback
//! that blocks on anything else (another future's result, a lock of its own) holds up the
//! replies for about one `PERIOD`. The common case costs a mutex per job and per job run: the
//! standby wakes once per `PERIOD` while job runs happen, and sleeps without a timeout once
//! the manager has stayed out of the slot (held by a managing thread) for `QUIET` (the next job run wakes it).
//!
//! How a job run is seen to be stuck: `Slot::moves` counts the manager's moves in and out of
//! the slot, under the slot's lock. Several job runs may go on at once (a stuck one and those
//! of the thread that took over), so the sign of a stuck job run is the manager lying in the
//! slot with the same count for a whole period, whoever put it there; a parity of begun and
//! ended job runs would read "none running" with two of them running, and the pool would
//! stop for good.
//!
//! Every thread that ever held the manager lives until the pool is finished (its last worker
//! reaped): a worker asks for `PR_SET_PDEATHSIG`, which fires when the *thread* that started
//! it ends.
//!
//! The manager threads are generic over what the slot holds ([`Management`]: the pool's
//! `Manager`, or a scripted stand-in in the loom models of `tests/loom.rs`, which explore
//! every interleaving of this code; public only under `cfg(loom)`).
#![cfg_attr(not(loom), allow(unreachable_pub))]

use std::cell::Cell;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::sync::{self, Arc, Condvar, Mutex, MutexGuard};

/// How long the manager may stay in the slot, unmoved, before a standby takes it.
const PERIOD: Duration = Duration::from_millis(10);

/// After this long without a move of the manager, a standby sleeps until the next one.
const QUIET: Duration = Duration::from_secs(1);

#[cfg(not(loom))]
thread_local! {
    /// The address of the manager threads whose job this thread is running, if any (compared, never
    /// dereferenced): a thread about to wait on the pool hands the manager over at once.
    static RUNNING_JOBS_OF: Cell<usize> = const { Cell::new(0) };
}

#[cfg(loom)]
loom::thread_local! {
    static RUNNING_JOBS_OF: Cell<usize> = Cell::new(0);
}

/// What the thread holding the manager works with: the pool's manager.
pub trait Management: Sized + Send + 'static {
    /// User code that a turn leaves to run with the slot free.
    type Job: Send + 'static;
    /// What jobs run with (the pool's counters), shared by the manager threads.
    type Context: Send + Sync + 'static;

    /// One turn: waits for a message (or a deadline) and handles it. False once the pool is
    /// finished.
    fn turn(&mut self) -> bool;

    /// The jobs that the last turn left, in order.
    fn take_jobs(&mut self) -> Vec<Self::Job>;

    /// Runs a job; its panics are contained.
    fn run(threads: &ManagerThreads<Self>, job: Self::Job);

    /// Whether the panic hook prints the panics caught on the manager threads.
    fn print_panics(context: &Self::Context) -> bool;
}

/// The manager's slot and the threads that take turns holding it.
pub struct ManagerThreads<M: Management> {
    slot: Mutex<Slot<M>>,
    /// Signalled when the pool is finished, and when the manager is put in the slot while a
    /// standby sleeps without a timeout, or a job run asks for a hand-over.
    changed: Condvar,
    context: M::Context,
}

impl<M: Management> std::fmt::Debug for ManagerThreads<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerThreads").finish_non_exhaustive()
    }
}

struct Slot<M: Management> {
    /// The manager's state, while no thread is managing: its former holder runs jobs.
    manager: Option<M>,
    /// The user code that the manager's turns left, in order, not yet started. Whoever runs
    /// jobs takes them one at a time from here, so a standby that takes the manager from a
    /// job run stuck in one job takes the jobs behind it too: no completion waits on another
    /// future's callback.
    jobs: VecDeque<M::Job>,
    /// Counts every move of the manager into and out of the slot. The same count, with the
    /// manager in the slot, a whole `PERIOD` later: the job run is stuck (or slow).
    moves: u64,
    /// A thread running a job is about to wait on the pool: take the manager now.
    hand_over: bool,
    /// The pool is finished: every thread returns.
    finished: bool,
    /// Standby threads waiting, and how many of them sleep without a timeout.
    standing_by: usize,
    sleeping: usize,
}

impl<M: Management> Slot<M> {
    /// Puts the manager in the slot (`Some`) or takes it out (`None`); returns what was
    /// there. There is one manager: it is in the slot or held by one thread.
    fn place(&mut self, manager: Option<M>) -> Option<M> {
        self.moves += 1;
        self.hand_over = false;
        std::mem::replace(&mut self.manager, manager)
    }
}

impl<M: Management> ManagerThreads<M> {
    /// Manager threads whose jobs run with `context`; no thread yet.
    pub fn new(context: M::Context) -> Arc<ManagerThreads<M>> {
        Arc::new(ManagerThreads {
            slot: Mutex::new(Slot {
                manager: None,
                jobs: VecDeque::new(),
                moves: 0,
                hand_over: false,
                finished: false,
                standing_by: 0,
                sleeping: 0,
            }),
            changed: Condvar::new(),
            context,
        })
    }

    /// What the jobs run with.
    pub fn context(&self) -> &M::Context {
        &self.context
    }

    fn slot(&self) -> MutexGuard<'_, Slot<M>> {
        // No user code runs under this lock: a poisoned one is still consistent.
        sync::lock(&self.slot)
    }

    /// Starts a manager thread: it manages with `manager` if given, then stands by.
    pub fn start_thread(threads: &Arc<Self>, manager: Option<M>) -> std::io::Result<()> {
        let threads = threads.clone();
        sync::spawn("pool-process-manager", move || {
            ManagerThreads::thread(&threads, manager);
        })?;
        Ok(()) // detached: it ends when the pool is finished
    }

    fn thread(threads: &Arc<Self>, manager: Option<M>) {
        future_core::executor::print_panics(M::print_panics(&threads.context));
        if let Some(manager) = manager {
            if threads.manage(manager, false) {
                return;
            }
        }
        ManagerThreads::stand_by(threads);
    }

    /// Manages until the pool is finished (true) or another thread took the manager while this
    /// one ran user code (false). `took_over`: the manager was taken during a job run, which may
    /// have left jobs in the queue; they run before this thread waits for the next message.
    fn manage(&self, mut manager: M, mut took_over: bool) -> bool {
        loop {
            let jobs = manager.take_jobs();
            if took_over || !jobs.is_empty() {
                took_over = false;
                let mut slot = self.slot();
                slot.jobs.extend(jobs);
                if !slot.jobs.is_empty() {
                    slot.place(Some(manager));
                    if slot.sleeping > 0 {
                        self.changed.notify_all();
                    }
                    let mut slot = self.run_jobs(slot);
                    match slot.place(None) {
                        Some(back) => manager = back,
                        None => return slot.finished,
                    }
                }
            }
            if !manager.turn() {
                let jobs = manager.take_jobs();
                drop(manager); // the pool's flush thread ends with it
                // Only the thread holding the manager adds jobs, and it drained the queue
                // before this turn: these are the last ones.
                let mut slot = self.slot();
                slot.jobs.extend(jobs);
                let mut slot = self.run_jobs(slot);
                slot.finished = true;
                self.changed.notify_all();
                return true;
            }
        }
    }

    /// A job run: runs the queued jobs one at a time, each with the slot's lock released, until
    /// none is left; returns the lock then.
    fn run_jobs<'a>(&'a self, mut slot: MutexGuard<'a, Slot<M>>) -> MutexGuard<'a, Slot<M>> {
        while let Some(job) = slot.jobs.pop_front() {
            drop(slot);
            RUNNING_JOBS_OF.with(|running| running.set(self.address()));
            M::run(self, job);
            RUNNING_JOBS_OF.with(|running| running.set(0));
            slot = self.slot();
        }
        slot
    }

    fn address(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// Called by a thread about to wait on the pool (for room in its queue, for its end):
    /// if that thread is running one of this pool's jobs, a standby takes the manager now
    /// rather than a `PERIOD` later.
    pub fn blocking(&self) {
        if RUNNING_JOBS_OF.with(Cell::get) != self.address() {
            return;
        }
        let mut slot = self.slot();
        if slot.manager.is_some() {
            slot.hand_over = true;
            self.changed.notify_all();
        }
    }

    /// Waits for a job run that leaves the manager in the slot a whole `PERIOD` (or asks for a
    /// hand-over), takes the manager then and manages; returns when the pool is finished.
    fn stand_by(threads: &Arc<Self>) {
        let mut slot = threads.slot();
        slot.standing_by += 1;
        let mut seen = slot.moves;
        let mut last_move = Instant::now();
        loop {
            if slot.finished {
                return;
            }
            if slot.moves != seen {
                seen = slot.moves;
                last_move = Instant::now();
            }
            let stuck = slot.hand_over || elapsed(last_move, PERIOD);
            if stuck && slot.manager.is_some() {
                // Take over, leaving a standby.
                let Some(manager) = slot.place(None) else {
                    continue;
                };
                slot.standing_by -= 1;
                let alone = slot.standing_by == 0;
                drop(slot);
                if alone {
                    ManagerThreads::start_standby(threads);
                }
                if threads.manage(manager, true) {
                    return;
                }
                slot = threads.slot();
                slot.standing_by += 1;
                continue;
            }
            if slot.manager.is_none() && elapsed(last_move, QUIET) {
                slot.sleeping += 1;
                slot = sync::wait(&threads.changed, slot);
                slot.sleeping -= 1;
                seen = slot.moves;
                last_move = Instant::now();
            } else {
                let wait = PERIOD.saturating_sub(last_move.elapsed()).max(PERIOD / 10);
                slot = sync::wait_timeout(&threads.changed, slot, wait);
            }
        }
    }

    fn start_standby(threads: &Arc<Self>) {
        if let Err(err) = ManagerThreads::start_thread(threads, None) {
            eprintln!("pool-process: cannot start a standby manager thread: {err}");
        }
    }

    /// Lets the standbys go when the pool could not be started.
    pub fn abandon(&self) {
        self.slot().finished = true;
        self.changed.notify_all();
    }

    /// Waits until the pool is finished: every task settled and every worker reaped.
    pub fn wait_finished(&self) {
        let mut slot = self.slot();
        if !slot.finished {
            drop(slot);
            self.blocking();
            slot = self.slot();
        }
        while !slot.finished {
            slot = sync::wait(&self.changed, slot);
        }
    }
}

/// Whether `period` passed since `since`. Never under loom, which models no time: there a
/// standby takes the slot only when a job run asks it to (`ManagerThreads::blocking`).
fn elapsed(since: Instant, period: Duration) -> bool {
    !cfg!(loom) && since.elapsed() >= period
}

impl Management for crate::parent::manager::Manager {
    type Job = crate::parent::manager::Job;
    type Context = std::sync::Arc<crate::parent::manager::Shared>;

    fn turn(&mut self) -> bool {
        crate::parent::manager::Manager::turn(self)
    }

    fn take_jobs(&mut self) -> Vec<Self::Job> {
        crate::parent::manager::Manager::take_jobs(self)
    }

    fn run(threads: &ManagerThreads<Self>, job: Self::Job) {
        // Each job catches its user code's panics (see `Job::run`).
        job.run(&threads.context().counters);
    }

    fn print_panics(shared: &Self::Context) -> bool {
        shared.launch.print_panics
    }
}
