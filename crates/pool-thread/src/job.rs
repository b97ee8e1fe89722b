//! [`Job`]: what the queues hold. Usually a [`Task`] (whose closure lives in its future),
//! and for a scoped task the scope count it holds until the task is consumed; or the
//! second closure of a [`ThreadPool::join`](crate::ThreadPool::join), in its caller's
//! frame. A worker runs it; shutdown or a broken pool cancels or fails it instead; dropped
//! unrun, a task fails its future as abandoned and a join's closure goes back to its
//! caller. No way of consuming it lets a panic out.

use std::cell::Cell;
use std::ptr::NonNull;

use future_core::TaskError;
use future_core::executor::{Ran, Task};

use crate::join::StackJobRef;
use crate::latch::{CountLatch, Hold};
use crate::sleep::Sleep;
use crate::sync::Arc;

/// A queued job.
pub(crate) enum Job {
    /// A task. Fields drop in order: the task (and with it the queue's reference to the
    /// task's future and result), then the scope's hold.
    Task { task: Task, hold: Option<Hold> },
    /// A join's second closure.
    Stack(StackJobRef),
}

impl Job {
    pub(crate) fn new(task: Task) -> Job {
        Job::Task { task, hold: None }
    }

    /// A scoped task's job, holding `hold` of its scope until consumed.
    pub(crate) fn holding(task: Task, hold: Hold) -> Job {
        Job::Task {
            task,
            hold: Some(hold),
        }
    }

    /// Runs the task (unless it was cancelled, or a waiting thread ran it already) and
    /// completes its future; calls `end.finish()` once the task's value is computed,
    /// before the future completes (or the join is told).
    pub(crate) fn run(self, end: &TaskEnd<'_>) -> Ran {
        match self {
            Job::Task { task, hold } => {
                let ran = task.run_then(|| end.finish());
                drop(hold);
                ran
            }
            Job::Stack(job) => job.run(&|| end.finish()),
        }
    }

    /// Cancels the future of a task that will never run (`shutdown(cancel_futures)`);
    /// true when this cancelled it. A join's closure goes back to its caller (no cancel:
    /// the caller runs it).
    pub(crate) fn cancel(self) -> bool {
        match self {
            Job::Task { task, hold } => {
                let cancelled = task.cancel();
                drop(hold);
                cancelled
            }
            Job::Stack(_) => false,
        }
    }

    /// Fails the future of a task that will never run (a broken pool); a join's closure
    /// goes back to its caller.
    pub(crate) fn fail(self, error: TaskError) {
        if let Job::Task { task, hold } = self {
            task.fail(error);
            drop(hold);
        }
    }

    /// True when running the job would run its task (not yet started elsewhere, nor
    /// cancelled). A join's closure is pending until taken off the queue.
    pub(crate) fn is_pending(&self) -> bool {
        match self {
            Job::Task { task, .. } => task.is_pending(),
            Job::Stack(_) => true,
        }
    }

    /// True when this job is a task of the scope counted by `latch`.
    pub(crate) fn holds(&self, latch: &Arc<CountLatch>) -> bool {
        match self {
            Job::Task { hold, .. } => hold.as_ref().is_some_and(|hold| hold.of(latch)),
            Job::Stack(_) => false,
        }
    }

    /// True when this job is the join closure `id`.
    pub(crate) fn is_stack(&self, id: NonNull<()>) -> bool {
        matches!(self, Job::Stack(job) if job.id() == id)
    }
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
