//! Nesting: tasks that submit to and wait on their own pool, scopes, and tasks that shut
//! down or drop their own pool. None of these may deadlock, even on one thread.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Gate, occupy};
use future_core::executor::Promise;
use future_core::{FutureError, MapOptions, TaskFuture};
use pool_thread::ThreadPool;

fn fib(pool: &Arc<ThreadPool>, n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (p1, p2) = (pool.clone(), pool.clone());
    let a = pool.spawn(move || fib(&p1, n - 1)).unwrap();
    let b = pool.spawn(move || fib(&p2, n - 2)).unwrap();
    a.result().unwrap() + b.result().unwrap()
}

fn nested_fib_on(workers: usize) {
    let pool = Arc::new(ThreadPool::builder().max_workers(workers).build().unwrap());
    let p = pool.clone();
    let top = pool.spawn(move || fib(&p, 16)).unwrap();
    assert_eq!(top.result(), Ok(987));
    let stats = pool.stats();
    if workers == 1 {
        // Every wait found its task unstarted and ran it: nothing ever blocked.
        assert_eq!((stats.workers, stats.workers_replaced), (1, 0));
    }
    // Every task ran once, wherever it ran (a wait, a worker, a thread started in place of
    // a blocked one): the top task and two for each call below it that recursed.
    fn spawned(n: u64) -> u64 {
        if n < 2 {
            0
        } else {
            2 + spawned(n - 1) + spawned(n - 2)
        }
    }
    common::eventually("every task is counted", || {
        pool.stats().completed == 1 + spawned(16)
    });
    pool.shutdown();
}

#[test]
fn nested_fibonacci_on_one_thread() {
    nested_fib_on(1);
}

#[test]
fn nested_fibonacci_on_two_threads() {
    nested_fib_on(2);
}

#[test]
fn nested_map_inside_a_task_on_one_thread() {
    let pool = Arc::new(ThreadPool::builder().max_workers(1).build().unwrap());
    let p = pool.clone();
    let outer = pool
        .spawn(move || {
            p.map(|x: u32| x + 1, 0..50, MapOptions::new().chunksize(3))
                .unwrap()
                .map(|r| r.unwrap())
                .sum::<u32>()
        })
        .unwrap();
    assert_eq!(outer.result(), Ok(1275));
}

#[test]
fn waiting_worker_wakes_for_work_submitted_from_outside() {
    // The only worker waits on a future that only an outside submit can complete.
    let pool = Arc::new(ThreadPool::builder().max_workers(1).build().unwrap());
    let (promise, inner) = future_core::executor::Promise::<u32>::new();
    let (started_tx, started) = std::sync::mpsc::channel();
    let outer = pool
        .spawn(move || {
            started_tx.send(()).unwrap();
            inner.result().unwrap() * 2
        })
        .unwrap();
    started.recv().unwrap();
    // The worker is (or soon is) blocked in its wait; this task must still run on it.
    let helper = pool.spawn(move || promise.set_result(21)).unwrap();
    assert_eq!(outer.result(), Ok(42));
    helper.result().unwrap();
}

#[test]
fn scope_borrows_and_joins() {
    let pool = ThreadPool::builder().max_workers(3).build().unwrap();
    let mut data = vec![1u64; 1000];
    let total = AtomicUsize::new(0);
    pool.scope(|s| {
        for chunk in data.chunks_mut(100) {
            let total = &total;
            s.spawn(move || {
                for x in chunk.iter_mut() {
                    *x *= 3;
                }
                total.fetch_add(chunk.len(), Ordering::SeqCst);
            })
            .unwrap();
        }
    });
    // Joined: every task finished before scope returned.
    assert_eq!(total.load(Ordering::SeqCst), 1000);
    assert!(data.iter().all(|&x| x == 3));
}

#[test]
fn scope_waits_for_slow_tasks_and_returns_its_value() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let gate = Gate::new();
    let finished = AtomicUsize::new(0);
    let value = pool.scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                gate.wait();
                finished.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
        gate.open();
        "scope value"
    });
    assert_eq!(value, "scope value");
    assert_eq!(finished.load(Ordering::SeqCst), 4);
}

