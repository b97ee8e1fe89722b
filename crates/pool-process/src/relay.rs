//! The manager's seat, and the threads that take turns in it, so that user code run by the
//! manager can never stall the pool.
//!
//! The manager completes futures itself as replies arrive (a hop to another thread would cost
//! a wake-up per task), and completing a future runs its done callbacks and its result's
//! `Deserialize`. A callback may call back into the pool: submit to a full bounded queue (which
//! waits for room that the manager frees), wait on another future (which the manager
//! completes), `shutdown()` (which waits for the manager to finish). If the thread
//! holding the manager's state were stuck there, nothing would move again.
//!
//! So the manager's state (`Manager`: the receivers, the selector) is a *seat* that a thread
//! holds while it reads and decides, and puts back before it runs user code (a *stint*). The
//! user code is a queue of jobs in the seat (`Seat::jobs`), run one at a time by whoever
//! runs jobs. A standby thread watches the seat: the manager left in it, unmoved, for a whole
//! period (`PERIOD`) means a stint stuck in a job (or slow), and the standby takes the seat,
//! runs the jobs queued behind the stuck one and goes on managing; the thread that ran the
//! stint becomes a standby when it returns. A job that is about to wait on the pool itself
//! (`submit` waiting for room in a full bounded queue, `shutdown()` waiting for the end:
//! `Relay::blocking`) asks for the hand-over at once instead of a period later. So a pool has
//! its manager thread and one standby, plus one thread for each callback blocked at the same
//! time; no completion waits on another future's callback, and a callback that blocks on
//! anything else (another future's result, a lock of its own) holds up the replies for
//! about one `PERIOD`. The common case costs a mutex per job and per stint: the standby wakes
//! once per `PERIOD` while stints happen, and sleeps without a timeout once the manager has
//! stayed out of the seat for `QUIET` (the next stint wakes it).
//!
//! How a stint is seen to be stuck: `Seat::moves` counts the manager's moves in and out of
//! the seat, under the seat's lock. Several stints may run at once (a stuck one and those of
//! the thread that took over), so the sign of a stuck stint is the manager sitting in the
//! seat with the same count for a whole period, whoever put it there; a parity of begun
//! and ended stints would read "none running" with two of them running, and the pool would
//! stop for good.
//!
//! Every thread that ever held the seat lives until the pool is finished (its last worker
//! reaped): a worker is started with `PR_SET_PDEATHSIG`, which fires when the *thread* that
//! started it ends.
//!
//! The relay is generic over what the seat holds ([`Management`]: the pool's `Manager`, or
//! a scripted stand-in in the loom models of `tests/loom.rs`, which explore every
//! interleaving of this code; public only under `cfg(loom)`).
#![cfg_attr(not(loom), allow(unreachable_pub))]

use std::cell::Cell;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::sync::{self, Arc, Condvar, Mutex, MutexGuard};

/// How long the manager may stay in the seat, unmoved, before a standby takes it.
const PERIOD: Duration = Duration::from_millis(10);

/// After this long without a move of the manager, a standby sleeps until the next one.
const QUIET: Duration = Duration::from_secs(1);

#[cfg(not(loom))]
thread_local! {
    /// The address of the relay whose job this thread is running, if any (compared, never
    /// dereferenced): a thread about to wait on the pool hands the seat over at once.
    static STINT: Cell<usize> = const { Cell::new(0) };
}

#[cfg(loom)]
loom::thread_local! {
    static STINT: Cell<usize> = Cell::new(0);
}

/// What the thread holding the seat works with: the pool's manager.
pub trait Management: Sized + Send + 'static {
    /// User code that a turn leaves to run with the seat free.
    type Job: Send + 'static;
    /// What jobs run with (the pool's counters), shared by the relay's threads.
    type Context: Send + Sync + 'static;

    /// One turn: waits for a message (or a deadline) and handles it. False once the pool is
    /// finished.
    fn turn(&mut self) -> bool;

    /// The jobs that the last turn left, in order.
    fn take_jobs(&mut self) -> Vec<Self::Job>;

    /// Runs a job; its panics are contained.
    fn run(relay: &Relay<Self>, job: Self::Job);

    /// Whether the panic hook prints the panics caught on the relay's threads.
    fn print_panics(context: &Self::Context) -> bool;
}

