//! One future's behaviour: CPython's `test_future.py` truth tables, callbacks, producer
//! drop, taking values out, and `.await`.

use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use future_core::executor::Promise;
use future_core::{FutureError, TaskError, TaskErrorKind, TaskFuture};

/// A deadline that only catches hangs.
const HANG: Duration = Duration::from_secs(30);

/// A future in each of CPython's test states, with the promises that keep the unfinished
/// ones unfinished.
struct States {
    pending: TaskFuture<i32>,
    running: TaskFuture<i32>,
    cancelled: TaskFuture<i32>,
    failed: TaskFuture<i32>,
    successful: TaskFuture<i32>,
    _keep: Vec<Promise<i32>>,
}

fn states() -> States {
    let (p_pending, pending) = Promise::new();
    let (p_running, running) = Promise::new();
    assert!(p_running.set_running_or_notify_cancel());
    let (p_cancelled, cancelled) = Promise::new();
    assert!(cancelled.cancel());
    let (p_failed, failed) = Promise::new();
    p_failed.set_error(TaskError::new(TaskErrorKind::Other, "os error"));
    let (p_ok, successful) = Promise::new();
    p_ok.set_result(42);
    States {
        pending,
        running,
        cancelled,
        failed,
        successful,
        _keep: vec![p_pending, p_running, p_cancelled],
    }
}

#[test]
fn cancel_truth_table() {
    let s = states();
    assert!(s.pending.cancel(), "pending: cancel succeeds");
    assert!(s.pending.cancelled());
    assert!(!s.running.cancel(), "running: cannot cancel");
    assert!(s.running.running());
    assert!(s.cancelled.cancel(), "cancelled: cancel again is true");
    assert!(!s.failed.cancel(), "finished with an error: cannot cancel");
    assert!(!s.successful.cancel(), "finished: cannot cancel");
    assert_eq!(
        s.successful.result(),
        Ok(42),
        "a failed cancel changes nothing"
    );
}

#[test]
fn state_queries_truth_table() {
    let s = states();
    let row = |f: &TaskFuture<i32>| (f.cancelled(), f.running(), f.done());
    assert_eq!(row(&s.pending), (false, false, false));
    assert_eq!(row(&s.running), (false, true, false));
    assert_eq!(row(&s.cancelled), (true, false, true));
    assert_eq!(row(&s.failed), (false, false, true));
    assert_eq!(row(&s.successful), (false, false, true));
}

#[test]
fn result_with_zero_timeout_truth_table() {
    let s = states();
    let poll = |f: &TaskFuture<i32>| f.result_timeout(Duration::ZERO);
    assert_eq!(poll(&s.pending), Err(FutureError::Timeout));
    assert_eq!(poll(&s.running), Err(FutureError::Timeout));
    assert_eq!(poll(&s.cancelled), Err(FutureError::Cancelled));
    assert_eq!(
        poll(&s.failed),
        Err(FutureError::Failed(TaskError::new(
            TaskErrorKind::Other,
            "os error"
        )))
    );
    assert_eq!(poll(&s.successful), Ok(42));
}

#[test]
fn exception_with_zero_timeout_truth_table() {
    let s = states();
    let poll = |f: &TaskFuture<i32>| f.exception_timeout(Duration::ZERO);
    assert_eq!(poll(&s.pending), Err(FutureError::Timeout));
    assert_eq!(poll(&s.running), Err(FutureError::Timeout));
    assert_eq!(poll(&s.cancelled), Err(FutureError::Cancelled));
    assert_eq!(
        poll(&s.failed),
        Ok(Some(TaskError::new(TaskErrorKind::Other, "os error")))
    );
    assert_eq!(poll(&s.successful), Ok(None));
}

#[test]
fn result_with_timeout_times_out_then_later_succeeds() {
    let (promise, future) = Promise::new();
    assert_eq!(
        future.result_timeout(Duration::from_millis(20)),
        Err(FutureError::Timeout)
    );
    assert!(!future.done(), "a timed-out wait leaves the future pending");
    promise.set_result(7);
    assert_eq!(future.result_timeout(HANG), Ok(7));
}