#[test]
fn scope_propagates_its_panic_after_joining() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let finished = AtomicUsize::new(0);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.scope(|s| {
            for _ in 0..3 {
                s.spawn(|| finished.fetch_add(1, Ordering::SeqCst)).unwrap();
            }
            panic!("scope body failed");
        })
    }));
    assert!(caught.is_err());
    assert_eq!(finished.load(Ordering::SeqCst), 3);
}

#[test]
fn scoped_task_panic_is_its_futures_error() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let err = pool.scope(|s| {
        s.spawn(|| -> u8 { panic!("scoped boom") })
            .unwrap()
            .result()
    });
    assert_eq!(err.unwrap_err().to_string(), "task panicked: scoped boom");
}

#[test]
fn nested_scope_inside_a_task_on_one_thread() {
    let pool = Arc::new(ThreadPool::builder().max_workers(1).build().unwrap());
    let p = pool.clone();
    let outer = pool
        .spawn(move || {
            let words = ["a", "bb", "ccc"];
            p.scope(|s| {
                let futures: Vec<_> = words.iter().map(|w| s.spawn(|| w.len()).unwrap()).collect();
                futures.iter().map(|f| f.result().unwrap()).sum::<usize>()
            })
        })
        .unwrap();
    assert_eq!(outer.result(), Ok(6));
}

#[test]
fn shutdown_cancel_futures_inside_a_scope_still_joins() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let gate = Gate::new();
    let ran = AtomicUsize::new(0);
    pool.scope(|s| {
        // The only worker holds the gate task before the others are queued (else a
        // shutdown's drain and the worker would race for the queue).
        let (started_tx, started) = std::sync::mpsc::channel();
        let gate = &gate;
        s.spawn(move || {
            started_tx.send(()).unwrap();
            gate.wait()
        })
        .unwrap();
        started.recv().unwrap();
        let queued: Vec<_> = (0..5)
            .map(|_| s.spawn(|| ran.fetch_add(1, Ordering::SeqCst)).unwrap())
            .collect();
        pool.shutdown_with(future_core::ShutdownOptions {
            wait: false,
            cancel_futures: true,
        });
        assert!(queued.iter().all(|f| f.cancelled()));
        gate.open();
    });
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn task_may_shut_down_its_own_pool() {
    let pool = Arc::new(ThreadPool::builder().max_workers(2).build().unwrap());
    let p = pool.clone();
    let f = pool
        .spawn(move || {
            p.shutdown();
            p.spawn(|| ()).is_err()
        })
        .unwrap();
    assert_eq!(f.result(), Ok(true));
    pool.shutdown();
}

#[test]
fn pool_dropped_inside_its_own_worker() {
    let pool = Arc::new(ThreadPool::builder().max_workers(2).build().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    let p = pool.clone();
    let gate = Gate::new();
    let g = gate.clone();
    let f = pool
        .spawn(move || {
            g.wait();
            tx.send(()).unwrap();
            drop(p); // the last handle: Drop runs shutdown(wait) on this very worker
            7
        })
        .unwrap();
    drop(pool);
    gate.open();
    rx.recv().unwrap();
    assert_eq!(f.result(), Ok(7));
}

#[test]
fn dropping_map_cancels_what_has_not_started() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let gate = Gate::new();
    let busy = occupy(&pool, &gate);
    let started = Arc::new(AtomicUsize::new(0));
    let counter = started.clone();
    let results = pool
        .map(
            move |x: u32| {
                counter.fetch_add(1, Ordering::SeqCst);
                x
            },
            0..100,
            MapOptions::new().buffersize(4),
        )
        .unwrap();
    drop(results);
    gate.open();
    busy.result().unwrap();
    pool.shutdown();
    assert_eq!(started.load(Ordering::SeqCst), 0);
}

