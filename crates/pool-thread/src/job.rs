//! Jobs: a task with its [`Promise`]; a worker runs it, and shutdown or a broken pool
//! cancels or fails it instead. The queues hold them type-erased, in a
//! [`JobBox`](crate::job_box::JobBox).

use std::cell::Cell;

use future_core::{Promise, TaskError, catch_panic};

use crate::sleep::Sleep;

/// A queued task. Exactly one method consumes it (or it is dropped unrun, which drops its
/// promise and so fails its future as abandoned).
pub(crate) trait Job: Send + Sized {
    /// Runs the task (unless its future was cancelled) and completes its future; calls
    /// `end.finish()` once the task's value is computed, before the future completes.
    fn run(self, end: &TaskEnd<'_>);
    /// Cancels the future of a task that will never run (`shutdown(cancel_futures)`).
    fn cancel(self);
    /// Fails the future of a task that will never run (a broken pool).
    fn fail(self, error: TaskError);
}

/// Tells the pool that a worker's top-level task is over, *before* its future completes:
/// so a caller that sees the result and submits again finds this thread counted idle and
/// reuses it instead of starting another (CPython's `test_idle_thread_reuse`).
pub(crate) struct TaskEnd<'a> {
    /// For a top-level task, the pool's sleep state and the tokens this worker kept back
    /// (see `Sleep::task_done`); `None` for a task run inside a wait.
    pool: Option<(&'a Sleep, &'a Cell<u32>)>,
    finished: Cell<bool>,
}

impl<'a> TaskEnd<'a> {
    /// For a task a worker runs from its main loop: finishing gives its token back (or
    /// keeps it in `owed`).
    pub(crate) fn top_level(sleep: &'a Sleep, owed: &'a Cell<u32>) -> Self {
        TaskEnd {
            pool: Some((sleep, owed)),
            finished: Cell::new(false),
        }
    }

    /// For a task run inside a wait on another task: the thread stays busy.
    pub(crate) fn nested() -> Self {
        TaskEnd {
            pool: None,
            finished: Cell::new(false),
        }
    }

    /// Marks the task over (idempotent).
    pub(crate) fn finish(&self) {
        if let Some((sleep, owed)) = self.pool {
            if !self.finished.replace(true) {
                owed.set(sleep.task_done(owed.get()));
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

/// A task and its promise.
pub(crate) struct Task<F, R> {
    pub(crate) f: F,
    pub(crate) promise: Promise<R>,
}

impl<F, R> Job for Task<F, R>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    fn run(self, end: &TaskEnd<'_>) {
        let Task { f, promise } = self;
        run_task(f, promise, end);
    }

    fn cancel(self) {
        self.promise.cancel();
    }

    fn fail(self, error: TaskError) {
        let Task { f, promise } = self;
        drop(f);
        promise.set_error(error);
    }
}

/// A boxed job: how a job too big to be stored inline in a queue slot is kept.
impl<J: Job> Job for Box<J> {
    fn run(self, end: &TaskEnd<'_>) {
        (*self).run(end);
    }

    fn cancel(self) {
        (*self).cancel();
    }

    fn fail(self, error: TaskError) {
        (*self).fail(error);
    }
}
