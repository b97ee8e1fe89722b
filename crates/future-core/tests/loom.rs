//! Loom models of every synchronization of this crate: each explores all interleavings of
//! a small scenario on the real code (the `sync` shim swaps std for loom).
//!
//! Run with `cargo xtask loom`, or:
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p future-core --test loom --release`
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering};

use future_core::{FutureError, Promise, ReturnWhen, TaskFuture, as_completed, wait};
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
