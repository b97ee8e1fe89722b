//! Behaviour from CPython's `test_concurrent_futures` (thread pool), re-proven here.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::{Gate, HANG, occupy};
use future_core::{
    Executor, FutureError, MapOptions, ReturnWhen, SubmitError, TaskErrorKind, as_completed, wait,
};
use pool_thread::{ThreadPool, ThreadPoolBuildError};

/// `test_threads_terminate`: three blocked tasks start exactly three threads.
#[test]
fn three_blocked_tasks_start_three_threads() {
    let pool = ThreadPool::builder().max_workers(5).build().unwrap();
    let all_in = Arc::new(Barrier::new(4));
    let futures: Vec<_> = (0..3)
        .map(|_| {
            let all_in = all_in.clone();
            pool.spawn(move || {
                all_in.wait();
            })
            .unwrap()
        })
        .collect();
    all_in.wait(); // all three run at once: three threads
    assert_eq!(pool.stats().workers, 3);
    pool.shutdown();
    assert!(futures.iter().all(|f| f.result().is_ok()));
    assert_eq!(pool.stats().workers, 0);
}

/// `test_saturation`: 60 blocked tasks on 4 workers start exactly 4 threads.
#[test]
fn saturation_starts_exactly_max_workers() {
    let pool = ThreadPool::builder().max_workers(4).build().unwrap();
    let gate = Gate::new();
    let running = Arc::new(AtomicUsize::new(0));
    let futures: Vec<_> = (0..60)
        .map(|_| {
            let (gate, running) = (gate.clone(), running.clone());
            pool.spawn(move || {
                running.fetch_add(1, Ordering::SeqCst);
                gate.wait();
            })
            .unwrap()
        })
        .collect();
    assert_eq!(pool.stats().workers, 4);
    common::eventually("4 tasks running", || running.load(Ordering::SeqCst) == 4);
    assert_eq!(pool.stats().workers, 4);
    assert_eq!(
        running.load(Ordering::SeqCst),
        4,
        "never more than max_workers"
    );
    gate.open();
    for f in &futures {
        f.result().unwrap();
    }
    assert_eq!(pool.stats().workers, 4);
}

/// `test_idle_thread_reuse`: sequential submit-then-result reuses one thread.
#[test]
fn idle_thread_is_reused() {
    let pool = ThreadPool::builder().max_workers(4).build().unwrap();
    assert_eq!(pool.spawn(|| 21 * 2).unwrap().result(), Ok(42));
    assert_eq!(pool.spawn(|| 6 * 7).unwrap().result(), Ok(42));
    assert_eq!(pool.spawn(|| 3 * 14).unwrap().result(), Ok(42));
    assert_eq!(pool.stats().workers, 1);
}

/// `test_thread_names_assigned` / `test_thread_names_default`.
#[test]
fn thread_names_follow_the_prefix() {
    let pool = ThreadPool::builder()
        .max_workers(5)
        .thread_name_prefix("SpecialPool")
        .build()
        .unwrap();
    let all_in = Arc::new(Barrier::new(5));
    let futures: Vec<_> = (0..5)
        .map(|_| {
            let all_in = all_in.clone();
            pool.spawn(move || {
                all_in.wait();
                std::thread::current().name().unwrap().to_owned()
            })
            .unwrap()
        })
        .collect();
    let mut names: Vec<_> = futures.iter().map(|f| f.result().unwrap()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "SpecialPool_0",
            "SpecialPool_1",
            "SpecialPool_2",
            "SpecialPool_3",
            "SpecialPool_4"
        ]
    );

    let default = ThreadPool::new();
    let name = default
        .spawn(|| std::thread::current().name().unwrap().to_owned())
        .unwrap()
        .result()
        .unwrap();
    assert!(
        name.starts_with("ThreadPool-") && name.ends_with("_0"),
        "{name}"
    );
}

