//! [`Scope`]: tasks that borrow from the caller's stack, all joined before
//! [`ThreadPool::scope`] returns.

use std::fmt;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use future_core::executor::{AbortIfPanic, Task, blocking};
use future_core::{SubmitError, TaskFuture};

use crate::job::Job;
use crate::latch::{CountLatch, Hold};
use crate::pool::ThreadPool;
use crate::registry::{Registry, WhenFull};
use crate::sync::Arc;
use crate::worker;

/// A scope in which tasks may borrow anything that outlives the [`ThreadPool::scope`]
/// call; see there.
///
/// ```
/// let pool = rustures::ThreadPool::new();
/// let words = vec!["a", "bb", "ccc"];
/// let total = pool.scope(|s| {
///     let futures: Vec<_> = words.iter().map(|w| s.spawn(|| w.len()).unwrap()).collect();
///     futures.iter().map(|f| f.result().unwrap()).sum::<usize>()
/// });
/// assert_eq!(total, 6);
/// ```
pub struct Scope<'scope, 'env: 'scope> {
    pool: &'env ThreadPool,
    /// Counts what the scope's tasks hold: each task, two counts (see `spawn`).
    latch: Arc<CountLatch>,
    /// Invariant over `'scope` and `'env`, as `std::thread::Scope` is.
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

/// A scoped task's closure with the count it holds, given back after the closure and
/// everything it captured are gone (fields drop in order: `f`, then `hold`).
struct Held<F> {
    f: F,
    hold: Hold,
}

impl<F> Held<F> {
    fn call<R>(self) -> R
    where
        F: FnOnce() -> R,
    {
        let Held { f, hold } = self;
        // If `f` unwinds, its captures are dropped in its frame, `hold` after, in ours.
        let value = f();
        drop(hold);
        value
    }
}

impl ThreadPool {
    /// Runs `f` with a [`Scope`] whose [`spawn`](Scope::spawn)ed tasks may borrow from the
    /// caller's stack, and returns once every one of them finished (or was cancelled):
    /// like [`std::thread::scope`], on the pool's threads. Each task's result (or panic)
    /// is in its future. If `f` panics, the panic goes on once the tasks are done.
    ///
    /// The scope returns (or unwinds) only after every task it spawned has finished or
    /// was cancelled, whatever panics: tasks, their drops, wakers. Called from one of the
    /// pool's own tasks, the wait at the end first runs the scope's own tasks that sit in
    /// this worker's deque, wherever they sit (other tasks that `f` spawned and left
    /// there stay queued, in their order), so a scope whose tasks no other thread took
    /// ends even on one thread; then, if tasks of the scope run elsewhere, it blocks, and
    /// the pool starts a thread in its place if queued work needs one (see the crate docs,
    /// "Waiting inside a task").
    ///
    /// ```
    /// let pool = rustures::ThreadPool::new();
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
    /// let pool = rustures::ThreadPool::new();
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
        let latch = CountLatch::new();
        let scope = Scope {
            pool: self,
            latch: latch.clone(),
            scope: PhantomData,
            env: PhantomData,
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| f(&scope)));
        // The safety of every scoped task rests on this wait: nothing may unwind past it.
        let abort = AbortIfPanic::new("ThreadPool::scope's wait for its tasks");
        self.wait_for_scope(&latch);
        abort.disarm();
        match outcome {
            Ok(value) => value,
            Err(payload) => resume_unwind(payload),
        }
    }

    /// Waits until every task of the scope counted by `latch` is consumed. In a worker of
    /// this pool, first runs the scope's own tasks in its deque, from under whatever else
    /// sits there (the very tasks it waits for); then blocks, and the pool may start a
    /// thread in its place.
    fn wait_for_scope(&self, latch: &Arc<CountLatch>) {
        worker::run_own_scoped_jobs(&self.registry, latch);
        if !latch.probe() {
            blocking(|| latch.wait());
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
    /// let pool = rustures::ThreadPool::new();
    /// let data = vec![1, 2, 3];
    /// let sum = pool.scope(|s| s.spawn(|| data.iter().sum::<i32>()).unwrap().result());
    /// assert_eq!(sum, Ok(6));
    /// ```
    pub fn spawn<F, R>(&'scope self, f: F) -> Result<TaskFuture<R>, SubmitError>
    where
        F: FnOnce() -> R + Send + 'scope,
        R: Send + 'scope,
    {
        let held = Held {
            f,
            hold: CountLatch::hold(&self.latch),
        };
        // SAFETY: the closure may borrow for `'scope` and the result `R` too, shorter than
        // the queues may keep the task; both contracts of `Task::new_unchecked` hold:
        // - the closure is consumed (run, here or by a waiting worker; or dropped unrun)
        //   before its hold, inside it, is given back (`Held`);
        // - the `Task`, the only owner of the result besides the typed futures, is
        //   consumed or dropped before the second hold, beside it in the `Job`, is given
        //   back (a `Job` consumes or drops its task first, also when `push` refuses it).
        // `ThreadPool::scope` does not return, nor unwind (`AbortIfPanic`), before every
        // hold is back, and a `Scope` cannot be leaked out of it (it lives in its frame).
        let (task, future) =
            unsafe { Task::new_unchecked(self.pool.registry.id, move || held.call()) };
        let job = Job::holding(task, CountLatch::hold(&self.latch));
        Registry::push(&self.pool.registry, job, WhenFull::Wait)?;
        Ok(future)
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("done", &self.latch.probe())
            .finish_non_exhaustive()
    }
}
