//! The sleep/wake protocol: when an idle worker may sleep, who wakes it, when a submit
//! starts a thread, and when an idle thread may retire. `SLEEP.md` beside this crate's
//! sources explains it and why it cannot lose a wake-up; the loom models in
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
    Arc, AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering, Thread, current_thread, lock, park,
    park_timeout, yield_now,
};

// The state word: every decision of the protocol is one read-modify-write of it, so all of
// them are totally ordered (one location's modification order) and each RMW acquires the
// writes released by the RMWs before it. Layout, low bits first:
//
// - bits 0..12, SLEEPERS: threads registered as asleep and not yet notified. Incremented by
//   the sleeper (under `registry`), decremented by whoever removes it from `sleeping` (a
//   waker, or the sleeper itself when it leaves on its own).
// - bits 12..24, SEARCHING: idle workers awake and looking for work. A submit that sees
//   one wakes nobody; the last searcher to find a job wakes a sleeper (SLEEP.md).
// - bits 24..31, SUBMITTERS: submits between `begin_submit` and `end_submit`, i.e. whose
//   job may not be pushed yet. Workers do not exit on shutdown while it is non-zero.
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
/// Back off before SUBMITTERS could carry into SHUTDOWN (needs 64 more threads submitting
/// at the same instant first).
const SUBMITTERS_SOFT_LIMIT: u64 = 0x40;
const SHUTDOWN: u64 = 1 << 31;
const TOKEN: u64 = 1 << 32;

/// The most tokens a busy worker keeps back instead of giving each back as its task ends
/// (see [`Sleep::task_done`]).
const MAX_OWED: u32 = 32;

/// The most threads a pool may have: the SLEEPERS field must hold them all.
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
    /// Registered sleepers, not yet notified; a waker takes the most recent one (the
    /// others get to retire).
    /// With each: true for an idle worker (searching once woken), false for a worker
    /// blocked in a wait.
    sleeping: Vec<(Arc<Sleeper>, bool)>,
    /// Live worker threads (started, and not retired or exited).
    threads: usize,
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
    /// A mirror of `registry.threads` for the lock-free "may I start a thread?" check;
    /// the decision itself is made under the lock.
    threads: AtomicUsize,
    registry: Mutex<Registry>,
    max_threads: usize,
}

impl Sleep {
    /// The protocol state of a pool of at most `max_threads` threads (at most
    /// [`MAX_THREADS`]), none started yet.
    pub fn new(max_threads: usize) -> Sleep {
        assert!(
            max_threads <= MAX_THREADS,
            "too many threads for the sleep state"
        );
        Sleep {
            state: CachePadded::new(AtomicU64::new(0)),
            threads: AtomicUsize::new(0),
            registry: Mutex::new(Registry {
                sleeping: Vec::new(),
                threads: 0,
            }),
            max_threads,
        }
    }

    /// Starts a submit: refuses after shutdown, else takes a token and returns true when
    /// the caller must start a thread for this job (a thread was reserved for it: call
    /// [`Sleep::release_thread`] if starting it fails). The caller then pushes its job and
    /// calls [`Sleep::end_submit`]; it must not block in between.
    pub fn begin_submit(&self) -> Result<bool, Closed> {
        let old = loop {
            let old = self
                .state
                .fetch_add(SUBMITTER.wrapping_sub(TOKEN), Ordering::AcqRel);
            if old & SHUTDOWN == 0 && submitters(old) < SUBMITTERS_SOFT_LIMIT {
                break old;
            }
            // Undo, then refuse (shut down) or back off (absurdly many submitters).
            self.state
                .fetch_add(TOKEN.wrapping_sub(SUBMITTER), Ordering::AcqRel);
            if old & SHUTDOWN != 0 {
                return Err(Closed);
            }
            yield_now();
        };
        // No spare idle thread counts on this job: it needs one of its own. The `threads`
        // load is a hint (a retiring thread lowers it before giving up its token, so it is
        // never stale-high after our RMW saw the token gone); `reserve_thread` decides.
        Ok(tokens(old) <= 0
            && self.threads.load(Ordering::Acquire) < self.max_threads
            && self.reserve_thread())
    }

