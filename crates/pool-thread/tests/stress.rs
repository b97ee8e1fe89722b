//! Many tiny tasks from several producers, every result checked.

use std::sync::Arc;

use future_core::MapOptions;
use pool_thread::ThreadPool;

/// 1,000,000 tasks: about a second even in a debug build on 2 cores.
const TASKS: u64 = 1_000_000;
const PRODUCERS: u64 = 4;

#[test]
fn million_tiny_tasks_from_four_producers() {
    let pool = Arc::new(ThreadPool::builder().max_workers(4).build().unwrap());
    let per_producer = TASKS / PRODUCERS;
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let base = p * per_producer;
                let futures: Vec<_> = (base..base + per_producer)
                    .map(|i| pool.spawn(move || i.wrapping_mul(3) + 1).unwrap())
                    .collect();
                for (i, f) in (base..).zip(&futures) {
                    assert_eq!(f.take(), Ok(i.wrapping_mul(3) + 1));
                }
                futures.len() as u64
            })
        })
        .collect();
    let total: u64 = producers.into_iter().map(|p| p.join().unwrap()).sum();
    assert_eq!(total, TASKS);
}

#[test]
fn bounded_queue_under_four_producers() {
    let pool = Arc::new(
        ThreadPool::builder()
            .max_workers(3)
            .queue_bound(32)
            .build()
            .unwrap(),
    );
    let producers: Vec<_> = (0..4u64)
        .map(|p| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let futures: Vec<_> = (0..10_000u64)
                    .map(|i| pool.spawn(move || p * 100_000 + i).unwrap())
                    .collect();
                assert!(pool.stats().queued <= 32);
                for (i, f) in futures.iter().enumerate() {
                    assert_eq!(f.take(), Ok(p * 100_000 + i as u64));
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
}

/// Blocked submitters are woken at a low-water mark (half the bound), not per task taken:
/// the count of queued tasks must still never pass the bound, for odd and tiny bounds too,
/// with two producers racing for the places a drain frees.
#[test]
fn bound_holds_for_small_and_odd_bounds() {
    for bound in [1usize, 2, 3, 5, 64] {
        let pool = Arc::new(
            ThreadPool::builder()
                .max_workers(2)
                .queue_bound(bound)
                .build()
                .unwrap(),
        );
        let producers: Vec<_> = (0..2u64)
            .map(|p| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    let mut futures = Vec::new();
                    for i in 0..5_000u64 {
                        futures.push(pool.spawn(move || p * 10_000 + i).unwrap());
                        let queued = pool.stats().queued;
                        assert!(queued <= bound, "{queued} queued, bound {bound}");
                    }
                    for (i, f) in (0..).zip(&futures) {
                        assert_eq!(f.take(), Ok(p * 10_000 + i));
                    }
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        assert_eq!(pool.stats().queued, 0);
    }
}

#[test]
fn ordered_map_over_many_items() {
    let pool = ThreadPool::builder().max_workers(4).build().unwrap();
    let n = 1_000_000u64;
    let mut expected = 0;
    for r in pool
        .map(|x: u64| x * 2, 0..n, MapOptions::new().chunksize(4096))
        .unwrap()
    {
        assert_eq!(r, Ok(expected * 2));
        expected += 1;
    }
    assert_eq!(expected, n);
}

#[test]
fn submit_races_shutdown() {
    for _ in 0..50 {
        let pool = Arc::new(ThreadPool::builder().max_workers(2).build().unwrap());
        let submitter = {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let mut accepted = Vec::new();
                while let Ok(f) = pool.spawn(|| 1u8) {
                    accepted.push(f);
                }
                accepted
            })
        };
        std::thread::yield_now();
        pool.shutdown();
        // Every accepted task ran: none was stranded by the race.
        for f in submitter.join().unwrap() {
            assert_eq!(f.result(), Ok(1));
        }
    }
}
