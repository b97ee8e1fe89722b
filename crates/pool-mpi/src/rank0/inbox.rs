//! How pools reach the MPI thread (rank 0's one thread that makes MPI calls): commands in
//! an inbox (attach, detach, finalize), and pokes that say a pool queued tasks to send.
//!
//! While tasks are in flight the thread polls MPI and looks here between polls; with
//! nothing in flight it sleeps on the inbox's condition variable, using no CPU, until a
//! command or a poke comes. What must hold: no task waits while the thread sleeps.
//!
//! - A pool queues its task under its own lock, then pokes: it sets `work`, and notifies
//!   only if the thread is `sleeping` (a poke costs no system call while the thread polls).
//! - The thread clears `work` before it looks at the pools' queues. Before it sleeps, it
//!   sets `sleeping` and reads `work` again, under the inbox's lock, which it holds until
//!   the wait releases it.
//! - Every access to `work` is a read-modify-write, so each reads the one before it: either
//!   the thread's last one before it sleeps reads the poke's, and it does not sleep; or the
//!   poke's reads the thread's, synchronizes with it, and so reads `sleeping` set and
//!   notifies, taking the lock, so after the wait began. A task queued before the thread
//!   cleared `work` is seen by its look at the queues. (Sequentially consistent stores and
//!   loads would do on real machines, but loom checks them as acquire and release only, and
//!   finds a lost wake-up when `clear_work` is a plain store.)
//!
//! The loom models in `tests/loom.rs` check this code (through `pool_engine::sync`).
#![cfg_attr(not(loom), allow(unreachable_pub))]

use std::time::Duration;

use pool_engine::sync::{self, AtomicBool, Condvar, Mutex, MutexGuard, Ordering};

/// The commands and pokes for one polling thread; `C` is what a command is.
pub struct Inbox<C> {
    state: Mutex<State<C>>,
    wake: Condvar,
    /// A pool has tasks to send: the thread looks before it waits.
    work: AtomicBool,
    /// The thread waits on `wake`.
    sleeping: AtomicBool,
}

struct State<C> {
    commands: Vec<C>,
    /// Why the thread takes no more commands (the session ended, or MPI failed).
    ended: Option<String>,
}

impl<C> Default for Inbox<C> {
    fn default() -> Self {
        Inbox::new()
    }
}

impl<C> std::fmt::Debug for Inbox<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox").finish_non_exhaustive()
    }
}

impl<C> Inbox<C> {
    /// An empty inbox of a thread that runs.
    pub fn new() -> Inbox<C> {
        Inbox {
            state: Mutex::new(State {
                commands: Vec::new(),
                ended: None,
            }),
            wake: Condvar::new(),
            work: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<C>> {
        // No user code runs under this lock: a poisoned one still holds a consistent inbox.
        sync::lock(&self.state)
    }

    /// Tells the thread that a pool queued tasks (call it after the queueing).
    pub fn poke(&self) {
        self.work.swap(true, Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            let _state = self.lock();
            self.wake.notify_one();
        }
    }

    /// Hands `command` to the thread; `Err` with the reason when it takes no more.
    pub fn send(&self, command: C) -> Result<(), String> {
        let mut state = self.lock();
        if let Some(why) = &state.ended {
            return Err(why.clone());
        }
        state.commands.push(command);
        self.wake.notify_one();
        Ok(())
    }

    /// The thread ended (or never started) for `why`: no more commands. Returns those it
    /// did not take, for the caller to answer.
    pub fn end(&self, why: String) -> Vec<C> {
        let mut state = self.lock();
        state.ended.get_or_insert(why);
        std::mem::take(&mut state.commands)
    }

    /// On the thread, before it looks at the pools' queues: the pokes so far are seen.
    pub fn clear_work(&self) {
        self.work.swap(false, Ordering::SeqCst); // not a store: see the module docs
    }

    /// On the thread: the commands sent so far.
    pub fn take(&self) -> Vec<C> {
        std::mem::take(&mut self.lock().commands)
    }

    /// On the thread: the commands, or, when there is none, waits up to `timeout` (`None`:
    /// without limit) for one or for a poke not seen yet (see [`clear_work`](Self::clear_work)).
    pub fn take_or_wait(&self, timeout: Option<Duration>) -> Vec<C> {
        let mut state = self.lock();
        if state.commands.is_empty() {
            self.sleeping.store(true, Ordering::SeqCst);
            // A read-modify-write that changes nothing: it reads the latest `work` (see the
            // module docs).
            if !self.work.fetch_or(false, Ordering::SeqCst) {
                state = match timeout {
                    Some(timeout) => sync::wait_timeout(&self.wake, state, timeout),
                    None => sync::wait(&self.wake, state),
                };
            }
            self.sleeping.store(false, Ordering::SeqCst);
        }
        std::mem::take(&mut state.commands)
    }
}
