//! `ThreadPool::map_collect`: the eager ordered map that writes results in place.
//!
//! Results are checked against a sequential map; a result type that counts its drops
//! checks that every result is dropped exactly once on every path (no leak, no double
//! drop of a result written in place).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::time::Duration;

use future_core::{FutureError, MapOptions, SubmitError, TaskErrorKind};
use pool_thread::ThreadPool;

fn pool(workers: usize) -> ThreadPool {
    ThreadPool::builder().max_workers(workers).build().unwrap()
}

fn mix(x: u64) -> u64 {
    x.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (x >> 7)
}

#[test]
fn results_in_input_order_for_many_sizes_and_chunks() {
    let pool = pool(3);
    for len in [0u64, 1, 2, 7, 64, 4095, 4096, 4097, 10_001] {
        let expected: Vec<u64> = (0..len).map(mix).collect();
        for options in [
            MapOptions::new(),
            MapOptions::new().chunksize(1),
            MapOptions::new().chunksize(3),
            MapOptions::new().chunksize(5000),
        ] {
            let got = pool.map_collect(mix, 0..len, options).unwrap();
            assert_eq!(got, expected, "len {len}, {options:?}");
        }
    }
}

#[test]
fn borrows_input_and_state_from_the_callers_stack() {
    let pool = pool(2);
    let words: Vec<String> = (0..1000).map(|i| format!("word{i}")).collect();
    let suffix = String::from("!");
    let shouted = pool
        .map_collect(
            |w: &String| format!("{w}{suffix}"),
            &words,
            MapOptions::new(),
        )
        .unwrap();
    assert_eq!(shouted.len(), 1000);
    assert_eq!(shouted[0], "word0!");
    assert_eq!(shouted[999], "word999!");
}

/// Inputs whose length hint is absent, too small, or too large (a buggy iterator): the
/// results that do not fit the output's room are kept aside and appended in order.
#[test]
fn any_length_hint_gives_the_same_results() {
    struct Hint<I> {
        inner: I,
        lower: usize,
    }
    impl<I: Iterator> Iterator for Hint<I> {
        type Item = I::Item;
        fn next(&mut self) -> Option<I::Item> {
            self.inner.next()
        }
        fn size_hint(&self) -> (usize, Option<usize>) {
            (self.lower, None)
        }
    }
    let pool = pool(3);
    let expected: Vec<u64> = (0..5000).map(mix).collect();
    for lower in [0, 1, 100, 4999, 5000, 5001, 1_000_000] {
        for chunk in [1, 7, 64, 10_000] {
            let input = Hint {
                inner: 0..5000u64,
                lower,
            };
            let got = pool
                .map_collect(mix, input, MapOptions::new().chunksize(chunk))
                .unwrap();
            assert_eq!(got, expected, "hint {lower}, chunk {chunk}");
        }
    }
    let evens = pool
        .map_collect(mix, (0..5000u64).filter(|x| x % 2 == 0), MapOptions::new())
        .unwrap();
    let expected: Vec<u64> = (0..5000).filter(|x| x % 2 == 0).map(mix).collect();
    assert_eq!(evens, expected);
}

/// Counts drops, to check that each result is dropped exactly once.
struct Counted<'a> {
    value: u64,
    drops: &'a AtomicUsize,
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::Relaxed);
    }
}

/// The mapped function of the panic tests: `x` counted in `made` and wrapped to count its
/// drop, except that an element of `bad` panics.
fn counted_unless_bad<'a>(
    x: u64,
    bad: [u64; 2],
    made: &AtomicUsize,
    drops: &'a AtomicUsize,
) -> Counted<'a> {
    if bad.contains(&x) {
        panic!("bad element {x}");
    }
    made.fetch_add(1, Ordering::Relaxed);
    Counted { value: x, drops }
}

#[test]
fn every_result_is_dropped_once_on_success() {
    let pool = pool(3);
    let made = AtomicUsize::new(0);
    let drops = AtomicUsize::new(0);
    let out = pool
        .map_collect(
            |x: u64| {
                made.fetch_add(1, Ordering::Relaxed);
                Counted {
                    value: x * 2,
                    drops: &drops,
                }
            },
            0..20_000u64,
            MapOptions::new().chunksize(100),
        )
        .unwrap();
    assert!(out.iter().enumerate().all(|(i, c)| c.value == 2 * i as u64));
    assert_eq!(drops.load(Ordering::Relaxed), 0);
    drop(out);
    assert_eq!(made.load(Ordering::Relaxed), 20_000);
    assert_eq!(drops.load(Ordering::Relaxed), 20_000);
}