/// `test_map_timeout`-like: on a busy single worker, a zero timeout times out at once and
/// the later items never start.
#[test]
fn map_zero_timeout_on_busy_pool_times_out_and_cancels() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let gate = Gate::new();
    let busy = occupy(&pool, &gate);
    let started = Arc::new(AtomicUsize::new(0));
    let counter = started.clone();
    let mut results = pool
        .map(
            move |x: u32| {
                counter.fetch_add(1, Ordering::SeqCst);
                x
            },
            0..10,
            MapOptions::new().timeout(Duration::ZERO),
        )
        .unwrap();
    assert_eq!(results.next(), Some(Err(FutureError::Timeout)));
    assert_eq!(results.next(), None);
    gate.open();
    busy.result().unwrap();
    pool.shutdown();
    assert_eq!(
        started.load(Ordering::SeqCst),
        0,
        "no item started after the timeout"
    );
}

/// `test_cancel_futures`: 50 sleeping tasks, shutdown(cancel_futures): most are cancelled
/// at once, the rest finish normally.
#[test]
fn shutdown_cancel_futures_cancels_the_queue() {
    let pool = ThreadPool::builder().max_workers(4).build().unwrap();
    let gate = Gate::new();
    let futures: Vec<_> = (0..50)
        .map(|_| {
            let gate = gate.clone();
            pool.spawn(move || gate.wait()).unwrap()
        })
        .collect();
    pool.shutdown_with(future_core::ShutdownOptions {
        wait: false,
        cancel_futures: true,
    });
    let cancelled = futures.iter().filter(|f| f.cancelled()).count();
    assert!(cancelled > 20, "only {cancelled} cancelled");
    assert!(
        cancelled >= 46,
        "at most the 4 running tasks escape: {cancelled}"
    );
    gate.open();
    pool.shutdown();
    for f in futures.iter().filter(|f| !f.cancelled()) {
        assert!(f.done());
        assert_eq!(f.exception(), Ok(None));
    }
    assert_eq!(pool.spawn(|| ()).unwrap_err(), SubmitError::Shutdown);
}

/// `test_hang_gh94440`-like: map over max_workers + 1 items, then shutdown, does not hang.
#[test]
fn map_then_shutdown_does_not_hang() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let results = pool.map(|x: u64| x * 2, 0..3, MapOptions::new()).unwrap();
    pool.shutdown();
    let results: Vec<_> = results.collect();
    assert_eq!(results, [Ok(0), Ok(2), Ok(4)]);
}

/// A bound keeps the queue flat while a producer outruns the pool.
#[test]
fn queue_bound_holds_while_producer_outruns_the_pool() {
    const BOUND: usize = 16;
    const WORKERS: usize = 2;
    let pool = ThreadPool::builder()
        .max_workers(WORKERS)
        .queue_bound(BOUND)
        .build()
        .unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let mut max_waiting = 0;
    let mut futures = Vec::new();
    for i in 0..2_000usize {
        let counter = started.clone();
        futures.push(
            pool.spawn(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                // Slower than the producer: ~20 µs of work per task.
                let t = std::time::Instant::now();
                while t.elapsed() < Duration::from_micros(20) {
                    std::hint::spin_loop();
                }
                i
            })
            .unwrap(),
        );
        assert!(pool.stats().queued <= BOUND);
        let waiting = i + 1 - started.load(Ordering::SeqCst);
        max_waiting = max_waiting.max(waiting);
        assert!(
            waiting <= BOUND + WORKERS,
            "{waiting} tasks submitted and not started"
        );
    }
    assert!(max_waiting >= BOUND / 2, "the producer did outrun the pool");
    for (i, f) in futures.iter().enumerate() {
        assert_eq!(f.result(), Ok(i));
    }
}

#[test]
fn try_submit_says_full_and_submit_blocks_until_room() {
    let pool = ThreadPool::builder()
        .max_workers(1)
        .queue_bound(2)
        .build()
        .unwrap();
    let gate = Gate::new();
    let busy = occupy(&pool, &gate);
    let a = pool.try_spawn(|| 'a').unwrap();
    let b = pool.spawn(|| 'b').unwrap();
    assert_eq!(pool.try_spawn(|| 'c').unwrap_err(), SubmitError::Full);
    assert_eq!(pool.stats().queued, 2);
    std::thread::scope(|s| {
        let blocked = s.spawn(|| pool.spawn(|| 'd').unwrap().result());
        gate.open();
        assert_eq!(blocked.join().unwrap(), Ok('d'));
    });
    assert_eq!(
        (a.result(), b.result(), busy.result()),
        (Ok('a'), Ok('b'), Ok(()))
    );
}

