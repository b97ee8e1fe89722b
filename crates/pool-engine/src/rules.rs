//! The dispatch rules both pools follow: a task goes to an idle worker; when every worker is
//! busy and recent tasks were short, a small task is sent ahead, queued behind a worker's
//! running one, which hides the round trip between tiny tasks. Long tasks never queue behind
//! each other while a worker could free up and take them: that is how sending ahead avoids
//! starving the other workers.

use std::time::Duration;

/// Tasks are sent ahead only while tasks take less than this on average.
pub const QUEUE_BELOW: Duration = Duration::from_millis(1);

/// How long tasks take of late, from getting their worker to their reply: an exponentially
/// weighted average (weight 1/4), none before the first reply.
///
/// ```
/// use std::time::Duration;
/// let mut time = pool_engine::TaskTime::default();
/// time.record(Duration::from_micros(400));
/// time.record(Duration::from_micros(800));
/// assert_eq!(time.average(), Some(Duration::from_micros(500)));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskTime(Option<Duration>);

impl TaskTime {
    /// Counts a task that took `took`.
    pub fn record(&mut self, took: Duration) {
        self.0 = Some(match self.0 {
            Some(average) => (average * 3 + took) / 4,
            None => took,
        });
    }

    /// The average, once a task was counted.
    pub fn average(self) -> Option<Duration> {
        self.0
    }

    /// Whether tasks are short enough of late for sending ahead to pay (see [`QUEUE_BELOW`]).
    pub fn short(self) -> bool {
        self.0.is_some_and(|t| t < QUEUE_BELOW)
    }
}

/// When a pool sends a task ahead to a busy worker. The pools differ in these settings only,
/// each for a reason its own code gives where it sets them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendAhead {
    /// Frames up to this many bytes may be sent ahead; a larger task goes only to an idle
    /// worker, so that it waits for the first worker to free up rather than for one
    /// particular worker's running task.
    pub small: usize,
    /// Whether a task with a time limit may be sent ahead, and a task sent ahead behind one.
    pub timed: bool,
    /// The most tasks sent to one worker before it answers (the builder's
    /// `tasks_per_worker`).
    pub tasks_per_worker: usize,
}

impl SendAhead {
    /// True when sending ahead pays at all: `ready` workers take tasks out of the `full`
    /// number the pool will have (none starting, which would take the task sooner), and
    /// recent tasks were short, so the round trip between tasks matters and a task sent
    /// ahead waits little.
    ///
    /// ```
    /// use std::time::Duration;
    /// use pool_engine::{SendAhead, TaskTime};
    /// let rule = SendAhead { small: 1024, timed: true, tasks_per_worker: 2 };
    /// let mut time = TaskTime::default();
    /// assert!(!rule.pays(4, 4, time), "no task time yet");
    /// time.record(Duration::from_micros(10));
    /// assert!(rule.pays(4, 4, time));
    /// assert!(!rule.pays(3, 4, time), "a worker still starts");
    /// ```
    pub fn pays(&self, ready: usize, full: usize, task_time: TaskTime) -> bool {
        ready >= full && task_time.short()
    }

    /// Whether a task whose frame has `size` bytes, with a time limit or not (`timed`), may
    /// be sent ahead.
    pub fn task_may_go(&self, size: usize, timed: bool) -> bool {
        size <= self.small && (self.timed || !timed)
    }

    /// Whether a worker with `sent` tasks not answered may be sent one more ahead;
    /// `holds_timed` says whether one of them has a time limit (asked only when that
    /// matters).
    pub fn worker_takes(&self, sent: usize, holds_timed: impl FnOnce() -> bool) -> bool {
        sent < self.tasks_per_worker && (self.timed || !holds_timed())
    }
}