#[test]
fn map_panicking_element_is_its_own_error() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let results: Vec<_> = pool
        .map(
            |x: u32| {
                if x % 10 == 3 {
                    panic!("bad {x}");
                }
                x
            },
            0..30,
            MapOptions::new().chunksize(4),
        )
        .unwrap()
        .collect();
    assert_eq!(results.len(), 30);
    for (x, r) in results.iter().enumerate() {
        if x % 10 == 3 {
            match r {
                Err(FutureError::Failed(e)) => assert_eq!(e.message(), format!("bad {x}")),
                other => panic!("{other:?}"),
            }
        } else {
            assert_eq!(r, &Ok(x as u32));
        }
    }
}

fn fib_join(pool: &ThreadPool, n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = pool.join(|| fib_join(pool, n - 1), || fib_join(pool, n - 2));
    a + b
}

/// `join` inside a task on one thread: every wait for the second half finds it unstarted
/// and runs it; nothing blocks and no thread is started.
#[test]
fn nested_joins_on_one_thread_run_every_half_here() {
    let pool = Arc::new(ThreadPool::builder().max_workers(1).build().unwrap());
    let p = pool.clone();
    assert_eq!(
        pool.spawn(move || fib_join(&p, 16)).unwrap().take(),
        Ok(987)
    );
    assert_eq!(pool.stats().workers_started, 1, "{:?}", pool.stats());
    // And from outside the pool: the caller runs `a`, a worker runs `b`.
    assert_eq!(fib_join(&pool, 12), 144);
}

/// `join` inside a task whose first closure spawns a task and leaves it queued: that
/// task sits above the second closure on the worker's deque. With no thread to spare
/// (`max_extra_threads(0)`, one worker) the join must still take its second closure back
/// and run it; before, taking it back stopped at the spawned task, and the join blocked
/// on a closure in its own deque that no thread could take (a hang, caught by `within`).
/// The spawned task still runs, after the join.
#[test]
fn a_join_takes_back_its_second_half_from_under_a_spawned_task() {
    common::within("the join under a spawned task", || {
        let pool = Arc::new(
            ThreadPool::builder()
                .max_workers(1)
                .max_extra_threads(0)
                .build()
                .unwrap(),
        );
        let p = pool.clone();
        let (spawned, here) = pool
            .spawn(move || {
                let worker = std::thread::current().id();
                let q = p.clone();
                let (spawned, ran_on) = p.join(
                    move || {
                        let first = q.spawn(|| 3).unwrap();
                        let second = q.spawn(|| 4).unwrap();
                        (first, second)
                    },
                    || std::thread::current().id(),
                );
                (spawned, ran_on == worker)
            })
            .unwrap()
            .take()
            .unwrap();
        assert!(here, "the second closure ran on the joining worker");
        assert_eq!((spawned.0.take(), spawned.1.take()), (Ok(3), Ok(4)));
        assert_eq!(pool.stats().workers_started, 1, "{:?}", pool.stats());
    });
}

/// The same at default settings: the join takes its second closure back instead of
/// blocking on it, so no thread is started in the worker's place. Before, the worker
/// blocked and the pool started a thread to run the closure from its deque.
#[test]
fn a_join_under_a_spawned_task_starts_no_thread() {
    let pool = Arc::new(ThreadPool::builder().max_workers(1).build().unwrap());
    let p = pool.clone();
    let spawned = pool
        .spawn(move || {
            let q = p.clone();
            p.join(move || q.spawn(|| 5).unwrap(), || 6)
        })
        .unwrap()
        .take()
        .unwrap();
    assert_eq!((spawned.0.take(), spawned.1), (Ok(5), 6));
    let stats = pool.stats();
    assert_eq!(
        (stats.workers_started, stats.workers_replaced),
        (1, 0),
        "{stats:?}"
    );
}

