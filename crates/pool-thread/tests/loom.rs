//! Loom models of the pool's sleep/wake protocol (`src/sleep.rs`, see `SLEEP.md`): each
//! explores every interleaving of a small scenario on the real protocol code.
//!
//! crossbeam-deque is not loom-aware, so the queue is a stand-in: a counter of queued
//! jobs whose operations are all `Relaxed`, on purpose: the protocol's own read-modify-
//! writes of its state word must give the ordering (a lost wake-up shows up as a loom
//! deadlock: a worker parked forever).
//!
//! Run with `cargo xtask loom`, or:
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p pool-thread --test loom --release`
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{
    AtomicBool, AtomicUsize,
    Ordering::{Acquire, Relaxed, Release},
};
use loom::thread;

use pool_thread::bound::{Bound, NoRoom, Room};
use pool_thread::sleep::{IdleWake, Sleep, Sleeper};

/// The stand-in queue: how many jobs wait.
#[derive(Default)]
struct Queue(AtomicUsize);

impl Queue {
    fn push(&self) {
        self.0.fetch_add(1, Release);
    }

    fn take(&self) -> bool {
        let mut n = self.0.load(Acquire);
        while n > 0 {
            match self.0.compare_exchange(n, n - 1, Acquire, Relaxed) {
                Ok(_) => return true,
                Err(now) => n = now,
            }
        }
        false
    }

    fn has_work(&self) -> bool {
        self.0.load(Acquire) > 0
    }
}

/// A pool state with `threads` worker threads already started and idle.
fn pool_with_idle_threads(threads: usize) -> Arc<Sleep> {
    let sleep = Arc::new(Sleep::new(threads));
    // Submits that each start a thread, whose (phantom) jobs then finish.
    for _ in 0..threads {
        assert_eq!(sleep.begin_submit(), Ok(true));
    }
    for _ in 0..threads {
        sleep.end_submit();
        sleep.add_token();
    }
    sleep
}

/// The submit path: begin, push, end.
fn submit(sleep: &Sleep, queue: &Queue) -> bool {
    match sleep.begin_submit() {
        Ok(spawn) => {
            assert!(!spawn, "an idle thread was spare: no new thread");
            queue.push();
            sleep.end_submit();
            true
        }
        Err(_) => false,
    }
}

/// A worker's main loop (as `worker.rs` runs it, without the spinning): run jobs until
/// `stop` says so (checked before sleeping, and as part of the re-check after
/// registering), sleep when there are none.
fn idle_worker(sleep: &Sleep, queue: &Queue, ran: &AtomicUsize, stop: impl Fn() -> bool) {
    let me = Sleeper::current();
    // As in `worker.rs`: counted searching from the first empty search until it finds a
    // job (the last searcher then wakes a sleeper), sleeps, or exits.
    let mut searching = false;
    loop {
        if queue.take() {
            if std::mem::take(&mut searching) {
                sleep.stop_searching(true);
            }
            ran.fetch_add(1, Relaxed);
            sleep.add_token();
            continue;
        }
        if !searching {
            sleep.start_searching();
            searching = true;
            continue;
        }
        if stop() {
            sleep.stop_searching(false);
            return;
        }
        if sleep.can_exit() {
            if queue.take() {
                searching = false;
                sleep.stop_searching(true);
                ran.fetch_add(1, Relaxed);
                continue;
            }
            sleep.stop_searching(false);
            return;
        }
        match sleep.sleep_idle(&me, || queue.has_work() || stop(), None) {
            IdleWake::Search => {}
            IdleWake::Shutdown => thread::yield_now(),
            IdleWake::Retire => unreachable!("no keep-alive in the models"),
        }
    }
}

/// A submit racing the only worker on its way to sleep: the worker must run the job
/// (else it sleeps forever and loom reports the deadlock).
#[test]
fn submit_races_worker_going_to_sleep() {
    loom::model(|| {
        let sleep = pool_with_idle_threads(1);
        let queue = Arc::new(Queue::default());
        let ran = Arc::new(AtomicUsize::new(0));
        let worker = {
            let (sleep, queue, ran) = (sleep.clone(), queue.clone(), ran.clone());
            thread::spawn(move || idle_worker(&sleep, &queue, &ran, || ran.load(Relaxed) == 1))
        };
        assert!(submit(&sleep, &queue));
        worker.join().unwrap();
        assert_eq!(ran.load(Relaxed), 1);
    });
}

/// One submit, two sleeping workers: exactly one is woken, and the job runs even when the
/// woken one finds it already taken by the other (a stolen wake-up).
#[test]
fn submit_with_two_sleepers() {
    sleepers_model(1);
}

/// Two submits, two sleeping workers: both jobs run. The larger model (about 1.5 min with
/// `LOOM_MAX_PREEMPTIONS=2` on 2 cores); run it with `--ignored`.
#[test]
#[ignore = "a large model: run with --ignored"]
fn two_submits_two_sleepers() {
    sleepers_model(2);
}

/// `jobs` submits from one thread racing two workers that go to sleep.
fn sleepers_model(jobs: usize) {
    loom::model(move || {
        let sleep = pool_with_idle_threads(2);
        let queue = Arc::new(Queue::default());
        let ran = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (sleep, queue, ran, done) =
                    (sleep.clone(), queue.clone(), ran.clone(), done.clone());
                thread::spawn(move || {
                    idle_worker(&sleep, &queue, &ran, || {
                        // The worker that ran the second job (never, if a wake-up was
                        // lost: then loom reports the deadlock) lets the other one go.
                        if ran.load(Relaxed) == jobs && !done.swap(true, Release) {
                            sleep.wake_all();
                        }
                        done.load(Acquire)
                    })
                })
            })
            .collect();
        for _ in 0..jobs {
            assert!(submit(&sleep, &queue));
        }
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(ran.load(Relaxed), jobs);
    });
}

/// Shutdown racing a submit: the submit is either refused, or its job runs before the
/// worker exits (never stranded in the queue), and the worker exits.
#[test]
fn shutdown_races_submit() {
    loom::model(|| {
        let sleep = pool_with_idle_threads(1);
        let queue = Arc::new(Queue::default());
        let ran = Arc::new(AtomicUsize::new(0));
        let worker = {
            let (sleep, queue, ran) = (sleep.clone(), queue.clone(), ran.clone());
            thread::spawn(move || idle_worker(&sleep, &queue, &ran, || false))
        };
        let submitter = {
            let (sleep, queue) = (sleep.clone(), queue.clone());
            thread::spawn(move || submit(&sleep, &queue))
        };
        sleep.shutdown();
        let accepted = submitter.join().unwrap();
        worker.join().unwrap();
        assert_eq!(ran.load(Relaxed), usize::from(accepted));
        assert!(!queue.has_work());
    });
}

/// The only worker is blocked on a future whose task is submitted from outside: it must
/// wake and run that task itself (the nested-wait path of `WaitHook::block_on`).
#[test]
fn blocked_worker_runs_the_task_it_waits_for() {
    loom::model(|| {
        let sleep = Arc::new(Sleep::new(1));
        // The worker is busy (its task is the one that blocks): no spare token.
        assert_eq!(sleep.begin_submit(), Ok(true));
        sleep.end_submit();
        let queue = Arc::new(Queue::default());
        let future_done = Arc::new(AtomicBool::new(false));
        let worker = {
            let (sleep, queue, future_done) = (sleep.clone(), queue.clone(), future_done.clone());
            thread::spawn(move || {
                let me = Sleeper::current();
                let mut search = false;
                loop {
                    if std::mem::take(&mut search) && queue.take() {
                        sleep.add_token();
                        future_done.store(true, Relaxed);
                    }
                    if future_done.load(Relaxed) {
                        return;
                    }
                    if queue.take() {
                        sleep.add_token();
                        future_done.store(true, Relaxed);
                        continue;
                    }
                    search = sleep.sleep_blocked(&me, || queue.has_work(), None);
                }
            })
        };
        // At the maximum already: the job must go to the blocked worker.
        assert_eq!(sleep.begin_submit(), Ok(false));
        queue.push();
        sleep.end_submit();
        worker.join().unwrap();
        assert!(future_done.load(Relaxed));
    });
}

/// A blocked worker is woken by its future's completion (the waker unparks it) while a
/// submit may also notify it: it returns, and a notification it got is not lost (it
/// searches and runs the job before leaving the wait).
#[test]
fn blocked_worker_woken_by_its_future_or_by_work() {
    loom::model(|| {
        let sleep = Arc::new(Sleep::new(1));
        assert_eq!(sleep.begin_submit(), Ok(true));
        sleep.end_submit();
        let queue = Arc::new(Queue::default());
        let ran = Arc::new(AtomicUsize::new(0));
        let future_done = Arc::new(AtomicBool::new(false));
        let worker = {
            let (sleep, queue, ran, future_done) = (
                sleep.clone(),
                queue.clone(),
                ran.clone(),
                future_done.clone(),
            );
            thread::spawn(move || {
                let me = Sleeper::current();
                let mut search = false;
                loop {
                    if std::mem::take(&mut search) && queue.take() {
                        sleep.add_token();
                        ran.fetch_add(1, Relaxed);
                    }
                    if future_done.load(Acquire) {
                        break;
                    }
                    search = sleep.sleep_blocked(&me, || queue.has_work(), None);
                }
                // Back in its task; once it finishes, the main loop runs what is left.
                sleep.add_token();
                idle_worker(&sleep, &queue, &ran, || ran.load(Relaxed) == 1)
            })
        };
        let completer = {
            let (future_done, thread) = (future_done.clone(), worker.thread().clone());
            thread::spawn(move || {
                // The future completes (under its lock in the real code), then its
                // waker unparks the waiting thread.
                future_done.store(true, Release);
                thread.unpark();
            })
        };
        assert_eq!(sleep.begin_submit(), Ok(false));
        queue.push();
        sleep.end_submit();
        completer.join().unwrap();
        worker.join().unwrap();
        assert_eq!(ran.load(Relaxed), 1);
    });
}

/// A bound of `limit` already full, `producers` submitters that each wait for one place,
/// and a taker that drains the `limit` queued jobs: every submitter gets in (a wake-up at
/// the low-water mark, none lost), and the queue never holds more than `limit`.
fn bound_model(limit: usize, producers: usize) {
    loom::model(move || {
        let bound = Arc::new(Bound::new(limit));
        for _ in 0..limit {
            assert_eq!(bound.reserve(Room::Fail, || false), Ok(()));
        }
        let submitters: Vec<_> = (0..producers)
            .map(|_| {
                let bound = bound.clone();
                thread::spawn(move || {
                    assert_eq!(bound.reserve(Room::Wait, || false), Ok(()));
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
        assert_eq!(bound.reserve(Room::Fail, || false), Ok(()));
        let closed = Arc::new(AtomicBool::new(false));
        let submitter = {
            let (bound, closed) = (bound.clone(), closed.clone());
            thread::spawn(move || bound.reserve(Room::Wait, || closed.load(Acquire)))
        };
        closed.store(true, Release);
        bound.wake_all();
        assert_eq!(submitter.join().unwrap(), Err(NoRoom::Closed));
        assert_eq!(bound.queued(), 1);
    });
}
