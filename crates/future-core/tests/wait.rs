//! Many futures: CPython's `test_wait.py` and `test_as_completed.py` scenarios, the
//! cancelled-future fix (gh-92001), and the lazy ordered `Map`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::Duration;

use future_core::executor::{ChunkFuture, ChunkResults, Promise};
use future_core::{
    FutureError, Map, MapOptions, ReturnWhen, SubmitError, TaskError, TaskErrorKind, TaskFuture,
    WaitTimeout, as_completed, wait,
};

const HANG: Duration = Duration::from_secs(30);
const SHORT: Duration = Duration::from_millis(20);

fn done_with(value: u32) -> TaskFuture<u32> {
    let (p, f) = Promise::new();
    p.set_result(value);
    f
}

fn failed() -> TaskFuture<u32> {
    let (p, f) = Promise::new();
    p.set_error(TaskError::new(TaskErrorKind::Other, "failed"));
    f
}

/// True when `got` holds exactly the futures of `expected` (by identity).
fn same_set(got: &[TaskFuture<u32>], expected: &[&TaskFuture<u32>]) -> bool {
    got.len() == expected.len()
        && expected
            .iter()
            .all(|e| got.iter().any(|g| g.same_future(e)))
}

#[test]
fn first_completed_returns_when_one_finishes() {
    let (p1, f1) = Promise::new();
    let (_p2, f2) = Promise::<u32>::new();
    let completer = thread::spawn(move || p1.set_result(1));
    let sets = wait([&f1, &f2], Some(HANG), ReturnWhen::FirstCompleted);
    completer.join().unwrap();
    assert!(same_set(&sets.done, &[&f1]));
    assert!(same_set(&sets.not_done, &[&f2]));
}

#[test]
fn first_completed_with_some_already_done_returns_at_once() {
    let done = done_with(1);
    let (_p, pending) = Promise::<u32>::new();
    let sets = wait([&done, &pending], None, ReturnWhen::FirstCompleted);
    assert!(same_set(&sets.done, &[&done]));
    assert!(same_set(&sets.not_done, &[&pending]));
}

#[test]
fn first_exception_returns_on_the_first_failure() {
    let ok = done_with(1);
    let (p_fail, fail) = Promise::<u32>::new();
    let (_p, pending) = Promise::<u32>::new();
    let failer = thread::spawn(move || p_fail.run(|| panic!("x")));
    let sets = wait(
        [&ok, &fail, &pending],
        Some(HANG),
        ReturnWhen::FirstException,
    );
    failer.join().unwrap();
    assert!(same_set(&sets.done, &[&ok, &fail]));
    assert!(same_set(&sets.not_done, &[&pending]));
}

#[test]
fn first_exception_with_one_already_failed_returns_at_once() {
    let fail = failed();
    let (_p, pending) = Promise::<u32>::new();
    let sets = wait([&pending, &fail], None, ReturnWhen::FirstException);
    assert!(same_set(&sets.done, &[&fail]));
    assert!(same_set(&sets.not_done, &[&pending]));
}

#[test]
fn first_exception_without_failures_waits_for_all() {
    let (p1, f1) = Promise::new();
    let (p2, f2) = Promise::new();
    let gate = Arc::new(Barrier::new(2));
    let completer = {
        let gate = gate.clone();
        thread::spawn(move || {
            p1.set_result(1);
            gate.wait();
            p2.set_result(2);
        })
    };
    // The first success alone must not end the wait: it ends only when f2 is done too.
    let waiter = thread::spawn(move || {
        let sets = wait([&f1, &f2], Some(HANG), ReturnWhen::FirstException);
        (sets.done.len(), sets.not_done.len())
    });
    gate.wait();
    completer.join().unwrap();
    assert_eq!(waiter.join().unwrap(), (2, 0));
}

#[test]
fn cancelled_future_counts_as_done_and_not_as_exception() {
    let (_p, cancelled) = Promise::<u32>::new();
    cancelled.cancel();
    let (_q, pending) = Promise::<u32>::new();
    let sets = wait(
        [&cancelled, &pending],
        Some(SHORT),
        ReturnWhen::FirstException,
    );
    assert!(same_set(&sets.done, &[&cancelled]));
    assert!(
        same_set(&sets.not_done, &[&pending]),
        "not an exception: waited for the timeout"
    );
}

