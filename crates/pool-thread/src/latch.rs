//! [`CountLatch`]: a count of outstanding [`Hold`]s, and a wait for it to reach zero (what
//! a scope waits on: its tasks hold it until they are consumed).
//!
//! Release, then wake, and only a thread that waits: the count and a "someone waits" bit
//! share one word. A `Hold` drops the count with one RMW; the one that brings it to zero
//! takes the lock and notifies only if that RMW saw the bit. The waiter sets the bit with
//! an RMW of the same word, under the lock, and sleeps only if that RMW saw a count left.
//! The two RMWs are ordered: if the waiter's comes first, the last release sees the bit
//! and notifies under the lock (which the waiter holds until it sleeps); if the release
//! comes first, the waiter sees the count at zero and does not sleep. A scope nobody
//! waits on (the usual case: its tasks are done when it ends) thus costs no wake-up
//! call. No user code runs under the lock.

use crate::sync::{Arc, AtomicUsize, Condvar, Mutex, Ordering, lock, wait};

/// The word's top bit: a thread waits (or is about to) for the count to reach zero.
const WAITING: usize = 1 << (usize::BITS - 1);

/// A count that a thread can wait to see at zero.
#[derive(Debug)]
pub(crate) struct CountLatch {
    /// The holds left (low bits) and [`WAITING`].
    word: AtomicUsize,
    lock: Mutex<()>,
    zero: Condvar,
}

/// The holds counted in `word`.
fn count(word: usize) -> usize {
    word & !WAITING
}

impl CountLatch {
    pub(crate) fn new() -> Arc<CountLatch> {
        Arc::new(CountLatch {
            word: AtomicUsize::new(0),
            lock: Mutex::new(()),
            zero: Condvar::new(),
        })
    }

    /// One more count, given back when the returned hold is dropped.
    pub(crate) fn hold(this: &Arc<Self>) -> Hold {
        this.word.fetch_add(1, Ordering::Relaxed);
        Hold(this.clone())
    }

    /// True when no hold is left (its `Acquire` pairs with the releases: what each hold's
    /// owner did before letting go is visible after).
    pub(crate) fn probe(&self) -> bool {
        count(self.word.load(Ordering::Acquire)) == 0
    }

    /// Blocks until no hold is left.
    pub(crate) fn wait(&self) {
        let mut guard = lock(&self.lock);
        while count(self.word.fetch_or(WAITING, Ordering::AcqRel)) != 0 {
            guard = wait(&self.zero, guard);
        }
    }

    fn release(&self) {
        let old = self.word.fetch_sub(1, Ordering::AcqRel);
        if count(old) == 1 && old & WAITING != 0 {
            let _guard = lock(&self.lock);
            self.zero.notify_all();
        }
    }
}

/// One count of a [`CountLatch`], given back on drop.
#[derive(Debug)]
pub(crate) struct Hold(Arc<CountLatch>);

impl Hold {
    /// True when this is a count of `latch`.
    pub(crate) fn of(&self, latch: &Arc<CountLatch>) -> bool {
        Arc::ptr_eq(&self.0, latch)
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.0.release();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_waiting_bit_is_not_counted() {
        let latch = CountLatch::new();
        let hold = CountLatch::hold(&latch);
        latch.word.fetch_or(WAITING, Ordering::AcqRel);
        assert!(!latch.probe());
        drop(hold);
        assert!(latch.probe());
        latch.wait();
    }

    #[test]
    fn a_waiter_sleeping_on_the_last_hold_is_woken() {
        let latch = CountLatch::new();
        let hold = CountLatch::hold(&latch);
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = {
            let latch = latch.clone();
            std::thread::spawn(move || {
                tx.send(()).unwrap();
                latch.wait();
            })
        };
        rx.recv().unwrap();
        drop(hold);
        waiter.join().unwrap();
        assert!(latch.probe());
    }
}
