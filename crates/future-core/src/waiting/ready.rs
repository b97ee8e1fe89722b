//! [`Ready`]: the ready queue behind `wait` and `as_completed`, fed by the futures as they
//! complete: each completion is one slot write and one `fetch_add`, with no lock; the
//! waiting thread reads the slots in completion order and takes a lock only to leave its
//! waker before it parks (once per park, not per completion). futures-util's
//! `FuturesUnordered` keeps such a queue; this one is simpler, since each of its `n`
//! futures completes once: `n` slots, each written once.
//!
//! The protocol, on the word `published` (completions published, times `COUNT`, plus
//! `WAITING` and `WAKING`):
//!
//! - a completion reserves its slot (`reserved.fetch_add`), writes its index there
//!   (`Release`), then publishes (`published.fetch_add(COUNT)`, `AcqRel`); if the word it
//!   replaced had `WAITING`, it trades that bit for `WAKING` (one CAS: the one completion
//!   that finds `WAITING` still set owns the wake-up), takes the waiter's waker (under the
//!   lock), wakes it outside the lock, and clears `WAKING`;
//! - the waiter checks its condition; when it does not hold, it leaves its waker (under the
//!   lock), sets `WAITING` (`fetch_or`, `AcqRel`), and checks again before it parks;
//! - when the wait ends, the waiter clears `WAITING` if it is still set (no completion owns
//!   a wake-up; it drops its left waker), and waits for `WAKING` to clear (a completion is
//!   in the middle of waking it: a few instructions): so no wake-up of a finished wait
//!   reaches its thread later, parked on something else.
//!
//! Both sides' RMWs on `published` are totally ordered. A completion that publishes before
//! the waiter's `fetch_or` is seen by the check after it (that RMW acquires the publish,
//! and with it the slot and `any_failed`); one that publishes after it finds `WAITING` and
//! wakes the waiter, whose waker was left before the `fetch_or`. So no wake-up is lost; one
//! may be spurious (a completion that finds a `WAITING` left by a waiter that did not park),
//! and the waiter just checks again.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::sync::{AtomicBool, AtomicUsize, Mutex, lock, yield_now};
use crate::unwind::{contain, drop_contained};
use crate::waiting::block::block_on;

/// How long a thread waiting on many futures spins before it parks.
const SPIN: Duration = Duration::from_micros(20);

/// The waiter's waker is in `Ready::waker`, and the next publish must wake it.
const WAITING: usize = 1;
/// A completion took `WAITING` and is waking the waiter: the wait does not end before it
/// cleared this.
const WAKING: usize = 2;
/// One published completion.
const COUNT: usize = 4;

/// Where the futures of one `wait` or `as_completed` record, in completion order, which of
/// them became done, and wake the one thread waiting on them.
pub(crate) struct Ready {
    /// Slot `k`: the index (plus one) of the `k`-th future to complete; 0 until that
    /// completion wrote it (with `Release`, before it publishes).
    slots: Box<[AtomicUsize]>,
    /// Slots reserved by completions so far.
    reserved: AtomicUsize,
    /// Completions published, times `COUNT`, plus `WAITING`.
    published: AtomicUsize,
    /// Set (before its publish) by a completion that failed.
    any_failed: AtomicBool,
    /// The waiter's waker, left before it sets `WAITING`, taken by the completion that
    /// clears `WAITING`: never called or dropped under the lock.
    waker: Mutex<Option<Waker>>,
}

impl Ready {
    /// A queue for `capacity` futures, each completing once.
    pub(crate) fn new(capacity: usize) -> Ready {
        Ready {
            slots: (0..capacity).map(|_| AtomicUsize::new(0)).collect(),
            reserved: AtomicUsize::new(0),
            published: AtomicUsize::new(0),
            any_failed: AtomicBool::new(false),
            waker: Mutex::new(None),
        }
    }

