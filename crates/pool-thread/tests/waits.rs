//! Waiting inside a task on the pool's own futures: an untimed wait may run the very task
//! it waits for, and nothing else; every other wait blocks (the pool starts a thread in
//! its place when queued tasks would otherwise have none), and a wait with a deadline
//! returns at its deadline. So nested waits behave as on a plain pool, minus its
//! deadlocks.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Gate, within};
use future_core::executor::{Promise, blocking};
use future_core::{FutureError, MapOptions};
use pool_thread::ThreadPool;

/// The waiting task must not run a sibling that waits on the waiter itself.
#[test]
fn a_wait_does_not_run_a_sibling_that_depends_on_the_waiter() {
    within("the sibling scenario", || {
        for _ in 0..3 {
            let pool = Arc::new(ThreadPool::builder().max_workers(4).build().unwrap());
            let p = pool.clone();
            let task = pool
                .spawn(move || {
                    let (promise, unblocked) = Promise::<u32>::new();
                    let h = p
                        .spawn(|| {
                            std::thread::sleep(Duration::from_millis(50));
                            1
                        })
                        .unwrap();
                    let g = p.spawn(move || unblocked.result().unwrap() + 1).unwrap();
                    let first = h.result().unwrap();
                    promise.set_result(first);
                    g.result().unwrap()
                })
                .unwrap();
            assert_eq!(task.result(), Ok(2));
        }
    });
}

/// A timed wait on a task that needs a lock the waiter holds times out, as on a plain
/// pool; it must not run that task on its own stack (where it would deadlock).
#[test]
fn a_timed_wait_on_one_thread_times_out_instead_of_running_the_task() {
    within("the lock scenario", || {
        let pool = Arc::new(ThreadPool::builder().max_workers(1).build().unwrap());
        let p = pool.clone();
        let lock = Arc::new(Mutex::new(0u32));
        let task = pool
            .spawn(move || {
                let held = lock.lock().unwrap();
                let l = lock.clone();
                let b = p.spawn(move || *l.lock().unwrap() += 1).unwrap();
                let waited = b.result_timeout(Duration::from_millis(200));
                drop(held);
                (waited, b)
            })
            .unwrap();
        let (waited, b) = task.result().unwrap();
        assert_eq!(waited, Err(FutureError::Timeout));
        assert_eq!(b.result(), Ok(()), "the task runs once the lock is free");
    });
}

/// A timed wait never runs queued work that could keep it past its deadline: the queued
/// task here can only finish after the wait has returned.
#[test]
fn a_timed_wait_returns_at_its_deadline_not_after_queued_work() {
    within("the deadline scenario", || {
        let pool = Arc::new(ThreadPool::builder().max_workers(1).build().unwrap());
        let p = pool.clone();
        let task = pool
            .spawn(move || {
                let gate = Gate::new();
                let g = gate.clone();
                let slow = p.spawn(move || g.wait()).unwrap();
                let (_never, pending) = Promise::<u8>::new();
                let waited = pending.result_timeout(Duration::from_millis(100));
                gate.open();
                (waited, slow)
            })
            .unwrap();
        let (waited, slow) = task.result().unwrap();
        assert_eq!(waited, Err(FutureError::Timeout));
        assert_eq!(slow.result(), Ok(()));
    });
}

/// A task waiting on a plain promise that only a later task completes: the waiting
/// worker blocks, and the pool starts a thread for the later task.
#[test]
fn a_blocked_worker_is_replaced_when_queued_work_needs_a_thread() {
    within("the replacement scenario", || {
        let pool = Arc::new(ThreadPool::builder().max_workers(1).build().unwrap());
        let (promise, unblocked) = Promise::<u32>::new();
        let (started_tx, started) = std::sync::mpsc::channel();
        let waiting = pool
            .spawn(move || {
                started_tx.send(()).unwrap();
                unblocked.result().unwrap() * 2
            })
            .unwrap();
        started.recv().unwrap();
        let completing = pool.spawn(move || promise.set_result(21)).unwrap();
        assert_eq!(waiting.result(), Ok(42));
        completing.result().unwrap();
    });
}

