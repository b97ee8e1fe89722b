//! [`CountLatch`]: a count of outstanding [`Hold`]s, and a wait for it to reach zero (what
//! a scope waits on: its tasks hold it until they are consumed).
//!
//! Release, then wake: a `Hold` drops the count with one RMW, and the one that brings it to
//! zero takes the lock and notifies. The waiter checks the count under the same lock before
//! each wait, so the last release either comes before that check (seen) or notifies after
//! the waiter is waiting (it holds the lock until it waits). No user code runs under the
//! lock.

use crate::sync::{Arc, AtomicUsize, Condvar, Mutex, Ordering, lock, wait};

/// A count that a thread can wait to see at zero.
#[derive(Debug)]
pub(crate) struct CountLatch {
    count: AtomicUsize,
    lock: Mutex<()>,
    zero: Condvar,
}

impl CountLatch {
    pub(crate) fn new() -> Arc<CountLatch> {
        Arc::new(CountLatch {
            count: AtomicUsize::new(0),
            lock: Mutex::new(()),
            zero: Condvar::new(),
        })
    }

    /// One more count, given back when the returned hold is dropped.
    pub(crate) fn hold(this: &Arc<Self>) -> Hold {
        this.count.fetch_add(1, Ordering::Relaxed);
        Hold(this.clone())
    }

    /// True when no hold is left (its `Acquire` pairs with the releases: what each hold's
    /// owner did before letting go is visible after).
    pub(crate) fn probe(&self) -> bool {
        self.count.load(Ordering::Acquire) == 0
    }

    /// Blocks until no hold is left.
    pub(crate) fn wait(&self) {
        let mut guard = lock(&self.lock);
        while !self.probe() {
            guard = wait(&self.zero, guard);
        }
    }

    fn release(&self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
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