/// The seat and the threads around it.
pub struct Relay<M: Management> {
    seat: Mutex<Seat<M>>,
    /// Signalled when the pool is finished, and when the manager is put in the seat while a
    /// standby sleeps without a timeout, or a stint asks for a hand-over.
    changed: Condvar,
    context: M::Context,
}

impl<M: Management> std::fmt::Debug for Relay<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").finish_non_exhaustive()
    }
}

struct Seat<M: Management> {
    /// The manager's state, while no thread is managing: its former holder runs jobs.
    manager: Option<M>,
    /// The user code that the manager's turns left, in order, not yet started. Whoever runs
    /// jobs takes them one at a time from here, so a standby that takes the seat from a
    /// stint stuck in one job takes the jobs behind it too: no completion waits on another
    /// future's callback.
    jobs: VecDeque<M::Job>,
    /// Counts every move of the manager into and out of the seat. The same count, with the
    /// manager in the seat, a whole `PERIOD` later: the stint is stuck (or slow).
    moves: u64,
    /// A thread running a job is about to wait on the pool: take the seat now.
    hand_over: bool,
    /// The pool is finished: every thread returns.
    finished: bool,
    /// Standby threads waiting, and how many of them sleep without a timeout.
    standing_by: usize,
    sleeping: usize,
}

impl<M: Management> Seat<M> {
    /// Puts the manager in the seat (`Some`) or takes it out (`None`); returns what was
    /// there. There is one manager: it is in the seat or held by one thread.
    fn place(&mut self, manager: Option<M>) -> Option<M> {
        self.moves += 1;
        self.hand_over = false;
        std::mem::replace(&mut self.manager, manager)
    }
}