/// A task's own blocking section around a wait that reports blocking itself (here a
/// second section; `blocking(|| future.result())` alike) counts its worker blocked once:
/// the only worker is replaced for the task that ends the wait. Before, the worker
/// counted blocked twice: in a debug build the pool's count panicked ("attempt to
/// subtract with overflow"), in release it wrapped and no thread was started (deadlock).
/// Once the task is over, the count is back: a second round goes the same way.
#[test]
fn a_nested_blocking_section_counts_its_worker_blocked_once() {
    within("the nested blocking section", || {
        let pool = Arc::new(ThreadPool::builder().max_workers(1).build().unwrap());
        for round in 1..=2u64 {
            let (entered_tx, entered) = std::sync::mpsc::channel();
            let (release, released) = std::sync::mpsc::channel::<u64>();
            let waiting = pool
                .spawn(move || {
                    blocking(|| {
                        blocking(|| {
                            entered_tx.send(()).unwrap();
                            released.recv().unwrap()
                        })
                    })
                })
                .unwrap();
            // Both sections have begun: the worker counts as blocked (once).
            entered
                .recv()
                .expect("the task reached its inner section (it failed before)");
            pool.spawn(move || release.send(round).unwrap()).unwrap();
            assert_eq!(waiting.result(), Ok(round));
        }
    });
}

/// Two workers block, two threads start in their place, the workers come back: the two
/// surplus threads retire, and no more. A pool that keeps its threads (`keep_alive(None)`)
/// settles at `max_workers` threads, never below (every idle thread saw the surplus, but
/// only as many may act on it as there are threads too many).
#[test]
fn surplus_threads_retire_down_to_max_workers_and_no_further() {
    within("the surplus scenario", || {
        let pool = ThreadPool::builder()
            .max_workers(2)
            .keep_alive(None)
            .build()
            .unwrap();
        for round in 0..100 {
            let (started_tx, started) = std::sync::mpsc::channel();
            let (promises, blockers): (Vec<_>, Vec<_>) = (0..2)
                .map(|_| {
                    let (promise, unblocked) = Promise::<()>::new();
                    let started_tx = started_tx.clone();
                    let blocker = pool
                        .spawn(move || {
                            started_tx.send(()).unwrap();
                            unblocked.result()
                        })
                        .unwrap();
                    (promise, blocker)
                })
                .unzip();
            started.recv().unwrap();
            started.recv().unwrap();
            // Queued behind two blocked workers: threads start in their place to run them.
            let quick: Vec<_> = (0..2).map(|i| pool.spawn(move || i).unwrap()).collect();
            for (i, future) in quick.iter().enumerate() {
                assert_eq!(future.result(), Ok(i));
            }
            // Both workers are inside their blocked tasks: the quick ones ran on a thread
            // started beside them, the surplus once the workers come back.
            assert!(
                pool.stats().workers > 2,
                "round {round}: {:?}",
                pool.stats()
            );
            for promise in promises {
                promise.set_result(());
            }
            for blocker in &blockers {
                assert_eq!(blocker.result(), Ok(Ok(())));
            }
            common::eventually("the surplus threads retire", || pool.stats().workers <= 2);
            assert_eq!(pool.stats().workers, 2, "round {round}: {:?}", pool.stats());
        }
    });
}

/// CPU time (user + system) used so far by this process's live threads named `prefix...`
/// (a pool's threads, whatever other tests run at the same time), from `/proc`.
#[cfg(target_os = "linux")]
fn threads_cpu(prefix: &str) -> std::time::Duration {
    let mut ticks = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !name.starts_with(prefix) {
            continue;
        }
        // A thread that ended meanwhile counts nothing.
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        let Some((_, fields)) = stat.rsplit_once(')') else {
            continue;
        };
        ticks += fields
            .split_whitespace()
            .skip(11)
            .take(2)
            .map(|f| f.parse::<u64>().unwrap_or(0))
            .sum::<u64>();
    }
    // In clock ticks of 10 ms (Linux's USER_HZ is 100 on every architecture).
    std::time::Duration::from_millis(ticks * 10)
}

