//! User code that a future calls (a value's `Clone`, a waker's `clone`, `wake` and
//! `drop`, a panic payload's `Drop`) never runs under the future's lock, and a panic in it
//! never stops the future's other listeners from being told.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, mpsc};
use std::task::{Context, RawWaker, RawWakerVTable, Waker};
use std::time::Duration;

use future_core::executor::{Promise, catch_panic};
use future_core::{TaskErrorKind, TaskFuture};

const HANG: Duration = Duration::from_secs(if cfg!(miri) { 900 } else { 30 });

/// Runs `scenario` on a thread and fails (instead of hanging) if it does not finish.
fn within<T: Send + 'static>(what: &str, scenario: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(scenario));
        let _ = tx.send(outcome);
    });
    match rx.recv_timeout(HANG) {
        Ok(Ok(value)) => value,
        Ok(Err(payload)) => std::panic::resume_unwind(payload),
        Err(_) => panic!("hung: {what}"),
    }
}

/// A value whose `Clone` looks at the very future it is cloned out of.
#[derive(Debug, PartialEq)]
struct LooksBack(u32);

static LOOKED_AT: OnceLock<TaskFuture<LooksBack>> = OnceLock::new();

impl Clone for LooksBack {
    fn clone(&self) -> Self {
        let future = LOOKED_AT.get().expect("set by the test");
        assert!(
            future.done(),
            "the future reads as done while its value is cloned"
        );
        LooksBack(self.0)
    }
}

#[test]
fn a_values_clone_may_use_its_own_future() {
    within("the re-entrant clone", || {
        let (promise, future) = Promise::new();
        LOOKED_AT.set(future.clone()).unwrap();
        promise.set_result(LooksBack(3));
        assert_eq!(future.result(), Ok(LooksBack(3)));
        assert_eq!(future.result_timeout(Duration::ZERO), Ok(LooksBack(3)));
    });
}

/// A waker whose `clone`, `wake` and `drop` look at a future (through a pointer to a
/// `TaskFuture<u8>` leaked by the test).
fn looking_waker(future: &'static TaskFuture<u8>) -> Waker {
    fn clone(data: *const ()) -> RawWaker {
        // SAFETY: `data` is the leaked `&'static TaskFuture<u8>` given below.
        let future = unsafe { &*data.cast::<TaskFuture<u8>>() };
        let _ = future.done();
        RawWaker::new(data, &VTABLE)
    }
    fn wake(data: *const ()) {
        // SAFETY: as in `clone`.
        let _ = unsafe { &*data.cast::<TaskFuture<u8>>() }.done();
    }
    fn drop(data: *const ()) {
        // SAFETY: as in `clone`.
        let _ = unsafe { &*data.cast::<TaskFuture<u8>>() }.done();
    }
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop);
    let data = (future as *const TaskFuture<u8>).cast::<()>();
    // SAFETY: the vtable's functions only read the `'static` future behind `data`.
    unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) }
}

#[test]
fn a_wakers_clone_and_drop_may_use_the_future_it_waits_on() {
    within("the re-entrant waker", || {
        let (promise, future) = Promise::new();
        let future: &'static TaskFuture<u8> = Box::leak(Box::new(future));
        let waker = looking_waker(future);
        let mut awaiting = Box::pin(future.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(awaiting.as_mut().poll(&mut cx).is_pending());
        // Polling again with another waker replaces (and drops) the registered one.
        let other = looking_waker(future);
        assert!(
            awaiting
                .as_mut()
                .poll(&mut Context::from_waker(&other))
                .is_pending()
        );
        promise.set_result(4);
        assert_eq!(
            awaiting.as_mut().poll(&mut cx),
            std::task::Poll::Ready(Ok(4))
        );
    });
}

/// Panics when dropped (unless already unwinding).
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("dropped");
        }
    }
}

#[test]
fn catch_panic_contains_a_payload_that_panics_on_drop() {
    let err = catch_panic(|| -> u8 { std::panic::panic_any(PanicOnDrop) }).unwrap_err();
    assert_eq!(err.kind(), TaskErrorKind::Panicked);
}

#[test]
fn a_panicking_waker_does_not_stop_the_other_listeners() {
    fn wake(_: *const ()) {
        panic!("the waker panicked");
    }
    fn clone(_: *const ()) -> RawWaker {
        RawWaker::new(std::ptr::null(), &VTABLE)
    }
    fn drop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop);
    // SAFETY: the functions ignore the null data pointer.
    let waker = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) };

    let (promise, future) = Promise::new();
    let mut awaiting = Box::pin(future.clone());
    assert!(
        awaiting
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    let called = Arc::new(AtomicUsize::new(0));
    let c = called.clone();
    future.add_done_callback(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
    });
    promise.set_result(1u8);
    assert_eq!(
        called.load(Ordering::SeqCst),
        1,
        "the callback after the waker ran"
    );
    assert_eq!(future.result(), Ok(1));
}

