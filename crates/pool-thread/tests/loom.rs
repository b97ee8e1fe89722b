//! Loom models of the pool: each explores every interleaving of a small scenario on the
//! real code, the pool itself (its worker loop, thread start and retirement, kept tokens,
//! the sleep/wake protocol, blocked workers and the threads started in their place,
//! scopes) with a loom-aware stand-in for the deques (`src/queue.rs`), and the queue
//! bound (`src/bound.rs`). A lost wake-up shows up as a loom deadlock: a job queued while
//! every thread that could run it sleeps.
//!
//! Run with `cargo xtask loom`, or:
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p pool-thread --test loom --release`
#![cfg(loom)]

use std::time::Duration;

use future_core::executor::{Promise, blocking};
use future_core::{SubmitError, TaskFuture};
use loom::sync::Arc;
use loom::sync::atomic::{
    AtomicBool,
    Ordering::{Acquire, Release},
};
use loom::thread;

use pool_thread::ThreadPool;
use pool_thread::bound::{Bound, Refused, WhenFull};

/// A pool of `workers` threads that keeps idle threads (no keep-alive timer in a model)
/// and starts no thread in place of a blocked one unless asked. It prints the panics its
/// tasks' boundaries catch: no task of a model panics, but loom reports a deadlock by
/// panicking in the thread that parks last, often inside a task, where the message would
/// otherwise be hidden (the process then aborts, loom's panic going on in a drop).
fn pool(workers: usize, extra: usize) -> ThreadPool {
    ThreadPool::builder()
        .max_workers(workers)
        .max_extra_threads(extra)
        .keep_alive(None)
        .print_task_panics(true)
        .build()
        .unwrap()
}

/// Runs `model` with at most `preemptions` preemptions: the models of the whole pool are
/// large, so each gets the bound that finishes in seconds to a minute on 2 cores (the
/// `LOOM_MAX_PREEMPTIONS` of `cargo xtask loom` applies to the smaller models below).
fn bounded(preemptions: usize, model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemptions);
    builder.check(model);
}

/// A submit racing the only worker on its way to sleep after its first task: the worker
/// (or a new thread) must run it.
#[test]
fn a_submit_racing_the_only_worker_going_to_sleep() {
    loom::model(|| {
        let pool = pool(1, 0);
        assert_eq!(pool.spawn(|| 1).unwrap().take(), Ok(1));
        assert_eq!(pool.spawn(|| 2).unwrap().take(), Ok(2));
        drop(pool);
    });
}

/// Two jobs that must run at the same time (one waits on the other, and no thread is
/// started in a blocked one's place) on a pool whose two threads are idle: the submit of
/// the first wakes one sleeper; the second submit may see that one searching and wake
/// nobody, so the searcher, once it finds a job, must wake the other sleeper ("the last
/// searcher wakes one more", sleep/README.md). Without that step this model deadlocks.
#[test]
fn two_jobs_that_must_overlap_both_run() {
    bounded(1, || {
        let pool = pool(2, 0);
        // Start both threads: the first task waits for the second.
        let (started, warm) = Promise::<()>::new();
        let first = pool.spawn(move || warm.take().unwrap()).unwrap();
        pool.spawn(move || started.set_result(())).unwrap();
        first.take().unwrap();
        // Both threads are idle (or on their way to sleep); now the pair that must overlap.
        let (release, gate) = Promise::<u8>::new();
        let waiting = pool.spawn(move || gate.take().unwrap()).unwrap();
        pool.spawn(move || release.set_result(7)).unwrap();
        assert_eq!(waiting.take(), Ok(7));
        drop(pool);
    });
}

/// Shutdown racing a submit from another thread: the submit is refused, or its task runs
/// before `shutdown(wait)` returns; never stranded.
#[test]
fn shutdown_races_a_submit() {
    loom::model(|| {
        let pool = Arc::new(pool(1, 0));
        let submitter = {
            let pool = pool.clone();
            thread::spawn(move || pool.spawn(|| 3))
        };
        pool.shutdown();
        match submitter.join().unwrap() {
            Ok(future) => assert_eq!(future.take(), Ok(3), "accepted, so it ran"),
            Err(err) => assert_eq!(err, SubmitError::Shutdown),
        }
    });
}

/// The only worker blocks on a future that a later task completes: a thread starts in its
/// place (`max_extra_threads`), whatever the order of the submit and the block.
#[test]
fn a_blocked_worker_is_replaced_for_queued_work() {
    bounded(2, || {
        let pool = pool(1, 1);
        let (release, gate) = Promise::<u8>::new();
        let waiting = pool.spawn(move || gate.take().unwrap() + 1).unwrap();
        pool.spawn(move || release.set_result(1)).unwrap();
        assert_eq!(waiting.take(), Ok(2));
        drop(pool);
    });
}

/// A task waits on a task it submitted: the waiting worker runs it itself, or the other
/// thread does, never both (the run in the queue finds it started).
#[test]
fn a_waiting_worker_runs_the_task_it_waits_for_or_another_thread_does() {
    bounded(2, || {
        let pool = Arc::new(pool(2, 0));
        let p = pool.clone();
        let outer = pool
            .spawn(move || {
                let inner = p.spawn(|| 5).unwrap();
                inner.take().unwrap() + 1
            })
            .unwrap();
        assert_eq!(outer.take(), Ok(6));
        drop(pool);
    });
}

/// An idle thread retires (a zero keep-alive) while a submit may come: the job runs,
/// on it or on a thread started anew.
#[test]
fn retirement_races_a_submit() {
    loom::model(|| {
        let pool = ThreadPool::builder()
            .max_workers(1)
            .keep_alive(Duration::ZERO)
            .build()
            .unwrap();
        assert_eq!(pool.spawn(|| 1).unwrap().take(), Ok(1));
        assert_eq!(pool.spawn(|| 2).unwrap().take(), Ok(2));
        drop(pool);
    });
}

/// A scope waits for its task, run by the pool's thread, before it returns.
#[test]
fn a_scope_returns_after_its_task() {
    loom::model(|| {
        let pool = pool(1, 0);
        let mut value = 0;
        pool.scope(|s| {
            s.spawn(|| value = 9).unwrap();
        });
        assert_eq!(value, 9);
        drop(pool);
    });
}

/// A join from outside the pool: its second half waits in the queue from the caller's
/// frame, the pool's thread runs it and sets the latch, racing the caller on its way to
/// park; the caller must see the value (and not return before the latch is set).
#[test]
fn a_join_from_outside_waits_for_its_second_half() {
    loom::model(|| {
        let pool = pool(1, 0);
        let mut left = 0;
        let mut right = 0;
        let (a, b) = pool.join(
            || {
                left = 1;
                10
            },
            || {
                right = 2;
                20
            },
        );
        assert_eq!((a, b, left, right), (10, 20, 1, 2));
        drop(pool);
    });
}

/// A join inside a task on two threads: the second half, on top of the joining worker's
/// deque, is either taken back by it or stolen by the other worker (which then sets the
/// latch the joiner waits on); either way both halves run once.
#[test]
fn a_join_inside_a_task_races_a_thief_for_its_second_half() {
    bounded(2, || {
        let pool = Arc::new(pool(2, 0));
        let p = pool.clone();
        let sum = pool
            .spawn(move || {
                let (a, b) = p.join(|| 1, || 2);
                a + b
            })
            .unwrap()
            .take();
        assert_eq!(sum, Ok(3));
        drop(pool);
    });
}

/// A join whose second closure goes on the worker's deque the short way (no submit: the
/// only worker runs a task) and must be stolen: the first half waits for the second, so
/// the worker blocks, the pool starts a thread in its place, and that thread takes the
/// second half, runs it and sets the latch. The token the short push took is the one the
/// blocked worker's replacement counts on; afterwards the pool still runs a task.
#[test]
fn a_join_pushed_the_short_way_is_stolen_by_a_blocked_workers_replacement() {
    bounded(2, || {
        let pool = Arc::new(pool(1, 1));
        let p = pool.clone();
        let sum = pool
            .spawn(move || {
                let (promise, future) = Promise::new();
                let (a, ()) = p.join(
                    move || future.take().unwrap_or(0),
                    move || promise.set_result(5),
                );
                a
            })
            .unwrap()
            .take();
        assert_eq!(sum, Ok(5));
        assert_eq!(pool.spawn(|| 1).unwrap().take(), Ok(1));
        drop(pool);
    });
}

/// A task's own blocking section around a wait on a future that a later task completes
/// (`blocking(|| future.take())`: the wait is a second, nested section) on the only
/// worker: it counts as blocked once, so a thread starts in its place for the later task
/// whatever the order. Counted twice (before: both sections told the pool), the count of
/// threads running tasks wrapped below zero (these models are release builds) when the
/// later submit came after both sections began, no thread started, and loom reported the
/// deadlock.
#[test]
fn a_nested_blocking_section_counts_its_worker_blocked_once() {
    bounded(2, || {
        let pool = pool(1, 1);
        let (release, gate) = Promise::<u8>::new();
        let waiting = pool
            .spawn(move || blocking(|| gate.take().unwrap()) + 1)
            .unwrap();
        pool.spawn(move || release.set_result(1)).unwrap();
        assert_eq!(waiting.take(), Ok(2));
        drop(pool);
    });
}

/// A join whose first closure spawns a task and leaves it queued, on the only worker
/// with no thread to spare: the second closure sits under that task on the worker's
/// deque, and the join takes it back from there; the spawned task runs after. Stopping at
/// the spawned task (before), the worker blocked on a closure in its own deque that no
/// thread could take: loom reported the deadlock.
#[test]
fn a_join_takes_back_its_second_half_from_under_a_spawned_task() {
    bounded(2, || {
        let pool = Arc::new(pool(1, 0));
        let p = pool.clone();
        let (spawned, b) = pool
            .spawn(move || {
                let q = p.clone();
                p.join(move || q.spawn(|| 3).unwrap(), || 4)
            })
            .unwrap()
            .take()
            .unwrap();
        assert_eq!((spawned.take(), b), (Ok(3), 4));
        drop(pool);
    });
}

/// A scope inside a task whose closure spawns a task and leaves it queued, on the only
/// worker with no thread to spare: the scope's task sits under that task on the worker's
/// deque, and the scope's end runs it from there; the spawned task runs after. Stopping
/// at the spawned task (before), the worker blocked on a task in its own deque that no
/// thread could take: loom reported the deadlock (with no preemption at all: the order
/// of the deque decides it, not a race).
#[test]
fn a_scope_runs_its_task_from_under_a_spawned_task() {
    bounded(2, || {
        let pool = Arc::new(pool(1, 0));
        let p = pool.clone();
        let (value, spawned) = pool
            .spawn(move || {
                let mut value = 0;
                let spawned = p.scope(|s| {
                    s.spawn(|| value = 9).unwrap();
                    p.spawn(|| 3).unwrap()
                });
                (value, spawned)
            })
            .unwrap()
            .take()
            .unwrap();
        assert_eq!((value, spawned.take()), (9, Ok(3)));
        drop(pool);
    });
}

/// A result whose drop waits for a promise: user code that blocks.
struct WaitsOnDrop(TaskFuture<()>);

impl Drop for WaitsOnDrop {
    fn drop(&mut self) {
        assert_eq!(self.0.take(), Ok(()));
    }
}

/// A join whose first closure leaves, above the second closure, a spent entry (a task a
/// wait ran here, whose result only that entry owns) under a queued task that the
/// result's drop waits for, on the only worker with one thread to spare. Taking the
/// second closure back consumes the entry only once every popped job is back in the
/// deque, so the thread started in the blocked worker's place finds them. Dropped while
/// the queued task was set aside (before), it hung: loom reported the deadlock.
#[test]
fn a_join_drops_a_spent_result_after_the_jobs_set_aside_are_back() {
    bounded(1, || {
        let pool = Arc::new(pool(1, 1));
        let p = pool.clone();
        let joined = pool
            .spawn(move || {
                let q = p.clone();
                p.join(
                    move || {
                        let (release, released) = Promise::new();
                        let spent = q.spawn(move || WaitsOnDrop(released)).unwrap();
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
        drop(pool);
    });
}

/// The same on two workers, the second closure waiting on the spawned task (through a
/// promise it sets), so another thread must run that task: the join sets it aside while it
/// takes its closure back, and the other worker may look at the queues just then and go
/// to sleep; or the other worker steals the second closure, and the joining worker pops
/// the task, pushes it back and blocks in `join`. Either way the task must reach a thread:
/// with no wake-up after a push back (`Sleep::jobs_pushed_back`, here after the join's and
/// after the blocking worker's), loom reports the deadlock.
#[test]
fn a_job_set_aside_by_a_join_is_not_hidden_from_a_sleeper() {
    bounded(2, || {
        let pool = Arc::new(pool(2, 1));
        let p = pool.clone();
        let value = pool
            .spawn(move || {
                let (promise, future) = Promise::new();
                let q = p.clone();
                let ((), b) = p.join(
                    move || drop(q.spawn(move || promise.set_result(5)).unwrap()),
                    move || future.take().unwrap(),
                );
                b
            })
            .unwrap()
            .take();
        assert_eq!(value, Ok(5));
        drop(pool);
    });
}

/// A task queues a task on its worker's deque and blocks on a promise that task sets, on
/// two workers with no thread to spare: the other worker must run it. Before it parks,
/// the blocking worker takes the spent jobs off its deque, popping the pending one and
/// pushing it back; the other worker may look at the queues just then and go to sleep,
/// and must be woken when the job is back (`Sleep::jobs_pushed_back`), or loom reports
/// the deadlock.
#[test]
fn a_job_popped_and_pushed_back_by_a_blocking_worker_is_not_hidden() {
    bounded(2, || {
        let pool = Arc::new(pool(2, 0));
        let p = pool.clone();
        let value = pool
            .spawn(move || {
                let (promise, future) = Promise::new();
                drop(p.spawn(move || promise.set_result(6)).unwrap());
                future.take().unwrap()
            })
            .unwrap()
            .take();
        assert_eq!(value, Ok(6));
        drop(pool);
    });
}

/// A bound of `limit` already full, `producers` submitters that each wait for one place,
/// and a taker that drains the `limit` queued jobs: every submitter gets in (a wake-up at
/// the low-water mark, none lost), and the queue never holds more than `limit`.
fn bound_model(limit: usize, producers: usize) {
    loom::model(move || {
        let bound = Arc::new(Bound::new(limit));
        for _ in 0..limit {
            assert_eq!(bound.reserve(WhenFull::Refuse, || false), Ok(()));
        }
        let submitters: Vec<_> = (0..producers)
            .map(|_| {
                let bound = bound.clone();
                thread::spawn(move || {
                    assert_eq!(bound.reserve(WhenFull::Wait, || false), Ok(()));
                    assert!(bound.queued() <= limit, "the bound held");
                })
            })
            .collect();
        let taker = {
            let bound = bound.clone();
            thread::spawn(move || {
                for _ in 0..limit {
                    bound.take();
                }
            })
        };
        taker.join().unwrap();
        for s in submitters {
            s.join().unwrap();
        }
        assert_eq!(bound.queued(), producers);
    });
}

/// A submitter blocked on a full bound of 2 races the taker: it is woken when the queue
/// drops to one job (the low-water mark), not left waiting.
#[test]
fn blocked_submitter_woken_at_low_water() {
    bound_model(2, 1);
}

/// Two submitters blocked on a full bound of 2: the one wake-up at the low-water mark
/// must reach both (the taker's second take leaves the queue below the mark and wakes
/// nobody), so a wake-up given to one only would strand the other.
#[test]
fn two_blocked_submitters_both_get_in() {
    bound_model(2, 2);
}

/// Shutdown racing a submitter blocked on a full bound: it is refused, never left waiting.
#[test]
fn blocked_submitter_sees_shutdown() {
    loom::model(|| {
        let bound = Arc::new(Bound::new(1));
        assert_eq!(bound.reserve(WhenFull::Refuse, || false), Ok(()));
        let closed = Arc::new(AtomicBool::new(false));
        let submitter = {
            let (bound, closed) = (bound.clone(), closed.clone());
            thread::spawn(move || bound.reserve(WhenFull::Wait, || closed.load(Acquire)))
        };
        closed.store(true, Release);
        bound.wake_all();
        assert_eq!(submitter.join().unwrap(), Err(Refused::Closed));
        assert_eq!(bound.queued(), 1);
    });
}