/// A join whose first closure runs a map that leaves helper tasks queued above the second
/// closure (the other worker is held, so they never start before the map is done): the
/// join takes its closure back from under them (before, it blocked with no thread to
/// spare: a hang).
#[test]
fn a_join_takes_back_its_second_half_from_under_a_maps_helpers() {
    common::within("the join under a map's helpers", || {
        let pool = Arc::new(
            ThreadPool::builder()
                .max_workers(2)
                .max_extra_threads(0)
                .build()
                .unwrap(),
        );
        let gate = Gate::new();
        let busy = occupy(&pool, &gate);
        let p = pool.clone();
        let sums = pool
            .spawn(move || {
                p.join(
                    || p.map_collect(|x: u64| x * 2, 0..100u64, MapOptions::new().chunksize(10)),
                    || 7,
                )
            })
            .unwrap()
            .take()
            .unwrap();
        assert_eq!(sums.0.map(|v| v.iter().sum::<u64>()), Ok(9900));
        assert_eq!(sums.1, 7);
        gate.open();
        assert_eq!(busy.result(), Ok(()));
    });
}

/// A scope inside a task whose closure leaves fire-and-forget tasks queued between and
/// above its own tasks: on the worker's deque, the scope's tasks sit under jobs that are
/// not the scope's. With no thread to spare (`max_extra_threads(0)`, one worker) the
/// scope's end must still run its tasks; before, it stopped at the first other job and
/// blocked on tasks in its own deque that no thread could take (a hang, caught by
/// `within`). The spawned tasks still run, after the scope.
#[test]
fn a_scope_runs_its_tasks_from_under_spawned_tasks() {
    common::within("the scope under spawned tasks", || {
        let pool = Arc::new(
            ThreadPool::builder()
                .max_workers(1)
                .max_extra_threads(0)
                .build()
                .unwrap(),
        );
        let p = pool.clone();
        let (lens, spawned) = pool
            .spawn(move || {
                let words = ["a", "bb", "ccc"];
                let mut lens = [0usize; 3];
                let spawned = p.scope(|s| {
                    let mut spawned = Vec::new();
                    for (word, len) in words.iter().zip(lens.iter_mut()) {
                        s.spawn(move || *len = word.len()).unwrap();
                        let tens = word.len() * 10;
                        spawned.push(p.spawn(move || tens).unwrap());
                    }
                    spawned
                });
                (lens, spawned)
            })
            .unwrap()
            .take()
            .unwrap();
        assert_eq!(lens, [1, 2, 3]);
        let spawned: Vec<_> = spawned.iter().map(|f| f.result()).collect();
        assert_eq!(spawned, [Ok(10), Ok(20), Ok(30)]);
        assert_eq!(pool.stats().workers_started, 1, "{:?}", pool.stats());
    });
}

/// The same at default settings: the scope's end runs its tasks from under the spawned
/// one instead of blocking on them, so no thread is started in the worker's place.
/// Before, the worker blocked and the pool started a thread to run them from its deque.
#[test]
fn a_scope_under_a_spawned_task_starts_no_thread() {
    let pool = Arc::new(ThreadPool::builder().max_workers(1).build().unwrap());
    let p = pool.clone();
    let (len, spawned) = pool
        .spawn(move || {
            let word = "four";
            let mut len = 0;
            let spawned = p.scope(|s| {
                s.spawn(|| len = word.len()).unwrap();
                p.spawn(|| 5).unwrap()
            });
            (len, spawned)
        })
        .unwrap()
        .take()
        .unwrap();
    assert_eq!((len, spawned.take()), (4, Ok(5)));
    let stats = pool.stats();
    assert_eq!(
        (stats.workers_started, stats.workers_replaced),
        (1, 0),
        "{stats:?}"
    );
}

/// A scope whose closure runs a map that leaves helper tasks queued above the scope's
/// task (the other worker is held, so they never start before the map is done): the
/// scope's end runs its task from under them (before, it blocked with no thread to spare:
/// a hang).
#[test]
fn a_scope_runs_its_task_from_under_a_maps_helpers() {
    common::within("the scope under a map's helpers", || {
        let pool = Arc::new(
            ThreadPool::builder()
                .max_workers(2)
                .max_extra_threads(0)
                .build()
                .unwrap(),
        );
        let gate = Gate::new();
        let busy = occupy(&pool, &gate);
        let p = pool.clone();
        let (sum, seven) = pool
            .spawn(move || {
                let mut seven = 0;
                let sum = p.scope(|s| {
                    s.spawn(|| seven = 7).unwrap();
                    p.map_collect(|x: u64| x * 2, 0..100u64, MapOptions::new().chunksize(10))
                });
                (sum, seven)
            })
            .unwrap()
            .take()
            .unwrap();
        assert_eq!(sum.map(|v| v.iter().sum::<u64>()), Ok(9900));
        assert_eq!(seven, 7);
        gate.open();
        assert_eq!(busy.result(), Ok(()));
    });
}