#[test]
fn all_completed_waits_for_every_future() {
    let (promises, futures): (Vec<_>, Vec<_>) = (0..10).map(|_| Promise::new()).unzip();
    let completer = thread::spawn(move || {
        for (i, p) in promises.into_iter().enumerate() {
            p.set_result(i as u32);
        }
    });
    let sets = wait(&futures, Some(HANG), ReturnWhen::AllCompleted);
    completer.join().unwrap();
    assert_eq!(sets.done.len(), 10);
    assert!(sets.not_done.is_empty());
}

#[test]
fn timeout_returns_the_partial_sets() {
    let done = done_with(3);
    let (_p, pending) = Promise::<u32>::new();
    let sets = wait([&done, &pending], Some(SHORT), ReturnWhen::AllCompleted);
    assert!(same_set(&sets.done, &[&done]));
    assert!(same_set(&sets.not_done, &[&pending]));
}

#[test]
fn duplicates_count_once_and_empty_input_returns_at_once() {
    let done = done_with(3);
    let sets = wait([&done, &done, &done], None, ReturnWhen::AllCompleted);
    assert_eq!(sets.done.len(), 1);
    let none: [&TaskFuture<u32>; 0] = [];
    for when in [
        ReturnWhen::FirstCompleted,
        ReturnWhen::FirstException,
        ReturnWhen::AllCompleted,
    ] {
        let sets = wait(none, None, when);
        assert!(sets.done.is_empty() && sets.not_done.is_empty());
    }
}

#[test]
fn user_cancel_wakes_a_blocked_wait_at_once() {
    // gh-92001: Python notices a cancelled future only when a worker dequeues it.
    let (promise, pending) = Promise::<u32>::new();
    let (started_tx, started_rx) = mpsc::channel();
    let waiter = {
        let pending = pending.clone();
        thread::spawn(move || {
            started_tx.send(()).unwrap();
            wait([&pending], Some(HANG), ReturnWhen::FirstCompleted)
                .done
                .len()
        })
    };
    started_rx.recv().unwrap();
    assert!(pending.cancel());
    assert_eq!(waiter.join().unwrap(), 1);
    drop(promise);
}

#[test]
fn as_completed_yields_done_ones_first_then_in_completion_order() {
    let early = done_with(0);
    let (p1, f1) = Promise::new();
    let (p2, f2) = Promise::new();
    let mut it = as_completed([&f1, &early, &f2], Some(HANG));
    assert!(it.next().unwrap().unwrap().same_future(&early));
    p2.set_result(2);
    assert!(it.next().unwrap().unwrap().same_future(&f2));
    p1.set_result(1);
    assert!(it.next().unwrap().unwrap().same_future(&f1));
    assert!(it.next().is_none());
}

#[test]
fn as_completed_yields_duplicates_once() {
    let a = done_with(1);
    let b = done_with(2);
    let yielded: Vec<_> = as_completed([&a, &b, &a, &b, &a], None).collect();
    assert_eq!(yielded.len(), 2);
}

#[test]
fn as_completed_timeout_message_counts_unfinished() {
    let done = done_with(0);
    let (_p1, f1) = Promise::<u32>::new();
    let (_p2, f2) = Promise::<u32>::new();
    let it = as_completed([&f1, &done, &f2], Some(SHORT));
    assert_eq!(it.len(), 3, "one item per distinct future");
    let results: Vec<_> = it.collect();
    assert_eq!(results.len(), 3);
    assert!(results[0].as_ref().unwrap().same_future(&done));
    for result in &results[1..] {
        assert_eq!(
            *result.as_ref().unwrap_err(),
            WaitTimeout {
                unfinished: 2,
                total: 3
            },
            "each unfinished future yields the timeout"
        );
    }
}

#[test]
fn as_completed_indexed_gives_input_positions_and_exact_lengths() {
    let a = done_with(10);
    let b = done_with(20);
    let (p, c) = Promise::<u32>::new();
    let mut it = as_completed([&b, &a, &b, &c], None).indexed();
    assert_eq!(it.len(), 3);
    let mut seen: Vec<(usize, u32)> = it
        .by_ref()
        .take(2)
        .map(|done| {
            let (index, future) = done.unwrap();
            (index, future.result().unwrap())
        })
        .collect();
    assert_eq!(it.len(), 1);
    p.set_result(30);
    let (index, future) = it.next().unwrap().unwrap();
    seen.push((index, future.result().unwrap()));
    assert_eq!(it.len(), 0);
    assert!(it.next().is_none());
    seen.sort_unstable();
    assert_eq!(
        seen,
        [(0, 20), (1, 10), (3, 30)],
        "a duplicate keeps its first position"
    );
}

