//! Spawn mode: this test binary runs alone (MPI starts as a singleton) and spawns its
//! workers with `MPI_Comm_spawn`; they are this binary again, serving inside `init`.

mod common;

use std::time::{Duration, Instant};

use common::HANG;
use future_core::{MapOptions, TaskErrorKind};
use pool_mpi::MpiPool;

fn square(x: u64) -> u64 {
    x * x
}

fn fail(_: ()) -> u8 {
    panic!("spawned and failed")
}

static READY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn setup() {
    READY.store(true, std::sync::atomic::Ordering::SeqCst);
}

fn ready(_: ()) -> bool {
    READY.load(std::sync::atomic::Ordering::SeqCst)
}

fn spawned_workers_run_tasks() {
    let start = Instant::now();
    let pool = MpiPool::builder()
        .initializer(setup)
        .spawn_workers(2)
        .unwrap();
    println!(
        "spawn_workers(2) took {:.2} s",
        start.elapsed().as_secs_f64()
    );
    assert_eq!(pool.max_workers(), 2);
    assert_eq!(pool.submit(square, 7).unwrap().result_timeout(HANG), Ok(49));
    let pids = common::worker_pids(&pool);
    assert_eq!(pids.len(), 2);
    assert!(!pids.contains(&std::process::id()));
    assert!(
        pool.on_each_worker(ready, ())
            .unwrap()
            .iter()
            .all(|f| f.result_timeout(HANG) == Ok(true))
    );
    let total: u64 = pool
        .map(square, 0..1000u64, MapOptions::new().chunksize(50))
        .unwrap()
        .map(Result::unwrap)
        .sum();
    assert_eq!(total, (0..1000u64).map(|x| x * x).sum());
    let err = pool
        .submit(fail, ())
        .unwrap()
        .exception_timeout(HANG)
        .unwrap()
        .unwrap();
    assert_eq!(err.kind(), TaskErrorKind::Panicked);
    assert!(err.message().contains("spawned and failed"), "{err}");
}

fn spawned_workers_exit_with_their_pool() {
    let pool = MpiPool::builder().spawn_workers(1).unwrap();
    let pids = common::worker_pids(&pool);
    drop(pool);
    let start = Instant::now();
    while pids
        .iter()
        .any(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
    {
        assert!(start.elapsed() < HANG, "the spawned workers did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
    // A second pool spawns new workers in the same session.
    let pool = MpiPool::builder().spawn_workers(1).unwrap();
    assert_eq!(pool.submit(square, 3).unwrap().result_timeout(HANG), Ok(9));
}

fn main() {
    if !common::inner() {
        common::launch(None);
    }
    let _mpi = pool_mpi::init(); // the spawned workers serve here and exit
    common::run_tests(&[
        ("spawned_workers_run_tasks", spawned_workers_run_tasks),
        (
            "spawned_workers_exit_with_their_pool",
            spawned_workers_exit_with_their_pool,
        ),
    ]);
}