#[test]
fn result_blocks_until_another_thread_completes() {
    let (promise, future) = Promise::new();
    let started = Arc::new(Barrier::new(2));
    let waiter = {
        let future = future.clone();
        let started = started.clone();
        thread::spawn(move || {
            started.wait();
            future.result_timeout(HANG)
        })
    };
    started.wait();
    promise.set_result(String::from("done"));
    assert_eq!(waiter.join().unwrap().as_deref(), Ok("done"));
}

#[test]
fn many_threads_waiting_on_one_future_all_wake() {
    let (promise, future) = Promise::new();
    let waiters: Vec<_> = (0..8)
        .map(|_| {
            let future = future.clone();
            thread::spawn(move || future.result_timeout(HANG))
        })
        .collect();
    promise.set_result(5u8);
    for waiter in waiters {
        assert_eq!(waiter.join().unwrap(), Ok(5));
    }
}

#[test]
fn cancel_wakes_a_blocked_waiter_at_once() {
    let (promise, future) = Promise::<u8>::new();
    let waiter = {
        let future = future.clone();
        thread::spawn(move || future.result_timeout(HANG))
    };
    assert!(future.cancel());
    assert_eq!(waiter.join().unwrap(), Err(FutureError::Cancelled));
    assert!(
        !promise.set_running_or_notify_cancel(),
        "the task is skipped"
    );
    promise.set_result(1);
    assert!(
        future.cancelled(),
        "completing a cancelled future leaves it cancelled"
    );
}

#[test]
fn panic_in_task_becomes_error_with_message() {
    let (promise, future) = Promise::<u8>::new();
    assert!(promise.run(|| panic!("kaboom {}", 3)));
    let err = future.result().unwrap_err();
    let task_err = err.task_error().expect("a task error");
    assert_eq!(task_err.kind(), TaskErrorKind::Panicked);
    assert_eq!(task_err.message(), "kaboom 3");
    assert_eq!(future.exception(), Ok(Some(task_err.clone())));
}

#[test]
fn dropped_producer_breaks_a_blocked_waiter() {
    let (promise, future) = Promise::<u8>::new();
    let waiter = {
        let future = future.clone();
        thread::spawn(move || future.result_timeout(HANG))
    };
    let producer = thread::spawn(move || {
        assert!(promise.set_running_or_notify_cancel());
        drop(promise);
    });
    producer.join().unwrap();
    let err = waiter.join().unwrap().unwrap_err();
    assert_eq!(
        err.task_error().map(|e| e.kind()),
        Some(TaskErrorKind::Broken)
    );
    assert!(err.to_string().contains("went away"), "{err}");
}

#[test]
fn dropped_producer_after_cancel_stays_cancelled() {
    let (promise, future) = Promise::<u8>::new();
    future.cancel();
    drop(promise);
    assert_eq!(future.result(), Err(FutureError::Cancelled));
}

#[test]
fn take_moves_a_non_clone_value_out_once() {
    struct Token(u32);
    let (promise, future) = Promise::new();
    let other = future.clone();
    promise.set_result(Token(11));
    assert_eq!(future.take().map(|t| t.0), Ok(11));
    assert_eq!(other.take().map(|t| t.0), Err(FutureError::Taken));
    assert_eq!(other.exception(), Ok(None), "taken is still a success");
    assert!(other.done());
}

