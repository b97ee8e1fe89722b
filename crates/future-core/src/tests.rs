//! Unit tests that look inside a future: every way of waiting that gives up must leave no
//! listener behind on the future (a long-lived future waited on with timeouts would
//! otherwise grow without bound).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use crate::executor::Promise;
use crate::{ReturnWhen, TaskFuture, as_completed, wait};

const SHORT: Duration = Duration::from_millis(10);

fn listeners<T>(future: &TaskFuture<T>) -> usize {
    future.inner.listener_count()
}

/// A waker that counts its wake-ups.
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_timed_out_result_leaves_no_listener() {
    let (promise, future) = Promise::<u8>::new();
    assert_eq!(
        future.result_timeout(SHORT),
        Err(crate::FutureError::Timeout)
    );
    assert_eq!(listeners(&future), 0);
    promise.set_result(1);
    assert_eq!(future.result(), Ok(1));
}

#[test]
fn a_timed_out_wait_leaves_no_listener() {
    let (_promise, future) = Promise::<u8>::new();
    let sets = wait([&future], Some(SHORT), ReturnWhen::AllCompleted);
    assert_eq!(sets.not_done.len(), 1);
    assert_eq!(listeners(&future), 0);
}

#[test]
fn a_dropped_as_completed_leaves_no_listener() {
    let (promise, future) = Promise::<u8>::new();
    let it = as_completed([&future], None);
    assert_eq!(listeners(&future), 1, "registered while it lives");
    drop(it);
    assert_eq!(listeners(&future), 0);
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    future.add_done_callback(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
    });
    promise.set_result(1);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "only the user's callback ran"
    );
}

#[test]
fn a_dropped_await_leaves_no_listener_and_its_waker_is_never_woken() {
    let (promise, future) = Promise::<u8>::new();
    let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let waker = Waker::from(counter.clone());
    {
        let mut awaiting = pin!(future.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(matches!(awaiting.as_mut().poll(&mut cx), Poll::Pending));
        assert!(matches!(awaiting.as_mut().poll(&mut cx), Poll::Pending));
        assert_eq!(listeners(&future), 1, "re-polling replaces, not adds");
    }
    assert_eq!(listeners(&future), 0);
    promise.set_result(3);
    assert_eq!(counter.0.load(Ordering::SeqCst), 0);
    assert_eq!(future.result(), Ok(3));
}

#[test]
fn into_results_gives_every_element_a_result_even_from_a_corrupt_chunk() {
    use crate::executor::ChunkResults;
    use crate::{TaskError, TaskErrorKind};
    let err = TaskError::new(TaskErrorKind::Other, "misplaced");
    // Three elements, but the failure claims position 7 (as a corrupt reply could).
    let chunk = ChunkResults {
        values: vec![1u8, 2],
        failures: vec![(7, err.clone())],
    };
    assert_eq!(chunk.into_results(), vec![Ok(1), Ok(2), Err(err)]);
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

#[test]
fn a_cancel_guard_that_panics_on_drop_changes_nothing_for_waiters_and_callbacks() {
    const HANG: Duration = Duration::from_secs(30);
    let (promise, future) = Promise::<u8>::new();
    let bomb = PanicOnDrop;
    promise.set_cancel_guard(move || {
        let _ = &bomb;
        true
    });
    let (called_tx, called) = std::sync::mpsc::channel();
    future.add_done_callback(move |f| {
        let _ = called_tx.send(f.cancelled());
    });
    let (result_tx, result) = std::sync::mpsc::channel();
    let waiter = {
        let future = future.clone();
        std::thread::spawn(move || {
            let _ = result_tx.send(future.result());
        })
    };
    // The waiter is blocked in `result`: its waker is registered beside the callback.
    let deadline = std::time::Instant::now() + HANG;
    while listeners(&future) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the waiter never blocked"
        );
        std::thread::yield_now();
    }
    let cancelled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| future.cancel()));
    assert_eq!(
        result.recv_timeout(HANG),
        Ok(Err(crate::FutureError::Cancelled)),
        "the thread blocked in result() was woken"
    );
    assert_eq!(called.recv_timeout(HANG), Ok(true), "the done callback ran");
    assert!(
        matches!(cancelled, Ok(true)),
        "the cancel succeeded and the guard's panic did not get out of it"
    );
    waiter.join().unwrap();
    assert!(!promise.set_running_or_notify_cancel());
}