/// A surplus thread (started in place of a blocked worker that came back) that cannot
/// retire because the busy worker keeps tokens back (a burst of tasks just ran on both)
/// sleeps instead of searching again and again: while the only task left sleeps 300 ms,
/// the pool's threads use nearly no CPU (a thread that kept searching used all 300 ms).
#[cfg(target_os = "linux")]
#[test]
fn a_surplus_thread_that_cannot_retire_does_not_spin() {
    within("the idle surplus scenario", || {
        let pool = ThreadPool::builder()
            .max_workers(1)
            .max_extra_threads(1)
            .keep_alive(None)
            .thread_name_prefix("idle-surplus")
            .build()
            .unwrap();
        let mut busiest = std::time::Duration::ZERO;
        for _ in 0..3 {
            let (promise, unblocked) = Promise::<()>::new();
            let blocker = pool.spawn(move || unblocked.result()).unwrap();
            pool.spawn(move || promise.set_result(())).unwrap();
            let burst: Vec<_> = (0..200u32)
                .map(|i| pool.spawn(move || i).unwrap())
                .collect();
            let long = pool
                .spawn(|| {
                    let before = threads_cpu("idle-surplus");
                    std::thread::sleep(Duration::from_millis(300));
                    threads_cpu("idle-surplus").saturating_sub(before)
                })
                .unwrap();
            assert_eq!(blocker.result(), Ok(Ok(())));
            for (i, future) in burst.iter().enumerate() {
                assert_eq!(future.result(), Ok(i as u32));
            }
            busiest = busiest.max(long.result().unwrap());
        }
        assert!(
            busiest < Duration::from_millis(150),
            "{busiest:?} of CPU while the only task slept 300 ms"
        );
    });
}

/// `wait` on several futures inside a task, on one thread, with the tasks queued behind
/// it: the waiter blocks and the pool runs them on a replacement thread.
#[test]
fn wait_on_many_inside_a_task_on_one_thread() {
    within("the wait-many scenario", || {
        let pool = Arc::new(ThreadPool::builder().max_workers(1).build().unwrap());
        let p = pool.clone();
        let task = pool
            .spawn(move || {
                let futures: Vec<_> = (0..4u32).map(|i| p.spawn(move || i * i).unwrap()).collect();
                let sets = future_core::wait(&futures, None, future_core::ReturnWhen::AllCompleted);
                assert_eq!(sets.done.len(), 4);
                futures.iter().map(|f| f.result().unwrap()).sum::<u32>()
            })
            .unwrap();
        assert_eq!(task.result(), Ok(14));
    });
}

/// A done callback runs on the thread that completes the future (here a worker); it may
/// call any method of the pool, bounded or not, without deadlock.
#[test]
fn done_callbacks_may_call_any_pool_method() {
    within("the callback scenario", || {
        let pool = Arc::new(
            ThreadPool::builder()
                .max_workers(1)
                .queue_bound(1)
                .build()
                .unwrap(),
        );
        let (tx, rx) = std::sync::mpsc::channel();
        let p = pool.clone();
        let first = pool.spawn(|| 1u32).unwrap();
        first.add_done_callback(move |_| {
            let submitted: Vec<_> = (0..5u32).map(|i| p.spawn(move || i).unwrap()).collect();
            let sum: u32 = submitted.iter().map(|f| f.result().unwrap()).sum();
            let tried = p.try_spawn(|| 7u32).map(|f| f.result());
            let mapped: u32 = p
                .map(|x: u32| x + 1, 0..4, MapOptions::new())
                .unwrap()
                .map(Result::unwrap)
                .sum();
            p.shutdown();
            tx.send((sum, tried, mapped)).unwrap();
        });
        let (sum, tried, mapped) = rx.recv().unwrap();
        assert_eq!(sum, 10);
        assert!(
            matches!(tried, Ok(Ok(7)) | Err(future_core::SubmitError::Full)),
            "{tried:?}"
        );
        assert_eq!(mapped, 10);
        assert_eq!(first.result(), Ok(1));
    });
}
