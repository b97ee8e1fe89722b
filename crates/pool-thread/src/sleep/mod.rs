//! The sleep/wake protocol: when an idle worker may sleep, who wakes it, when a submit
//! starts a thread, and when an idle thread may retire. `README.md` beside this module
//! explains it and why it cannot lose a wake-up; the loom models in
//! `tests/loom.rs` check it.
//!
//! This module knows nothing of the queues: callers pass `has_work` (are the queues
//! non-empty?) and push jobs between [`Sleep::begin_submit`] and [`Sleep::end_submit`].
//! So the same code runs on crossbeam-deque in the pool and on a loom-aware stand-in queue
//! in the models.
#![cfg_attr(not(loom), allow(unreachable_pub))]

use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::sync::{
    Arc, AtomicBool, AtomicU64, AtomicUsize, Condvar, Mutex, Ordering, Thread, current_thread,
    lock, park, park_timeout, wait, yield_now,
};

// The state word: every decision of the protocol is one read-modify-write of it, so all of
// them are totally ordered (one location's modification order) and each RMW acquires the
// writes released by the RMWs before it. Layout, low bits first:
//
// - bits 0..12, SLEEPERS: threads registered as asleep and not yet notified. Incremented by
//   the sleeper (under `registry`), decremented by whoever removes it from `sleeping` (a
//   waker, or the sleeper itself when it leaves on its own).
// - bits 12..24, SEARCHING: idle workers awake and looking for work. A submit that sees
//   one wakes nobody; the last searcher to find a job wakes a sleeper (README.md,
//   "Searching: the last searcher wakes one more").
// - bits 24..31, SUBMITTERS: submits between `begin_submit` and `end_submit`, i.e. whose
//   job may not be pushed yet. Workers do not exit on shutdown while it is non-zero. A
//   submit enters by CAS only while the field is below its maximum, so it never carries
//   into SHUTDOWN (the 128th concurrent submitter yields until one leaves).
// - bit 31, SHUTDOWN: no new submit begins; set once, never cleared.
// - bits 32..64, TOKENS (an `i32`): idle threads minus queued jobs, i.e. idle threads that
//   no queued job counts on yet. A submit takes one; when it was not positive, the job
//   needs a thread of its own and the submit starts one (if below the maximum). Idle
//   threads give their token back when they finish a task; a retiring thread takes one
//   away, and may only retire while one is spare.
const SLEEPER: u64 = 1;
const SLEEPERS_MASK: u64 = 0xFFF;
const SEARCHER: u64 = 1 << 12;
const SEARCHING_SHIFT: u32 = 12;
const SEARCHING_MASK: u64 = 0xFFF << SEARCHING_SHIFT;
const SUBMITTER: u64 = 1 << 24;
const SUBMITTERS_SHIFT: u32 = 24;
const SUBMITTERS_MASK: u64 = 0x7F << SUBMITTERS_SHIFT;
/// The most submits between `begin_submit` and `end_submit` at once.
const SUBMITTERS_MAX: u64 = 0x7F;
const SHUTDOWN: u64 = 1 << 31;
const TOKEN: u64 = 1 << 32;

/// The most tokens a busy worker keeps back instead of giving each back as its task ends
/// (see [`Sleep::task_done`]).
const MAX_OWED: u32 = 32;

/// The most threads a pool may have (blocked ones and their replacements included): the
/// SLEEPERS and SEARCHING fields must hold them all.
pub const MAX_THREADS: usize = SLEEPERS_MASK as usize;

fn sleepers(word: u64) -> u64 {
    word & SLEEPERS_MASK
}

fn searching(word: u64) -> u64 {
    (word & SEARCHING_MASK) >> SEARCHING_SHIFT
}

fn submitters(word: u64) -> u64 {
    (word & SUBMITTERS_MASK) >> SUBMITTERS_SHIFT
}

fn tokens(word: u64) -> i32 {
    // The high half, read as two's complement (wrapping adds keep it so).
    (word >> 32) as u32 as i32
}

/// One worker thread's presence in the protocol: its thread (to unpark) and whether a
/// waker has notified it.
#[derive(Debug)]
pub struct Sleeper {
    thread: Thread,
    /// Set by a waker, under the registry lock, when it takes this sleeper off the list;
    /// consumed by the sleeper. Set ⇔ removed by a waker and not yet told.
    notified: AtomicBool,
}