/// A task waiting (untimed) on a task it queued, under a task it queued after: the wait
/// claims the task through its future, not the deque, so where it sits does not matter;
/// it runs here, with no thread to spare. (This held before; kept as the wait's half of
/// "nothing waits on work buried in its own deque".)
#[test]
fn a_wait_runs_its_task_from_under_a_spawned_task() {
    common::within("the wait under a spawned task", || {
        let pool = Arc::new(
            ThreadPool::builder()
                .max_workers(1)
                .max_extra_threads(0)
                .build()
                .unwrap(),
        );
        let p = pool.clone();
        let (waited, spawned) = pool
            .spawn(move || {
                let buried = p.spawn(|| 8).unwrap();
                let spawned = p.spawn(|| 9).unwrap();
                (buried.take(), spawned)
            })
            .unwrap()
            .take()
            .unwrap();
        assert_eq!((waited, spawned.take()), (Ok(8), Ok(9)));
        assert_eq!(pool.stats().workers_started, 1, "{:?}", pool.stats());
    });
}

/// A result whose drop waits for a promise: user code that blocks.
struct WaitsOnDrop(TaskFuture<()>);

impl Drop for WaitsOnDrop {
    fn drop(&mut self) {
        assert_eq!(self.0.take(), Ok(()));
    }
}

/// A join whose first closure leaves, above the second closure on the worker's deque, a
/// spent entry (a task that a wait ran here, whose result only that entry still owns)
/// under a queued task. Taking the second closure back consumes the spent entry, which
/// drops the result: user code, here a drop that waits for the queued task. It must run
/// only once the jobs set aside are back in the deque, where the thread started in the
/// blocked worker's place finds the queued task. Before, the result was dropped while the
/// queued task was set aside, out of every queue: a hang, caught by `within`.
#[test]
fn a_join_drops_a_spent_result_after_the_jobs_set_aside_are_back() {
    common::within("the join dropping a result that waits", || {
        let pool = Arc::new(ThreadPool::builder().max_workers(1).build().unwrap());
        let p = pool.clone();
        let joined = pool
            .spawn(move || {
                let q = p.clone();
                p.join(
                    move || {
                        let (release, released) = Promise::new();
                        let spent = q.spawn(move || WaitsOnDrop(released)).unwrap();
                        // Runs it here, and leaves its result in place.
                        assert_eq!(spent.exception(), Ok(None));
                        drop(spent);
                        drop(q.spawn(move || release.set_result(())).unwrap());
                    },
                    || 2,
                )
            })
            .unwrap()
            .take();
        assert_eq!(joined, Ok(((), 2)));
    });
}

#[test]
fn join_borrows_from_the_caller() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let mut left = vec![1, 2, 3];
    let mut right = vec![10, 20];
    let (a, b) = pool.join(
        || {
            left.push(4);
            left.iter().sum::<i32>()
        },
        || {
            right.push(30);
            right.iter().sum::<i32>()
        },
    );
    assert_eq!((a, b), (10, 60));
    assert_eq!((left.len(), right.len()), (4, 3));
}

/// A panic in the first closure goes on only once the second is done (it borrows from
/// the frame the panic unwinds).
#[test]
fn a_panic_in_the_first_closure_waits_for_the_second() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let gate = Gate::new();
    let finished = AtomicUsize::new(0);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.join(
            || {
                gate.open();
                panic!("first");
            },
            || {
                gate.wait();
                // Only widens the window in which a join that did not wait would be seen.
                std::thread::sleep(std::time::Duration::from_millis(20));
                finished.fetch_add(1, Ordering::SeqCst);
            },
        )
    }));
    let payload = outcome.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"first"));
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "the second closure finished first"
    );
}

