//! CPython's `test_concurrent_futures` process-pool scenarios, in Rust, with real child
//! processes, plus this pool's own promises (a dead worker is replaced, per-task timeouts).
//!
//! Tests run one at a time (each takes `serial()`), so that after each one the check that
//! this process has no child left is exact. Deadlines are generous: they only catch hangs.

pool_process::test_worker!();

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{HANG, children, forever, run, sigkill_self, task_error, temp_file, wait_for_file};
use future_core::{
    FutureError, MapOptions, ReturnWhen, ShutdownOptions, SubmitError, TaskErrorKind, TaskFuture,
    as_completed, wait,
};
use pool_process::{ProcessPool, ProcessPoolBuildError, WorkerDeath};
use serde::{Deserialize, Deserializer, Serialize};

// ---- task functions (plain `fn`s: they run in the workers) ----

fn pid(_: ()) -> u32 {
    std::process::id()
}

fn square(x: u64) -> u64 {
    x * x
}

fn nap_then_pid(ms: u64) -> u32 {
    std::thread::sleep(Duration::from_millis(ms));
    std::process::id()
}

fn exit_99(_: ()) -> u32 {
    std::process::exit(99)
}

fn nap_then_exit(ms: u64) -> u32 {
    std::thread::sleep(Duration::from_millis(ms));
    std::process::exit(1)
}

fn panics_on_seven(x: u64) -> u64 {
    assert!(x != 7, "seven is not allowed");
    x + 1
}

static INITIALIZED: AtomicU64 = AtomicU64::new(0);

fn set_state() {
    INITIALIZED.store(1234, Ordering::SeqCst);
}

fn read_state(_: ()) -> u64 {
    INITIALIZED.load(Ordering::SeqCst)
}

fn bad_initializer() {
    panic!("no database here");
}

fn reverse(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.reverse();
    bytes
}

/// A result type that encodes fine and never decodes.
#[derive(Debug, Clone, PartialEq)]
struct Undecodable;

impl Serialize for Undecodable {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(1)
    }
}

impl<'de> Deserialize<'de> for Undecodable {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let _ = u8::deserialize(d)?;
        Err(serde::de::Error::custom("Undecodable never decodes"))
    }
}

fn make_undecodable(_: ()) -> Undecodable {
    Undecodable
}

// ---- the tests ----

#[test]
fn submit_runs_in_another_process() {
    run(|| {
        let pool = ProcessPool::builder().max_workers(2).build().unwrap();
        assert_eq!(
            pool.submit(square, 12).unwrap().result_timeout(HANG),
            Ok(144)
        );
        let worker = pool.submit(pid, ()).unwrap().result_timeout(HANG).unwrap();
        assert_ne!(worker, std::process::id());
    });
}

#[test]
fn settings_out_of_range_are_build_errors() {
    run(|| {
        let err = ProcessPool::builder().max_workers(0).build().unwrap_err();
        assert!(matches!(err, ProcessPoolBuildError::ZeroWorkers), "{err}");
        let invalid = [
            ProcessPool::builder().max_tasks_per_child(0),
            ProcessPool::builder().queue_bound(0),
            ProcessPool::builder().tasks_per_worker(0),
            ProcessPool::builder().handshake_timeout(Duration::ZERO),
            ProcessPool::builder().timeout(Duration::ZERO),
            ProcessPool::builder().max_frame(0),
            ProcessPool::builder().env("A=B", "1"),
            ProcessPool::builder().env("", "1"),
            ProcessPool::builder().env("A", "1\0"),
            ProcessPool::builder().worker_args(["--a\0b"]),
            ProcessPool::builder().tasks_per_worker(usize::MAX),
        ];
        for builder in invalid {
            let err = builder.build().unwrap_err();
            assert!(
                matches!(err, ProcessPoolBuildError::InvalidSetting(_)),
                "{err}"
            );
        }
        let pool = ProcessPool::builder().max_workers(1).build().unwrap();
        let err = pool
            .submit_with_timeout(square, 2, Some(Duration::ZERO))
            .unwrap_err();
        assert!(matches!(err, SubmitError::Invalid(_)), "{err}");
        assert_eq!(pool.stats().workers_started, 0, "nothing was sent");
        // As many workers as one may ask for: a map's default bound does not overflow.
        let pool = ProcessPool::builder()
            .max_workers(usize::MAX)
            .build()
            .unwrap();
        let squares = pool.map(square, 0..3, MapOptions::new().timeout(HANG));
        assert_eq!(squares.unwrap().collect::<Vec<_>>(), [Ok(0), Ok(1), Ok(4)]);
    });
}