impl Sleeper {
    /// The sleeper of the calling thread.
    pub fn current() -> Arc<Sleeper> {
        Arc::new(Sleeper {
            thread: current_thread(),
            notified: AtomicBool::new(false),
        })
    }
}

/// The lock-guarded part: who sleeps, and how many threads there are.
#[derive(Debug)]
struct Registry {
    /// Registered sleepers (idle workers), not yet notified; a waker takes the most recent
    /// one (the others get to retire).
    sleeping: Vec<Arc<Sleeper>>,
    /// Live worker threads (started, and not retired or exited).
    threads: usize,
    /// Of those, the ones blocked in a wait inside a task (see [`Sleep::block`]).
    blocked: usize,
}

impl Registry {
    /// Threads that count toward `max_workers`: live and not blocked.
    fn active(&self) -> usize {
        self.threads - self.blocked
    }
}

/// Why [`Sleep::begin_submit`] refused: the pool is shut down (or broken).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// What [`Sleep::sleep_idle`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleWake {
    /// Search the queues again: notified, work seen, or the keep-alive passed while a
    /// queued job counts on this thread.
    Search,
    /// The pool is shutting down: exit once [`Sleep::can_exit`] and the queues are empty.
    Shutdown,
    /// The keep-alive passed with nothing to do: exit (already counted out).
    Retire,
}

/// The sleep/wake state of one pool.
#[derive(Debug)]
pub struct Sleep {
    /// On a cache line of its own: a submit RMWs it twice, and reads of the fields beside
    /// it (by workers ending tasks) would otherwise take the line away each time.
    state: CachePadded<AtomicU64>,
    /// A mirror of `registry.threads`, for [`Sleep::threads`].
    threads: AtomicUsize,
    /// A mirror of `registry.active()`, for the lock-free "may a submit start a thread?"
    /// check; the decision itself is made under the lock.
    active: AtomicUsize,
    registry: Mutex<Registry>,
    /// Notified (under `registry`) when the last submit that began before a shutdown ends.
    submitters_done: Condvar,
    /// The most threads running tasks outside waits (`max_workers`).
    max_workers: usize,
    /// The most threads in all, blocked ones included.
    max_threads: usize,
}

/// A submit between [`Sleep::begin_submit`] and its end, which dropping this marks (also
/// when the submitter unwinds): the job must be pushed before.
#[derive(Debug)]
#[must_use = "dropping it ends the submit"]
pub struct Submitting<'a>(&'a Sleep);

impl Drop for Submitting<'_> {
    fn drop(&mut self) {
        self.0.end_submit();
    }
}

impl Sleep {
    /// The protocol state of a pool of at most `max_workers` threads running tasks, and at
    /// most `max_threads` threads in all (`max_workers <= max_threads <= MAX_THREADS`),
    /// none started yet.
    pub fn new(max_workers: usize, max_threads: usize) -> Sleep {
        assert!(
            max_workers <= max_threads && max_threads <= MAX_THREADS,
            "thread limits out of range for the sleep state"
        );
        Sleep {
            state: CachePadded::new(AtomicU64::new(0)),
            threads: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            registry: Mutex::new(Registry {
                sleeping: Vec::new(),
                threads: 0,
                blocked: 0,
            }),
            submitters_done: Condvar::new(),
            max_workers,
            max_threads,
        }
    }

    /// Starts a submit: refuses after shutdown, else takes a token and returns, with the
    /// guard that ends the submit, true when the caller must start a thread for this job
    /// (a thread was reserved for it: call [`Sleep::release_thread`] if starting it
    /// fails). The caller then pushes its job and drops the guard; it must not block in
    /// between.
    pub fn begin_submit(&self) -> Result<(Submitting<'_>, bool), Closed> {
        let mut word = self.state.load(Ordering::Acquire);
        let old = loop {
            if word & SHUTDOWN != 0 {
                return Err(Closed);
            }
            if submitters(word) == SUBMITTERS_MAX {
                // The field is full: wait for a submit to end rather than overflow.
                yield_now();
                word = self.state.load(Ordering::Acquire);
                continue;
            }
            let entered = word.wrapping_add(SUBMITTER).wrapping_sub(TOKEN);
            match self.state.compare_exchange_weak(
                word,
                entered,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(old) => break old,
                Err(now) => word = now,
            }
        };
        let submitting = Submitting(self);
        // No spare idle thread counts on this job: it needs one of its own. The `active`
        // load is a hint (a retiring or blocking thread lowers it before the RMW of the
        // word that makes its change count, so after our RMW saw the token gone it is
        // never stale-high); `reserve_thread` decides.
        let spawn = tokens(old) <= 0
            && self.active.load(Ordering::Acquire) < self.max_workers
            && self.reserve_thread();
        Ok((submitting, spawn))
    }

