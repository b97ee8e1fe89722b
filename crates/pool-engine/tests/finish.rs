//! A task that fails or is cancelled by its pool is counted in the pool's statistics before
//! its future settles: a thread that sees it settled (a waiter, a done callback) sees it
//! counted, as for a task that completes (`task_wire`'s test of that).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use future_core::executor::Promise;
use future_core::{PoolStats, TaskError, TaskErrorKind};
use pool_engine::Finish;
use task_wire::{Counters, Single};

/// A future of a task, whose done callback records `read(stats)` as the future settles.
fn watched(
    counters: &Arc<Counters>,
    read: fn(&PoolStats) -> u64,
) -> (Box<Single<u8>>, Arc<AtomicU64>) {
    let (promise, future) = Promise::<u8>::new();
    let seen = Arc::new(AtomicU64::new(u64::MAX));
    let (counters, seen_there) = (counters.clone(), seen.clone());
    future.add_done_callback(move |_| {
        seen_there.store(read(&counters.read(0, 0, 0)), Ordering::SeqCst);
    });
    (Box::new(Single(promise)), seen)
}

fn error() -> TaskError {
    TaskError::new(TaskErrorKind::WorkerDied, "the worker died")
}

#[test]
fn a_failed_task_is_counted_before_its_future_settles() {
    let counters = Arc::new(Counters::default());
    let (completion, seen) = watched(&counters, |s| s.failed);
    Finish::Fail(completion, error()).run("test", &counters);
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    assert_eq!(counters.read(0, 0, 0).failed, 1);
}

#[test]
fn a_cancelled_task_is_counted_before_its_future_settles() {
    let counters = Arc::new(Counters::default());
    let (completion, seen) = watched(&counters, |s| s.cancelled);
    Finish::Cancel(completion).run("test", &counters);
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    assert_eq!(counters.read(0, 0, 0).cancelled, 1);
}

/// The user cancelled the task before its pool failed it: it counts as cancelled, once.
#[test]
fn a_task_cancelled_before_it_fails_counts_as_cancelled() {
    let counters = Arc::new(Counters::default());
    let (promise, future) = Promise::<u8>::new();
    assert!(future.cancel());
    Finish::Fail(Box::new(Single(promise)), error()).run("test", &counters);
    let stats = counters.read(0, 0, 0);
    assert_eq!((stats.cancelled, stats.failed), (1, 0));
    assert!(future.cancelled());
}
