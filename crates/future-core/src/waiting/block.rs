//! How a thread blocks until futures are done: the one waiting loop behind `result`,
//! `wait` and `as_completed`.
//!
//! Every wait is a poll loop driven by a [`Waker`]: `poll(&waker)` checks the condition
//! under the futures' locks and, when it does not hold yet, leaves `waker` registered on
//! them; completing a future wakes every registered waker *after* setting the final state
//! under the same lock. So a completion either happens before the check (the check sees it)
//! or after the registration (the waker fires): no wake-up is lost. The waker of a plain
//! thread unparks it, and `park` keeps an unpark that came early, so the sleep after a
//! failed check returns at once when the completion raced in between.
//!
//! Before parking, a thread may spin for a bounded time (yielding its core between
//! checks) when the future asks for it ([`Promise::new_spinning`](crate::Promise::new_spinning)):
//! waking a parked thread costs a futex call and, on a virtual machine, tens of
//! microseconds, more than a round trip to a warm worker process. Executors whose workers
//! share the waiter's cores (a thread pool) do not ask: a spinning waiter would take a core
//! from the very worker it waits for. A pool's own worker thread spins briefly in any wait
//! (`WORKER_SPIN`): it holds one of the pool's cores anyway. Loom models never spin.
//!
//! A pool's worker thread (see [`enter_worker`](crate::executor::enter_worker)) is told
//! when it starts to block and when it stops, so its pool can start a thread in its place;
//! it never runs other work here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use crate::sync::{Thread, current_thread, park, park_timeout};
use crate::worker::Blocking;

/// How long a pool's worker thread keeps looking (yielding its core between looks) before
/// it blocks in a wait, and its pool may start a thread in its place. The worker holds one
/// of the pool's cores either way, and yielding lets the threads it waits for run; a task
/// stolen by another worker (the other half of a nested submit-and-wait) often ends within
/// it, which spares a park, a wake-up, and a thread started or woken for the queued work
/// meanwhile: each of those costs tens of microseconds, and nested Fibonacci on 2 cores
/// ran about 1.4x slower with 20 us than with this.
pub(crate) const WORKER_SPIN: Duration = Duration::from_micros(300);

/// A waker that unparks the thread that made it, and raises `woken` for its spin.
struct Unpark {
    thread: Thread,
    /// Set by every wake-up, cleared by the waiting thread before it parks (and while it
    /// spins). A std atomic even under loom: it only short-cuts a park, the waker's unpark
    /// is what loom checks.
    woken: AtomicBool,
}

impl Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// Blocks until `poll` returns true (true) or `deadline` passes (false), spinning for at
/// most `spin` (a pool's worker thread: at least `WORKER_SPIN`) and then parking; a pool's
/// worker thread tells its pool before it parks. See the module docs.
///
/// `poll(waker)` checks the condition and, while it does not hold, must leave `waker` (or a
/// clone) where the event it waits for wakes it; it is called again after every wake-up,
/// spurious ones included. The one waiting loop of this crate's futures, for an executor's
/// own waits (a join's stolen half, say).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::task::Waker;
/// use std::time::Duration;
///
/// // A flag another thread raises: its waker is left beside it.
/// let slot: Arc<Mutex<(bool, Option<Waker>)>> = Arc::default();
/// let raiser = {
///     let slot = slot.clone();
///     std::thread::spawn(move || {
///         let waker = {
///             let mut slot = slot.lock().unwrap();
///             slot.0 = true;
///             slot.1.take()
///         };
///         if let Some(waker) = waker {
///             waker.wake();
///         }
///     })
/// };
/// let raised = rustures::executor::block_on(
///     &mut |waker| {
///         let mut slot = slot.lock().unwrap();
///         slot.1 = Some(waker.clone());
///         slot.0
///     },
///     None,
///     Duration::ZERO,
/// );
/// assert!(raised);
/// raiser.join().unwrap();
/// ```
pub fn block_on(
    poll: &mut dyn FnMut(&Waker) -> bool,
    deadline: Option<Instant>,
    spin: Duration,
) -> bool {
    let spin = if cfg!(loom) {
        Duration::ZERO
    } else if crate::worker::current().is_some() {
        spin.max(WORKER_SPIN)
    } else {
        spin
    };
    let unpark = std::sync::Arc::new(Unpark {
        thread: current_thread(),
        woken: AtomicBool::new(false),
    });
    let waker = Waker::from(unpark.clone());
    let start = Instant::now();
    let spin_until = deadline.map_or(start + spin, |d| d.min(start + spin));
    // Told to the thread's pool before the first park, and undone on return.
    let mut blocking = None;
    loop {
        if poll(&waker) {
            return true;
        }
        if Instant::now() < spin_until {
            // Spin until a wake-up or the end of the spin, then poll again. The wake-up
            // also left an unpark token, which a later `park` consumes harmlessly.
            while !unpark.woken.swap(false, Ordering::Acquire) && Instant::now() < spin_until {
                std::thread::yield_now();
            }
            continue;
        }
        if blocking.is_none() {
            blocking = Some(Blocking::start());
        }
        // A wake-up since the poll: poll again rather than trust the park token to be
        // there (other code of this thread may have taken it, and loom drops an unpark
        // that finds the thread blocked on a lock).
        if unpark.woken.swap(false, Ordering::Acquire) {
            continue;
        }
        match deadline {
            None => park(),
            Some(deadline) => {
                let now = Instant::now();
                if now >= deadline {
                    return false;
                }
                park_timeout(deadline - now);
            }
        }
    }
}

/// The deadline `timeout` from now; `None` (wait forever) for no timeout or one too large
/// to represent.
pub(crate) fn deadline_after(timeout: Option<std::time::Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}