    /// Ends a submit whose job is now pushed (dropping [`Submitting`] calls it): wakes one
    /// sleeper if any is registered.
    ///
    /// This RMW comes after the push. A sleeper registers (an RMW of the same word) and
    /// then checks the queues: if its RMW comes after this one, it acquires the push and
    /// sees the job; if before, this RMW sees it counted and wakes a sleeper.
    /// A searching worker counted in this RMW stands in for the wake-up: see
    /// [`Sleep::stop_searching`].
    fn end_submit(&self) {
        let old = self.state.fetch_sub(SUBMITTER, Ordering::AcqRel);
        if old & SHUTDOWN != 0 && submitters(old) == 1 {
            // The last submit that began before the shutdown: every sleeper may exit now
            // (they wait for this), and so may `wait_for_submitters`.
            self.wake_all();
            let _registry = lock(&self.registry);
            self.submitters_done.notify_all();
            return;
        }
        if sleepers(old) > 0 && searching(old) == 0 {
            self.wake_one();
        }
    }

    /// An idle worker found its queues empty: it counts itself searching, then must look
    /// at the queues again before it sleeps ([`Sleep::sleep_idle`]) or stops searching.
    pub fn start_searching(&self) {
        self.state.fetch_add(SEARCHER, Ordering::AcqRel);
    }

    /// A searching worker found a job (`found`) or exits. The last searcher to find a job
    /// wakes a sleeper: a submit that saw it searching did not, and the job it found may
    /// not be that submit's.
    pub fn stop_searching(&self, found: bool) {
        let old = self.state.fetch_sub(SEARCHER, Ordering::AcqRel);
        if found && searching(old) == 1 && sleepers(old) > 0 {
            self.wake_one();
        }
    }

    /// Counts one more live thread if there is room (the new thread is idle: it brings a
    /// token). Returns false when `max_workers` threads run tasks, or `max_threads` live.
    fn reserve_thread(&self) -> bool {
        let mut registry = lock(&self.registry);
        if registry.active() >= self.max_workers || registry.threads >= self.max_threads {
            return false;
        }
        registry.threads += 1;
        self.mirror(&registry);
        self.state.fetch_add(TOKEN, Ordering::AcqRel);
        true
    }

    /// Reserves a thread to replace one that died, if there is room (see
    /// `reserve_thread`); true when the caller must start it.
    pub fn reserve_replacement(&self) -> bool {
        self.reserve_thread()
    }

    /// Updates the lock-free mirrors of the thread counts (under the lock).
    fn mirror(&self, registry: &Registry) {
        self.threads.store(registry.threads, Ordering::Release);
        self.active.store(registry.active(), Ordering::Release);
    }

    /// Undoes a reservation whose thread could not start; returns the threads left.
    pub fn release_thread(&self) -> usize {
        let mut registry = lock(&self.registry);
        registry.threads -= 1;
        self.mirror(&registry);
        self.state.fetch_sub(TOKEN, Ordering::AcqRel);
        registry.threads
    }

    /// Counts out a thread that exits (after shutdown, or a failed initializer), idle:
    /// with its token.
    pub fn thread_exited(&self) {
        self.release_thread();
    }

    /// A worker is about to block in a wait inside its task, after giving back the
    /// `owed` tokens it kept: it stops counting toward `max_workers` until
    /// [`Sleep::unblock`]. Returns true when queued jobs then have no thread to count on
    /// (TOKENS below zero) and a thread was reserved to take its place: the caller starts
    /// it (or calls [`Sleep::release_thread`]).
    ///
    /// The RMW of the word comes after the count is lowered, so it is ordered with every
    /// submit's: a submit after it sees the lower count and may start a thread itself; a
    /// submit before it is seen in TOKENS here.
    pub fn block(&self, owed: u32) -> bool {
        {
            let mut registry = lock(&self.registry);
            registry.blocked += 1;
            self.mirror(&registry);
        }
        let old = self
            .state
            .fetch_add(TOKEN.wrapping_mul(u64::from(owed)), Ordering::AcqRel);
        tokens(old).wrapping_add(owed as i32) < 0 && self.reserve_thread()
    }

