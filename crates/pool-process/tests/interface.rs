//! The interface every pool shares, on the process pool: the statistics of a known
//! workload, with real child processes.
//!
//! Tests run one at a time (each takes `common::serial()`) and check that they left no child
//! process. Deadlines only catch hangs.

pool_process::test_worker!();

mod common;

use std::time::{Duration, Instant};

use common::{HANG, forever, run, sigkill_self, task_error, temp_file, wait_for_file};
use future_core::{Executor, MapOptions, TaskErrorKind};
use pool_process::ProcessPool;
use serde::{Serialize, Serializer};

fn square(x: u64) -> u64 {
    x * x
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