#[test]
fn as_completed_sees_a_user_cancel_at_once() {
    let (_p, f) = Promise::<u32>::new();
    let canceller = {
        let f = f.clone();
        thread::spawn(move || f.cancel())
    };
    let got: Vec<_> = as_completed([&f], Some(HANG)).collect();
    assert!(canceller.join().unwrap());
    assert_eq!(got.len(), 1);
    assert!(got[0].as_ref().unwrap().cancelled());
}

/// A toy executor for `Map`: every chunk runs on its own thread.
fn spawn_chunk<A: Send + 'static, R: Send + 'static>(
    f: fn(A) -> R,
) -> impl FnMut(Vec<A>) -> Result<ChunkFuture<R>, SubmitError> {
    move |chunk: Vec<A>| {
        let (promise, future) = Promise::new();
        thread::spawn(move || promise.set_result(ChunkResults::run(chunk, f)));
        Ok(future)
    }
}

#[test]
fn map_keeps_input_order_for_every_chunk_size() {
    fn triple(x: u32) -> u32 {
        x * 3
    }
    let serial: Vec<_> = (0..97).map(triple).collect();
    for chunksize in [1, 6, 40, 50, 200] {
        let results: Vec<_> = Map::new(
            0..97,
            MapOptions::new().chunksize(chunksize),
            3,
            spawn_chunk(triple),
        )
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
        assert_eq!(results, serial, "chunksize {chunksize}");
    }
}

#[test]
fn map_panic_fails_that_element_only() {
    fn picky(x: u32) -> u32 {
        assert!(x != 3, "three is bad");
        x
    }
    let results: Vec<_> = Map::new(0..6, MapOptions::new().chunksize(4), 2, spawn_chunk(picky))
        .unwrap()
        .collect();
    assert_eq!(results.len(), 6);
    for (i, r) in results.iter().enumerate() {
        if i == 3 {
            assert_eq!(
                r.as_ref().unwrap_err().task_error().unwrap().message(),
                "three is bad"
            );
        } else {
            assert_eq!(r, &Ok(i as u32));
        }
    }
}

#[test]
fn map_is_lazy_with_a_bounded_number_in_flight() {
    let submitted = Arc::new(AtomicUsize::new(0));
    let counter = submitted.clone();
    let mut map = Map::new(
        0..1_000_000u64,
        MapOptions::new().buffersize(3),
        99,
        move |chunk: Vec<u64>| {
            counter.fetch_add(1, Ordering::SeqCst);
            let (p, f) = Promise::new();
            p.set_result(ChunkResults::run(chunk, |x| x));
            Ok(f)
        },
    )
    .unwrap();
    assert_eq!(
        submitted.load(Ordering::SeqCst),
        3,
        "buffersize chunks submitted at the call"
    );
    assert_eq!(map.next(), Some(Ok(0)));
    assert_eq!(map.next(), Some(Ok(1)));
    assert_eq!(
        submitted.load(Ordering::SeqCst),
        5,
        "one more submitted per chunk consumed"
    );
}

#[test]
fn map_timeout_yields_timeout_cancels_the_rest_and_ends() {
    let (blocker, blocked) = Promise::<ChunkResults<u32>>::new();
    let mut later = Vec::new();
    let mut first = Some(blocked);
    let mut map = Map::new(
        0..5u32,
        MapOptions::new().timeout(SHORT).buffersize(5),
        5,
        |_chunk: Vec<u32>| {
            Ok(first.take().unwrap_or_else(|| {
                let (p, f) = Promise::new();
                later.push(p);
                f
            }))
        },
    )
    .unwrap();
    assert_eq!(map.next(), Some(Err(FutureError::Timeout)));
    assert_eq!(map.next(), None);
    drop(map);
    assert!(
        later.iter().all(|p| p.is_cancelled()),
        "unstarted chunks were cancelled"
    );
    assert!(blocker.is_cancelled());
}