    /// The blocked worker goes on with its task: it counts toward `max_workers` again.
    /// The pool may run more than `max_workers` tasks for a while: a thread started in its
    /// place finishes the task it has, then retires ([`Sleep::is_surplus`]).
    pub fn unblock(&self) {
        let mut registry = lock(&self.registry);
        registry.blocked -= 1;
        self.mirror(&registry);
    }

    /// True while more threads run tasks than `max_workers` (a blocked worker came back):
    /// an idle thread should retire now rather than sleep.
    pub fn is_surplus(&self) -> bool {
        self.active.load(Ordering::Acquire) > self.max_workers
    }

    /// Live threads.
    pub fn threads(&self) -> usize {
        self.threads.load(Ordering::Acquire)
    }

    /// Gives back a token: a busy thread took a queued job (its scope's, while waiting for
    /// the scope), so one fewer job waits.
    pub fn add_token(&self) {
        self.give_back(1);
    }

    /// A worker's top-level task is over: the thread is idle again, which gives a token
    /// back; `owed` counts the tokens this worker kept back so far, and the new count is
    /// returned.
    ///
    /// While `max_workers` threads run tasks, no submit can start another, so the tokens
    /// decide nothing now, and the worker keeps the token (up to [`MAX_OWED`]):
    /// a pool busy with many small tasks then does not RMW the shared word once per task.
    /// Kept tokens only make TOKENS lower than the truth, the safe side: a submit may start
    /// a thread an idle one could have taken (only after a retirement left room), and an
    /// idle thread may retire later. The worker gives them back with [`Sleep::give_back`]
    /// as soon as it finds no job, before it searches, sleeps or exits; and below the
    /// maximum it gives each back at once, so a caller that sees a result and submits
    /// again finds the thread counted idle.
    pub fn task_done(&self, owed: u32) -> u32 {
        let owed = owed + 1;
        // Relaxed: a stale count only changes which of two correct choices is taken.
        if owed < MAX_OWED && self.active.load(Ordering::Relaxed) >= self.max_workers {
            return owed;
        }
        self.give_back(owed);
        0
    }

    /// Whether a job may go on the calling worker's own deque without a submit (then push
    /// it and call [`Sleep::local_job_pushed`]): the pool is not shut down, and a submit
    /// would not start a thread for it now (an idle thread has a token for it, or
    /// `max_workers` threads run tasks). Only for a job whose owner takes it back to run
    /// it itself when no other thread did (a join's second closure): a race with a
    /// shutdown or a retirement then leaves it to its owner, never stranded.
    pub fn may_push_local(&self) -> bool {
        let word = self.state.load(Ordering::Acquire);
        word & SHUTDOWN == 0
            && (tokens(word) > 0 || self.active.load(Ordering::Acquire) >= self.max_workers)
    }

    /// A job went on a worker's own deque without a submit (see [`Sleep::may_push_local`]):
    /// one RMW, after the push, takes its token and wakes a sleeper if one is registered
    /// and nobody searches (as [`Sleep::end_submit`]'s RMW does, and for the same reason).
    pub fn local_job_pushed(&self) {
        let old = self.state.fetch_sub(TOKEN, Ordering::AcqRel);
        if sleepers(old) > 0 && searching(old) == 0 {
            self.wake_one();
        }
    }

    /// Jobs already counted (their tokens taken) went back on a worker's deque after a
    /// moment off it (see `WorkerCtx::put_back`): one RMW, after the push, wakes a sleeper
    /// if one is registered and nobody searches, as [`Sleep::end_submit`] does. A thread
    /// that looked at the queues while they were off registered as a sleeper before this
    /// RMW (and is woken, or a searcher stands in for it) or after it (and its final look
    /// sees them). No token moves.
    pub fn jobs_pushed_back(&self) {
        let old = self.state.fetch_add(0, Ordering::AcqRel);
        if sleepers(old) > 0 && searching(old) == 0 {
            self.wake_one();
        }
    }

    /// Gives back `owed` tokens kept by [`Sleep::task_done`].
    pub fn give_back(&self, owed: u32) {
        if owed > 0 {
            self.state
                .fetch_add(TOKEN.wrapping_mul(u64::from(owed)), Ordering::AcqRel);
        }
    }