#[test]
fn blocked_submit_fails_on_shutdown() {
    let pool = ThreadPool::builder()
        .max_workers(1)
        .queue_bound(1)
        .build()
        .unwrap();
    let gate = Gate::new();
    let busy = occupy(&pool, &gate);
    let queued = pool.spawn(|| 1).unwrap();
    std::thread::scope(|s| {
        let blocked = s.spawn(|| pool.spawn(|| 2).map(|_| ()));
        // Whether or not the submitter is blocked yet, it must see the shutdown.
        pool.shutdown_with(future_core::ShutdownOptions {
            wait: false,
            cancel_futures: false,
        });
        assert_eq!(blocked.join().unwrap(), Err(SubmitError::Shutdown));
    });
    gate.open();
    assert_eq!(queued.result(), Ok(1));
    busy.result().unwrap();
}

#[test]
fn submit_after_shutdown_errors() {
    let pool = ThreadPool::new();
    pool.shutdown();
    assert_eq!(pool.spawn(|| 1).unwrap_err(), SubmitError::Shutdown);
    assert_eq!(pool.try_spawn(|| 1).unwrap_err(), SubmitError::Shutdown);
    fn one(x: u8) -> u8 {
        x
    }
    assert_eq!(
        Executor::submit(&pool, one, 1).unwrap_err(),
        SubmitError::Shutdown
    );
    assert_eq!(
        pool.map(|x: u8| x, [1], MapOptions::new()).unwrap_err(),
        SubmitError::Shutdown
    );
    pool.scope(|s| assert_eq!(s.spawn(|| 1).unwrap_err(), SubmitError::Shutdown));
}

#[test]
fn zero_max_workers_is_an_error() {
    let err = ThreadPool::builder().max_workers(0).build().unwrap_err();
    assert_eq!(err, ThreadPoolBuildError::ZeroWorkers);
    assert_eq!(err.to_string(), "max_workers must be at least 1");
    assert_eq!(
        ThreadPool::builder().queue_bound(0).build().unwrap_err(),
        ThreadPoolBuildError::InvalidSetting("queue_bound must be at least 1")
    );
}

#[test]
fn default_max_workers_is_pythons() {
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(ThreadPool::new().max_workers(), (cpus + 4).min(32));
}

#[test]
fn panicking_task_fails_its_future_and_the_worker_survives() {
    let pool = ThreadPool::builder()
        .max_workers(1)
        .thread_name_prefix("survivor")
        .build()
        .unwrap();
    let bad = pool
        .spawn(|| -> u32 { panic!("task {} exploded", 7) })
        .unwrap();
    let err = bad.result().unwrap_err();
    let task_err = err.task_error().expect("a task error");
    assert_eq!(task_err.kind(), TaskErrorKind::Panicked);
    assert_eq!(task_err.message(), "task 7 exploded");
    let name = pool
        .spawn(|| std::thread::current().name().unwrap().to_owned())
        .unwrap();
    assert_eq!(name.result().unwrap(), "survivor_0");
    assert_eq!(pool.stats().workers, 1);
}

/// `test_initializer` (`FailingInitializerMixin`): a panicking initializer breaks the pool.
#[test]
fn panicking_initializer_breaks_the_pool() {
    let pool = ThreadPool::builder()
        .max_workers(2)
        .initializer(|| panic!("no database"))
        .build()
        .unwrap();
    let mut futures = Vec::new();
    let refused = loop {
        match pool.spawn(|| 1) {
            Ok(f) => futures.push(f),
            Err(err) => break err,
        }
        assert!(futures.len() < 10_000_000, "the pool never broke");
    };
    match refused {
        SubmitError::Broken(cause) => assert!(cause.contains("no database"), "{cause}"),
        other => panic!("expected Broken, got {other:?}"),
    }
    assert!(!futures.is_empty());
    for f in &futures {
        let err = f.result().unwrap_err();
        let task_err = err.task_error().expect("a task error");
        assert_eq!(task_err.kind(), TaskErrorKind::Broken);
        assert!(task_err.message().contains("no database"), "{task_err}");
    }
    pool.shutdown();
}

