//! How a thread blocks until futures are done: the one waiting loop behind `result`,
//! `wait` and `as_completed`, and the [`WaitHook`] through which a pool's worker thread runs
//! other tasks instead of sleeping (so nested submit-and-wait cannot deadlock).
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
//! from the very worker it waits for. Loom models never spin.

use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use crate::sync::{Thread, current_thread, park, park_timeout};

/// A pool's way of waiting on a worker thread: run other queued tasks until `poll` says the
/// awaited condition holds, then return.
///
/// A pool installs its hook in each worker thread with [`install_wait_hook`]; from then on
/// every blocking wait of this crate in that thread (`result`, `take`, `exception`, `wait`,
/// `as_completed`, and so a nested `map`) calls [`WaitHook::block_on`] instead of parking.
/// This is how a worker that waits on a future of its own pool keeps the pool going, where
/// Python's `ThreadPoolExecutor` deadlocks.
///
/// # Contract
/// `poll(&waker)` returns true when the condition holds. When it returns false it has left
/// `waker` registered, so `waker` is woken once the condition may hold; `block_on` must
/// call `poll` again after any such wake-up. `block_on` returns true as soon as `poll`
/// returns true, and false when `deadline` passes first (never before it). It may be
/// re-entered: a task run inside it may block again.
///
/// ```
/// use future_core::{WaitHook, install_wait_hook, Promise};
/// use std::task::Waker;
/// use std::time::Instant;
///
/// /// A hook that just spins (a real pool runs tasks from its queue here).
/// struct Spin;
/// impl WaitHook for Spin {
///     fn block_on(&self, poll: &mut dyn FnMut(&Waker) -> bool, deadline: Option<Instant>) -> bool {
///         loop {
///             if poll(Waker::noop()) {
///                 return true;
///             }
///             if deadline.is_some_and(|d| Instant::now() >= d) {
///                 return false;
///             }
///             std::thread::yield_now();
///         }
///     }
/// }
///
/// let _guard = install_wait_hook(std::rc::Rc::new(Spin));
/// let (promise, future) = Promise::new();
/// std::thread::spawn(move || promise.set_result(5));
/// assert_eq!(future.result(), Ok(5));
/// ```
pub trait WaitHook {
    /// Blocks the calling thread until `poll` returns true (returns true) or `deadline`
    /// passes (returns false), doing useful work meanwhile. See the trait's contract.
    fn block_on(&self, poll: &mut dyn FnMut(&Waker) -> bool, deadline: Option<Instant>) -> bool;
}

#[cfg(not(loom))]
mod hook_slot {
    use super::WaitHook;
    use std::cell::RefCell;
    use std::rc::Rc;

    thread_local! {
        static HOOK: RefCell<Option<Rc<dyn WaitHook>>> = const { RefCell::new(None) };
    }

    pub(super) fn replace(hook: Option<Rc<dyn WaitHook>>) -> Option<Rc<dyn WaitHook>> {
        HOOK.with(|slot| slot.replace(hook))
    }

    pub(super) fn current() -> Option<Rc<dyn WaitHook>> {
        HOOK.with(|slot| slot.borrow().clone())
    }
}

/// Loom runs its model threads on one OS thread, so a `thread_local!` would be shared by
/// them; the models never install a hook, and under loom there is none.
#[cfg(loom)]
mod hook_slot {
    use super::WaitHook;
    use std::rc::Rc;

    pub(super) fn replace(_hook: Option<Rc<dyn WaitHook>>) -> Option<Rc<dyn WaitHook>> {
        None
    }

    pub(super) fn current() -> Option<Rc<dyn WaitHook>> {
        None
    }
}

/// Installs `hook` as the calling thread's [`WaitHook`] until the returned guard is dropped
/// (which puts back the hook that was there before).
///
/// ```
/// # use future_core::{WaitHook, install_wait_hook};
/// # use std::task::Waker; use std::time::Instant;
/// struct Park;
/// impl WaitHook for Park {
///     fn block_on(&self, poll: &mut dyn FnMut(&Waker) -> bool, _: Option<Instant>) -> bool {
///         while !poll(Waker::noop()) { std::thread::yield_now() }
///         true
///     }
/// }
/// let guard = install_wait_hook(std::rc::Rc::new(Park));
/// drop(guard); // the thread blocks normally again
/// ```
pub fn install_wait_hook(hook: std::rc::Rc<dyn WaitHook>) -> WaitHookGuard {
    WaitHookGuard {
        previous: hook_slot::replace(Some(hook)),
    }
}

/// Keeps a [`WaitHook`] installed in its thread; see [`install_wait_hook`].
#[must_use = "the hook is uninstalled when the guard is dropped"]
pub struct WaitHookGuard {
    previous: Option<std::rc::Rc<dyn WaitHook>>,
}

impl Drop for WaitHookGuard {
    fn drop(&mut self) {
        hook_slot::replace(self.previous.take());
    }
}

impl std::fmt::Debug for WaitHookGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitHookGuard").finish_non_exhaustive()
    }
}

/// A waker that unparks the thread that made it, and raises `woken` for its spin.
struct Unpark {
    thread: Thread,
    /// Set by every wake-up, cleared by the spinning thread: a std atomic even under loom,
    /// where nothing spins and it only ever gets set.
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

/// Blocks until `poll` returns true (true) or `deadline` passes (false): through the
/// thread's [`WaitHook`] if it has one, else by spinning for at most `spin` and then
/// parking. See the module docs.
pub(crate) fn block_on(
    poll: &mut dyn FnMut(&Waker) -> bool,
    deadline: Option<Instant>,
    spin: Duration,
) -> bool {
    let spin = if cfg!(loom) { Duration::ZERO } else { spin };
    if let Some(hook) = hook_slot::current() {
        return hook.block_on(poll, deadline);
    }
    let unpark = std::sync::Arc::new(Unpark {
        thread: current_thread(),
        woken: AtomicBool::new(false),
    });
    let waker = Waker::from(unpark.clone());
    let start = Instant::now();
    let spin_until = deadline.map_or(start + spin, |d| d.min(start + spin));
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