    /// Wakes the most recent registered sleeper, if any; returns whether one was woken.
    pub fn wake_one(&self) -> bool {
        let sleeper = {
            let mut registry = lock(&self.registry);
            let sleeper = registry.sleeping.pop();
            if let Some(sleeper) = &sleeper {
                // A woken worker is searching from this RMW on.
                self.state
                    .fetch_add(SEARCHER.wrapping_sub(SLEEPER), Ordering::AcqRel);
                notify(sleeper);
            }
            sleeper
        };
        // Unpark outside the lock; an unpark before the park makes the park return.
        if let Some(sleeper) = sleeper {
            sleeper.thread.unpark();
            true
        } else {
            false
        }
    }

    /// Wakes every registered sleeper.
    pub fn wake_all(&self) {
        let woken = {
            let mut registry = lock(&self.registry);
            let woken = std::mem::take(&mut registry.sleeping);
            let n = woken.len() as u64;
            self.state
                .fetch_add((SEARCHER * n).wrapping_sub(SLEEPER * n), Ordering::AcqRel);
            for sleeper in &woken {
                notify(sleeper);
            }
            woken
        };
        for sleeper in woken {
            sleeper.thread.unpark();
        }
    }

    /// Refuses every later submit and wakes every sleeper; returns true the first time.
    pub fn shutdown(&self) -> bool {
        let old = self.state.fetch_or(SHUTDOWN, Ordering::AcqRel);
        self.wake_all();
        old & SHUTDOWN == 0
    }

    /// True once [`Sleep::shutdown`] ran.
    pub fn is_shut_down(&self) -> bool {
        self.state.load(Ordering::Acquire) & SHUTDOWN != 0
    }

    /// True when a worker may exit once it finds the queues empty: shut down, and every
    /// submit that began before the shutdown has pushed its job (this load acquires
    /// their `end_submit`, so the next look at the queues sees those jobs).
    pub fn can_exit(&self) -> bool {
        let word = self.state.load(Ordering::Acquire);
        word & SHUTDOWN != 0 && submitters(word) == 0
    }

    /// After shutdown: waits until every submit that began before it has pushed its job
    /// (a short window: a push, no blocking). The last of them notifies under the
    /// registry's lock, after its RMW: a waiter that saw it counted is waiting by then.
    pub fn wait_for_submitters(&self) {
        let mut registry = lock(&self.registry);
        while submitters(self.state.load(Ordering::Acquire)) != 0 {
            registry = wait(&self.submitters_done, registry);
        }
    }

    /// Registers `me` as asleep, no longer searching, in one RMW; returns the word before
    /// (its SHUTDOWN bit).
    fn register(&self, me: &Arc<Sleeper>) -> u64 {
        let mut registry = lock(&self.registry);
        registry.sleeping.push(me.clone());
        // The Dekker half of the sleeper: this RMW, then (after the unlock) `has_work`.
        self.state
            .fetch_add(SLEEPER.wrapping_sub(SEARCHER), Ordering::AcqRel)
    }

    /// Takes `me` off the list: true when it was still there (nobody notified it), false
    /// when a waker already took it off (the notification is consumed here). It is
    /// searching again either way (the waker counted it so).
    fn unregister(&self, me: &Arc<Sleeper>) -> bool {
        let mut registry = lock(&self.registry);
        match registry.sleeping.iter().position(|s| Arc::ptr_eq(s, me)) {
            Some(pos) => {
                registry.sleeping.swap_remove(pos);
                self.state
                    .fetch_add(SEARCHER.wrapping_sub(SLEEPER), Ordering::AcqRel);
                true
            }
            None => {
                // The waker set the flag under this lock before letting go of it.
                me.notified.swap(false, Ordering::Relaxed);
                false
            }
        }
    }