#[test]
fn result_ref_reads_a_value_that_is_not_clone_in_place() {
    // A task's result with a real error type that is not `Clone`.
    let (promise, future) = Promise::<Result<Vec<u8>, std::io::Error>>::new();
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let handle = future.clone();
            thread::spawn(move || match handle.result_ref() {
                Ok(Err(err)) => err.kind(),
                other => panic!("the task's io error, by reference: {other:?}"),
            })
        })
        .collect();
    promise.run(|| std::fs::read("/no/such/file/here"));
    for reader in readers {
        assert_eq!(reader.join().unwrap(), std::io::ErrorKind::NotFound);
    }
    let value = future.result_ref().unwrap();
    assert!(value.is_err());
    // A lent value stays in the future: it cannot be moved out under a reader's feet.
    assert_eq!(future.clone().take().unwrap_err(), FutureError::Lent);
    assert!(future.result_ref().unwrap().is_err(), "still readable");
    assert_eq!(future.exception(), Ok(None), "lent is still a success");
}

#[test]
fn result_ref_after_take_or_of_a_failed_future_is_the_error() {
    let (promise, future) = Promise::new();
    promise.set_result(NotClone(3));
    assert_eq!(future.take().map(|t| t.0), Ok(3));
    assert_eq!(future.result_ref().map(|t| t.0), Err(FutureError::Taken));
    let (promise, future) = Promise::<NotClone>::new();
    promise.run(|| panic!("no value"));
    assert!(matches!(future.result_ref(), Err(FutureError::Failed(_))));
    let (_promise, future) = Promise::<NotClone>::new();
    assert_eq!(
        future.result_ref_timeout(Duration::ZERO).map(|t| t.0),
        Err(FutureError::Timeout)
    );
    future.cancel();
    assert_eq!(
        future.result_ref().map(|t| t.0),
        Err(FutureError::Cancelled)
    );
}

#[test]
fn take_of_a_failed_future_keeps_the_error() {
    let (promise, future) = Promise::<u8>::new();
    promise.set_error(TaskError::new(TaskErrorKind::WorkerDied, "pid 1"));
    assert!(future.take().is_err());
    let again = future.take().unwrap_err();
    assert_eq!(
        again.task_error().map(|e| e.kind()),
        Some(TaskErrorKind::WorkerDied)
    );
}

#[test]
fn callbacks_run_once_in_order_in_the_completing_thread() {
    let (promise, future) = Promise::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    for i in 0..5 {
        let log = log.clone();
        future.add_done_callback(move |f: &TaskFuture<u32>| {
            log.lock()
                .unwrap()
                .push((i, f.result().unwrap(), thread::current().id()));
        });
    }
    assert!(
        log.lock().unwrap().is_empty(),
        "nothing runs before completion"
    );
    let completer = thread::spawn(move || {
        promise.set_result(9);
        thread::current().id()
    });
    let completer_id = completer.join().unwrap();
    let log = log.lock().unwrap();
    assert_eq!(
        *log,
        (0..5).map(|i| (i, 9, completer_id)).collect::<Vec<_>>()
    );
}

#[test]
fn callback_on_a_done_future_runs_at_once_in_the_caller() {
    let (promise, future) = Promise::new();
    promise.set_result(1);
    let (tx, rx) = mpsc::channel();
    future.add_done_callback(move |f| tx.send((f.result(), thread::current().id())).unwrap());
    assert_eq!(rx.try_recv().unwrap(), (Ok(1), thread::current().id()));
}

#[test]
fn callbacks_run_on_cancel_and_on_producer_drop() {
    let (tx, rx) = mpsc::channel();
    let (_p1, cancelled) = Promise::<u8>::new();
    let tx1 = tx.clone();
    cancelled.add_done_callback(move |f| tx1.send(("cancel", f.cancelled())).unwrap());
    cancelled.cancel();
    let (p2, broken) = Promise::<u8>::new();
    broken.add_done_callback(move |f| tx.send(("drop", f.done())).unwrap());
    drop(p2);
    assert_eq!(rx.try_recv().unwrap(), ("cancel", true));
    assert_eq!(rx.try_recv().unwrap(), ("drop", true));
}