    /// Records that future `index` became done (a listener, run once per future).
    pub(crate) fn push(&self, index: usize, failed: bool) {
        if failed {
            // Published by the `fetch_add` below.
            self.any_failed.store(true, Relaxed);
        }
        let position = self.reserved.fetch_add(1, Relaxed);
        // Each of the `capacity` futures completes once, so `position < capacity`; were it
        // not, the index is dropped rather than written out of bounds.
        if let Some(slot) = self.slots.get(position) {
            slot.store(index + 1, Release);
        }
        // AcqRel: Release publishes the slot and `any_failed`; the waiter's `fetch_or`
        // (before or after this in the word's order) is what decides who sees whom.
        let before = self.published.fetch_add(COUNT, AcqRel);
        if before & WAITING != 0 {
            self.wake();
        }
    }

    /// Trades `WAITING` for `WAKING`; the one caller that found it set wakes the waiter,
    /// then clears `WAKING`.
    fn wake(&self) {
        let owned = self.published.fetch_update(AcqRel, Acquire, |word| {
            (word & WAITING != 0).then_some(word & !WAITING | WAKING)
        });
        if owned.is_err() {
            // Another completion took it (and wakes the waiter), or the wait ended.
            return;
        }
        let waker = lock(&self.waker).take();
        if let Some(waker) = waker {
            contain(move || waker.wake());
        }
        // Release: the wake-up is done before the waiter sees this.
        self.published.fetch_and(!WAKING, Release);
    }

    /// Ends a wait that may have set `WAITING`: takes it back if no completion did (and
    /// drops the waker left for it), and waits for a completion that did to finish its
    /// wake-up.
    fn settle(&self) {
        let mut word = self.published.fetch_and(!WAITING, AcqRel);
        if word & WAITING != 0 {
            let waker = lock(&self.waker).take();
            drop_contained(waker);
        }
        // The word our RMW read, the latest: without `WAKING` in it no completion is
        // waking us, and none starts to (`WAITING` is clear now).
        while word & WAKING != 0 {
            yield_now();
            word = self.published.load(Acquire);
        }
    }

    /// How many completions were published.
    pub(crate) fn done(&self) -> usize {
        self.published.load(Acquire) / COUNT
    }

    /// Whether a published completion failed.
    pub(crate) fn any_failed(&self) -> bool {
        // Acquire on the word first: a failed completion's flag comes before its publish.
        let _ = self.published.load(Acquire);
        self.any_failed.load(Relaxed)
    }

    /// The index of the `position`-th future to complete, once its completion wrote it.
    pub(crate) fn get(&self, position: usize) -> Option<usize> {
        let written = self.slots.get(position)?.load(Acquire);
        written.checked_sub(1)
    }

    /// Blocks until `ready` holds (true) or `deadline` passes (false). `ready` must depend
    /// only on what completions publish (`done`, `any_failed`, `get`); the caller has just
    /// found it false (so the first poll does not check it before it leaves its waker).
    pub(crate) fn block_until(
        &self,
        deadline: Option<Instant>,
        mut ready: impl FnMut(&Ready) -> bool,
    ) -> bool {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        let mut checked = true;
        let mut poll = |waker: &Waker| {
            if !std::mem::take(&mut checked) && ready(self) {
                return true;
            }
            self.leave(waker);
            // Set after the waker is left: a completion that publishes after this finds it
            // and wakes us; one before is seen by the check below (this RMW acquires it).
            self.published.fetch_or(WAITING, AcqRel);
            ready(self)
        };
        // Completions of many futures often come close together: a short spin catches the
        // next one without the futex calls of a park and a wake-up.
        let done = block_on(&mut poll, deadline, SPIN);
        self.settle();
        done
    }

    /// Leaves `waker` for the next completion, unless the one left wakes the same task. The
    /// clone and the drop of a replaced waker happen outside the lock.
    fn leave(&self, waker: &Waker) {
        if lock(&self.waker)
            .as_ref()
            .is_some_and(|left| left.will_wake(waker))
        {
            return;
        }
        let clone = waker.clone();
        let replaced = lock(&self.waker).replace(clone);
        drop_contained(replaced);
    }
}
