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
//! holds while it reads and decides, and puts back before it runs user code (a *stint*). A
//! standby thread watches the stints: one still going a whole period (`PERIOD`) later is
//! stuck, or slow, and the standby takes the seat and goes on managing; the thread that ran
//! the stint becomes a standby when it returns. So a pool has its manager thread and one
//! standby, plus one thread for each callback blocked at the same time, and a callback that
//! blocks holds up the pool for about one `PERIOD`. The common case costs a mutex and an
//! atomic per stint: the standby wakes once per `PERIOD` while stints happen, and sleeps
//! without a timeout once they have stopped for `QUIET` (the next stint wakes it).
//!
//! Every thread that ever held the seat lives until the pool is finished (its last worker
//! reaped): a worker is started with `PR_SET_PDEATHSIG`, which fires when the *thread* that
//! started it ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::manager::Manager;

/// How long a stint may run before a standby takes the seat.
const PERIOD: Duration = Duration::from_millis(10);

/// After this long without a stint, a standby sleeps until the next one.
const QUIET: Duration = Duration::from_secs(1);

/// The seat and the threads around it.
pub(crate) struct Relay {
    seat: Mutex<Seat>,
    /// Signalled when the pool is finished, and when a stint begins while a standby sleeps
    /// without a timeout.
    changed: Condvar,
    /// Odd while a stint runs (the seat is free and its former holder runs user code).
    stint: AtomicU64,
    /// Whether the panic hook prints the panics caught on these threads (the builder's
    /// `print_task_panics`).
    print_panics: bool,
}

struct Seat {
    /// The manager's state, when no thread is managing.
    manager: Option<Manager>,
    /// The pool is finished: every thread returns.
    finished: bool,
    /// Standby threads waiting, and how many of them sleep without a timeout.
    standing_by: usize,
    sleeping: usize,
}

impl Relay {
    pub(crate) fn new(print_panics: bool) -> Arc<Relay> {
        Arc::new(Relay {
            seat: Mutex::new(Seat {
                manager: None,
                finished: false,
                standing_by: 0,
                sleeping: 0,
            }),
            changed: Condvar::new(),
            stint: AtomicU64::new(0),
            print_panics,
        })
    }

    fn seat(&self) -> MutexGuard<'_, Seat> {
        // No user code runs under this lock: a poisoned one is still consistent.
        self.seat.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a thread of the relay: it manages with `manager` if given, then stands by.
    pub(crate) fn start_thread(self: &Arc<Self>, manager: Option<Manager>) -> std::io::Result<()> {
        let relay = self.clone();
        std::thread::Builder::new()
            .name("pool-process-manager".into())
            .spawn(move || relay.thread(manager))?;
        Ok(())
    }

    fn thread(self: &Arc<Self>, manager: Option<Manager>) {
        future_core::executor::print_panics(self.print_panics);
        if let Some(manager) = manager {
            if self.manage(manager) {
                return;
            }
        }
        self.stand_by();
    }

    /// Manages until the pool is finished (true) or another thread took the seat while this
    /// one ran user code (false).
    fn manage(&self, mut manager: Manager) -> bool {
        loop {
            if !manager.turn() {
                manager.take_jobs().run();
                drop(manager); // its courier thread ends with it
                let mut seat = self.seat();
                seat.finished = true;
                self.changed.notify_all();
                return true;
            }
            let jobs = manager.take_jobs();
            if jobs.is_empty() {
                continue;
            }
            {
                let mut seat = self.seat();
                seat.manager = Some(manager);
                self.stint.fetch_add(1, Ordering::SeqCst);
                if seat.sleeping > 0 {
                    self.changed.notify_all();
                }
            }
            jobs.run();
            let mut seat = self.seat();
            self.stint.fetch_add(1, Ordering::SeqCst);
            match seat.manager.take() {
                Some(back) => manager = back,
                None => return seat.finished,
            }
        }
    }

    /// Waits for a stint that runs a whole `PERIOD`, takes the seat then and manages; returns
    /// when the pool is finished.
    fn stand_by(self: &Arc<Self>) {
        let mut seat = self.seat();
        seat.standing_by += 1;
        let mut seen = self.stint.load(Ordering::SeqCst);
        let mut last_change = Instant::now();
        loop {
            if seat.finished {
                return;
            }
            let stint = self.stint.load(Ordering::SeqCst);
            if stint != seen {
                seen = stint;
                last_change = Instant::now();
            } else if stint % 2 == 1 {
                if let Some(manager) = seat.manager.take() {
                    // The same stint for a whole period: take over, leaving a standby.
                    seat.standing_by -= 1;
                    let alone = seat.standing_by == 0;
                    drop(seat);
                    if alone {
                        self.start_standby();
                    }
                    if self.manage(manager) {
                        return;
                    }
                    seat = self.seat();
                    seat.standing_by += 1;
                    continue;
                }
            }
            if stint % 2 == 0 && last_change.elapsed() >= QUIET {
                seat.sleeping += 1;
                seat = self
                    .changed
                    .wait(seat)
                    .unwrap_or_else(PoisonError::into_inner);
                seat.sleeping -= 1;
                seen = self.stint.load(Ordering::SeqCst);
                last_change = Instant::now();
            } else {
                seat = self
                    .changed
                    .wait_timeout(seat, PERIOD)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
    }

    fn start_standby(self: &Arc<Self>) {
        if let Err(err) = self.start_thread(None) {
            eprintln!("pool-process: cannot start a standby manager thread: {err}");
        }
    }

    /// Lets the standbys go when the pool could not be started.
    pub(crate) fn abandon(&self) {
        self.seat().finished = true;
        self.changed.notify_all();
    }

    /// Waits until the pool is finished: every task settled and every worker reaped.
    pub(crate) fn wait_finished(&self) {
        let mut seat = self.seat();
        while !seat.finished {
            seat = self
                .changed
                .wait(seat)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}