#[test]
fn initializer_runs_once_per_thread() {
    let inits = Arc::new(AtomicUsize::new(0));
    let counter = inits.clone();
    let pool = ThreadPool::builder()
        .max_workers(3)
        .initializer(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    let all_in = Arc::new(Barrier::new(3));
    let futures: Vec<_> = (0..3)
        .map(|_| {
            let all_in = all_in.clone();
            pool.spawn(move || {
                all_in.wait();
            })
            .unwrap()
        })
        .collect();
    for f in futures {
        f.result().unwrap();
    }
    for _ in 0..20 {
        pool.spawn(|| ()).unwrap().result().unwrap();
    }
    drop(pool);
    assert_eq!(inits.load(Ordering::SeqCst), 3);
}

#[test]
fn idle_threads_retire_after_keep_alive() {
    let pool = ThreadPool::builder()
        .max_workers(3)
        .keep_alive(Duration::from_millis(20))
        .build()
        .unwrap();
    let all_in = Arc::new(Barrier::new(4));
    let futures: Vec<_> = (0..3)
        .map(|_| {
            let all_in = all_in.clone();
            pool.spawn(move || {
                all_in.wait();
            })
            .unwrap()
        })
        .collect();
    all_in.wait();
    assert_eq!(pool.stats().workers, 3);
    for f in futures {
        f.result().unwrap();
    }
    common::eventually("idle threads retire", || pool.stats().workers == 0);
    // The pool still works: a new thread starts on demand.
    assert_eq!(pool.spawn(|| 5).unwrap().result(), Ok(5));
    assert_eq!(pool.stats().workers, 1);
}

/// Workers at the pool's maximum keep the tokens of finished tasks back (to spare the
/// shared word an RMW per task); going idle gives them back, so retiring and reusing
/// threads works as before the burst.
#[test]
fn threads_retire_and_are_reused_after_a_burst_at_the_maximum() {
    let pool = ThreadPool::builder()
        .max_workers(2)
        .keep_alive(Duration::from_millis(20))
        .build()
        .unwrap();
    let futures: Vec<_> = (0..10_000u64)
        .map(|i| pool.spawn(move || i * 2).unwrap())
        .collect();
    for (i, f) in (0..).zip(&futures) {
        assert_eq!(f.take(), Ok(i * 2));
    }
    common::eventually("idle threads retire", || pool.stats().workers == 0);
    for _ in 0..3 {
        assert_eq!(pool.spawn(|| 1).unwrap().result(), Ok(1));
    }
    assert_eq!(
        pool.stats().workers,
        1,
        "sequential submits reuse one thread"
    );
}

#[test]
fn drop_joins_every_thread() {
    static EXITED: AtomicUsize = AtomicUsize::new(0);
    struct OnExit;
    impl Drop for OnExit {
        fn drop(&mut self) {
            EXITED.fetch_add(1, Ordering::SeqCst);
        }
    }
    thread_local!(static GUARD: std::cell::RefCell<Option<OnExit>> = const { std::cell::RefCell::new(None) });
    let pool = ThreadPool::builder()
        .max_workers(4)
        .keep_alive(None)
        .initializer(|| GUARD.with(|g| *g.borrow_mut() = Some(OnExit)))
        .build()
        .unwrap();
    let all_in = Arc::new(Barrier::new(4));
    let futures: Vec<_> = (0..4)
        .map(|_| {
            let all_in = all_in.clone();
            pool.spawn(move || {
                all_in.wait();
            })
            .unwrap()
        })
        .collect();
    for f in &futures {
        f.result().unwrap();
    }
    assert_eq!(EXITED.load(Ordering::SeqCst), 0);
    drop(pool);
    assert_eq!(
        EXITED.load(Ordering::SeqCst),
        4,
        "every thread exited before drop returned"
    );
}

#[test]
fn cancelled_queued_task_never_runs() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let gate = Gate::new();
    let busy = occupy(&pool, &gate);
    let ran = Arc::new(AtomicUsize::new(0));
    let queued = {
        let ran = ran.clone();
        pool.spawn(move || ran.fetch_add(1, Ordering::SeqCst))
            .unwrap()
    };
    assert!(queued.cancel());
    let sets = wait(
        std::slice::from_ref(&queued),
        Some(HANG),
        ReturnWhen::AllCompleted,
    );
    assert_eq!(sets.done.len(), 1, "a cancelled future is done at once");
    gate.open();
    busy.result().unwrap();
    pool.shutdown();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(queued.result(), Err(FutureError::Cancelled));
}

