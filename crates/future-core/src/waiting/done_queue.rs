//! [`DoneQueue`]: where callbacks on many futures record which became done, and wake the one
//! thread waiting on them: behind the unordered map a queue under a mutex (its slots are
//! reused, so indices come back), behind `wait` and `as_completed` a lock-free [`Ready`]
//! queue (each future completes once).

use std::collections::VecDeque;
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::sync::{Arc, Mutex, lock};
use crate::unwind::drop_contained;
use crate::waiting::block::block_on;
use crate::waiting::ready::Ready;

/// How long a thread waiting on many futures spins before it parks.
const SPIN: Duration = Duration::from_micros(20);

/// What the registered callbacks record, and whom they wake.
pub(crate) struct DoneQueueState {
    /// Indices of futures that became done since registration, in completion order.
    pub(crate) finished: VecDeque<usize>,
    /// Whether one of them failed.
    pub(crate) any_failed: bool,
    /// The waiting thread's (or hook's) waker.
    pub(crate) waker: Option<Waker>,
}

pub(crate) struct DoneQueue {
    pub(crate) state: Mutex<DoneQueueState>,
    /// The lock-free queue, used instead of `state` when `lock_free`.
    ready: Ready,
    lock_free: bool,
}

impl DoneQueue {
    /// A done_queue for `capacity` futures (its queue never grows past them).
    pub(crate) fn new(capacity: usize) -> Arc<DoneQueue> {
        Arc::new(DoneQueue {
            state: Mutex::new(DoneQueueState {
                finished: VecDeque::with_capacity(capacity),
                any_failed: false,
                waker: None,
            }),
            ready: Ready::new(0),
            lock_free: false,
        })
    }

    /// A done_queue whose records go to a lock-free [`Ready`] queue for `capacity` futures, each
    /// recorded at most once (read it with [`queue`](Self::queue)).
    pub(crate) fn ready(capacity: usize) -> Arc<DoneQueue> {
        Arc::new(DoneQueue {
            state: Mutex::new(DoneQueueState {
                finished: VecDeque::new(),
                any_failed: false,
                waker: None,
            }),
            ready: Ready::new(capacity),
            lock_free: true,
        })
    }

    /// The lock-free queue of a done_queue made by [`ready`](Self::ready).
    pub(crate) fn queue(&self) -> &Ready {
        &self.ready
    }

    pub(crate) fn record(&self, index: usize, failed: bool) {
        if self.lock_free {
            self.ready.push(index, failed);
            return;
        }
        let mut state = lock(&self.state);
        state.finished.push_back(index);
        state.any_failed |= failed;
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Blocks until `ready` holds for the state (true) or `deadline` passes (false). The
    /// waiting thread's waker is cloned, and a replaced one dropped, outside the lock.
    pub(crate) fn block_until(
        &self,
        deadline: Option<Instant>,
        mut ready: impl FnMut(&DoneQueueState) -> bool,
    ) -> bool {
        if ready(&lock(&self.state)) {
            return true;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        let mut clone: Option<Waker> = None;
        let mut poll = |waker: &Waker| loop {
            let mut state = lock(&self.state);
            if ready(&state) {
                return true;
            }
            if state.waker.as_ref().is_some_and(|old| old.will_wake(waker)) {
                return false;
            }
            match clone.take() {
                Some(new) => {
                    let replaced = state.waker.replace(new);
                    drop(state);
                    drop_contained(replaced);
                    return false;
                }
                None => {
                    drop(state);
                    clone = Some(waker.clone());
                }
            }
        };
        // Completions of many futures often come close together: a short spin catches the
        // next one without the futex calls of a park and a wake-up.
        block_on(&mut poll, deadline, SPIN)
    }
}
