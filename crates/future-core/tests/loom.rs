//! Loom models of every synchronization of this crate: each explores all interleavings of
//! a small scenario on the real code (the `sync` shim swaps std for loom).
//!
//! Run with `cargo xtask loom`, or:
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p future-core --test loom --release`
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering};

use future_core::executor::Promise;
use future_core::{FutureError, ReturnWhen, TaskFuture, as_completed, wait};
use loom::thread;

#[test]
fn complete_races_cancel() {
    loom::model(|| {
        let (promise, future) = Promise::<u8>::new();
        let canceller = {
            let future = future.clone();
            thread::spawn(move || future.cancel())
        };
        let ran = promise.run(|| 1);
        let cancelled = canceller.join().unwrap();
        assert!(ran != cancelled, "exactly one of run and cancel wins");
        match future.result() {
            Ok(1) => assert!(ran),
            Err(FutureError::Cancelled) => assert!(cancelled),
            other => panic!("unexpected {other:?}"),
        }
    });
}

#[test]
fn complete_races_a_blocked_waiter() {
    loom::model(|| {
        let (promise, future) = Promise::<u8>::new();
        let waiter = thread::spawn(move || future.result());
        promise.set_result(5);
        assert_eq!(waiter.join().unwrap(), Ok(5), "no lost wake-up");
    });
}

#[test]
fn callback_registration_races_completion() {
    loom::model(|| {
        let (promise, future) = Promise::<u8>::new();
        let calls = std::sync::Arc::new(AtomicUsize::new(0));
        let registrar = {
            let future = future.clone();
            let calls = calls.clone();
            thread::spawn(move || {
                future.add_done_callback(move |f: &TaskFuture<u8>| {
                    assert_eq!(f.result(), Ok(3));
                    calls.fetch_add(1, Ordering::SeqCst);
                });
            })
        };
        promise.set_result(3);
        registrar.join().unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1, "exactly once");
    });
}

#[test]
fn wait_first_completed_with_two_completing_threads() {
    loom::model(|| {
        let (p1, f1) = Promise::<u8>::new();
        let (p2, f2) = Promise::<u8>::new();
        let t1 = thread::spawn(move || p1.set_result(1));
        let t2 = thread::spawn(move || p2.set_result(2));
        let sets = wait([&f1, &f2], None, ReturnWhen::FirstCompleted);
        assert!(!sets.done.is_empty());
        t1.join().unwrap();
        t2.join().unwrap();
    });
}

#[test]
fn as_completed_with_two_completing_threads() {
    loom::model(|| {
        let (p1, f1) = Promise::<u8>::new();
        let (p2, f2) = Promise::<u8>::new();
        let t1 = thread::spawn(move || p1.set_result(1));
        let t2 = thread::spawn(move || p2.set_result(2));
        let mut sum = 0;
        for f in as_completed([&f1, &f2], None) {
            sum += f.unwrap().result().unwrap();
        }
        assert_eq!(sum, 3, "each future yielded once");
        t1.join().unwrap();
        t2.join().unwrap();
    });
}

#[test]
fn producer_drop_races_a_waiter() {
    loom::model(|| {
        let (promise, future) = Promise::<u8>::new();
        let waiter = thread::spawn(move || future.result());
        let dropper = thread::spawn(move || drop(promise));
        dropper.join().unwrap();
        let err = waiter.join().unwrap().unwrap_err();
        assert!(err.task_error().is_some(), "broken, not hung: {err}");
    });
}

/// A worker thread of the task's executor, as far as this crate is told.
struct Worker(future_core::executor::ExecutorId);

impl future_core::executor::WorkerThread for Worker {
    fn executor(&self) -> future_core::executor::ExecutorId {
        self.0
    }
    fn blocking(&self) {}
    fn unblocked(&self) {}
}

/// A task's run from its queue races a worker that waits on its future (and so may run
/// it itself) and a cancel: the closure runs at most once, exactly when the future says it
/// finished, and every party sees the same outcome.
#[test]
fn a_queued_run_races_a_waiting_worker_and_a_cancel() {
    use future_core::executor::{ExecutorId, Task, enter_worker};
    use std::sync::atomic::AtomicUsize;
    loom::model(|| {
        let executor = ExecutorId::new();
        let runs = std::sync::Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let (task, future) = Task::new(executor, move || {
            r.fetch_add(1, Ordering::SeqCst);
            7u8
        });
        let waiter = {
            let future = future.clone();
            thread::spawn(move || {
                let _worker = enter_worker(std::rc::Rc::new(Worker(executor)));
                future.result()
            })
        };
        let canceller = {
            let future = future.clone();
            thread::spawn(move || future.cancel())
        };
        let ran_from_queue = task.run().here();
        let cancelled = canceller.join().unwrap();
        let waited = waiter.join().unwrap();
        let runs = runs.load(Ordering::SeqCst);
        assert!(runs <= 1, "the closure ran {runs} times");
        match waited {
            Ok(7) => assert!(runs == 1 && !cancelled),
            Err(FutureError::Cancelled) => assert!(runs == 0 && cancelled && !ran_from_queue),
            other => panic!("unexpected {other:?}"),
        }
    });
}

/// Two threads clone a value out of a future (outside its lock) while a third takes it:
/// the take waits for the clones, and each of them gets the value or `Taken`.
#[test]
fn clones_race_a_take() {
    loom::model(|| {
        let (promise, future) = Promise::<u8>::new();
        promise.set_result(4);
        let reader = {
            let future = future.clone();
            thread::spawn(move || future.result())
        };
        let taken = future.take();
        let read = reader.join().unwrap();
        assert_eq!(taken, Ok(4));
        assert!(matches!(read, Ok(4) | Err(FutureError::Taken)), "{read:?}");
    });
}

/// A thread reads a value in place (`result_ref`) while another takes it and the producer
/// completes the future: exactly one of them has the value, the other gets `Taken` or
/// `Lent`, and a reference is never handed out to a value that is being moved.
#[test]
fn a_lend_races_a_take_and_the_completion() {
    loom::model(|| {
        let (promise, future) = Promise::<u8>::new();
        let producer = thread::spawn(move || promise.set_result(4));
        let reader = {
            let future = future.clone();
            thread::spawn(move || future.result_ref().map(|value| *value))
        };
        let taken = future.take();
        let read = reader.join().unwrap();
        producer.join().unwrap();
        match (taken, read) {
            (Ok(4), Err(FutureError::Taken)) | (Err(FutureError::Lent), Ok(4)) => {}
            other => panic!("one of them has the value: {other:?}"),
        }
    });
}

/// Panics when dropped (unless already unwinding).
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("the cancel guard panicked on drop");
        }
    }
}

/// A cancel whose guard (executor code) panics when dropped races a blocked waiter: the
/// guard is dropped after the lock is released, inside a panic boundary, so the cancel
/// still succeeds and the waiter is woken.
#[test]
fn a_cancel_whose_guard_panics_on_drop_races_a_blocked_waiter() {
    loom::model(|| {
        let (promise, future) = Promise::<u8>::new();
        let bomb = PanicOnDrop;
        promise.set_cancel_guard(move || {
            let _ = &bomb;
            true
        });
        let waiter = {
            let future = future.clone();
            thread::spawn(move || future.result())
        };
        assert!(future.cancel());
        assert_eq!(waiter.join().unwrap(), Err(FutureError::Cancelled));
        assert!(!promise.set_running_or_notify_cancel());
    });
}

// ---------------------------------------------------------------------------------------
// The lock-free future (issue 22): each transition of the state word against each other,
// with one listener (the slot) and with many (the slot and the list). Each wake-up of the
// protocol is needed by at least one of these: without it the model deadlocks (a waiter
// parked for good) or counts a listener run never or twice. See `src/README.md`.
// ---------------------------------------------------------------------------------------

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Wake, Waker};

/// A waker that raises a flag under a model mutex and signals a model condvar.
#[derive(Default)]
struct Signal {
    woken: loom::sync::Mutex<bool>,
    cond: loom::sync::Condvar,
}

impl Wake for Signal {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        *self.woken.lock().unwrap() = true;
        self.cond.notify_one();
    }
}

/// A waker that only counts (it wakes nobody).
struct Counting(AtomicUsize);

impl Wake for Counting {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls `future` to completion on this model thread, waiting on a signal between polls: only a
/// wake-up of the waker it registered lets it go on (a lost one is a loom deadlock). The
/// first poll, when `decoy` is set, uses a counting waker instead, so the second must
/// replace the registration.
fn await_on<F: Future + Unpin>(mut future: F, decoy: bool) -> F::Output {
    let signal = std::sync::Arc::new(Signal::default());
    let waker = Waker::from(signal.clone());
    if decoy {
        let counting = Waker::from(std::sync::Arc::new(Counting(AtomicUsize::new(0))));
        if let Poll::Ready(out) = Pin::new(&mut future).poll(&mut Context::from_waker(&counting)) {
            return out;
        }
    }
    loop {
        if let Poll::Ready(out) = Pin::new(&mut future).poll(&mut Context::from_waker(&waker)) {
            return out;
        }
        let mut woken = signal.woken.lock().unwrap();
        while !*woken {
            woken = signal.cond.wait(woken).unwrap();
        }
        *woken = false;
    }
}

/// The common case without a waiter: a completion, then a take, both lock-free; the value
/// moves once and every handle agrees.
#[test]
fn completion_races_a_take_without_waiting() {
    loom::model(|| {
        let (promise, future) = Promise::<u8>::new();
        let other = future.clone();
        let producer = thread::spawn(move || promise.set_result(9));
        let took = loop {
            if future.done() {
                break future.take();
            }
            thread::yield_now();
        };
        producer.join().unwrap();
        assert_eq!(took, Ok(9));
        assert_eq!(other.take(), Err(FutureError::Taken));
        assert_eq!(other.exception(), Ok(None));
    });
}

/// Two threads block on one future (one in the slot, one in the list, in either order)
/// while the producer completes it: both are woken.
#[test]
fn two_blocked_waiters_race_completion() {
    loom::model(|| {
        let (promise, future) = Promise::<u8>::new();
        let first = {
            let future = future.clone();
            thread::spawn(move || future.result())
        };
        let second = thread::spawn(move || future.result());
        promise.set_result(2);
        assert_eq!(first.join().unwrap(), Ok(2));
        assert_eq!(second.join().unwrap(), Ok(2));
    });
}

/// A callback and a blocked waiter race a cancel: the callback runs once and sees the
/// cancel, the waiter wakes with it.
#[test]
fn a_callback_and_a_waiter_race_a_cancel() {
    loom::model(|| {
        let (promise, future) = Promise::<u8>::new();
        let calls = std::sync::Arc::new(AtomicUsize::new(0));
        let registrar = {
            let future = future.clone();
            let calls = calls.clone();
            thread::spawn(move || {
                future.add_done_callback(move |f: &TaskFuture<u8>| {
                    assert!(f.cancelled());
                    calls.fetch_add(1, Ordering::SeqCst);
                });
            })
        };
        let waiter = {
            let future = future.clone();
            thread::spawn(move || future.result())
        };
        assert!(future.cancel());
        registrar.join().unwrap();
        assert_eq!(waiter.join().unwrap(), Err(FutureError::Cancelled));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "exactly once");
        assert!(!promise.set_running_or_notify_cancel());
    });
}

/// A callback registered before two more race the completion (the first holds the slot,
/// the others the list): each runs once, and those the completion runs run in registration
/// order (one added after it is done runs at once, in the adding thread).
#[test]
fn callbacks_in_the_slot_and_the_list_run_once_in_order() {
    loom::model(|| {
        let (promise, future) = Promise::<u8>::new();
        let ran = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let add = |n: u8| {
            let ran = ran.clone();
            future.add_done_callback(move |_: &TaskFuture<u8>| {
                ran.lock().unwrap().push((n, thread::current().id()));
            });
        };
        add(1);
        let producer = thread::spawn(move || promise.set_result(0));
        add(2);
        add(3);
        let producer_id = producer.thread().id();
        producer.join().unwrap();
        let ran = ran.lock().unwrap();
        let mut all: Vec<u8> = ran.iter().map(|&(n, _)| n).collect();
        all.sort_unstable();
        assert_eq!(all, vec![1, 2, 3], "each once");
        let by_completion: Vec<u8> = ran
            .iter()
            .filter(|&&(_, id)| id == producer_id)
            .map(|&(n, _)| n)
            .collect();
        assert!(by_completion.is_sorted(), "{by_completion:?}");
        assert!(
            by_completion.first() == Some(&1),
            "the first ran by the completion"
        );
    });
}

/// An `.await` that changes its waker between polls (a task moved between threads) races
/// the completion, with its registration in the slot: the new waker is the one woken.
#[test]
fn an_await_that_changes_its_waker_races_completion_in_the_slot() {
    loom::model(|| {
        let (promise, future) = Promise::<u8>::new();
        let producer = thread::spawn(move || promise.set_result(4));
        assert_eq!(await_on(future, true), Ok(4));
        producer.join().unwrap();
    });
}

/// The same with the registration in the list (a callback holds the slot).
#[test]
fn an_await_that_changes_its_waker_races_completion_in_the_list() {
    loom::model(|| {
        let (promise, future) = Promise::<u8>::new();
        future.add_done_callback(|_: &TaskFuture<u8>| {});
        let producer = thread::spawn(move || promise.set_result(4));
        assert_eq!(await_on(future, true), Ok(4));
        producer.join().unwrap();
    });
}

/// A waiter that gives up (a dropped `.await`: what a timeout does) races the completion
/// and a second waiter: the listener it removes is never run, the other waiter is woken,
/// and the slot it frees is not taken by a later registration out of order.
#[test]
fn a_waiter_that_gives_up_races_completion_and_another_waiter() {
    loom::model(|| {
        let (promise, future) = Promise::<u8>::new();
        let counted = std::sync::Arc::new(Counting(AtomicUsize::new(0)));
        let quitter = {
            let future = future.clone();
            let waker = Waker::from(counted.clone());
            thread::spawn(move || {
                let mut awaiting = future;
                let polled = Pin::new(&mut awaiting).poll(&mut Context::from_waker(&waker));
                drop(awaiting);
                polled.is_ready()
            })
        };
        let waiter = {
            let future = future.clone();
            thread::spawn(move || future.result())
        };
        promise.set_result(6);
        let quitter_ready = quitter.join().unwrap();
        let waited = waiter.join().unwrap();
        if quitter_ready {
            // It took the value as it became ready.
            assert!(
                matches!(waited, Ok(6) | Err(FutureError::Taken)),
                "{waited:?}"
            );
            assert_eq!(counted.0.load(Ordering::SeqCst), 0);
        } else {
            assert_eq!(waited, Ok(6));
            assert!(counted.0.load(Ordering::SeqCst) <= 1);
        }
    });
}

/// A cancel races the executor's start on a future with a cancel guard whose consent has
/// an effect (the process pool marks the task cancelled where it runs): a cancel the guard
/// allowed always turns the future cancelled, and the start then refuses.
#[test]
fn a_guarded_cancel_races_the_start() {
    use loom::sync::atomic::AtomicBool;
    loom::model(|| {
        let (promise, future) = Promise::<u8>::new();
        let marked = std::sync::Arc::new(AtomicBool::new(false));
        let m = marked.clone();
        promise.set_cancel_guard(move || {
            m.store(true, Ordering::SeqCst);
            true
        });
        let canceller = thread::spawn(move || future.cancel());
        let started = promise.set_running_or_notify_cancel();
        let cancelled = canceller.join().unwrap();
        assert!(started != cancelled, "exactly one wins");
        assert_eq!(
            marked.load(Ordering::SeqCst),
            cancelled,
            "allowed means cancelled"
        );
    });
}

/// A cancel races the guard's installation (as `send_ahead` does): a cancel that came
/// before is seen by the executor, one that comes after asks the guard.
#[test]
fn a_cancel_races_the_guard_being_set() {
    use loom::sync::atomic::AtomicBool;
    loom::model(|| {
        let (promise, future) = Promise::<u8>::new();
        let asked = std::sync::Arc::new(AtomicBool::new(false));
        let canceller = thread::spawn(move || future.cancel());
        let a = asked.clone();
        promise.set_cancel_guard(move || {
            a.store(true, Ordering::SeqCst);
            false
        });
        let seen = promise.is_cancelled();
        let cancelled = canceller.join().unwrap();
        if cancelled {
            assert!(!asked.load(Ordering::SeqCst));
        } else {
            assert!(asked.load(Ordering::SeqCst) && !seen);
            assert!(promise.set_running_or_notify_cancel());
        }
    });
}

/// A task's failure by its pool (`Task::fail`) races a cancel and a blocked waiter: one of
/// them consumes the closure, and the waiter is woken with that outcome.
#[test]
fn a_task_failure_races_a_cancel_and_a_waiter() {
    use future_core::executor::{ExecutorId, Task};
    use future_core::{TaskError, TaskErrorKind};
    loom::model(|| {
        let (task, future) = Task::new(ExecutorId::new(), || 1u8);
        let waiter = {
            let future = future.clone();
            thread::spawn(move || future.result())
        };
        let canceller = thread::spawn(move || future.cancel());
        task.fail(TaskError::new(TaskErrorKind::Broken, "gone"));
        let cancelled = canceller.join().unwrap();
        match waiter.join().unwrap() {
            Err(FutureError::Cancelled) => assert!(cancelled),
            Err(FutureError::Failed(err)) => {
                assert!(!cancelled);
                assert_eq!(err.kind(), TaskErrorKind::Broken);
            }
            other => panic!("unexpected {other:?}"),
        }
    });
}

/// `wait(AllCompleted)` on two futures completed by two threads: the waiter, woken by the
/// first completion (or not), must still be woken by the second (the ready queue's
/// `WAITING` handshake, one park after another).
#[test]
fn wait_all_completed_with_two_completing_threads() {
    loom::model(|| {
        let (p1, f1) = Promise::<u8>::new();
        let (p2, f2) = Promise::<u8>::new();
        let t1 = thread::spawn(move || p1.set_result(1));
        let t2 = thread::spawn(move || p2.set_result(2));
        let sets = wait([&f1, &f2], None, ReturnWhen::AllCompleted);
        assert_eq!(sets.done.len(), 2);
        t1.join().unwrap();
        t2.join().unwrap();
    });
}

/// `as_completed` over a future that a thread cancels and one a thread completes (either
/// may be done before the iterator starts, or finish while it waits), the first one given
/// twice: each yielded once, and the cancelled one is seen.
#[test]
fn as_completed_sees_a_cancel_and_a_completion() {
    loom::model(|| {
        let (p1, f1) = Promise::<u8>::new();
        let (p2, f2) = Promise::<u8>::new();
        let canceller = {
            let f1 = f1.clone();
            thread::spawn(move || f1.cancel())
        };
        let t2 = thread::spawn(move || p2.set_result(2));
        let mut seen = 0;
        for f in as_completed([&f1, &f2, &f1], None) {
            let f = f.unwrap();
            assert!(f.done());
            seen += 1;
        }
        assert_eq!(seen, 2, "each future once");
        assert!(canceller.join().unwrap());
        t2.join().unwrap();
        drop(p1);
    });
}

/// `as_completed` over two futures that one thread completes one after the other: the
/// waiter may park before each completion, and each must wake it (the ready queue's
/// `WAITING` handshake, one park after another, with `settle` between the two waits); they
/// come in completion order. The handshake of the three-thread models above with fewer
/// threads, so more of its schedules fit the preemption bound.
#[test]
fn as_completed_with_one_thread_completing_both() {
    loom::model(|| {
        let (p1, f1) = Promise::<u8>::new();
        let (p2, f2) = Promise::<u8>::new();
        let producer = thread::spawn(move || {
            p1.set_result(1);
            p2.set_result(2);
        });
        let values: Vec<u8> = as_completed([&f1, &f2], None)
            .map(|f| f.unwrap().take().unwrap())
            .collect();
        assert_eq!(values, vec![1, 2], "each once, in completion order");
        producer.join().unwrap();
    });
}