#[test]
fn submit_after_shutdown_errors() {
    run(|| {
        let pool = ProcessPool::builder().max_workers(1).build().unwrap();
        assert_eq!(pool.submit(square, 3).unwrap().result_timeout(HANG), Ok(9));
        pool.shutdown();
        assert_eq!(pool.submit(square, 3).unwrap_err(), SubmitError::Shutdown);
        assert_eq!(
            pool.try_submit(square, 3).unwrap_err(),
            SubmitError::Shutdown
        );
        assert!(matches!(
            pool.map(square, 0..3, MapOptions::new()).map(|_| ()),
            Err(SubmitError::Shutdown)
        ));
        pool.shutdown(); // again: harmless
    });
}

#[test]
fn map_with_chunks_equals_serial_map() {
    run(|| {
        let pool = ProcessPool::builder().max_workers(2).build().unwrap();
        let expected: Vec<u64> = (0..1000).map(square).collect();
        for chunksize in [1, 6, 40, 50] {
            let got: Vec<u64> = pool
                .map(
                    square,
                    0..1000u64,
                    MapOptions::new().chunksize(chunksize).timeout(HANG),
                )
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert_eq!(got, expected, "chunksize {chunksize}");
        }
    });
}

#[test]
fn map_error_is_per_element_and_drop_cancels() {
    run(|| {
        let pool = ProcessPool::builder().max_workers(2).build().unwrap();
        let results: Vec<_> = pool
            .map(panics_on_seven, 0..20u64, MapOptions::new().chunksize(5))
            .unwrap()
            .collect();
        for (x, result) in results.iter().enumerate() {
            if x == 7 {
                let err = result.as_ref().unwrap_err().task_error().unwrap().clone();
                assert_eq!(err.kind(), TaskErrorKind::Panicked);
                assert!(err.message().contains("seven is not allowed"), "{err}");
            } else {
                assert_eq!(result, &Ok(x as u64 + 1));
            }
        }
        // A long lazy map, dropped after two results, leaves nothing running behind it.
        let mut lazy = pool
            .map(square, 0.., MapOptions::new().chunksize(10).buffersize(2))
            .unwrap();
        assert_eq!(lazy.next(), Some(Ok(0)));
        assert_eq!(lazy.next(), Some(Ok(1)));
        drop(lazy);
        assert_eq!(pool.submit(square, 5).unwrap().result_timeout(HANG), Ok(25));
    });
}

#[test]
fn saturation_starts_exactly_max_workers() {
    run(|| {
        let pool = ProcessPool::builder().max_workers(2).build().unwrap();
        let futures: Vec<_> = (0..12)
            .map(|_| pool.submit(nap_then_pid, 30).unwrap())
            .collect();
        let pids: HashSet<u32> = futures
            .iter()
            .map(|f| f.result_timeout(HANG).unwrap())
            .collect();
        assert_eq!(pids.len(), 2, "{pids:?}");
        assert_eq!(pool.stats().workers_started, 2);
    });
}