#[test]
fn map_dropped_early_cancels_unstarted_chunks() {
    let mut promises = Vec::new();
    let map = Map::<u32>::new(
        0..10u32,
        MapOptions::new().buffersize(4),
        4,
        |_chunk: Vec<u32>| {
            let (p, f) = Promise::new();
            promises.push(p);
            Ok(f)
        },
    )
    .unwrap();
    drop(map);
    assert_eq!(promises.len(), 4);
    assert!(promises.iter().all(|p| p.is_cancelled()));
}

#[test]
fn map_first_submit_refused_is_an_error_and_later_refusal_ends_the_results() {
    let refused = Map::<u32>::new(0..3u32, MapOptions::new(), 2, |_c: Vec<u32>| {
        Err(SubmitError::Shutdown)
    });
    assert_eq!(refused.unwrap_err(), SubmitError::Shutdown);

    let mut submitted = 0;
    let results: Vec<_> = Map::new(
        0..5u32,
        MapOptions::new().buffersize(1),
        1,
        |chunk: Vec<u32>| {
            submitted += 1;
            if submitted > 2 {
                return Err(SubmitError::Shutdown);
            }
            let (p, f) = Promise::new();
            p.set_result(ChunkResults::run(chunk, |x| x));
            Ok(f)
        },
    )
    .unwrap()
    .collect();
    assert_eq!(
        results,
        vec![
            Ok(0),
            Ok(1),
            Err(FutureError::Rejected(SubmitError::Shutdown))
        ]
    );
}

#[test]
fn map_chunk_that_fails_whole_fails_each_of_its_elements() {
    let results: Vec<_> = Map::new(
        0..5u32,
        MapOptions::new().chunksize(2),
        3,
        |chunk: Vec<u32>| {
            let (p, f) = Promise::new();
            if chunk.contains(&2) {
                p.set_error(TaskError::new(TaskErrorKind::WorkerDied, "worker 9 killed"));
            } else {
                p.set_result(ChunkResults::run(chunk, |x| x));
            }
            Ok(f)
        },
    )
    .unwrap()
    .collect();
    assert_eq!(results.len(), 5);
    assert_eq!(results[..2], [Ok(0), Ok(1)]);
    for r in &results[2..4] {
        assert_eq!(
            r.as_ref().unwrap_err().task_error().unwrap().kind(),
            TaskErrorKind::WorkerDied
        );
    }
    assert_eq!(results[4], Ok(4));
}

#[test]
fn map_reports_elements_an_executor_failed_to_return() {
    // A buggy executor returns 2 results for chunks of 3: the third element is an error,
    // not silently dropped, and the next chunk still lines up.
    let results: Vec<_> = Map::new(
        0..6u32,
        MapOptions::new().chunksize(3),
        2,
        |chunk: Vec<u32>| {
            let (p, f) = Promise::new();
            p.set_result(ChunkResults::run(chunk[..2].to_vec(), |x| x));
            Ok(f)
        },
    )
    .unwrap()
    .collect();
    assert_eq!(results.len(), 6);
    assert_eq!(results[..2], [Ok(0), Ok(1)]);
    assert!(
        results[2]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("no result for element 2")
    );
    assert_eq!(results[3..5], [Ok(3), Ok(4)]);
    assert!(results[5].is_err());
}

#[test]
fn collect_values_moves_whole_chunks_and_stops_at_the_first_error() {
    fn half(x: u32) -> u32 {
        assert!(x != 70, "seventy");
        x / 2
    }
    let all: Vec<u32> = (0..65).map(half).collect();
    let got = Map::new(
        0..65u32,
        MapOptions::new().chunksize(8),
        3,
        spawn_chunk(half),
    )
    .unwrap()
    .collect_values();
    assert_eq!(got, Ok(all));
    let err = Map::new(
        0..100u32,
        MapOptions::new().chunksize(8),
        3,
        spawn_chunk(half),
    )
    .unwrap()
    .collect_values()
    .unwrap_err();
    assert_eq!(err.task_error().unwrap().message(), "seventy");
}

#[test]
fn chunk_results_keep_positions_of_several_panics() {
    let chunk = ChunkResults::run((0..10u32).collect(), |x| {
        assert!(x % 4 != 1, "bad {x}");
        x
    });
    let results = chunk.into_results();
    assert_eq!(results.len(), 10);
    for (i, r) in results.iter().enumerate() {
        if i % 4 == 1 {
            assert_eq!(r.as_ref().unwrap_err().message(), format!("bad {i}"));
        } else {
            assert_eq!(r, &Ok(i as u32));
        }
    }
}