#[test]
fn a_panic_in_the_second_closure_is_the_joins_panic() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.join(|| 1, || -> u32 { panic!("second") })
    }));
    let payload = outcome.unwrap_err();
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"second"),
        "its own payload"
    );
    assert_eq!(
        pool.spawn(|| 2).unwrap().result(),
        Ok(2),
        "the pool still works"
    );
}

/// On a pool that refuses work the second closure runs on the caller, after the first.
#[test]
fn join_on_a_shut_down_pool_runs_both_here() {
    let pool = ThreadPool::new();
    pool.shutdown();
    let caller = std::thread::current().id();
    let (a, b) = pool.join(
        || std::thread::current().id(),
        || std::thread::current().id(),
    );
    assert_eq!((a, b), (caller, caller));
}

/// A cancelling shutdown drops the queued second half: it runs on the caller instead.
#[test]
fn join_runs_a_second_half_that_a_cancelling_shutdown_dropped() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let gate = Gate::new();
    let busy = occupy(&pool, &gate);
    let caller = std::thread::current().id();
    let (a, b) = pool.join(
        || {
            // The only worker is held: the second half waits in the queue, and goes.
            pool.shutdown_with(future_core::ShutdownOptions {
                wait: false,
                cancel_futures: true,
            });
            std::thread::current().id()
        },
        || std::thread::current().id(),
    );
    assert_eq!((a, b), (caller, caller));
    gate.open();
    assert_eq!(busy.result(), Ok(()));
}

/// The second half taken by another thread: the caller waits for it (parked, when the
/// second half takes a while), then has its value, round after round.
#[test]
fn join_waits_for_a_second_half_that_another_thread_took() {
    let pool = ThreadPool::builder().max_workers(2).build().unwrap();
    let rounds = if cfg!(miri) { 5 } else { 50 };
    for round in 0..rounds {
        let started = Gate::new();
        let caller = std::thread::current().id();
        let (a, (b, ran_on)) = pool.join(
            || {
                // From outside the pool the second half is queued: a worker takes it.
                started.wait();
                round
            },
            || {
                started.open();
                // Long enough that the caller stops spinning and parks, most rounds.
                std::thread::sleep(std::time::Duration::from_millis(1));
                (round * 2, std::thread::current().id())
            },
        );
        assert_eq!((a, b), (round, round * 2));
        assert_ne!(ran_on, caller, "a worker ran the second half");
    }
    common::eventually("the second halves count as tasks", || {
        pool.stats().completed == rounds
    });
}

/// Inside a task on two threads: the other worker steals the second half while the first
/// blocks in its first half; both halves' effects are seen after the join, and a panic of
/// the stolen half reaches the task that joined, whose future fails with it.
#[test]
fn a_stolen_second_half_hands_its_value_and_its_panic_to_the_joining_task() {
    let pool = Arc::new(ThreadPool::builder().max_workers(2).build().unwrap());
    let p = pool.clone();
    let value = pool
        .spawn(move || {
            let stolen = Gate::new();
            p.join(
                || stolen.wait(),
                || {
                    stolen.open();
                    std::thread::current().id()
                },
            )
            .1
        })
        .unwrap()
        .take()
        .unwrap();
    assert_ne!(value, std::thread::current().id());
    let p = pool.clone();
    let failed = pool
        .spawn(move || {
            let stolen = Gate::new();
            p.join(
                || stolen.wait(),
                || -> u8 {
                    stolen.open();
                    panic!("stolen half")
                },
            )
        })
        .unwrap()
        .take()
        .unwrap_err();
    match failed {
        FutureError::Failed(err) => assert_eq!(err.message(), "stolen half"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        pool.spawn(|| 3).unwrap().result(),
        Ok(3),
        "the pool still works"
    );
}