/// Two elements panic: the error is the first in input order, whichever failed first in
/// time, and every result made (in place or aside) is dropped exactly once.
#[test]
fn first_panic_in_input_order_and_no_result_leaks() {
    let pool = pool(3);
    for (hint_ok, chunk) in [(true, 50), (true, 1), (false, 50), (false, 3)] {
        let made = AtomicUsize::new(0);
        let drops = AtomicUsize::new(0);
        let f = |x: u64| counted_unless_bad(x, [1234, 777], &made, &drops);
        let options = MapOptions::new().chunksize(chunk);
        let err = if hint_ok {
            pool.map_collect(f, 0..5000u64, options)
        } else {
            pool.map_collect(f, (0..5000u64).filter(|_| true), options)
        }
        .map(|out| out.len())
        .unwrap_err();
        match &err {
            FutureError::Failed(e) => {
                assert_eq!(e.kind(), TaskErrorKind::Panicked);
                assert_eq!(e.message(), "bad element 777");
            }
            other => panic!("expected a panic error, got {other:?}"),
        }
        assert_eq!(
            made.load(Ordering::Relaxed),
            drops.load(Ordering::Relaxed),
            "hint {hint_ok}, chunk {chunk}: every result made was dropped once"
        );
    }
}

#[test]
fn a_panicking_input_iterator_is_an_error_not_a_crash() {
    let pool = pool(2);
    let len = if cfg!(miri) { 1_000 } else { 10_000u64 };
    let input = (0..len).inspect(move |&x| {
        if x == len * 3 / 5 {
            panic!("input broke");
        }
    });
    let err = pool
        .map_collect(mix, input, MapOptions::new().chunksize(100))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("the input iterator panicked: input broke"),
        "{err}"
    );
    // The pool is fine afterwards.
    assert_eq!(
        pool.map_collect(mix, 0..3u64, MapOptions::new())
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn a_passed_timeout_pulls_nothing() {
    let pool = pool(2);
    let calls = AtomicUsize::new(0);
    let err = pool
        .map_collect(
            |x: u64| {
                calls.fetch_add(1, Ordering::Relaxed);
                x
            },
            0..10_000u64,
            MapOptions::new().timeout(Duration::ZERO),
        )
        .unwrap_err();
    assert_eq!(err, FutureError::Timeout);
    assert_eq!(calls.load(Ordering::Relaxed), 0);
}

/// A timeout that passes mid-way: the chunks already pulled finish, then `Timeout`.
#[test]
fn a_timeout_mid_way_stops_pulling() {
    let pool = pool(2);
    let calls = AtomicUsize::new(0);
    let err = pool
        .map_collect(
            |x: u64| {
                calls.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
                x
            },
            0..100_000u64,
            MapOptions::new()
                .chunksize(1)
                .timeout(Duration::from_millis(50)),
        )
        .unwrap_err();
    assert_eq!(err, FutureError::Timeout);
    // Generous: only catches a map that ignored the timeout and ran everything.
    assert!(calls.load(Ordering::Relaxed) < 50_000);
}

#[test]
fn refused_by_a_shut_down_pool() {
    let pool = pool(2);
    pool.shutdown();
    let err = pool
        .map_collect(mix, 0..10u64, MapOptions::new())
        .unwrap_err();
    assert_eq!(err, FutureError::Rejected(SubmitError::Shutdown));
}

/// Every pool thread is blocked: the caller does all the work alone and returns; the
/// helpers that start later do nothing.
#[test]
fn finishes_on_the_caller_when_every_pool_thread_is_busy() {
    let pool = pool(2);
    let (release, gate) = mpsc::channel::<()>();
    let gate = Arc::new(std::sync::Mutex::new(gate));
    let started = Arc::new(Barrier::new(3));
    let blockers: Vec<_> = (0..2)
        .map(|_| {
            let (gate, started) = (gate.clone(), started.clone());
            pool.spawn(move || {
                started.wait();
                gate.lock().unwrap().recv().unwrap();
            })
            .unwrap()
        })
        .collect();
    started.wait();
    let caller = std::thread::current().id();
    let threads = std::sync::Mutex::new(std::collections::HashSet::new());
    let out = pool
        .map_collect(
            |x: u64| {
                threads.lock().unwrap().insert(std::thread::current().id());
                mix(x)
            },
            0..10_000u64,
            MapOptions::new().chunksize(10),
        )
        .unwrap();
    assert_eq!(out, (0..10_000).map(mix).collect::<Vec<_>>());
    assert_eq!(
        threads.into_inner().unwrap(),
        [caller].into_iter().collect()
    );
    for _ in 0..2 {
        release.send(()).unwrap();
    }
    for blocker in blockers {
        blocker.result().unwrap();
    }
}

#[test]
fn nested_inside_a_pool_task() {
    let pool = Arc::new(pool(2));
    let inner = pool.clone();
    let sums = pool
        .spawn(move || {
            (0..20u64)
                .map(|n| {
                    inner
                        .map_collect(|x: u64| x * n, 0..1000u64, MapOptions::new())
                        .unwrap()
                        .iter()
                        .sum::<u64>()
                })
                .collect::<Vec<_>>()
        })
        .unwrap()
        .take()
        .unwrap();
    assert_eq!(sums, (0..20u64).map(|n| n * 499_500).collect::<Vec<_>>());
}

/// Many maps at once from several threads on one pool, every result checked.
#[test]
fn stress_concurrent_maps() {
    let pool = Arc::new(pool(3));
    let callers: Vec<_> = (0..4u64)
        .map(|c| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                for round in 0..200u64 {
                    let len = (round * 37 + c * 11) % 3000;
                    let chunk = 1 + (round % 5) as usize * 40;
                    let got = pool
                        .map_collect(
                            |x: u64| mix(x + c),
                            0..len,
                            MapOptions::new().chunksize(chunk),
                        )
                        .unwrap();
                    let expected: Vec<u64> = (0..len).map(|x| mix(x + c)).collect();
                    assert_eq!(got, expected, "caller {c}, round {round}");
                }
            })
        })
        .collect();
    for caller in callers {
        caller.join().unwrap();
    }
}

