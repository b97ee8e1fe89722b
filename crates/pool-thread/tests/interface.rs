//! The interface every pool shares, on the thread pool: `submit(f, arg)`, `try_submit`,
//! `map`, `map_unordered`, `shutdown`, `stats`, and what users do with the futures.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Gate, occupy, within};
use future_core::{Executor, MapOptions, ShutdownOptions, as_completed};
use pool_thread::ThreadPool;

fn square(x: u64) -> u64 {
    x * x
}

fn add((a, b): (u64, u64)) -> u64 {
    a + b
}

/// What a program written against the shared interface does; it runs unchanged on every
/// pool.
fn workload(pool: &impl Executor) -> (u64, u64, u64) {
    let one = pool.submit(square, 7).unwrap().result().unwrap();
    let two = pool.submit(add, (40, 2)).unwrap().result().unwrap();
    let sum = pool
        .map(square, 1..=10u64, MapOptions::new().chunksize(3))
        .unwrap()
        .map(Result::unwrap)
        .sum();
    (one, two, sum)
}

#[test]
fn the_inherent_calls_and_the_trait_do_the_same() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    assert_eq!(workload(&pool), (49, 42, 385));
    // The same calls without naming the trait: a function and a tuple of arguments.
    assert_eq!(pool.submit(square, 7).unwrap().result(), Ok(49));
    assert_eq!(pool.try_submit(add, (40, 2)).unwrap().result(), Ok(42));
    let unordered: u64 = pool
        .map_unordered(square, 1..=10u64, MapOptions::new().chunksize(3))
        .unwrap()
        .map(|(_, result)| result.unwrap())
        .sum();
    assert_eq!(unordered, 385);
    pool.shutdown();
}

#[test]
fn stats_count_a_known_workload() {
    within("the stats workload", || {
        let pool = ThreadPool::builder().max_workers(1).build().unwrap();
        let gate = Gate::new();
        let busy = occupy(&pool, &gate);
        let queued = pool.stats();
        assert_eq!((queued.running, queued.workers), (1, 1));
        let ok: Vec<_> = (0..10u64)
            .map(|i| pool.submit(square, i).unwrap())
            .collect();
        let bad: Vec<_> = (0..3)
            .map(|_| pool.spawn(|| -> u8 { panic!("no") }).unwrap())
            .collect();
        let cancelled: Vec<_> = (0..2).map(|_| pool.spawn(|| 0u8).unwrap()).collect();
        assert!(cancelled.iter().all(|f| f.cancel()));
        assert_eq!(pool.stats().queued, 15);
        gate.open();
        busy.result().unwrap();
        for f in &ok {
            f.result().unwrap();
        }
        for f in &bad {
            f.exception().unwrap();
        }
        pool.shutdown();
        let stats = pool.stats();
        assert_eq!(stats.completed, 11, "ten squares and the gate task");
        assert_eq!(stats.failed, 3);
        assert_eq!(stats.cancelled, 2);
        assert_eq!((stats.queued, stats.running, stats.workers), (0, 0, 0));
        assert_eq!((stats.workers_started, stats.workers_replaced), (1, 0));
        assert_eq!(stats.finished(), 14);
    });
}

#[test]
fn map_unordered_gives_positions_and_keeps_a_bound_in_flight() {
    within("the unordered map", || {
        let pool = ThreadPool::builder().max_workers(2).build().unwrap();
        let started = Arc::new(AtomicUsize::new(0));
        let s = started.clone();
        let mut results = pool
            .map_unordered(
                move |x: u32| {
                    s.fetch_add(1, Ordering::SeqCst);
                    if x == 5 {
                        panic!("five");
                    }
                    x * 2
                },
                0..20u32,
                MapOptions::new().chunksize(2).buffersize(3),
            )
            .unwrap();
        assert_eq!(results.len(), Some(20));
        let first = results.next().unwrap();
        assert!(
            started.load(Ordering::SeqCst) <= 2 * 4,
            "at most 3 chunks, then 1 more"
        );
        let mut all = vec![first];
        all.extend(results);
        assert_eq!(all.len(), 20);
        all.sort_by_key(|(position, _)| *position);
        for (position, result) in all {
            if position == 5 {
                assert_eq!(result.unwrap_err().to_string(), "task panicked: five");
            } else {
                assert_eq!(result, Ok(position as u32 * 2));
            }
        }
    });
}

#[test]
fn a_lazy_map_may_be_consumed_on_another_thread() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    std::thread::scope(|s| {
        let map = pool
            .map(square, 0..100u64, MapOptions::new().chunksize(10))
            .unwrap();
        let sum = s.spawn(move || map.map(Result::unwrap).sum::<u64>());
        assert_eq!(sum.join().unwrap(), 328_350);
    });
}

#[test]
// The futures' hash is their identity, which never changes (the lint cannot know that).
#[allow(clippy::mutable_key_type)]
fn futures_key_a_map_and_as_completed_gives_positions() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let urls = ["a.example", "b.example", "c.example"];
    // Python's {executor.submit(fetch, url): url for url in urls}.
    let pending: HashMap<_, _> = urls
        .iter()
        .map(|url| (pool.submit(str::len, *url).unwrap(), *url))
        .collect();
    let futures: Vec<_> = pending.keys().cloned().collect();
    for done in as_completed(&futures, None) {
        let future = done.unwrap();
        assert_eq!(future.result(), Ok(pending[&future].len()));
    }
    for done in as_completed(&futures, None).indexed() {
        let (index, future) = done.unwrap();
        assert_eq!(future.result(), Ok(pending[&futures[index]].len()));
    }
    // The same with plain identities as keys.
    let by_id: HashMap<_, _> = pending.iter().map(|(f, url)| (f.id(), *url)).collect();
    for done in as_completed(&futures, None) {
        let future = done.unwrap();
        assert_eq!(future.result(), Ok(by_id[&future.id()].len()));
    }
}

#[test]
fn shutdown_options_are_named_as_in_python() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let gate = Gate::new();
    let busy = occupy(&pool, &gate);
    let queued = pool.spawn(|| 1).unwrap();
    pool.shutdown_with(ShutdownOptions {
        wait: false,
        cancel_futures: true,
    });
    assert!(queued.cancelled());
    gate.open();
    assert_eq!(busy.result(), Ok(()));
}

#[test]
fn map_options_of_zero_are_refused_not_panics() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let err = pool
        .map(square, 0..3u64, MapOptions::new().chunksize(0))
        .unwrap_err();
    assert!(matches!(err, future_core::SubmitError::Invalid(_)), "{err}");
    let err = pool
        .map_collect(square, 0..3u64, MapOptions::new().buffersize(0))
        .unwrap_err();
    assert!(err.to_string().contains("buffersize"), "{err}");
}