/// Futures of this pool and plain `Promise` futures in one `wait` / `as_completed`.
#[test]
fn pool_futures_mix_with_plain_promises() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let (promise, plain) = future_core::executor::Promise::new();
    let gate = Gate::new();
    let pooled = {
        let gate = gate.clone();
        pool.spawn(move || {
            gate.wait();
            2
        })
        .unwrap()
    };
    let quick = pool.spawn(|| 3).unwrap();
    let all = vec![plain.clone(), pooled.clone(), quick.clone()];
    let first = wait(&all, Some(HANG), ReturnWhen::FirstCompleted);
    assert!(first.done.iter().any(|f| f.same_future(&quick)));
    assert!(first.not_done.iter().any(|f| f.same_future(&plain)));
    let completer = std::thread::spawn(move || {
        promise.set_result(1);
    });
    gate.open();
    let mut values: Vec<_> = as_completed(&all, Some(HANG))
        .map(|f| f.unwrap().result().unwrap())
        .collect();
    values.sort();
    assert_eq!(values, [1, 2, 3]);
    completer.join().unwrap();
}

#[test]
fn executor_trait_for_plain_functions() {
    fn square(x: u64) -> u64 {
        x * x
    }
    fn total(pool: &impl Executor) -> u64 {
        pool.map(square, 1..=100, MapOptions::new().chunksize(7))
            .unwrap()
            .map(|r| r.unwrap())
            .sum()
    }
    let pool = ThreadPool::builder().max_workers(3).build().unwrap();
    assert_eq!(total(&pool), 338_350);
    assert_eq!(
        Executor::submit(&pool, square, 12).unwrap().result(),
        Ok(144)
    );
    Executor::shutdown(&pool);
    assert_eq!(
        Executor::submit(&pool, square, 1).unwrap_err(),
        SubmitError::Shutdown
    );
}

/// Counts the worker threads whose thread-locals were torn down: they exited.
struct CountExit(Arc<AtomicUsize>);

impl Drop for CountExit {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

std::thread_local! {
    static EXIT_COUNTER: std::cell::RefCell<Option<CountExit>> =
        const { std::cell::RefCell::new(None) };
}

/// Two threads call `shutdown(wait = true)` at once while both workers are busy, and a
/// worker calls it from its task: each outside caller returns only after both worker
/// threads have exited; the worker's call does not wait for itself.
#[test]
fn concurrent_shutdown_wait_all_return_after_the_threads_exit() {
    for _ in 0..20 {
        let exited = Arc::new(AtomicUsize::new(0));
        let pool = {
            let exited = exited.clone();
            Arc::new(
                ThreadPool::builder()
                    .max_workers(2)
                    .initializer(move || {
                        EXIT_COUNTER.with(|e| *e.borrow_mut() = Some(CountExit(exited.clone())));
                    })
                    .build()
                    .unwrap(),
            )
        };
        let gate = Gate::new();
        let (started_tx, started) = std::sync::mpsc::channel();
        let plain = {
            let (gate, started_tx) = (gate.clone(), started_tx.clone());
            pool.spawn(move || {
                started_tx.send(()).unwrap();
                gate.wait();
            })
            .unwrap()
        };
        let inside = {
            let (gate, pool) = (gate.clone(), pool.clone());
            pool.clone()
                .spawn(move || {
                    started_tx.send(()).unwrap();
                    gate.wait();
                    // Waits for the other worker, never for itself.
                    pool.shutdown();
                })
                .unwrap()
        };
        started.recv_timeout(HANG).unwrap();
        started.recv_timeout(HANG).unwrap();
        let barrier = Arc::new(Barrier::new(3));
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let (pool, barrier, exited) = (pool.clone(), barrier.clone(), exited.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    pool.shutdown();
                    exited.load(Ordering::SeqCst)
                })
            })
            .collect();
        barrier.wait();
        gate.open();
        for caller in callers {
            assert_eq!(
                caller.join().unwrap(),
                2,
                "returned before the threads exited"
            );
        }
        assert_eq!((plain.result(), inside.result()), (Ok(()), Ok(())));
    }
}
