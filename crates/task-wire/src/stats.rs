//! A pool's statistics ([`PoolStats`]): what became of its tasks and how many worker
//! processes it started, counted in atomics where the pool already settles a task (a reply
//! completes its future, a failure, a cancel the pool sees) or starts a worker, so no task's
//! path takes a lock for them. What the pool holds at the moment (tasks waiting, tasks in
//! flight, live workers) is read from its state when asked.

use std::sync::atomic::{AtomicU64, Ordering};

use future_core::PoolStats;

/// How a task ended, as the statistics count it. A `map` chunk is one task: it completes
/// when its results came back, whatever each element's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// Its future has a value.
    Completed,
    /// Its future failed: a panic, a dead worker, a timeout, a serialization error, a
    /// broken pool.
    Failed,
    /// It was cancelled before it started (the pool dropped it, or its worker skipped it).
    Cancelled,
}

/// A pool's counters since it was built.
///
/// ```
/// use task_wire::{Counters, Settled};
/// let counters = Counters::default();
/// counters.settled(Settled::Completed);
/// counters.worker_started(false);
/// let stats = counters.read(0, 0, 1);
/// assert_eq!((stats.completed, stats.workers_started, stats.workers), (1, 1, 1));
/// ```
#[derive(Debug, Default)]
pub struct Counters {
    completed: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    workers_started: AtomicU64,
    workers_replaced: AtomicU64,
}

impl Counters {
    /// Counts a task that ended as `how`.
    pub fn settled(&self, how: Settled) {
        let counter = match how {
            Settled::Completed => &self.completed,
            Settled::Failed => &self.failed,
            Settled::Cancelled => &self.cancelled,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a worker process started, in place of one that left (died, was killed, timed
    /// out or retired) when `replaces`.
    pub fn worker_started(&self, replaces: bool) {
        self.workers_started.fetch_add(1, Ordering::Relaxed);
        if replaces {
            self.workers_replaced.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The statistics, with what the pool holds now: `queued` tasks waiting for a worker
    /// (a cancelled one until the pool drops it), `running` tasks sent to a worker (running,
    /// or sent ahead behind a running one), and live `workers`.
    pub fn read(&self, queued: usize, running: usize, workers: usize) -> PoolStats {
        let mut stats = PoolStats::default();
        stats.queued = queued;
        stats.running = running;
        stats.workers = workers;
        stats.completed = self.completed.load(Ordering::Relaxed);
        stats.failed = self.failed.load(Ordering::Relaxed);
        stats.cancelled = self.cancelled.load(Ordering::Relaxed);
        stats.workers_started = self.workers_started.load(Ordering::Relaxed);
        stats.workers_replaced = self.workers_replaced.load(Ordering::Relaxed);
        stats
    }
}