#[test]
fn long_tasks_are_not_queued_behind_each_other() {
    run(|| {
        let pool = ProcessPool::builder().max_workers(2).build().unwrap();
        // Both are submitted before any worker is up; they must still run side by side.
        let a = pool.submit(nap_then_pid, 300).unwrap();
        let b = pool.submit(nap_then_pid, 300).unwrap();
        assert_ne!(
            a.result_timeout(HANG).unwrap(),
            b.result_timeout(HANG).unwrap()
        );
    });
}

#[test]
fn sequential_submits_reuse_one_process() {
    run(|| {
        let pool = ProcessPool::builder().max_workers(4).build().unwrap();
        let pids: HashSet<u32> = (0..20)
            .map(|_| pool.submit(pid, ()).unwrap().result_timeout(HANG).unwrap())
            .collect();
        assert_eq!(pids.len(), 1);
        assert_eq!(pool.stats().workers_started, 1);
    });
}

#[test]
fn max_tasks_per_child_replaces_the_worker() {
    run(|| {
        let pool = ProcessPool::builder()
            .max_workers(1)
            .max_tasks_per_child(3)
            .build()
            .unwrap();
        let pids: Vec<u32> = (0..4)
            .map(|_| pool.submit(pid, ()).unwrap().result_timeout(HANG).unwrap())
            .collect();
        assert_eq!(pids[0], pids[1]);
        assert_eq!(pids[1], pids[2]);
        assert_ne!(pids[2], pids[3]);
        let stats = pool.stats();
        assert_eq!((stats.workers_started, stats.workers_replaced), (2, 1));
    });
}

#[test]
fn max_tasks_per_child_with_queued_tasks_does_not_deadlock() {
    run(|| {
        let pool = ProcessPool::builder()
            .max_workers(1)
            .max_tasks_per_child(2)
            .build()
            .unwrap();
        let futures: Vec<_> = (0..6).map(|x| pool.submit(square, x).unwrap()).collect();
        let done = wait(&futures, Some(HANG), ReturnWhen::AllCompleted);
        assert_eq!(done.not_done.len(), 0);
        let squares: Vec<u64> = futures.iter().map(|f| f.result().unwrap()).collect();
        assert_eq!(squares, vec![0, 1, 4, 9, 16, 25]);
        assert_eq!(pool.stats().workers_started, 3);
    });
}

#[test]
fn initializer_sets_state_that_tasks_see() {
    run(|| {
        let pool = ProcessPool::builder()
            .max_workers(2)
            .initializer(set_state)
            .build()
            .unwrap();
        assert_eq!(
            pool.submit(read_state, ()).unwrap().result_timeout(HANG),
            Ok(1234)
        );
        assert_eq!(
            INITIALIZED.load(Ordering::SeqCst),
            0,
            "the parent is untouched"
        );
    });
}

#[test]
fn panicking_initializer_breaks_the_pool() {
    run(|| {
        let pool = ProcessPool::builder()
            .max_workers(1)
            .initializer(bad_initializer)
            .build()
            .unwrap();
        let future = pool.submit(square, 2).unwrap();
        let err = task_error(&future);
        assert_eq!(err.kind(), TaskErrorKind::Broken);
        assert!(err.message().contains("initializer panicked"), "{err}");
        assert!(err.message().contains("no database here"), "{err}");
        match pool.submit(square, 2) {
            Err(SubmitError::Broken(why)) => assert!(why.contains("no database here"), "{why}"),
            other => panic!("expected Broken, got {other:?}"),
        }
        assert_eq!(
            pool.stats().workers_started,
            1,
            "a panicking initializer is not retried"
        );
    });
}

