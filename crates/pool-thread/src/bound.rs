//! The queue bound: how many jobs may wait, and the submitters blocked for room.
//!
//! A blocked submitter is woken only when the queue has drained to a low-water mark (half
//! the bound), not for every job taken: a producer that outruns the pool then refills the
//! queue with a run of submits that do not block, and sleeps again, paying one wake-up per
//! half a queue instead of one per task. `sleep/README.md` ("The queue bound") explains why no
//! wake-up is lost; the loom models in `tests/loom.rs` check it.
#![cfg_attr(not(loom), allow(unreachable_pub))]

use crate::sync::{AtomicU64, Condvar, Mutex, Ordering, lock, wait};

/// Why [`Bound::reserve`] gave no place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The queue is full and the caller would not wait.
    Full,
    /// The pool shut down.
    Closed,
}

/// What [`Bound::reserve`] does when the queue is full: wait for a place, or refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Block until a place frees up (or the pool shuts down).
    Wait,
    /// Say [`Refused::Full`] at once.
    Refuse,
}

// The state word: both counts in one `AtomicU64`, so that every step of the protocol is
// one read-modify-write of one location, totally ordered (`sleep/README.md`, "The queue bound").
const QUEUED_BITS: u32 = 40;
const QUEUED_MASK: u64 = (1 << QUEUED_BITS) - 1;
const WAITER: u64 = 1 << QUEUED_BITS;

fn queued(word: u64) -> u64 {
    word & QUEUED_MASK
}

fn waiters(word: u64) -> u64 {
    word >> QUEUED_BITS
}

/// The largest bound the state word holds (far beyond any memory).
pub const MAX_LIMIT: usize = 1 << (QUEUED_BITS - 1);

/// A bounded queue's count of waiting jobs, and the submitters blocked for room.
#[derive(Debug)]
pub struct Bound {
    limit: u64,
    /// Blocked submitters are woken when a job taken leaves this many queued.
    low_water: u64,
    /// Bits 0..40: jobs counted in and not yet taken out. Bits 40..64: submitters that
    /// announced they block for room.
    state: AtomicU64,
    lock: Mutex<()>,
    place_freed: Condvar,
}

impl Bound {
    /// A bound of `limit` queued jobs (at least 1; at most [`MAX_LIMIT`], else clamped).
    pub fn new(limit: usize) -> Bound {
        let limit = limit.clamp(1, MAX_LIMIT) as u64;
        Bound {
            limit,
            low_water: limit / 2,
            state: AtomicU64::new(0),
            lock: Mutex::new(()),
            place_freed: Condvar::new(),
        }
    }

    /// Jobs queued now.
    pub fn queued(&self) -> usize {
        queued(self.state.load(Ordering::Acquire)) as usize
    }

    /// Counts a job in regardless of the bound (a task's own submits never wait: if every
    /// worker waited for room that only workers make, nesting would deadlock).
    pub fn count(&self) {
        self.state.fetch_add(1, Ordering::AcqRel);
    }

    /// Takes a place for one job: at once if the queue is below the bound, else waits
    /// (`WhenFull::Wait`) until a taker has drained the queue to the low-water mark, or until
    /// `closed()` (checked before every wait; call [`Bound::wake_all`] after closing).
    pub fn reserve(&self, when_full: WhenFull, closed: impl Fn() -> bool) -> Result<(), Refused> {
        let mut word = self.state.load(Ordering::Acquire);
        loop {
            if queued(word) < self.limit {
                match self.state.compare_exchange_weak(
                    word,
                    word + 1,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => return Ok(()),
                    Err(now) => word = now,
                }
                continue;
            }
            if closed() {
                return Err(Refused::Closed);
            }
            if when_full == WhenFull::Refuse {
                return Err(Refused::Full);
            }
            let guard = lock(&self.lock);
            // Announce and re-check in one RMW. If it sees the queue full, the take that
            // later brings the queue down to the low-water mark comes after it in this
            // word's order, so that take sees us counted and notifies, under the lock we
            // hold until we wait.
            let old = self.state.fetch_add(WAITER, Ordering::AcqRel);
            if queued(old) >= self.limit && !closed() {
                drop(wait(&self.place_freed, guard));
            } else {
                drop(guard);
            }
            word = self.state.fetch_sub(WAITER, Ordering::AcqRel) - WAITER;
        }
    }

    /// A job left the queue (taken by a worker, drained, or refused): frees its place.
    /// Wakes the blocked submitters when this leaves exactly the low-water mark (below
    /// the bound): the count moves by one, so on its way down from full it passes there.
    pub fn take(&self) {
        let old = self.state.fetch_sub(1, Ordering::AcqRel);
        if queued(old) - 1 == self.low_water && waiters(old) > 0 {
            self.wake_all();
        }
    }

    /// Wakes every blocked submitter (they re-check: room, or a shutdown).
    pub fn wake_all(&self) {
        let _guard = lock(&self.lock);
        self.place_freed.notify_all();
    }
}
