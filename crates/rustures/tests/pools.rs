//! The same program on every pool, through the umbrella crate: the inherent calls, the
//! `Executor` trait, and `Pool` chosen at run time.

use rustures::{Executor, MapOptions, Pool, ProcessPool, ThreadPool};

rustures::test_worker!();

fn double(x: u64) -> u64 {
    x * 2
}

fn add((a, b): (u64, u64)) -> u64 {
    a + b
}

fn through_the_trait(pool: &impl Executor) -> (u64, u64, Vec<u64>) {
    let one = pool.submit(double, 21).unwrap().result().unwrap();
    let two = pool.submit(add, (40, 2)).unwrap().result().unwrap();
    let mapped = pool
        .map(double, 0..10u64, MapOptions::new().chunksize(3))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    (one, two, mapped)
}

#[test]
fn every_pool_gives_the_same_results() {
    let expected = (42, 42, (0..10u64).map(double).collect::<Vec<_>>());
    let threads = ThreadPool::builder().max_workers(2).build().unwrap();
    let processes = ProcessPool::builder().max_workers(2).build().unwrap();
    assert_eq!(through_the_trait(&threads), expected);
    assert_eq!(through_the_trait(&processes), expected);
    // The inherent calls, the same on both.
    assert_eq!(threads.submit(double, 4).unwrap().result(), Ok(8));
    assert_eq!(processes.submit(double, 4).unwrap().result(), Ok(8));
    for pool in [Pool::from(threads), Pool::from(processes)] {
        assert_eq!(through_the_trait(&pool), expected);
        let mut unordered: Vec<_> = pool
            .map_unordered(double, 0..10u64, MapOptions::new().chunksize(4))
            .unwrap()
            .map(|(position, result)| (position, result.unwrap()))
            .collect();
        unordered.sort_unstable();
        assert_eq!(
            unordered,
            (0..10u64).map(|x| (x as usize, x * 2)).collect::<Vec<_>>()
        );
        pool.shutdown();
        assert!(pool.submit(double, 1).is_err());
    }
}

#[test]
fn pool_constructors_build_either_kind() {
    let threads = Pool::threads(2).unwrap();
    assert!(matches!(threads, Pool::Threads(_)));
    let processes = Pool::processes(1).unwrap();
    assert!(matches!(processes, Pool::Processes(_)));
    assert!(Pool::threads(0).is_err());
}

#[test]
fn both_pools_refuse_zero_workers_in_the_same_words() {
    let threads = Pool::threads(0).unwrap_err().to_string();
    let processes = Pool::processes(0).unwrap_err().to_string();
    assert_eq!(threads, "max_workers must be at least 1");
    assert_eq!(processes, threads);
}

#[test]
fn messages_name_paths_a_rustures_user_can_type() {
    use rustures::builders::ProcessPoolBuildError;
    let message = ProcessPoolBuildError::NotInitialized.to_string();
    assert!(message.contains("rustures::init()"), "{message}");
}

/// A writer that calls the pool back as it writes (as a logger might).
struct CallsThePool<'a>(&'a Pool, String);

impl std::fmt::Write for CallsThePool<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let _ = self.0.stats();
        self.1.push_str(s);
        Ok(())
    }
}

#[test]
fn every_pool_debug_shows_the_same_fields_and_holds_no_lock_while_it_writes() {
    use std::fmt::Write;
    let pools = [Pool::threads(1).unwrap(), Pool::processes(1).unwrap()];
    for pool in pools {
        let pool = std::sync::Arc::new(pool);
        let (tx, rx) = std::sync::mpsc::channel();
        let writer = {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let mut out = CallsThePool(&pool, String::new());
                let _ = write!(out, "{:?}", *pool);
                let _ = tx.send(out.1);
            })
        };
        let text = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("formatting the pool hangs: it writes under its own lock");
        writer.join().unwrap();
        for field in ["max_workers: 1", "stats: PoolStats", "shutdown: false"] {
            assert!(text.contains(field), "{field} not in {text}");
        }
    }
}