#[test]
fn a_panic_fails_its_task_and_the_worker_lives_on() {
    run(|| {
        let pool = ProcessPool::builder().max_workers(1).build().unwrap();
        let before = pool.submit(pid, ()).unwrap().result_timeout(HANG).unwrap();
        let err = task_error(&pool.submit(panics_on_seven, 7).unwrap());
        assert_eq!(err.kind(), TaskErrorKind::Panicked);
        assert!(err.message().contains("seven is not allowed"), "{err}");
        assert!(
            err.message().contains(&format!("worker process {before}")),
            "{err}"
        );
        let after = pool.submit(pid, ()).unwrap().result_timeout(HANG).unwrap();
        assert_eq!(before, after);
        assert_eq!(pool.stats().workers_started, 1);
        assert_eq!(pool.worker_pids(), vec![after]);
    });
}

#[test]
fn killed_worker_fails_its_task_only_and_is_replaced() {
    run(|| {
        let pool = ProcessPool::builder()
            .max_workers(1)
            .tasks_per_worker(3)
            .build()
            .unwrap();
        let doomed = pool.submit(sigkill_self, ()).unwrap();
        let behind: Vec<_> = (0..5).map(|x| pool.submit(square, x).unwrap()).collect();
        let err = task_error(&doomed);
        assert_eq!(err.kind(), TaskErrorKind::WorkerDied);
        assert!(err.message().contains("signal 9 (SIGKILL)"), "{err}");
        assert!(err.message().contains("worker process"), "{err}");
        let squares: Vec<u64> = behind
            .iter()
            .map(|f| f.result_timeout(HANG).unwrap())
            .collect();
        assert_eq!(squares, vec![0, 1, 4, 9, 16]);
        let stats = pool.stats();
        assert_eq!((stats.workers_started, stats.workers_replaced), (2, 1));
        assert_eq!(pool.submit(square, 9).unwrap().result_timeout(HANG), Ok(81));
    });
}

#[test]
fn killed_worker_breaks_the_pool_in_break_mode() {
    run(|| {
        let pool = ProcessPool::builder()
            .max_workers(1)
            .on_worker_death(WorkerDeath::Break)
            .build()
            .unwrap();
        let doomed = pool.submit(sigkill_self, ()).unwrap();
        let behind: Vec<_> = (0..5).map(|x| pool.submit(square, x).unwrap()).collect();
        let err = task_error(&doomed);
        assert_eq!(err.kind(), TaskErrorKind::WorkerDied);
        for future in &behind {
            let err = task_error(future);
            assert_eq!(err.kind(), TaskErrorKind::Broken, "{err}");
            assert!(err.message().contains("SIGKILL"), "{err}");
        }
        assert!(matches!(
            pool.submit(square, 1),
            Err(SubmitError::Broken(_))
        ));
    });
}

#[test]
fn exit_99_is_reported() {
    run(|| {
        let pool = ProcessPool::builder().max_workers(1).build().unwrap();
        let err = task_error(&pool.submit(exit_99, ()).unwrap());
        assert_eq!(err.kind(), TaskErrorKind::WorkerDied);
        assert!(err.message().contains("exited with code 99"), "{err}");
        assert_eq!(pool.submit(square, 4).unwrap().result_timeout(HANG), Ok(16));
    });
}

#[test]
fn delayed_crash_then_shutdown_wait_does_not_hang() {
    run(|| {
        let pool = ProcessPool::builder().max_workers(2).build().unwrap();
        let crash = pool.submit(nap_then_exit, 100).unwrap();
        let ok = pool.submit(square, 3).unwrap();
        let start = Instant::now();
        pool.shutdown();
        assert!(start.elapsed() < HANG);
        assert_eq!(
            crash.exception().unwrap().unwrap().kind(),
            TaskErrorKind::WorkerDied
        );
        assert_eq!(ok.result(), Ok(9));
    });
}

#[test]
fn ten_megabyte_arguments_and_results() {
    run(|| {
        let pool = ProcessPool::builder().max_workers(2).build().unwrap();
        let big: Vec<u8> = (0..10_000_000u32).map(|i| (i % 251) as u8).collect();
        let futures: Vec<_> = (0..3)
            .map(|_| pool.submit(reverse, big.clone()).unwrap())
            .collect();
        let mut expected = big;
        expected.reverse();
        for future in futures {
            assert!(future.take_timeout(HANG).unwrap() == expected);
        }
    });
}