#[test]
fn many_timed_waiters_on_one_future_all_give_up_cleanly() {
    let (promise, future) = Promise::<u8>::new();
    let waiters: Vec<_> = (0..64)
        .map(|_| {
            let future = future.clone();
            std::thread::spawn(move || future.result_timeout(Duration::from_millis(5)))
        })
        .collect();
    for waiter in waiters {
        assert_eq!(
            waiter.join().unwrap(),
            Err(future_core::FutureError::Timeout)
        );
    }
    promise.set_result(9);
    assert_eq!(future.result(), Ok(9));
}

/// A value whose `Clone` panics.
#[derive(Debug)]
struct CloneBomb(u8);

impl Clone for CloneBomb {
    fn clone(&self) -> Self {
        panic!("clone failed");
    }
}

#[test]
fn a_panicking_clone_fails_only_its_caller_and_the_value_can_still_be_taken() {
    within("the panicking clone", || {
        let (promise, future) = Promise::new();
        promise.set_result(CloneBomb(7));
        let cloned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| future.result()));
        assert!(cloned.is_err(), "the clone's panic reaches its caller");
        // The reader count came back: the value is not stuck behind a clone that ended.
        assert_eq!(future.take().map(|v| v.0), Ok(7));
    });
}

/// A waker that counts its wake-ups (its `Arc`'s count tells how many clones live).
struct CountingWaker(AtomicUsize);

impl std::task::Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_waker_whose_clone_panics_in_poll_leaves_no_registration_behind() {
    fn clone(_: *const ()) -> RawWaker {
        panic!("the waker's clone panicked");
    }
    fn noop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    // SAFETY: the functions ignore the null data pointer.
    let bomb = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) };

    let (promise, future) = Promise::<u8>::new();
    let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let waker = Waker::from(counter.clone());
    let mut awaiting = Box::pin(future.clone());
    assert!(
        awaiting
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    assert_eq!(Arc::strong_count(&counter), 3, "a clone is registered");
    // Polled again by another task, whose waker cannot be cloned: the panic reaches the
    // caller of `poll`, as the panic of any waker's clone would.
    let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        awaiting.as_mut().poll(&mut Context::from_waker(&bomb))
    }));
    assert!(polled.is_err(), "the clone's panic reaches the poller");
    drop(awaiting);
    assert_eq!(
        Arc::strong_count(&counter),
        2,
        "the dropped handle took its registration with it"
    );
    promise.set_result(1);
    assert_eq!(
        counter.0.load(Ordering::SeqCst),
        0,
        "nothing woke the old waker"
    );
    assert_eq!(future.result(), Ok(1));
}

/// An executor's cancel guard goes when its future leaves `Pending` (here completed
/// straight from it, as a pool does with a task it failed before it started), inside a
/// panic boundary: not later, in the drop of whichever handle is the last.
#[test]
fn a_cancel_guard_that_panics_on_drop_goes_with_a_completion_from_pending() {
    let (promise, future) = Promise::<u8>::new();
    let bomb = PanicOnDrop;
    promise.set_cancel_guard(move || {
        let _ = &bomb;
        true
    });
    promise.set_result(1);
    assert_eq!(future.result(), Ok(1));
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(future)));
    assert!(
        dropped.is_ok(),
        "the guard's panic got out of a handle's drop"
    );
}

/// A value whose `Drop` always panics, even while its thread unwinds (as a user's type
/// may).
struct Loud;

impl Drop for Loud {
    fn drop(&mut self) {
        panic!("a loud value's drop panicked");
    }
}

const CHILD: &str = "FUTURE_CORE_TEST_DROP_EACH_CHILD";

/// A map chunk's input dropped while a panic unwinds (the input iterator panicked while the
/// chunk was pulled) drops its elements one by one, each in a boundary of its own, even
/// when that is the first panic boundary of the process: installing the quiet panic hook
/// from the unwinding thread used to panic inside the cleanup, an abort. Chunk results and
/// their cursor drop their values the same way. Run in a child process, whose first
/// boundary this is, and which an abort kills without taking this test binary along.
#[test]
#[cfg_attr(miri, ignore = "Miri runs the child scenario directly")]
fn collections_of_values_whose_drop_panics_are_dropped_one_by_one() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "drop_each_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("drop_each scenario done"),
        "the child did not finish: {out:?}"
    );
}

/// The child side of `collections_of_values_whose_drop_panics_are_dropped_one_by_one`
/// (under Miri, which cannot start a process, it runs here directly).
#[test]
fn drop_each_child() {
    use future_core::executor::{ChunkInput, ChunkResults, drop_each};
    if std::env::var_os(CHILD).is_none() && !cfg!(miri) {
        return;
    }
    within("dropping values whose drop panics", || {
        let unwound = std::panic::catch_unwind(|| {
            let _chunk = ChunkInput::new(vec![Loud, Loud]);
            panic!("the input iterator panicked");
        });
        let payload = unwound.unwrap_err();
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"the input iterator panicked")
        );
        drop(ChunkInput::new(vec![Loud, Loud]));
        drop_each(vec![Loud, Loud]);
        let results = ChunkResults::run(vec![1, 2, 3], |_: u8| Loud);
        assert_eq!(results.len(), 3);
        drop(results);
    });
    println!("drop_each scenario done");
}