#[test]
fn map_slice_results_in_order_for_many_sizes_and_chunks() {
    let pool = pool(3);
    for len in [0u64, 1, 2, 7, 4096, 4097, 10_001] {
        let input: Vec<u64> = (0..len).collect();
        let expected: Vec<u64> = input.iter().map(|&x| mix(x)).collect();
        for options in [
            MapOptions::new(),
            MapOptions::new().chunksize(1),
            MapOptions::new().chunksize(3),
            MapOptions::new().chunksize(usize::MAX),
        ] {
            let got = pool.map_slice(|&x: &u64| mix(x), &input, options).unwrap();
            assert_eq!(got, expected, "len {len}, {options:?}");
        }
    }
    // Zero-sized results.
    let units = pool
        .map_slice(|_: &u8| (), &[1u8; 1000], MapOptions::new())
        .unwrap();
    assert_eq!(units.len(), 1000);
}

#[test]
fn map_slice_first_panic_in_input_order_and_no_result_leaks() {
    let pool = pool(3);
    let input: Vec<u64> = (0..5000).collect();
    for chunk in [1, 50, 4096] {
        let made = AtomicUsize::new(0);
        let drops = AtomicUsize::new(0);
        let err = pool
            .map_slice(
                |&x: &u64| counted_unless_bad(x, [4321, 999], &made, &drops),
                &input,
                MapOptions::new().chunksize(chunk),
            )
            .map(|out| out.iter().map(|c| c.value).sum::<u64>())
            .unwrap_err();
        assert!(err.to_string().contains("bad element 999"), "{err}");
        assert_eq!(
            made.load(Ordering::Relaxed),
            drops.load(Ordering::Relaxed),
            "chunk {chunk}"
        );
    }
}

#[test]
fn map_slice_timeout_and_shutdown() {
    let pool = pool(2);
    let input = [1u8; 100];
    let err = pool
        .map_slice(
            |&x: &u8| x,
            &input,
            MapOptions::new().timeout(Duration::ZERO),
        )
        .unwrap_err();
    assert_eq!(err, FutureError::Timeout);
    pool.shutdown();
    let err = pool
        .map_slice(|&x: &u8| x, &input, MapOptions::new())
        .unwrap_err();
    assert_eq!(err, FutureError::Rejected(SubmitError::Shutdown));
}