#[test]
fn kill_workers_stops_a_running_task() {
    run(|| {
        let pool = ProcessPool::builder().max_workers(2).build().unwrap();
        let running = pool.submit(forever, ()).unwrap();
        // Wait until the worker is up and has the task.
        let deadline = Instant::now() + HANG;
        while !running.running() || pool.worker_pids().is_empty() {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(5));
        }
        pool.kill_workers();
        let err = task_error(&running);
        assert_eq!(err.kind(), TaskErrorKind::WorkerDied);
        assert!(err.message().contains("kill_workers"), "{err}");
        assert!(pool.submit(square, 1).is_err());
    });
}

#[test]
fn terminate_workers_sends_sigterm() {
    run(|| {
        let pool = ProcessPool::builder().max_workers(1).build().unwrap();
        let running = pool.submit(forever, ()).unwrap();
        let queued = pool.submit(square, 2).unwrap();
        let deadline = Instant::now() + HANG;
        while !running.running() {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(5));
        }
        pool.terminate_workers();
        let err = task_error(&running);
        assert!(err.message().contains("SIGTERM"), "{err}");
        assert!(queued.done());
    });
}

#[test]
fn per_task_timeout_kills_and_replaces_the_worker() {
    run(|| {
        let pool = ProcessPool::builder()
            .max_workers(1)
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let first = pool.submit(pid, ()).unwrap().result_timeout(HANG).unwrap();
        let late = pool.submit(forever, ()).unwrap();
        let err = task_error(&late);
        assert_eq!(err.kind(), TaskErrorKind::TimedOut, "{err}");
        let second = pool.submit(pid, ()).unwrap().result_timeout(HANG).unwrap();
        assert_ne!(first, second);
    });
}

#[test]
fn an_argument_above_the_frame_limit_fails_its_future_and_names_the_setting() {
    run(|| {
        let pool = ProcessPool::builder()
            .max_workers(1)
            .max_frame(1024)
            .build()
            .unwrap();
        let big = serde_bytes::ByteBuf::from(vec![7u8; 4096]);
        let err = task_error(&pool.submit(byte_count, big).unwrap());
        assert_eq!(err.kind(), TaskErrorKind::Serialization, "{err}");
        assert!(
            err.message().contains("frame limit of 1024 bytes")
                && err.message().contains("ProcessPoolBuilder::max_frame"),
            "{err}"
        );
        let small = serde_bytes::ByteBuf::from(vec![7u8; 16]);
        assert_eq!(
            pool.submit(byte_count, small).unwrap().result_timeout(HANG),
            Ok(16)
        );
    });
}

fn byte_count(bytes: serde_bytes::ByteBuf) -> usize {
    bytes.len()
}

#[test]
fn undecodable_result_fails_that_future_only() {
    run(|| {
        let pool = ProcessPool::builder().max_workers(1).build().unwrap();
        let err = task_error(&pool.submit(make_undecodable, ()).unwrap());
        assert_eq!(err.kind(), TaskErrorKind::Serialization);
        assert!(err.message().contains("could not be decoded"), "{err}");
        assert_eq!(pool.submit(square, 6).unwrap().result_timeout(HANG), Ok(36));
    });
}

#[test]
fn fingerprint_mismatch_is_a_clear_error() {
    run(|| {
        let pool = ProcessPool::builder()
            .max_workers(1)
            .env("POOL_PROCESS_FINGERPRINT_SALT", "another build")
            .build()
            .unwrap();
        let err = task_error(&pool.submit(square, 2).unwrap());
        assert_eq!(err.kind(), TaskErrorKind::Broken);
        assert!(err.message().contains("not the same build"), "{err}");
        assert!(
            matches!(pool.submit(square, 2), Err(SubmitError::Broken(why)) if why.contains("not the same build"))
        );
    });
}

