//! Jobs: what the queues hold. A job is one boxed task with its [`Promise`]; a worker runs
//! it, and shutdown or a broken pool cancels or fails it instead.

use std::cell::Cell;

use future_core::{Promise, TaskError, catch_panic};

use crate::sleep::Sleep;

/// A queued task, type-erased. Exactly one method consumes it.
pub(crate) trait Job: Send {
    /// Runs the task (unless its future was cancelled) and completes its future; calls
    /// `end.finish()` once the task's value is computed, before the future completes.
    fn run(self: Box<Self>, end: &TaskEnd<'_>);
    /// Cancels the future of a task that will never run (`shutdown(cancel_futures)`).
    fn cancel(self: Box<Self>);
    /// Fails the future of a task that will never run (a broken pool).
    fn fail(self: Box<Self>, error: TaskError);
}

/// What the queues hold.
pub(crate) type JobBox = Box<dyn Job>;

/// Tells the pool that a worker's top-level task is over, *before* its future completes:
/// so a caller that sees the result and submits again finds this thread counted idle and
/// reuses it instead of starting another (CPython's `test_idle_thread_reuse`).
pub(crate) struct TaskEnd<'a> {
    /// The pool's sleep state for a top-level task; `None` for a task run inside a wait.
    sleep: Option<&'a Sleep>,
    finished: Cell<bool>,
}

impl<'a> TaskEnd<'a> {
    /// For a task a worker runs from its main loop: finishing gives its token back.
    pub(crate) fn top_level(sleep: &'a Sleep) -> Self {
        TaskEnd {
            sleep: Some(sleep),
            finished: Cell::new(false),
        }
    }

    /// For a task run inside a wait on another task: the thread stays busy.
    pub(crate) fn nested() -> Self {
        TaskEnd {
            sleep: None,
            finished: Cell::new(false),
        }
    }

    /// Marks the task over (idempotent).
    pub(crate) fn finish(&self) {
        if let Some(sleep) = self.sleep {
            if !self.finished.replace(true) {
                sleep.add_token();
            }
        }
    }
}

/// Runs `f` for `promise`: skipped if cancelled, a panic becomes the future's error.
pub(crate) fn run_task<F, R>(f: F, promise: Promise<R>, end: &TaskEnd<'_>)
where
    F: FnOnce() -> R,
{
    if !promise.set_running_or_notify_cancel() {
        return;
    }
    let outcome = catch_panic(f);
    end.finish();
    promise.set_outcome(outcome);
}

/// A task and its promise: the one allocation a submit makes besides the future's.
pub(crate) struct Task<F, R> {
    pub(crate) f: F,
    pub(crate) promise: Promise<R>,
}

impl<F, R> Job for Task<F, R>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    fn run(self: Box<Self>, end: &TaskEnd<'_>) {
        let Task { f, promise } = *self;
        run_task(f, promise, end);
    }

    fn cancel(self: Box<Self>) {
        self.promise.cancel();
    }

    fn fail(self: Box<Self>, error: TaskError) {
        let Task { f, promise } = *self;
        drop(f);
        promise.set_error(error);
    }
}
