//! Real threads, many futures: completions from several producer threads race waiters that
//! use `result`, `wait`, `as_completed`, callbacks and cancels; every outcome is checked.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use future_core::executor::Promise;
use future_core::{FutureError, ReturnWhen, TaskFuture, as_completed, wait};

const FUTURES: usize = 10_000;
const PRODUCERS: usize = 4;
const HANG: Duration = Duration::from_secs(120);

#[test]
fn ten_thousand_futures_completed_from_several_threads() {
    for _round in 0..3 {
        let (promises, futures): (Vec<_>, Vec<TaskFuture<usize>>) =
            (0..FUTURES).map(|_| Promise::new()).unzip();
        let callbacks_run = Arc::new(AtomicUsize::new(0));
        for f in &futures {
            let c = callbacks_run.clone();
            f.add_done_callback(move |_| {
                c.fetch_add(1, Ordering::Relaxed);
            });
        }
        let start = Arc::new(Barrier::new(PRODUCERS + 3));

        // Producers: each completes every PRODUCERS-th future with its index.
        let mut lanes: Vec<Vec<(usize, Promise<usize>)>> =
            (0..PRODUCERS).map(|_| Vec::new()).collect();
        for (i, p) in promises.into_iter().enumerate() {
            lanes[i % PRODUCERS].push((i, p));
        }
        let producers: Vec<_> = lanes
            .into_iter()
            .map(|lane| {
                let start = start.clone();
                thread::spawn(move || {
                    start.wait();
                    for (i, p) in lane {
                        p.set_result(i);
                    }
                })
            })
            .collect();

        let as_completed_thread = {
            let futures = futures.clone();
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                let mut seen = HashSet::new();
                for f in as_completed(&futures, Some(HANG)) {
                    let f = f.expect("no timeout");
                    assert!(seen.insert(f.result().expect("a value")), "yielded twice");
                }
                seen.len()
            })
        };
        let wait_thread = {
            let futures = futures.clone();
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                let first = wait(&futures, Some(HANG), ReturnWhen::FirstCompleted);
                assert!(!first.done.is_empty());
                let all = wait(&futures, Some(HANG), ReturnWhen::AllCompleted);
                assert!(all.not_done.is_empty());
                all.done.len()
            })
        };
        start.wait();
        // The main thread reads results as they come, in index order.
        for (i, f) in futures.iter().enumerate() {
            assert_eq!(f.result_timeout(HANG), Ok(i));
        }
        for p in producers {
            p.join().unwrap();
        }
        assert_eq!(as_completed_thread.join().unwrap(), FUTURES);
        assert_eq!(wait_thread.join().unwrap(), FUTURES);
        assert_eq!(callbacks_run.load(Ordering::Relaxed), FUTURES);
    }
}

#[test]
fn cancels_racing_completions_settle_each_future_one_way() {
    let (promises, futures): (Vec<_>, Vec<TaskFuture<usize>>) =
        (0..FUTURES).map(|_| Promise::new()).unzip();
    let start = Arc::new(Barrier::new(2));
    let producer = {
        let start = start.clone();
        thread::spawn(move || {
            start.wait();
            let mut ran = 0;
            for (i, p) in promises.into_iter().enumerate() {
                if p.run(|| i) {
                    ran += 1;
                }
            }
            ran
        })
    };
    start.wait();
    let mut cancelled = 0;
    for f in futures.iter().rev() {
        if f.cancel() {
            cancelled += 1;
        }
    }
    let ran = producer.join().unwrap();
    assert_eq!(
        ran + cancelled,
        FUTURES,
        "each future either ran or was cancelled"
    );
    for (i, f) in futures.iter().enumerate() {
        match f.result() {
            Ok(v) => assert_eq!(v, i),
            Err(e) => assert_eq!(e, FutureError::Cancelled),
        }
    }
}