    /// An idle, searching worker (its queues were empty) goes to sleep until notified, or until
    /// `keep_alive` passes (then it retires if a token is spare). `has_work` says whether
    /// any queue holds a job. A `surplus` thread (it saw [`Sleep::is_surplus`]) retires
    /// only while more threads than `max_workers` still run tasks: every idle thread may
    /// have seen the surplus, and only that many may act on it.
    pub fn sleep_idle(
        &self,
        me: &Arc<Sleeper>,
        has_work: impl Fn() -> bool,
        keep_alive: Option<Duration>,
        surplus: bool,
    ) -> IdleWake {
        let old = self.register(me);
        if old & SHUTDOWN != 0 && submitters(old) == 0 {
            self.unregister(me);
            return IdleWake::Shutdown;
        }
        // Shut down while submits still push their jobs: sleep until the last of them
        // ends (its RMW comes after ours, sees us counted, and wakes every sleeper).
        // The re-check after registering: a job pushed before our RMW is visible here.
        if has_work() {
            self.unregister(me);
            return IdleWake::Search;
        }
        let deadline = keep_alive.and_then(|k| Instant::now().checked_add(k));
        loop {
            // The flag, not the park token, says whether we were notified; it is looked at
            // right before each park too, so a token lost elsewhere (consumed by other
            // code of this thread, or by loom when the unpark found the thread blocked on
            // a lock) cannot leave a notified thread asleep.
            if me.notified.swap(false, Ordering::Acquire) {
                return IdleWake::Search;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return self.retire_or_search(me, surplus);
            }
            park_until(deadline);
            // Woken, timed out, or spurious: look at the flag and the clock again.
        }
    }

    /// The keep-alive passed: retire if still unnotified and a token is spare (and, for a
    /// `surplus` thread, while the surplus lasts).
    fn retire_or_search(&self, me: &Arc<Sleeper>, surplus: bool) -> IdleWake {
        let mut registry = lock(&self.registry);
        let Some(pos) = registry.sleeping.iter().position(|s| Arc::ptr_eq(s, me)) else {
            // Notified after all, just now.
            me.notified.swap(false, Ordering::Relaxed);
            return IdleWake::Search;
        };
        registry.sleeping.swap_remove(pos);
        if surplus && registry.active() <= self.max_workers {
            // Other surplus threads retired first: this one is needed. Searching again,
            // as after any wake-up.
            self.state
                .fetch_add(SEARCHER.wrapping_sub(SLEEPER), Ordering::AcqRel);
            return IdleWake::Search;
        }
        // Lower the thread counts *before* giving up the token: a submit whose RMW then
        // sees no token left also sees the lower count and comes to `reserve_thread`
        // (which waits for this lock) instead of trusting a stale maximum.
        registry.threads -= 1;
        self.mirror(&registry);
        let mut word = self.state.load(Ordering::Acquire);
        loop {
            // A surplus thread retires without a spare token: more than `max_workers`
            // threads run tasks, so a queued job that counted on it is served as at the
            // maximum (by the busy workers), and a count left low by a busy worker's
            // kept tokens must not keep it searching in a loop for as long as they are kept.
            if (tokens(word) <= 0 && !surplus) || word & SHUTDOWN != 0 {
                // A queued job counts on this thread (or shutdown decides): stay.
                registry.threads += 1;
                self.mirror(&registry);
                self.state
                    .fetch_add(SEARCHER.wrapping_sub(SLEEPER), Ordering::AcqRel);
                return IdleWake::Search;
            }
            let retired = word.wrapping_sub(SLEEPER).wrapping_sub(TOKEN);
            match self.state.compare_exchange_weak(
                word,
                retired,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return IdleWake::Retire,
                Err(now) => word = now,
            }
        }
    }
}

/// Sets `sleeper`'s notified flag (under the registry lock, with it off the list).
///
/// A swap rather than a store: on hardware either works, but loom lets a plain store slip
/// between the read and the write of a concurrent swap (tokio-rs/loom#254), which would
/// make the models report a lost notification that cannot happen.
fn notify(sleeper: &Sleeper) {
    sleeper.notified.swap(true, Ordering::Release);
}

