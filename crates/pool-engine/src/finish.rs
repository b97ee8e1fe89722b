//! Deferred completion. Completing a future runs its done callbacks: user code, which may
//! call back into the pool. So a pool's state machine never completes a future under the
//! pool's lock: it returns what to do as [`Finish`] values, and the thread that held the
//! lock runs them once it let go; a reply completes its future the same way ([`complete`]).

use std::cell::Cell;
use std::fmt;

use future_core::{TaskError, TaskErrorKind};
use task_wire::{Completion, Counters, Settled};

/// A future to settle after the pool's lock is released.
pub enum Finish {
    /// Fails the task's future.
    Fail(Box<dyn Completion>, TaskError),
    /// Cancels a task that has not started (it waits in the pool's queue).
    Cancel(Box<dyn Completion>),
    /// Cancels a task sent ahead to a busy worker; it stays in its worker's table until the
    /// worker skips it, and is counted then (as [`Finish::Skipped`]).
    CancelAhead(Box<dyn FnOnce() + Send>),
    /// Drops the completion of a task that its worker skipped (its future is cancelled).
    Skipped(Box<dyn Completion>),
}

impl Finish {
    /// Counts how the task ended, then settles its future (its done callbacks run here): a
    /// thread that sees the future settled sees the task counted. A panic is contained and
    /// reported as `pool`'s (`task_wire::contain`); a task not counted yet then counts as
    /// failed.
    pub fn run(self, pool: &str, counters: &Counters) {
        const WHAT: &str = "settling a task's future";
        let counted = Cell::new(matches!(self, Finish::CancelAhead(_)));
        let count = |how| {
            counters.settled(how);
            counted.set(true);
        };
        task_wire::contain(pool, WHAT, || match self {
            Finish::Fail(completion, err) => {
                // Started first, so that no cancel comes between the count and the
                // settling; a task the user cancelled already counts as cancelled.
                if completion.start() {
                    count(Settled::Failed);
                    completion.fail(err);
                } else {
                    count(Settled::Cancelled);
                }
            }
            Finish::Cancel(completion) => {
                count(Settled::Cancelled);
                completion.cancel();
            }
            // Counted when its worker skips it.
            Finish::CancelAhead(cancel) => cancel(),
            Finish::Skipped(completion) => {
                count(Settled::Cancelled);
                drop(completion);
            }
        });
        if !counted.get() {
            counters.settled(Settled::Failed);
        }
    }
}

impl fmt::Debug for Finish {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finish::Fail(_, err) => f.debug_tuple("Fail").field(err).finish_non_exhaustive(),
            Finish::Cancel(_) => f.write_str("Cancel"),
            Finish::CancelAhead(_) => f.write_str("CancelAhead"),
            Finish::Skipped(_) => f.write_str("Skipped"),
        }
    }
}

/// Completes a task's future from `results`, its reply's encoded results, after the pool's
/// lock is released (decoding runs the results' `Deserialize`, completing runs the done
/// callbacks), and counts how the task ended, before the future settles (a thread that
/// sees the result sees it counted). A panic is contained and reported as `pool`'s; the
/// task then counts as failed (decoding and settling contain their own panics, so none is
/// expected after the count).
pub fn complete(pool: &str, completion: Box<dyn Completion>, results: &[u8], counters: &Counters) {
    let settled = task_wire::contain(pool, "completing a task's future", move || {
        completion.complete(results, counters)
    });
    if settled.is_none() {
        counters.settled(Settled::Failed);
    }
}

/// The error of a task that a broken pool fails, for `reason`.
///
/// ```
/// let err = pool_engine::broken("a worker died");
/// assert_eq!(err.kind(), future_core::TaskErrorKind::Broken);
/// assert_eq!(err.message(), "the pool is broken: a worker died");
/// ```
pub fn broken(reason: &str) -> TaskError {
    TaskError::new(
        TaskErrorKind::Broken,
        format!("the pool is broken: {reason}"),
    )
}
