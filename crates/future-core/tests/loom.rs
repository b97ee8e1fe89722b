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