#[test]
fn queue_bound_gives_backpressure() {
    run(|| {
        let pool = ProcessPool::builder()
            .max_workers(1)
            .queue_bound(2)
            .build()
            .unwrap();
        let mut futures = vec![pool.submit(nap_then_pid, 200).unwrap()];
        let full = loop {
            match pool.try_submit(nap_then_pid, 0) {
                Ok(future) => futures.push(future),
                Err(err) => break err,
            }
            assert!(futures.len() < 10, "the bound never held");
        };
        assert_eq!(full, SubmitError::Full);
        // A blocking submit waits for room, then goes through.
        futures.push(pool.submit(nap_then_pid, 0).unwrap());
        for future in futures {
            future.result_timeout(HANG).unwrap();
        }
    });
}

#[test]
fn shutdown_cancel_futures_cancels_the_waiting_tasks() {
    run(|| {
        let pool = ProcessPool::builder()
            .max_workers(1)
            .tasks_per_worker(1)
            .build()
            .unwrap();
        let running = pool.submit(nap_then_pid, 200).unwrap();
        let deadline = Instant::now() + HANG;
        while !running.running() {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(5));
        }
        let waiting: Vec<_> = (0..5).map(|x| pool.submit(square, x).unwrap()).collect();
        pool.shutdown_with(ShutdownOptions::new().cancel_futures(true));
        running.result().unwrap();
        for future in waiting {
            assert_eq!(future.result(), Err(FutureError::Cancelled));
        }
    });
}

/// Creates the file `path` (a side effect that outlives the worker).
fn touch(path: String) -> u32 {
    std::fs::write(path, b"ran").unwrap();
    std::process::id()
}

/// Creates the file `mark` (the task started), then waits for the file `gate`.
fn touch_then_wait((mark, gate): (String, String)) -> u32 {
    touch(mark);
    wait_for_file(gate)
}

/// The files a test with a task sent ahead uses: the busy task waits for `gate`; the task
/// sent ahead creates `mark` when it starts, then waits for `then`.
struct Files {
    gate: String,
    mark: String,
    then: String,
}

impl Files {
    fn new(name: &str) -> Files {
        Files {
            gate: temp_file(&format!("{name}-gate")),
            mark: temp_file(&format!("{name}-mark")),
            then: temp_file(&format!("{name}-then")),
        }
    }

    fn open(path: &str) {
        std::fs::write(path, b"go").unwrap();
    }

    fn exists(path: &str) -> bool {
        std::path::Path::new(path).exists()
    }