#[test]
fn a_panicking_callback_does_not_stop_the_others() {
    let (promise, future) = Promise::new();
    let (tx, rx) = mpsc::channel();
    let tx2 = tx.clone();
    future.add_done_callback(move |_| tx.send("first").unwrap());
    future.add_done_callback(|_| panic!("callback bug"));
    future.add_done_callback(move |_| tx2.send("third").unwrap());
    promise.set_result(());
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec!["first", "third"]);
    assert_eq!(future.result(), Ok(()), "the future itself is unaffected");
}

#[test]
fn a_callback_may_use_the_future_and_add_callbacks() {
    let (promise, future) = Promise::new();
    let (tx, rx) = mpsc::channel();
    future.add_done_callback(move |f: &TaskFuture<u8>| {
        let tx = tx.clone();
        // Re-entrant: the future is done, so this runs at once, with no lock held.
        f.add_done_callback(move |g| tx.send(g.result()).unwrap());
    });
    promise.set_result(4);
    assert_eq!(rx.try_recv().unwrap(), Ok(4));
}

#[test]
fn await_gives_the_value_on_completion_from_another_thread() {
    let (promise, future) = Promise::new();
    let gate = Arc::new(Barrier::new(2));
    let producer = {
        let gate = gate.clone();
        thread::spawn(move || {
            gate.wait();
            promise.set_result(vec![1u8, 2]);
        })
    };
    let value = futures::executor::block_on(async {
        gate.wait();
        future.await
    });
    assert_eq!(value, Ok(vec![1, 2]));
    producer.join().unwrap();
}

#[test]
fn await_reports_cancel_and_failure() {
    let (_p, cancelled) = Promise::<u8>::new();
    cancelled.cancel();
    assert_eq!(
        futures::executor::block_on(cancelled.into_future_checked()),
        Err(FutureError::Cancelled)
    );
    let (p, failed) = Promise::<u8>::new();
    p.run(|| panic!("async boom"));
    let err = futures::executor::block_on(failed).unwrap_err();
    assert_eq!(err.task_error().map(|e| e.message()), Some("async boom"));
}

/// `IntoFuture` spelled out, to check the trait is what `.await` uses.
trait IntoFutureChecked: std::future::IntoFuture + Sized {
    fn into_future_checked(self) -> Self::IntoFuture {
        std::future::IntoFuture::into_future(self)
    }
}
impl<T> IntoFutureChecked for TaskFuture<T> {}

#[test]
fn debug_shows_the_state() {
    let s = states();
    assert!(format!("{:?}", s.pending).contains("pending"));
    assert!(format!("{:?}", s.running).contains("running"));
    assert!(format!("{:?}", s.cancelled).contains("cancelled"));
    assert!(format!("{:?}", s.failed).contains("failed"));
    assert!(format!("{:?}", s.successful).contains("finished"));
}

#[test]
fn futures_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TaskFuture<String>>();
    assert_send_sync::<Promise<String>>();
    assert_send_sync::<FutureError>();
}

#[test]
fn task_futures_work_with_join_and_futures_unordered() {
    use futures::stream::{FuturesUnordered, StreamExt};

    let (p1, f1) = Promise::new();
    let (p2, f2) = Promise::new();
    let completer = thread::spawn(move || {
        p2.set_result(2u32);
        p1.set_result(1u32);
    });
    let (a, b) = futures::executor::block_on(async { futures::join!(f1, f2) });
    assert_eq!((a, b), (Ok(1), Ok(2)));
    completer.join().unwrap();

    let mut all: FuturesUnordered<TaskFuture<u32>> = (0..4u32)
        .map(|i| {
            let (p, f) = Promise::new();
            thread::spawn(move || p.set_result(i * 10));
            f
        })
        .collect();
    let mut seen = Vec::new();
    futures::executor::block_on(async {
        while let Some(result) = all.next().await {
            seen.push(result.unwrap());
        }
    });
    seen.sort_unstable();
    assert_eq!(seen, [0, 10, 20, 30]);
}

/// A value that is neither `Clone` nor `Debug`.
struct NotClone(u32);
