//! [`Scope`]: tasks that borrow from the caller's stack, all joined before
//! [`ThreadPool::scope`] returns.

use std::fmt;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use future_core::{Promise, SubmitError, TaskError, TaskFuture};

use crate::job::{Job, TaskEnd, run_task};
use crate::job_box::JobBox;
use crate::pool::ThreadPool;
use crate::registry::Room;
use crate::sync::{Arc, AtomicUsize, Mutex, Ordering, lock};

/// A scope in which tasks may borrow anything that outlives the [`ThreadPool::scope`]
/// call; see there.
///
/// ```
/// let pool = pool_thread::ThreadPool::new().unwrap();
/// let words = vec!["a", "bb", "ccc"];
/// let total = pool.scope(|s| {
///     let futures: Vec<_> = words.iter().map(|w| s.spawn(|| w.len()).unwrap()).collect();
///     futures.iter().map(|f| f.result().unwrap()).sum::<usize>()
/// });
/// assert_eq!(total, 6);
/// ```
pub struct Scope<'scope, 'env: 'scope> {
    pool: &'env ThreadPool,
    state: Arc<ScopeState>,
    /// Invariant over `'scope` and `'env`, as `std::thread::Scope` is.
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

/// Counts the scope's unfinished tasks (plus one for the scope's own closure) and
/// completes `all_done` when the count reaches zero.
struct ScopeState {
    pending: AtomicUsize,
    all_done: Mutex<Option<Promise<()>>>,
}

/// One count of a scope, given back on drop.
struct ScopeGuard(Arc<ScopeState>);

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        if self.0.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            if let Some(promise) = lock(&self.0.all_done).take() {
                promise.set_result(());
            }
        }
    }
}

/// A scoped task: the task, then the guard, which is dropped last (after the task's
/// closure and captures), so the scope cannot end while anything borrowed is alive.
struct ScopedTask<F, R> {
    f: F,
    promise: Promise<R>,
    guard: ScopeGuard,
}

impl<F, R> Job for ScopedTask<F, R>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    fn run(self, end: &TaskEnd<'_>) {
        let ScopedTask { f, promise, guard } = self;
        run_task(f, promise, end);
        drop(guard);
    }

    fn cancel(self) {
        let ScopedTask { f, promise, guard } = self;
        promise.cancel();
        drop((f, promise));
        drop(guard);
    }

    fn fail(self, error: TaskError) {
        let ScopedTask { f, promise, guard } = self;
        drop(f);
        promise.set_error(error);
        drop(guard);
    }
}

impl ThreadPool {
    /// Runs `f` with a [`Scope`] whose [`spawn`](Scope::spawn)ed tasks may borrow from the
    /// caller's stack, and returns once every one of them finished (or was cancelled):
    /// like [`std::thread::scope`], on the pool's threads. Each task's result (or panic)
    /// is in its future. If `f` panics, the panic goes on once the tasks are done.
    ///
    /// Called from one of the pool's own tasks, the wait at the end runs other queued
    /// tasks meanwhile, so nested scopes cannot deadlock.
    ///
    /// ```
    /// let pool = pool_thread::ThreadPool::new().unwrap();
    /// let mut counts = [0usize; 4];
    /// let text = "the quick brown fox";
    /// pool.scope(|s| {
    ///     for (i, slot) in counts.iter_mut().enumerate() {
    ///         s.spawn(move || *slot = text.split(' ').nth(i).unwrap().len()).unwrap();
    ///     }
    /// });
    /// assert_eq!(counts, [3, 5, 5, 3]);
    /// ```
    ///
    /// A borrow that does not outlive the scope does not compile:
    ///
    /// ```compile_fail
    /// let pool = pool_thread::ThreadPool::new().unwrap();
    /// pool.scope(|s| {
    ///     let local = vec![1, 2, 3];
    ///     // error: `local` dies at the end of this closure, the task may run later
    ///     s.spawn(|| local.len()).unwrap();
    /// });
    /// ```
    pub fn scope<'env, F, T>(&'env self, f: F) -> T
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
    {
        let (promise, all_done) = Promise::new();
        let state = Arc::new(ScopeState {
            pending: AtomicUsize::new(1),
            all_done: Mutex::new(Some(promise)),
        });
        let scope = Scope {
            pool: self,
            state: state.clone(),
            scope: PhantomData,
            env: PhantomData,
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| f(&scope)));
        drop(ScopeGuard(state));
        // Only the last guard completes it; it cannot fail. In a worker this runs other
        // tasks while it waits.
        let _ = all_done.result();
        match outcome {
            Ok(value) => value,
            Err(payload) => resume_unwind(payload),
        }
    }
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Schedules `f()` on the pool, with access to anything that outlives the scope;
    /// returns its future. The scope waits for it before returning.
    ///
    /// Errors: [`SubmitError::Shutdown`] / [`SubmitError::Broken`] (the task is dropped
    /// unrun).
    ///
    /// ```
    /// let pool = pool_thread::ThreadPool::new().unwrap();
    /// let data = vec![1, 2, 3];
    /// let sum = pool.scope(|s| s.spawn(|| data.iter().sum::<i32>()).unwrap().result());
    /// assert_eq!(sum, Ok(6));
    /// ```
    pub fn spawn<F, R>(&'scope self, f: F) -> Result<TaskFuture<R>, SubmitError>
    where
        F: FnOnce() -> R + Send + 'scope,
        R: Send + 'scope,
    {
        self.state.pending.fetch_add(1, Ordering::Relaxed);
        let guard = ScopeGuard(self.state.clone());
        let (promise, future) = Promise::new();
        // SAFETY: the job may borrow for `'scope`, shorter than the queues' lifetime, but
        // it never outlives `'scope`: it holds a count of the scope (`guard`), given back
        // only after the task and everything it captured were dropped (run, cancelled,
        // failed, or refused right here by `push`), and `ThreadPool::scope` does not
        // return — not even by unwinding — before every count is back. (As with
        // `std::thread::scope`, leaking the scope is impossible: it lives in
        // `ThreadPool::scope`'s frame.)
        let job = unsafe { JobBox::new_unchecked(ScopedTask { f, promise, guard }) };
        self.pool.registry.push(job, Room::Wait)?;
        Ok(future)
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("pending", &self.state.pending.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