impl<M: Management> Relay<M> {
    /// A relay whose jobs run with `context`; no thread yet.
    pub fn new(context: M::Context) -> Arc<Relay<M>> {
        Arc::new(Relay {
            seat: Mutex::new(Seat {
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

    fn seat(&self) -> MutexGuard<'_, Seat<M>> {
        // No user code runs under this lock: a poisoned one is still consistent.
        sync::lock(&self.seat)
    }

    /// Starts a thread of the relay: it manages with `manager` if given, then stands by.
    pub fn start_thread(relay: &Arc<Self>, manager: Option<M>) -> std::io::Result<()> {
        let relay = relay.clone();
        sync::spawn("pool-process-manager", move || {
            Relay::thread(&relay, manager);
        })
    }

    fn thread(relay: &Arc<Self>, manager: Option<M>) {
        future_core::executor::print_panics(M::print_panics(&relay.context));
        if let Some(manager) = manager {
            if relay.manage(manager, false) {
                return;
            }
        }
        Relay::stand_by(relay);
    }

    /// Manages until the pool is finished (true) or another thread took the seat while this
    /// one ran user code (false). `took_over`: the seat was taken from a stint, which may
    /// have left jobs in the queue; they run before this thread waits for the next message.
    fn manage(&self, mut manager: M, mut took_over: bool) -> bool {
        loop {
            let jobs = manager.take_jobs();
            if took_over || !jobs.is_empty() {
                took_over = false;
                let mut seat = self.seat();
                seat.jobs.extend(jobs);
                if !seat.jobs.is_empty() {
                    seat.place(Some(manager));
                    if seat.sleeping > 0 {
                        self.changed.notify_all();
                    }
                    let mut seat = self.run_jobs(seat);
                    match seat.place(None) {
                        Some(back) => manager = back,
                        None => return seat.finished,
                    }
                }
            }
            if !manager.turn() {
                let jobs = manager.take_jobs();
                drop(manager); // the pool's flush thread ends with it
                // Only the thread holding the manager adds jobs, and it drained the queue
                // before this turn: these are the last ones.
                let mut seat = self.seat();
                seat.jobs.extend(jobs);
                let mut seat = self.run_jobs(seat);
                seat.finished = true;
                self.changed.notify_all();
                return true;
            }
        }
    }

    /// A stint: runs the queued jobs one at a time, each with the seat's lock released, until
    /// none is left; returns the lock then.
    fn run_jobs<'a>(&'a self, mut seat: MutexGuard<'a, Seat<M>>) -> MutexGuard<'a, Seat<M>> {
        while let Some(job) = seat.jobs.pop_front() {
            drop(seat);
            STINT.with(|stint| stint.set(self.address()));
            M::run(self, job);
            STINT.with(|stint| stint.set(0));
            seat = self.seat();
        }
        seat
    }

    fn address(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// Called by a thread about to wait on the pool (for room in its queue, for its end):
    /// if that thread is running one of this pool's jobs, a standby takes the seat now
    /// rather than a `PERIOD` later.
    pub fn blocking(&self) {
        if STINT.with(Cell::get) != self.address() {
            return;
        }
        let mut seat = self.seat();
        if seat.manager.is_some() {
            seat.hand_over = true;
            self.changed.notify_all();
        }
    }

    /// Waits for a stint that leaves the manager in the seat a whole `PERIOD` (or asks for a
    /// hand-over), takes the seat then and manages; returns when the pool is finished.
    fn stand_by(relay: &Arc<Self>) {
        let mut seat = relay.seat();
        seat.standing_by += 1;
        let mut seen = seat.moves;
        let mut last_move = Instant::now();
        loop {
            if seat.finished {
                return;
            }
            if seat.moves != seen {
                seen = seat.moves;
                last_move = Instant::now();
            }
            let stuck = seat.hand_over || elapsed(last_move, PERIOD);
            if stuck && seat.manager.is_some() {
                // Take over, leaving a standby.
                let Some(manager) = seat.place(None) else {
                    continue;
                };
                seat.standing_by -= 1;
                let alone = seat.standing_by == 0;
                drop(seat);
                if alone {
                    Relay::start_standby(relay);
                }
                if relay.manage(manager, true) {
                    return;
                }
                seat = relay.seat();
                seat.standing_by += 1;
                continue;
            }
            if seat.manager.is_none() && elapsed(last_move, QUIET) {
                seat.sleeping += 1;
                seat = sync::wait(&relay.changed, seat);
                seat.sleeping -= 1;
                seen = seat.moves;
                last_move = Instant::now();
            } else {
                let wait = PERIOD.saturating_sub(last_move.elapsed()).max(PERIOD / 10);
                seat = sync::wait_timeout(&relay.changed, seat, wait);
            }
        }
    }

    fn start_standby(relay: &Arc<Self>) {
        if let Err(err) = Relay::start_thread(relay, None) {
            eprintln!("pool-process: cannot start a standby manager thread: {err}");
        }
    }

    /// Lets the standbys go when the pool could not be started.
    pub fn abandon(&self) {
        self.seat().finished = true;
        self.changed.notify_all();
    }

    /// Waits until the pool is finished: every task settled and every worker reaped.
    pub fn wait_finished(&self) {
        let mut seat = self.seat();
        if !seat.finished {
            drop(seat);
            self.blocking();
            seat = self.seat();
        }
        while !seat.finished {
            seat = sync::wait(&self.changed, seat);
        }
    }
}

/// Whether `period` passed since `since`. Never under loom, which models no time: there a
/// standby takes the seat only when a stint asks it to (`Relay::blocking`).
fn elapsed(since: Instant, period: Duration) -> bool {
    !cfg!(loom) && since.elapsed() >= period
}

impl Management for crate::manager::Manager {
    type Job = crate::manager::Job;
    type Context = std::sync::Arc<crate::manager::Shared>;

    fn turn(&mut self) -> bool {
        crate::manager::Manager::turn(self)
    }

    fn take_jobs(&mut self) -> Vec<Self::Job> {
        crate::manager::Manager::take_jobs(self)
    }

    fn run(relay: &Relay<Self>, job: Self::Job) {
        // Each job catches its user code's panics (see `Job::run`).
        job.run(&relay.context().counters);
    }

    fn print_panics(shared: &Self::Context) -> bool {
        shared.launch.print_panics
    }
}
