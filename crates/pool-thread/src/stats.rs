//! The pool's statistics ([`PoolStats`]): each worker counts the tasks it runs on a cache
//! line of its own, with plain stores (only it writes there: no read-modify-write, no
//! contention on any task's path), and a read sums the live workers' counts with those of
//! the workers that left.

use crossbeam_utils::CachePadded;
use future_core::PoolStats;
use future_core::executor::Ran;

use crate::sync::{Arc, AtomicU64, Mutex, Ordering, lock};

/// What one worker (or the pool itself, for tasks cancelled by a shutdown) counted.
#[derive(Debug, Default)]
pub(crate) struct TaskCounts {
    started: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
}

impl TaskCounts {
    /// Counts a task that a worker started (`Ran::Completed`/`Failed` count it finished
    /// too: call [`TaskCounts::started`] before, for `running`).
    pub(crate) fn started(&self) {
        bump(&self.started);
    }

    /// Takes back a `started` for a queue entry that did not run (cancelled, or run by a
    /// waiter).
    pub(crate) fn unstart(&self) {
        self.started.store(
            self.started.load(Ordering::Relaxed).saturating_sub(1),
            Ordering::Relaxed,
        );
    }

    /// Counts what a run did; only the owning worker calls it.
    pub(crate) fn ran(&self, ran: Ran) {
        match ran {
            Ran::Completed => bump(&self.completed),
            Ran::Failed => bump(&self.failed),
            Ran::Cancelled => bump(&self.cancelled),
            Ran::Elsewhere => {}
        }
    }

    /// Counts a cancel by any thread (shutdown): a read-modify-write.
    pub(crate) fn cancelled_by_anyone(&self) {
        self.cancelled.fetch_add(1, Ordering::Relaxed);
    }

    fn add_to(&self, stats: &mut PoolStats, started: &mut u64) {
        *started += self.started.load(Ordering::Relaxed);
        stats.completed += self.completed.load(Ordering::Relaxed);
        stats.failed += self.failed.load(Ordering::Relaxed);
        stats.cancelled += self.cancelled.load(Ordering::Relaxed);
    }

    fn fold_into(&self, total: &TaskCounts) {
        for (mine, theirs) in [
            (&self.started, &total.started),
            (&self.completed, &total.completed),
            (&self.failed, &total.failed),
            (&self.cancelled, &total.cancelled),
        ] {
            theirs.fetch_add(mine.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }
}

/// Adds one to a counter only its owner writes: a load and a store, no lock prefix.
fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// A worker's counts, on a cache line of its own.
pub(crate) type WorkerCounts = Arc<CachePadded<TaskCounts>>;

/// Every worker's counts, and the pool's own.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    live: Mutex<Vec<WorkerCounts>>,
    /// The counts of workers that left, and the pool's own (shutdown cancels).
    pub(crate) pool: TaskCounts,
    pub(crate) workers_started: AtomicU64,
    pub(crate) workers_replaced: AtomicU64,
}

impl Stats {
    /// A new worker's counts.
    pub(crate) fn join(&self) -> WorkerCounts {
        let counts = WorkerCounts::default();
        lock(&self.live).push(counts.clone());
        counts
    }

    /// A worker leaves: its counts go into the pool's.
    pub(crate) fn leave(&self, counts: &WorkerCounts) {
        let mut live = lock(&self.live);
        live.retain(|c| !Arc::ptr_eq(c, counts));
        counts.fold_into(&self.pool);
    }

    /// The counts now, with the given queue length and live workers.
    pub(crate) fn read(&self, queued: usize, workers: usize) -> PoolStats {
        let mut stats = PoolStats::default();
        let mut started = 0;
        {
            let live = lock(&self.live);
            for counts in live.iter() {
                counts.add_to(&mut stats, &mut started);
            }
            self.pool.add_to(&mut stats, &mut started);
        }
        stats.queued = queued;
        stats.running = started.saturating_sub(stats.completed + stats.failed) as usize;
        stats.workers = workers;
        stats.workers_started = self.workers_started.load(Ordering::Relaxed);
        stats.workers_replaced = self.workers_replaced.load(Ordering::Relaxed);
        stats
    }
}
