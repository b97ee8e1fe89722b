//! Each test is one row (or a few) of the README's "Python to Rust" table, written as the
//! README teaches it, in a crate that depends on `rustures` alone.

use std::collections::HashMap;
use std::time::Duration;

use rustures::{
    FutureError, FutureId, MapOptions, ProcessPool, ReturnWhen, ShutdownOptions, SubmitError,
    TaskErrorKind, TaskFuture, ThreadPool, as_completed, wait,
};

rustures::test_worker!();

/// A deadline that only catches hangs.
const HANG: Duration = Duration::from_secs(60);

fn square(x: u64) -> u64 {
    x * x
}

fn add((a, b): (u64, u64)) -> u64 {
    a + b
}

fn fetch(url: String) -> Result<Vec<u8>, std::io::Error> {
    std::fs::read(url) // a blocking HTTP call, say
}

/// `f.cancel()`, `f.cancelled()`, `f.running()`, `f.done()`; `f.result(timeout)`;
/// `f.exception(timeout)`; `f.add_done_callback(fn)`.
#[test]
fn a_future() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let future: TaskFuture<u64> = pool.submit(square, 7).unwrap();
    assert_eq!(future.result(), Ok(49));
    assert_eq!(future.result_timeout(HANG), Ok(49));
    assert!(future.done() && !future.running() && !future.cancelled());
    assert!(!future.cancel(), "a finished task cannot be cancelled");
    assert_eq!(future.exception(), Ok(None));
    assert_eq!(future.exception_timeout(HANG), Ok(None));
    let (tx, rx) = std::sync::mpsc::channel();
    future.add_done_callback(move |f| tx.send(f.result()).unwrap());
    assert_eq!(rx.recv_timeout(HANG), Ok(Ok(49)));

    let page = pool.submit(fetch, "/no/such/page".to_owned()).unwrap();
    match page.result_ref().unwrap() {
        Ok(body) => panic!("{} bytes from nowhere", body.len()),
        Err(err) => assert_eq!(err.kind(), std::io::ErrorKind::NotFound),
    }
    let moved = pool.submit(fetch, "/no/such".to_owned()).unwrap().take();
    assert!(moved.unwrap().is_err());
    assert!(
        pool.submit(fetch, "/x".into())
            .unwrap()
            .take_timeout(HANG)
            .is_ok()
    );
}

/// `{executor.submit(fn, x): x for x in xs}`, then `as_completed` over it.
#[test]
fn futures_keyed_by_their_id() {
    let pool = ThreadPool::new();
    let xs = [3u64, 4, 5];
    let futures: Vec<_> = xs
        .iter()
        .map(|&x| pool.submit(square, x).unwrap())
        .collect();
    let input: HashMap<FutureId, u64> = futures.iter().map(|f| f.id()).zip(xs).collect();
    for future in as_completed(&futures, Some(HANG)) {
        let future = future.unwrap();
        let x = input[&future.id()];
        assert_eq!(future.result(), Ok(x * x));
    }
    // The same, by input position.
    for done in as_completed(&futures, Some(HANG)).indexed() {
        let (position, future) = done.unwrap();
        assert_eq!(future.result(), Ok(xs[position] * xs[position]));
    }
}

/// `CancelledError`, `TimeoutError`, a task's exception; `BrokenExecutor`.
#[test]
fn the_errors() {
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let busy = pool.spawn(move || rx.recv_timeout(HANG).ok()).unwrap();
    let queued = pool.submit(square, 2).unwrap();
    assert!(queued.cancel());
    assert_eq!(queued.result(), Err(FutureError::Cancelled));
    assert_eq!(
        busy.result_timeout(Duration::ZERO),
        Err(FutureError::Timeout)
    );
    tx.send(()).unwrap();
    assert_eq!(busy.result(), Ok(Some(())));
    let failed = pool.spawn(|| -> u8 { panic!("no luck") }).unwrap();
    match failed.result() {
        Err(FutureError::Failed(err)) => assert_eq!(err.kind(), TaskErrorKind::Panicked),
        other => panic!("a panic is a task error: {other:?}"),
    }
    pool.shutdown();
    assert_eq!(pool.submit(square, 1).unwrap_err(), SubmitError::Shutdown);
}