    fn remove(&self) {
        for path in [&self.gate, &self.mark, &self.then] {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Makes `pool`'s only worker busy with a task that waits for `files.gate`, and submits the
/// tasks of `ahead` behind it until the last of them is sent ahead to that worker. The pool
/// sends a task ahead only while recent tasks were short, so this first runs short tasks,
/// and tries again if the pool kept the last task in its queue instead (it shows where it
/// went: `worker_pid`). Returns the busy task's future and those of `ahead`.
fn busy_with_ahead<const N: usize>(
    pool: &ProcessPool,
    files: &Files,
    ahead: impl Fn() -> [TaskFuture<u32>; N],
) -> (TaskFuture<u32>, [TaskFuture<u32>; N]) {
    for _ in 0..20 {
        for _ in 0..10 {
            assert_eq!(pool.submit(square, 3).unwrap().result_timeout(HANG), Ok(9));
        }
        let busy = pool.submit(wait_for_file, files.gate.clone()).unwrap();
        let ahead = ahead();
        if pool.worker_pid(&ahead[N - 1]).is_some() {
            return (busy, ahead);
        }
        // Kept in the pool's queue (the worker is busy): cancelled before it can run, and
        // those before it too unless they started.
        assert!(
            ahead[N - 1].cancel(),
            "a task in the queue can be cancelled"
        );
        ahead.iter().for_each(|future| {
            future.cancel();
        });
        Files::open(&files.gate);
        assert!(busy.result_timeout(HANG).is_ok());
        for future in ahead {
            assert!(future.cancelled() || future.result_timeout(HANG).is_ok());
        }
        files.remove();
    }
    panic!("the pool never sent a task ahead: {:?}", pool.workers());
}

/// `busy_with_ahead` with one task ahead, which touches `files.mark` and then waits for
/// `files.then`.
fn busy_with_one_ahead(pool: &ProcessPool, files: &Files) -> (TaskFuture<u32>, TaskFuture<u32>) {
    let (busy, [ahead]) = busy_with_ahead(pool, files, || {
        [pool
            .submit(touch_then_wait, (files.mark.clone(), files.then.clone()))
            .unwrap()]
    });
    (busy, ahead)
}

/// A task sent ahead to a busy worker (`tasks_per_worker` > 1) is cancelled like a task that
/// waits in the pool's queue: `cancel()` succeeds until the worker starts it, the future is
/// cancelled at once, the worker skips the task, and the pool goes on; once the worker has
/// started it, `cancel()` fails.
#[test]
fn a_task_sent_ahead_to_a_busy_worker_can_be_cancelled_until_it_starts() {
    run(|| {
        let files = Files::new("ahead");
        let pool = ProcessPool::builder()
            .max_workers(1)
            .tasks_per_worker(2)
            .build()
            .unwrap();
        let (busy, ahead) = busy_with_one_ahead(&pool, &files);
        let worker = pool.worker_pid(&busy).unwrap();
        assert_eq!(
            pool.worker_pid(&ahead),
            Some(worker),
            "sent ahead to the busy worker"
        );
        assert!(!ahead.running(), "it has not started");
        assert!(ahead.cancel(), "not started: it can be cancelled");
        assert!(ahead.cancelled() && ahead.done());
        assert_eq!(ahead.result_timeout(HANG), Err(FutureError::Cancelled));
        assert!(!busy.cancel(), "the running task cannot be");

        Files::open(&files.gate);
        assert_eq!(busy.result_timeout(HANG), Ok(worker));
        // The same worker takes the next task: the skipped one freed its place, and its
        // side effect never happened.
        assert_eq!(
            pool.submit(pid, ()).unwrap().result_timeout(HANG),
            Ok(worker)
        );
        assert!(!Files::exists(&files.mark), "the cancelled task ran");
        assert_eq!(pool.stats().workers_started, 1);
        files.remove();

        // Started by the worker: the cancel fails, and the task runs to its end.
        let (busy, ahead) = busy_with_one_ahead(&pool, &files);
        Files::open(&files.gate);
        let deadline = Instant::now() + HANG;
        while !Files::exists(&files.mark) {
            assert!(
                Instant::now() < deadline,
                "the task sent ahead never started"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(!ahead.cancel(), "started: too late");
        Files::open(&files.then);
        assert_eq!(busy.result_timeout(HANG), Ok(worker));
        assert_eq!(ahead.result_timeout(HANG), Ok(worker));
        files.remove();

        // shutdown(cancel_futures = true) cancels a task sent ahead too.
        let (busy, ahead) = busy_with_one_ahead(&pool, &files);
        pool.shutdown_with(ShutdownOptions::new().wait(false).cancel_futures(true));
        assert!(ahead.cancelled());
        Files::open(&files.gate);
        assert_eq!(busy.result_timeout(HANG), Ok(worker));
        pool.shutdown(); // every worker exited
        assert!(!Files::exists(&files.mark), "the cancelled task ran");
        files.remove();
    });
}

/// A worker holds a reply while its next task is at hand, so that replies go out together;
/// the result must still come while that next task runs on, here until the result is seen.
#[test]
fn a_result_is_not_held_back_by_the_long_task_after_it() {
    run(|| {
        let files = Files::new("held");
        let pool = ProcessPool::builder()
            .max_workers(1)
            .tasks_per_worker(3)
            .build()
            .unwrap();
        let (busy, [quick, long]) = busy_with_ahead(&pool, &files, || {
            [
                pool.submit(touch, files.mark.clone()).unwrap(),
                pool.submit(wait_for_file, files.then.clone()).unwrap(),
            ]
        });
        Files::open(&files.gate);
        let worker = busy.result_timeout(HANG).unwrap();
        // `long` runs until `then` exists, which it does only once `quick`'s result is here.
        assert_eq!(
            quick.result_timeout(HANG),
            Ok(worker),
            "the reply stayed held"
        );
        Files::open(&files.then);
        assert_eq!(long.result_timeout(HANG), Ok(worker));
        files.remove();
    });
}

/// Appends a line to the file `path` (a side effect that counts the runs).
fn append_line(path: String) -> u32 {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(b"ran\n").unwrap();
    std::process::id()
}

fn append_line_then_die(path: String) -> u32 {
    append_line(path);
    sigkill_self(())
}

fn lines(path: &str) -> usize {
    std::fs::read_to_string(path).map_or(0, |text| text.lines().count())
}

/// A worker that dies may hold the replies of tasks that ended (see `pool_engine::replies`):
/// they complete from their copies, and only the task it was running fails; no task runs
/// twice.
#[test]
fn only_the_task_a_worker_died_running_fails_and_none_runs_twice() {
    run(|| {
        let files = Files::new("started");
        let pool = ProcessPool::builder()
            .max_workers(1)
            .tasks_per_worker(3)
            .build()
            .unwrap();
        let (busy, [quick, dies]) = busy_with_ahead(&pool, &files, || {
            [
                pool.submit(append_line, files.mark.clone()).unwrap(),
                pool.submit(append_line_then_die, files.then.clone())
                    .unwrap(),
            ]
        });
        Files::open(&files.gate);
        let worker = busy.result_timeout(HANG).unwrap();
        assert_eq!(
            quick.result_timeout(HANG),
            Ok(worker),
            "it ended before the death"
        );
        let err = task_error(&dies);
        assert_eq!(err.kind(), TaskErrorKind::WorkerDied, "{err}");
        assert!(err.message().contains("SIGKILL"), "{err}");
        pool.shutdown();
        assert_eq!(lines(&files.mark), 1, "the quick task ran again");
        assert_eq!(
            lines(&files.then),
            1,
            "the task that killed its worker ran again"
        );
        assert_eq!(
            pool.stats().workers_replaced,
            0,
            "nothing ran on a replacement"
        );
        files.remove();
    });
}

#[test]
fn as_completed_mixes_thread_and_process_futures() {
    run(|| {
        let processes = ProcessPool::builder().max_workers(2).build().unwrap();
        let threads = pool_thread::ThreadPool::new();
        let mut futures: Vec<_> = (0..3u64)
            .map(|i| threads.spawn(move || 1000 + i).unwrap())
            .collect();
        futures.extend((0..3).map(|x| processes.submit(square, x).unwrap()));
        let mut values: Vec<u64> = as_completed(&futures, Some(HANG))
            .map(|f| f.unwrap().result().unwrap())
            .collect();
        values.sort_unstable();
        assert_eq!(values, vec![0, 1, 4, 1000, 1001, 1002]);
    });
}

#[test]
fn dropping_the_pool_reaps_every_worker() {
    run(|| {
        let pool = ProcessPool::builder().max_workers(2).build().unwrap();
        let futures: Vec<_> = (0..4)
            .map(|_| pool.submit(nap_then_pid, 20).unwrap())
            .collect();
        futures[0].result_timeout(HANG).unwrap();
        assert!(!children().is_empty());
        drop(pool);
        for future in futures {
            future.result().unwrap();
        }
    });
}