/// Parks until unparked, or until `deadline`.
fn park_until(deadline: Option<Instant>) {
    match deadline {
        None => park(),
        Some(deadline) => {
            let now = Instant::now();
            if now < deadline {
                park_timeout(deadline - now);
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A whole submit that must (or must not) start a thread.
    fn submit(sleep: &Sleep) -> Result<bool, Closed> {
        sleep.begin_submit().map(|(_, spawn)| spawn)
    }

    #[test]
    fn word_fields_do_not_interfere() {
        let sleep = Sleep::new(4, 4);
        let (submitting, spawn) = sleep.begin_submit().unwrap();
        assert!(spawn, "no token: start a thread");
        assert_eq!(tokens(sleep.state.load(Ordering::Relaxed)), 0);
        assert_eq!(submitters(sleep.state.load(Ordering::Relaxed)), 1);
        drop(submitting);
        assert_eq!(submit(&sleep), Ok(true));
        let word = sleep.state.load(Ordering::Relaxed);
        assert_eq!((tokens(word), submitters(word), sleepers(word)), (0, 0, 0));
        assert_eq!(sleep.threads(), 2);
        sleep.add_token();
        assert_eq!(submit(&sleep), Ok(false), "a spare idle thread takes it");
        for _ in 0..3 {
            submit(&sleep).unwrap();
        }
        let word = sleep.state.load(Ordering::Relaxed);
        assert_eq!(
            tokens(word),
            -1,
            "negative tokens: one job waits for a thread"
        );
        assert_eq!(sleep.threads(), 4, "never past the maximum");
        assert!(sleep.shutdown());
        assert!(!sleep.shutdown(), "only the first shutdown counts");
        assert_eq!(submit(&sleep), Err(Closed));
        assert!(sleep.can_exit());
        assert_eq!(
            tokens(sleep.state.load(Ordering::Relaxed)),
            -1,
            "refusal leaves the tokens alone"
        );
    }

    #[test]
    fn submitters_never_carry_into_shutdown() {
        let sleep = Sleep::new(1, 1);
        let open: Vec<_> = (0..SUBMITTERS_MAX)
            .map(|_| sleep.begin_submit().unwrap().0)
            .collect();
        assert_eq!(
            submitters(sleep.state.load(Ordering::Relaxed)),
            SUBMITTERS_MAX
        );
        assert!(!sleep.is_shut_down());
        std::thread::scope(|s| {
            let one_more = s.spawn(|| submit(&sleep));
            // The extra submitter waits for room; ending one submit lets it in.
            std::thread::yield_now();
            drop(open);
            assert!(one_more.join().unwrap().is_ok());
        });
        assert!(
            !sleep.is_shut_down(),
            "the full field never looked like a shutdown"
        );
        assert_eq!(submitters(sleep.state.load(Ordering::Relaxed)), 0);
    }

    #[test]
    fn a_blocked_worker_makes_room_for_a_thread_in_its_place() {
        let sleep = Sleep::new(1, 2);
        assert_eq!(submit(&sleep), Ok(true), "the first thread");
        assert_eq!(submit(&sleep), Ok(false), "at max_workers: queued");
        // The one worker blocks inside its task; a job waits with no thread: replace it.
        assert!(sleep.block(0));
        assert_eq!(sleep.threads(), 2);
        assert!(!sleep.is_surplus());
        sleep.unblock();
        assert!(sleep.is_surplus(), "two threads run tasks for a max of one");
        // At `max_threads` no further thread is started for a blocked worker.
        submit(&sleep).unwrap();
        assert!(!sleep.block(0), "no room left in max_threads");
        sleep.unblock();
    }

    #[test]
    fn a_blocked_worker_with_no_queued_job_is_not_replaced() {
        let sleep = Sleep::new(1, 2);
        assert_eq!(submit(&sleep), Ok(true));
        assert!(!sleep.block(0), "no job waits: nothing to replace it for");
        // A submit while it is blocked starts a thread itself.
        assert_eq!(submit(&sleep), Ok(true));
        sleep.unblock();
    }

    #[test]
    fn task_done_keeps_tokens_only_at_the_maximum() {
        let sleep = Sleep::new(2, 2);
        let tokens_now = || tokens(sleep.state.load(Ordering::Relaxed));
        assert_eq!(submit(&sleep), Ok(true));
        assert_eq!(tokens_now(), 0, "one busy thread");
        assert_eq!(
            sleep.task_done(0),
            0,
            "below the maximum: given back at once"
        );
        assert_eq!(tokens_now(), 1);

        // Two threads, both busy: the pool is at its maximum.
        assert_eq!(submit(&sleep), Ok(false));
        assert_eq!(submit(&sleep), Ok(true));
        assert_eq!(sleep.threads(), 2);
        let before = tokens_now();
        let mut owed = 0;
        for kept in 1..MAX_OWED {
            owed = sleep.task_done(owed);
            assert_eq!(owed, kept);
            assert_eq!(tokens_now(), before, "kept back, not given");
        }
        assert_eq!(sleep.task_done(owed), 0, "at the cap: all given back");
        assert_eq!(tokens_now(), before + MAX_OWED as i32);
        sleep.give_back(3);
        assert_eq!(tokens_now(), before + MAX_OWED as i32 + 3);
    }
}