/// `wait(fs, timeout, return_when)`.
#[test]
fn waiting_on_many() {
    let pool = ThreadPool::new();
    let futures: Vec<_> = (0..4u64).map(|x| pool.submit(square, x).unwrap()).collect();
    let sets = wait(&futures, Some(HANG), ReturnWhen::AllCompleted);
    assert_eq!((sets.done.len(), sets.not_done.len()), (4, 0));
    let first = wait(&futures, Some(HANG), ReturnWhen::FirstCompleted);
    assert!(!first.done.is_empty());
    let failing = wait(&futures, Some(HANG), ReturnWhen::FirstException);
    assert_eq!(failing.done.len(), 4, "no exception: all of them");
}

/// `ThreadPoolExecutor(...)`, `ProcessPoolExecutor(...)`, `submit`, `map`,
/// `imap_unordered`, `shutdown`, `terminate_workers`, counting what the pool did.
#[test]
fn the_pools() {
    let threads = ThreadPool::builder()
        .max_workers(2)
        .thread_name_prefix("io")
        .initializer(|| {})
        .queue_bound(64)
        .keep_alive(Duration::from_secs(1))
        .max_extra_threads(2)
        .drop_grace(HANG)
        .build()
        .unwrap();
    let processes = ProcessPool::builder()
        .max_workers(2)
        .max_tasks_per_child(100)
        .queue_bound(64)
        .timeout(HANG)
        .handshake_timeout(HANG)
        .drop_grace(HANG)
        .build()
        .unwrap();
    assert_eq!(threads.submit(add, (40, 2)).unwrap().result(), Ok(42));
    assert_eq!(processes.submit(add, (40, 2)).unwrap().result(), Ok(42));
    assert_eq!(threads.spawn(|| 6 * 7).unwrap().result(), Ok(42));
    let options = MapOptions::new().chunksize(3).timeout(HANG).buffersize(4);
    let mapped: Vec<u64> = processes
        .map(square, 0..10u64, options)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(mapped, (0..10u64).map(square).collect::<Vec<_>>());
    let mut unordered: Vec<(usize, u64)> = threads
        .map_unordered(square, 0..10u64, MapOptions::new())
        .unwrap()
        .map(|(position, result)| (position, result.unwrap()))
        .collect();
    unordered.sort_unstable();
    assert_eq!(unordered[9], (9, 81));
    // Fire and forget: the task runs whether or not its future is kept.
    drop(threads.submit(square, 1).unwrap());
    assert!(threads.stats().completed >= 3);
    threads.shutdown_with(ShutdownOptions::new().wait(true).cancel_futures(false));
    processes.terminate_workers();
    assert!(processes.submit(square, 1).is_err());
    let spare = ProcessPool::new().unwrap();
    spare.kill_workers();
    let last = ProcessPool::new().unwrap();
    last.shutdown();
}

/// `asyncio.wrap_future(f)`: `f.await` on any async runtime (here, the smallest one).
#[test]
fn awaiting_a_future() {
    let pool = ThreadPool::new();
    let future = pool.submit(square, 9).unwrap();
    assert_eq!(block_on(async { future.await.map(|x| x + 1) }), Ok(82));
}

/// Polls `task` to completion on this thread (what an async runtime's `block_on` does).
fn block_on<F: std::future::IntoFuture>(task: F) -> F::Output {
    let mut task = std::pin::pin!(task.into_future());
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let waker = std::task::Waker::from(std::sync::Arc::new(Wake(std::sync::Mutex::new(tx))));
    let mut cx = std::task::Context::from_waker(&waker);
    loop {
        if let std::task::Poll::Ready(output) = task.as_mut().poll(&mut cx) {
            return output;
        }
        rx.recv_timeout(HANG).expect("woken before the deadline");
    }
}

struct Wake(std::sync::Mutex<std::sync::mpsc::Sender<()>>);

impl std::task::Wake for Wake {
    fn wake(self: std::sync::Arc<Self>) {
        let _ = self.0.lock().map(|tx| tx.send(()));
    }
}
