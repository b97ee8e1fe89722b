//! The interface every pool shares, on the process pool: the same program on this pool and
//! on the thread pool, and the statistics of a known workload, with real child processes.
//!
//! Tests run one at a time (each takes `common::serial()`) and check that they left no child
//! process. Deadlines only catch hangs.

pool_process::test_worker!();

mod common;

use std::time::{Duration, Instant};

use common::{HANG, forever, run, sigkill_self, task_error, temp_file, wait_for_file};
use future_core::{Executor, MapOptions, PoolStats, TaskErrorKind};
use pool_process::ProcessPool;
use serde::{Serialize, Serializer};

fn square(x: u64) -> u64 {
    x * x
}

fn add((a, b): (u64, u64)) -> u64 {
    a + b
}

fn panics_on_seven(x: u64) -> u64 {
    assert!(x != 7, "seven is not allowed");
    x + 1
}

/// An argument whose `Serialize` fails: its task fails before anything is sent.
struct Refuses;

impl Serialize for Refuses {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("Refuses never serializes"))
    }
}

impl<'de> serde::Deserialize<'de> for Refuses {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Ok(Refuses)
    }
}

fn takes_refuses(_: Refuses) -> u64 {
    0
}

/// Each result of a program, with a failure's kind (its message names the pool's worker).
type Outcomes = Vec<Result<u64, TaskErrorKind>>;

/// A program written once against the shared interface: `submit` with a tuple argument,
/// `try_submit`, `map`, `map_unordered` (results in input order), a task's failure,
/// `shutdown`, and what `stats` says after.
fn program(pool: &impl Executor) -> (Outcomes, PoolStats) {
    let kind = |r: Result<u64, future_core::FutureError>| match r {
        Ok(value) => Ok(value),
        Err(future_core::FutureError::Failed(err)) => Err(err.kind()),
        Err(other) => panic!("{other}"),
    };
    let mut outcomes = vec![
        kind(pool.submit(add, (40, 2)).unwrap().result_timeout(HANG)),
        kind(pool.try_submit(square, 7).unwrap().result_timeout(HANG)),
        kind(
            pool.submit(panics_on_seven, 7)
                .unwrap()
                .result_timeout(HANG),
        ),
    ];
    let options = MapOptions::new().chunksize(3).timeout(HANG);
    let ordered = pool.map(panics_on_seven, 1..=10u64, options).unwrap();
    outcomes.extend(ordered.map(kind));
    let mut unordered: Vec<_> = pool
        .map_unordered(square, 1..=10u64, options)
        .unwrap()
        .collect();
    unordered.sort_by_key(|(position, _)| *position);
    outcomes.extend(unordered.into_iter().map(|(_, r)| kind(r)));
    pool.shutdown();
    (outcomes, pool.stats())
}

#[test]
fn one_program_gives_the_same_results_on_both_pools() {
    run(|| {
        let (on_threads, threads) = program(&pool_thread::ThreadPool::new());
        let pool = ProcessPool::builder().max_workers(2).build().unwrap();
        let (on_processes, processes) = program(&pool);
        let mut expected = vec![Ok(42), Ok(49), Err(TaskErrorKind::Panicked)];
        expected.extend((1..=10).map(|x| {
            if x == 7 {
                Err(TaskErrorKind::Panicked)
            } else {
                Ok(x + 1)
            }
        }));
        expected.extend((1..=10u64).map(|x| Ok(x * x)));
        assert_eq!(on_threads, expected);
        assert_eq!(on_processes, expected);
        // The same counts of tasks (a map chunk is one task, which an element's panic does
        // not fail), and nothing left after the shutdown.
        let tasks = |s: PoolStats| (s.completed, s.failed, s.cancelled, s.queued, s.running);
        assert_eq!(tasks(threads), (10, 1, 0, 0, 0), "{threads:?}");
        assert_eq!(tasks(processes), tasks(threads), "{processes:?}");
        assert_eq!((threads.workers, processes.workers), (0, 0));
    });
}

#[test]
fn stats_count_a_known_workload() {
    run(|| {
        let gate = temp_file("stats-gate");
        let pool = ProcessPool::builder()
            .max_workers(1)
            .tasks_per_worker(1)
            .build()
            .unwrap();
        let busy = pool.submit(wait_for_file, gate.clone()).unwrap();
        let deadline = Instant::now() + HANG;
        while !busy.running() {
            assert!(Instant::now() < deadline, "the first task never started");
            std::thread::sleep(Duration::from_millis(1));
        }
        let stats = pool.stats();
        assert_eq!((stats.queued, stats.running, stats.workers), (0, 1, 1));

        // Behind the busy worker: 10 tasks that complete, 3 that panic, 2 cancelled.
        let ok: Vec<_> = (0..10).map(|x| pool.submit(square, x).unwrap()).collect();
        let bad: Vec<_> = (0..3)
            .map(|_| pool.submit(panics_on_seven, 7).unwrap())
            .collect();
        let cancelled: Vec<_> = (0..2).map(|x| pool.submit(square, x).unwrap()).collect();
        assert!(cancelled.iter().all(|f| f.cancel()));
        let stats = pool.stats();
        assert_eq!((stats.queued, stats.running), (15, 1), "{stats:?}");
        // Fails before it is sent: its argument does not serialize.
        let refused = pool.submit(takes_refuses, Refuses).unwrap();
        assert_eq!(task_error(&refused).kind(), TaskErrorKind::Serialization);

        std::fs::write(&gate, b"go").unwrap();
        busy.result_timeout(HANG).unwrap();
        for future in &ok {
            future.result_timeout(HANG).unwrap();
        }
        for future in &bad {
            assert_eq!(task_error(future).kind(), TaskErrorKind::Panicked);
        }
        // A map of 3 chunks; a killed worker; a timed-out task (its worker is killed too).
        let options = MapOptions::new().chunksize(4).timeout(HANG);
        assert_eq!(pool.map(square, 0..10, options).unwrap().count(), 10);
        let killed = pool.submit(sigkill_self, ()).unwrap();
        assert_eq!(task_error(&killed).kind(), TaskErrorKind::WorkerDied);
        let late = pool.submit_with_timeout(forever, (), Some(Duration::from_millis(100)));
        assert_eq!(task_error(&late.unwrap()).kind(), TaskErrorKind::TimedOut);
        assert_eq!(pool.submit(square, 3).unwrap().result_timeout(HANG), Ok(9));
        pool.shutdown();

        let stats = pool.stats();
        assert_eq!(
            stats.completed,
            1 + 10 + 3 + 1,
            "the busy task, ten squares, three chunks, the last square: {stats:?}"
        );
        assert_eq!(
            stats.failed,
            3 + 1 + 1 + 1,
            "three panics, the argument, the killed worker, the timeout: {stats:?}"
        );
        assert_eq!(stats.cancelled, 2, "{stats:?}");
        assert_eq!((stats.queued, stats.running, stats.workers), (0, 0, 0));
        assert_eq!((stats.workers_started, stats.workers_replaced), (3, 2));
        assert_eq!(Executor::stats(&pool), stats, "the same through the trait");
        let _ = std::fs::remove_file(&gate);
    });
}
