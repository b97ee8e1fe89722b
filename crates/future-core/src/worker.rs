//! How a pool's worker thread takes part in this crate's blocking waits: which executor it
//! works for (so an untimed wait on a [`Task`](crate::executor::Task) of that executor may
//! run the task itself), and when it blocks (so the pool can start a thread in its
//! place). Nothing unsafe depends on what a [`WorkerThread`] says: it only decides where
//! work runs and how many threads run it.

use std::cell::Cell;
use std::num::NonZeroU64;
use std::rc::Rc;

use crate::unwind::contain;

/// Names an executor, for [`Task`](crate::executor::Task)s and [`WorkerThread`]s: an
/// untimed wait in a worker thread of the executor that made a task may run that task.
///
/// ```
/// use rustures::executor::ExecutorId;
/// assert_ne!(ExecutorId::new(), ExecutorId::new());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExecutorId(NonZeroU64);

impl ExecutorId {
    /// A new identity, distinct from every other one of this process.
    pub fn new() -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        // A plain counter (not a synchronization: std's even under loom).
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        ExecutorId(NonZeroU64::new(id).unwrap_or(NonZeroU64::MIN))
    }
}

impl Default for ExecutorId {
    fn default() -> Self {
        Self::new()
    }
}

/// What a pool's worker thread tells this crate about itself; installed in the thread with
/// [`enter_worker`].
///
/// ```
/// use rustures::executor::{ExecutorId, Task, WorkerThread, enter_worker};
/// use std::cell::Cell;
/// use std::rc::Rc;
///
/// struct Worker { executor: ExecutorId, blocked: Cell<u32> }
/// impl WorkerThread for Worker {
///     fn executor(&self) -> ExecutorId { self.executor }
///     fn blocking(&self) { self.blocked.set(self.blocked.get() + 1) }
///     fn unblocked(&self) {}
/// }
///
/// let executor = ExecutorId::new();
/// let worker = Rc::new(Worker { executor, blocked: Cell::new(0) });
/// let _guard = enter_worker(worker.clone());
/// // Waiting on a task of this executor that no thread started: it runs right here.
/// let (task, future) = Task::new(executor, || std::thread::current().id());
/// assert_eq!(future.result(), Ok(std::thread::current().id()));
/// assert!(!task.run().here(), "already ran");
/// assert_eq!(worker.blocked.get(), 0, "it never blocked");
/// ```
pub trait WorkerThread {
    /// The executor this thread works for.
    fn executor(&self) -> ExecutorId;
    /// The thread is about to block in a wait of this crate (on futures it cannot run
    /// itself) or in a [`blocking`](crate::executor::blocking) section; a pool may start a
    /// thread in its place. Called once per outermost section: a wait inside another
    /// (`blocking(|| future.result())`) does not call it again, so a thread counts as
    /// blocked once, however deep its sections nest.
    ///
    /// A panic of this hook (or of [`unblocked`](Self::unblocked)) is caught and ignored:
    /// the wait goes on, and `unblocked` is still called once when it ends. It never
    /// reaches the caller of the wait (which may be a pool's section that must not unwind).
    fn blocking(&self);
    /// The blocking section announced by [`blocking`](Self::blocking) is over (called once
    /// for each call of `blocking`, also when either panicked or the section unwinds).
    fn unblocked(&self);

    /// A wait of this thread ran one of the executor's tasks itself (for the pool's
    /// statistics). Does nothing unless the pool counts.
    fn ran_here(&self, ran: crate::future::task::Ran) {
        let _ = ran;
    }
}

#[cfg(not(loom))]
std::thread_local! {
    static WORKER: std::cell::RefCell<Option<Rc<dyn WorkerThread>>> =
        const { std::cell::RefCell::new(None) };
    /// How many blocking sections ([`Blocking`]) the thread is inside: only the outermost
    /// tells the worker.
    static BLOCKING_DEPTH: Cell<u32> = const { Cell::new(0) };
}

#[cfg(loom)]
loom::thread_local! {
    static WORKER: std::cell::RefCell<Option<Rc<dyn WorkerThread>>> =
        std::cell::RefCell::new(None);
    static BLOCKING_DEPTH: Cell<u32> = Cell::new(0);
}

/// Makes the calling thread a worker described by `worker` until the guard is dropped
/// (which puts back what was there before).
pub fn enter_worker(worker: Rc<dyn WorkerThread>) -> WorkerGuard {
    WorkerGuard {
        previous: WORKER.with(|slot| slot.replace(Some(worker))),
    }
}

/// The calling thread's [`WorkerThread`], if it is one.
pub(crate) fn current() -> Option<Rc<dyn WorkerThread>> {
    WORKER.with(|slot| slot.borrow().clone())
}

/// Tells the calling thread's worker that a wait ran a task here.
pub(crate) fn ran_here(ran: crate::future::task::Ran) {
    if let Some(worker) = current() {
        worker.ran_here(ran);
    }
}

/// True when the calling thread is a worker of `executor`.
pub(crate) fn works_for(executor: ExecutorId) -> bool {
    WORKER.with(|slot| {
        slot.borrow()
            .as_ref()
            .is_some_and(|worker| worker.executor() == executor)
    })
}

/// Keeps a thread a worker; see [`enter_worker`].
#[must_use = "the thread stops being a worker when the guard is dropped"]
pub struct WorkerGuard {
    previous: Option<Rc<dyn WorkerThread>>,
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        WORKER.with(|slot| slot.replace(previous));
    }
}

impl std::fmt::Debug for WorkerGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerGuard").finish_non_exhaustive()
    }
}

/// Runs `wait`, a blocking wait of the caller's own (a condition variable, a channel),
/// telling the calling thread's pool, if it is a worker, that it blocks meanwhile: the pool
/// may then start a thread in its place. This crate's own waits do it by themselves.
///
/// Sections nest: a wait inside `wait` (a future's `result`, another `blocking`) is part
/// of this section, and the thread counts as blocked once, from the start of the
/// outermost section to its end (also when it unwinds).
///
/// ```
/// let (tx, rx) = std::sync::mpsc::channel();
/// std::thread::spawn(move || tx.send(5).unwrap());
/// assert_eq!(rustures::executor::blocking(|| rx.recv()), Ok(5));
/// ```
pub fn blocking<R>(wait: impl FnOnce() -> R) -> R {
    let _blocking = Blocking::start();
    wait()
}

/// A blocking section of the calling thread, until the guard is dropped: the outermost
/// one of the thread tells its worker, if any ([`WorkerThread::blocking`], then
/// [`WorkerThread::unblocked`] on drop); a nested one only counts its depth. The depth
/// goes up before the hook and down after, so a hook that itself blocks is nested too, and
/// a section that unwinds still counts out. The hooks run inside a panic boundary: a
/// section must not unwind into its caller (a pool's join or scope, whose frame must stay).
pub(crate) struct Blocking(Option<Rc<dyn WorkerThread>>);

impl Blocking {
    pub(crate) fn start() -> Self {
        let outermost = BLOCKING_DEPTH.with(|depth| {
            let outer = depth.get();
            depth.set(outer.saturating_add(1));
            outer == 0
        });
        let worker = if outermost { current() } else { None };
        if let Some(worker) = &worker {
            contain(|| worker.blocking());
        }
        Blocking(worker)
    }
}

impl Drop for Blocking {
    fn drop(&mut self) {
        if let Some(worker) = self.0.take() {
            contain(|| worker.unblocked());
        }
        BLOCKING_DEPTH.with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}