    /// Ends a submit whose job is now pushed: wakes one sleeper if any is registered.
    ///
    /// This RMW comes after the push. A sleeper registers (an RMW of the same word) and
    /// then checks the queues: if its RMW comes after this one, it acquires the push and
    /// sees the job; if before, this RMW sees it counted and wakes a sleeper.
    /// A searching worker counted in this RMW stands in for the wake-up: see
    /// [`Sleep::stop_searching`].
    pub fn end_submit(&self) {
        let old = self.state.fetch_sub(SUBMITTER, Ordering::AcqRel);
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

    /// Counts one more live thread if below the maximum (the new thread is idle: it brings
    /// a token). Returns false at the maximum.
    fn reserve_thread(&self) -> bool {
        let mut registry = lock(&self.registry);
        if registry.threads >= self.max_threads {
            return false;
        }
        registry.threads += 1;
        self.threads.store(registry.threads, Ordering::Release);
        self.state.fetch_add(TOKEN, Ordering::AcqRel);
        true
    }

    /// Undoes a reservation whose thread could not start; returns the threads left.
    pub fn release_thread(&self) -> usize {
        let mut registry = lock(&self.registry);
        registry.threads -= 1;
        self.threads.store(registry.threads, Ordering::Release);
        self.state.fetch_sub(TOKEN, Ordering::AcqRel);
        registry.threads
    }

    /// Counts out a thread that exits (after shutdown, or a failed initializer), idle:
    /// with its token.
    pub fn thread_exited(&self) {
        self.release_thread();
    }

    /// Live threads.
    pub fn threads(&self) -> usize {
        self.threads.load(Ordering::Acquire)
    }

    /// Gives back a token: a busy thread (blocked in a wait) took a queued job, so one
    /// fewer job waits.
    pub fn add_token(&self) {
        self.give_back(1);
    }

    /// A worker's top-level task is over: the thread is idle again, which gives a token
    /// back; `owed` counts the tokens this worker kept back so far, and the new count is
    /// returned.
    ///
    /// While every thread the pool may have is started, no submit can start another, so
    /// the tokens decide nothing now, and the worker keeps the token (up to [`MAX_OWED`]):
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
        if owed < MAX_OWED && self.threads.load(Ordering::Relaxed) >= self.max_threads {
            return owed;
        }
        self.give_back(owed);
        0
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
            if let Some((sleeper, idle)) = &sleeper {
                // A woken idle worker is searching from this RMW on.
                let delta = if *idle { SEARCHER } else { 0 };
                self.state
                    .fetch_add(delta.wrapping_sub(SLEEPER), Ordering::AcqRel);
                notify(sleeper);
            }
            sleeper
        };
        // Unpark outside the lock; an unpark before the park makes the park return.
        if let Some((sleeper, _)) = sleeper {
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
            let idle = woken.iter().filter(|(_, idle)| *idle).count() as u64;
            self.state.fetch_add(
                (SEARCHER * idle).wrapping_sub(SLEEPER * woken.len() as u64),
                Ordering::AcqRel,
            );
            for (sleeper, _) in &woken {
                notify(sleeper);
            }
            woken
        };
        for (sleeper, _) in woken {
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
    /// (a short window: a push, no blocking).
    pub fn wait_for_submitters(&self) {
        while submitters(self.state.load(Ordering::Acquire)) != 0 {
            yield_now();
        }
    }

    /// Registers `me` as asleep (an idle one stops searching in the same RMW); returns
    /// the word before (its SHUTDOWN bit).
    fn register(&self, me: &Arc<Sleeper>, idle: bool) -> u64 {
        let mut registry = lock(&self.registry);
        registry.sleeping.push((me.clone(), idle));
        // The Dekker half of the sleeper: this RMW, then (after the unlock) `has_work`.
        let delta = if idle { SEARCHER } else { 0 };
        self.state
            .fetch_add(SLEEPER.wrapping_sub(delta), Ordering::AcqRel)
    }

    /// Takes `me` off the list: true when it was still there (nobody notified it), false
    /// when a waker already took it off (the notification is consumed here).
    /// An idle one is searching again either way (the waker counted it so).
    fn unregister(&self, me: &Arc<Sleeper>) -> bool {
        let mut registry = lock(&self.registry);
        match registry
            .sleeping
            .iter()
            .position(|(s, _)| Arc::ptr_eq(s, me))
        {
            Some(pos) => {
                let (_, idle) = registry.sleeping.swap_remove(pos);
                let delta = if idle { SEARCHER } else { 0 };
                self.state
                    .fetch_add(delta.wrapping_sub(SLEEPER), Ordering::AcqRel);
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
    /// any queue holds a job.
    pub fn sleep_idle(
        &self,
        me: &Arc<Sleeper>,
        has_work: impl Fn() -> bool,
        keep_alive: Option<Duration>,
    ) -> IdleWake {
        let old = self.register(me, true);
        if old & SHUTDOWN != 0 {
            self.unregister(me);
            return IdleWake::Shutdown;
        }
        // The re-check after registering: a job pushed before our RMW is visible here.
        if has_work() {
            self.unregister(me);
            return IdleWake::Search;
        }
        let deadline = keep_alive.and_then(|k| Instant::now().checked_add(k));
        loop {
            park_until(deadline);
            if me.notified.swap(false, Ordering::Acquire) {
                return IdleWake::Search;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return self.retire_or_search(me);
            }
            // A spurious wake-up (or a stale unpark): sleep on.
        }
    }

    /// The keep-alive passed: retire if still unnotified and a token is spare.
    fn retire_or_search(&self, me: &Arc<Sleeper>) -> IdleWake {
        let mut registry = lock(&self.registry);
        let Some(pos) = registry
            .sleeping
            .iter()
            .position(|(s, _)| Arc::ptr_eq(s, me))
        else {
            // Notified after all, just now.
            me.notified.swap(false, Ordering::Relaxed);
            return IdleWake::Search;
        };
        registry.sleeping.swap_remove(pos);
        // Lower the thread hint *before* giving up the token: a submit whose RMW then
        // sees no token left also sees the lower count and comes to `reserve_thread`
        // (which waits for this lock) instead of trusting a stale maximum.
        self.threads.store(registry.threads - 1, Ordering::Relaxed);
        let mut word = self.state.load(Ordering::Acquire);
        loop {
            if tokens(word) <= 0 || word & SHUTDOWN != 0 {
                // A queued job counts on this thread (or shutdown decides): stay.
                self.threads.store(registry.threads, Ordering::Release);
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
                Ok(_) => {
                    registry.threads -= 1;
                    return IdleWake::Retire;
                }
                Err(now) => word = now,
            }
        }
    }

    /// A busy worker blocked on a future, with nothing to run, sleeps until notified of
    /// new work, until its future's waker unparks it, or until `deadline`. Returns true
    /// when it must search the queues before polling again (it was notified, or work
    /// showed up): a notification it does not act on would be lost for everyone.
    pub fn sleep_blocked(
        &self,
        me: &Arc<Sleeper>,
        has_work: impl Fn() -> bool,
        deadline: Option<Instant>,
    ) -> bool {
        self.register(me, false);
        if has_work() {
            self.unregister(me);
            return true;
        }
        park_until(deadline);
        if me.notified.swap(false, Ordering::Acquire) {
            return true;
        }
        // Woken by the future, the deadline, or spuriously; unless a waker raced us.
        !self.unregister(me)
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

    #[test]
    fn word_fields_do_not_interfere() {
        let sleep = Sleep::new(4);
        assert_eq!(sleep.begin_submit(), Ok(true), "no token: start a thread");
        assert_eq!(tokens(sleep.state.load(Ordering::Relaxed)), 0);
        assert_eq!(submitters(sleep.state.load(Ordering::Relaxed)), 1);
        sleep.end_submit();
        assert_eq!(sleep.begin_submit(), Ok(true));
        sleep.end_submit();
        let word = sleep.state.load(Ordering::Relaxed);
        assert_eq!((tokens(word), submitters(word), sleepers(word)), (0, 0, 0));
        assert_eq!(sleep.threads(), 2);
        sleep.add_token();
        assert_eq!(
            sleep.begin_submit(),
            Ok(false),
            "a spare idle thread takes it"
        );
        sleep.end_submit();
        for _ in 0..3 {
            sleep.begin_submit().unwrap();
            sleep.end_submit();
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
        assert_eq!(sleep.begin_submit(), Err(Closed));
        assert!(sleep.can_exit());
        assert_eq!(
            tokens(sleep.state.load(Ordering::Relaxed)),
            -1,
            "refusal undone"
        );
    }

    #[test]
    fn task_done_keeps_tokens_only_at_the_maximum() {
        let sleep = Sleep::new(2);
        let tokens_now = || tokens(sleep.state.load(Ordering::Relaxed));
        assert_eq!(sleep.begin_submit(), Ok(true));
        sleep.end_submit();
        assert_eq!(tokens_now(), 0, "one busy thread");
        assert_eq!(
            sleep.task_done(0),
            0,
            "below the maximum: given back at once"
        );
        assert_eq!(tokens_now(), 1);

        // Two threads, both busy: the pool is at its maximum.
        assert_eq!(sleep.begin_submit(), Ok(false));
        sleep.end_submit();
        assert_eq!(sleep.begin_submit(), Ok(true));
        sleep.end_submit();
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
