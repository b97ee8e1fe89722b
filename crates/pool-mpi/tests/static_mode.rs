//! Static mode under `mpirun -n 3`: rank 0 runs these tests, ranks 1 and 2 are the
//! workers. One launch for all of them (each launch costs about a second).

mod common;

use std::time::Duration;

use common::HANG;
use future_core::{Executor, MapOptions, SubmitError, TaskErrorKind, as_completed};
use pool_mpi::{MpiPool, MpiPoolBuildError};

fn square(x: u64) -> u64 {
    x * x
}

fn boom(x: u32) -> u32 {
    if x == 3 {
        panic!("three is not allowed")
    }
    x
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn echo_len(bytes: Vec<u8>) -> (usize, u8) {
    (bytes.len(), bytes.iter().fold(0u8, |a, b| a ^ b))
}

fn big(n: usize) -> Vec<u8> {
    vec![7; n]
}

static INITIALIZED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn setup() {
    INITIALIZED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

fn initialized(_: ()) -> u32 {
    INITIALIZED.load(std::sync::atomic::Ordering::SeqCst)
}

fn world_pool() -> MpiPool {
    MpiPool::from_world().expect("the world's pool")
}

/// The same work on any pool: the shared interface.
fn total(pool: &impl Executor) -> u64 {
    pool.map(square, 1..=100u64, MapOptions::new().chunksize(7))
        .unwrap()
        .map(Result::unwrap)
        .sum()
}

fn submit_runs_on_the_worker_ranks() {
    let pool = world_pool();
    assert_eq!(pool.max_workers(), 2);
    assert_eq!(
        pool.submit(square, 12).unwrap().result_timeout(HANG),
        Ok(144)
    );
    let pids = common::worker_pids(&pool);
    assert_eq!(pids.len(), 2);
    assert_ne!(pids[0], pids[1]);
    assert!(!pids.contains(&std::process::id()));
}

fn map_and_the_shared_interface() {
    let pool = world_pool();
    assert_eq!(total(&pool), 338_350);
    let squares: Vec<u64> = pool
        .map(square, 0..10_000u64, MapOptions::new().chunksize(100))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(squares[9_999], 9_999 * 9_999);
    let mut unordered: Vec<(usize, u64)> = pool
        .map_unordered(square, 0..50u64, MapOptions::new().chunksize(4))
        .unwrap()
        .map(|(i, r)| (i, r.unwrap()))
        .collect();
    unordered.sort_unstable();
    assert_eq!(unordered.len(), 50);
    assert!(unordered.iter().all(|&(i, s)| s == (i as u64) * (i as u64)));
    let futures: Vec<_> = (0..100u64)
        .map(|x| pool.try_submit(square, x).unwrap())
        .collect();
    assert_eq!(as_completed(&futures, Some(HANG)).count(), 100);
}

fn a_panic_fails_only_its_element() {
    let pool = world_pool();
    let results: Vec<_> = pool
        .map(boom, 0..6u32, MapOptions::new().chunksize(2))
        .unwrap()
        .collect();
    assert_eq!(results[2], Ok(2));
    let err = results[3].clone().unwrap_err();
    let err = err.task_error().unwrap();
    assert_eq!(err.kind(), TaskErrorKind::Panicked);
    assert!(err.message().contains("three is not allowed"), "{err}");
    assert!(err.message().contains("MPI rank"), "{err}");
    assert_eq!(results[4], Ok(4));
    assert_eq!(pool.submit(square, 3).unwrap().result_timeout(HANG), Ok(9));
    pool.shutdown(); // every task settled and counted
    let stats = pool.stats();
    assert_eq!(
        stats.failed, 0,
        "a chunk with a failed element still completes"
    );
    assert_eq!(stats.completed, 4, "{stats:?}");
}

fn large_payloads_cross_both_ways() {
    let pool = world_pool();
    let payload: Vec<u8> = (0..4 << 20).map(|i| (i % 251) as u8).collect();
    let expected = (payload.len(), payload.iter().fold(0u8, |a, b| a ^ b));
    let futures: Vec<_> = (0..4)
        .map(|_| pool.submit(echo_len, payload.clone()).unwrap())
        .collect();
    for future in futures {
        assert_eq!(future.result_timeout(HANG), Ok(expected));
    }
    assert_eq!(
        pool.submit(big, 4 << 20)
            .unwrap()
            .result_timeout(HANG)
            .map(|v| v.len()),
        Ok(4 << 20)
    );
}

/// A result of `n` bytes (for most tasks a small one).
fn sized(n: usize) -> Vec<u8> {
    vec![1; n]
}

/// Large replies among many small tasks sent ahead: rank 0 never blocks on a worker that is
/// itself sending it a large reply.
fn large_results_among_small_tasks_do_not_block() {
    let pool = world_pool();
    for _ in 0..2 {
        let sizes = (0..2_000usize).map(|i| if i % 97 == 0 { 256 << 10 } else { 8 });
        let total: usize = pool
            .map(sized, sizes, MapOptions::new().chunksize(1))
            .unwrap()
            .map(|r| r.unwrap().len())
            .sum();
        assert_eq!(total, 21 * (256 << 10) + (2_000 - 21) * 8);
    }
}

fn a_timeout_fails_the_task_and_retires_its_worker() {
    let pool = MpiPool::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let slow = pool.submit(nap, 3_000).unwrap();
    let err = slow.exception_timeout(HANG).unwrap().unwrap();
    assert_eq!(err.kind(), TaskErrorKind::TimedOut, "{err}");
    assert!(err.message().contains("retired"), "{err}");
    assert_eq!(pool.stats().workers, 1, "one worker left");
    assert_eq!(pool.submit(nap, 1).unwrap().result_timeout(HANG), Ok(1));
    let per_task = pool.submit_with_timeout(nap, 2, None).unwrap();
    assert_eq!(per_task.result_timeout(HANG), Ok(2));
    assert!(matches!(
        pool.submit_with_timeout(nap, 1, Some(Duration::ZERO)),
        Err(SubmitError::Invalid(_))
    ));
}

fn the_initializer_runs_once_on_each_worker() {
    let pool = MpiPool::builder().initializer(setup).build().unwrap();
    let counts: Vec<u32> = pool
        .on_each_worker(initialized, ())
        .unwrap()
        .iter()
        .map(|f| f.result_timeout(HANG).unwrap())
        .collect();
    // Each worker process ran it once per pool that took it (this is the first such pool).
    assert_eq!(counts, vec![1, 1]);
}

fn max_workers_and_the_world_in_use() {
    let pool = MpiPool::builder().max_workers(1).build().unwrap();
    assert_eq!(pool.max_workers(), 1);
    assert_eq!(
        MpiPool::from_world().unwrap_err(),
        MpiPoolBuildError::WorldInUse
    );
    drop(pool);
    assert_eq!(world_pool().max_workers(), 2, "the ranks are free again");
    assert!(matches!(
        MpiPool::builder().tasks_per_worker(0).build(),
        Err(MpiPoolBuildError::InvalidSetting(_))
    ));
    assert_eq!(
        MpiPool::builder().max_workers(0).build().unwrap_err(),
        MpiPoolBuildError::ZeroWorkers
    );
    assert!(matches!(
        MpiPool::builder().spawn_workers(0),
        Err(MpiPoolBuildError::InvalidSetting(_))
    ));
}

fn shutdown_and_stats() {
    let pool = world_pool();
    let futures: Vec<_> = (0..1000u64)
        .map(|x| pool.submit(square, x).unwrap())
        .collect();
    pool.shutdown();
    assert!(futures.iter().all(|f| f.done()));
    assert_eq!(pool.submit(square, 1).unwrap_err(), SubmitError::Shutdown);
    let stats = pool.stats();
    assert_eq!((stats.completed, stats.queued, stats.running), (1000, 0, 0));
    assert_eq!(stats.workers, 2);
}

/// A task that starts this program again as a plain subprocess (it inherits the rank's
/// MPI environment): the child's `init` must not join the job.
fn spawn_child(_: ()) -> String {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .env("POOL_MPI_TEST_CHILD", "1")
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A task that runs a process pool on a worker rank: its workers (this program again) must
/// not join the MPI job either.
fn process_pool_on_a_rank(x: u64) -> u64 {
    let pool = pool_process::ProcessPool::builder()
        .max_workers(1)
        .build()
        .unwrap();
    pool.submit(square, x).unwrap().result().unwrap()
}

fn processes_started_by_a_rank_stay_out_of_the_job() {
    let pool = world_pool();
    let said = pool
        .submit(spawn_child, ())
        .unwrap()
        .result_timeout(HANG)
        .unwrap();
    assert!(said.contains("child: not in the MPI job"), "{said}");
    assert_eq!(
        pool.submit(process_pool_on_a_rank, 9)
            .unwrap()
            .result_timeout(HANG),
        Ok(81)
    );
}

/// Issue 20.7's scenario on this pool: one worker, one thread submitting 200 short tasks,
/// and each task's done callback (run on the pool's MPI thread) submitting a follow-up to
/// the same pool. Every follow-up completes: `submit` never waits for the MPI thread (the
/// pool has no queue bound), so the thread that reads the replies never waits on a callback
/// that waits on it.
fn follow_ups_submitted_by_done_callbacks_all_complete() {
    const TASKS: u64 = 200;
    let pool = std::sync::Arc::new(MpiPool::builder().max_workers(1).build().unwrap());
    let (done_tx, done_rx) = std::sync::mpsc::channel::<(u64, u64)>();
    let submitter = {
        let pool = pool.clone();
        std::thread::spawn(move || {
            for i in 0..TASKS {
                let for_callback = pool.clone();
                let done_tx = done_tx.clone();
                let future = pool.submit(square, i).expect("the pool takes the task");
                future.add_done_callback(move |_| {
                    let follow_up = for_callback
                        .submit(square, TASKS + i)
                        .expect("the pool takes the follow-up");
                    follow_up.add_done_callback(move |f| {
                        let _ = done_tx.send((i, f.result().expect("the follow-up ran")));
                    });
                });
            }
        })
    };
    let mut seen = vec![false; TASKS as usize];
    for _ in 0..TASKS {
        let (i, square) = done_rx.recv_timeout(HANG).unwrap_or_else(|_| {
            let left = seen.iter().filter(|s| !**s).count();
            panic!("{left} of {TASKS} follow-ups never completed: the pool stopped");
        });
        assert_eq!(square, (TASKS + i) * (TASKS + i));
        assert!(!std::mem::replace(&mut seen[i as usize], true));
    }
    submitter.join().unwrap();
}

/// A task: waits until the file `path` exists (at most `HANG`; the ranks share the host's
/// file system), then returns 0.
fn wait_for_file(path: String) -> u64 {
    let deadline = std::time::Instant::now() + HANG;
    while !std::path::Path::new(&path).exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    0
}

/// A task: waits until the file `path` exists, longer than a test waits for anything (a
/// hang shows in the test's own wait first), then returns 0.
fn wait_long_for_file(path: String) -> u64 {
    let deadline = std::time::Instant::now() + 3 * HANG;
    while !std::path::Path::new(&path).exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    0
}

/// A worker given several tasks at once used to hold the replies of those it finished while
/// it ran the next: a result waited for the whole run of the task after it. Here that task
/// runs until the result is seen.
fn a_result_is_not_held_back_by_the_long_task_after_it() {
    let pool = MpiPool::builder().max_workers(1).build().unwrap();
    let file = |name: &str| {
        let path = std::env::temp_dir().join(format!("pool-mpi-{name}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        path.to_string_lossy().into_owned()
    };
    let (gate, then) = (file("gate"), file("then"));
    // The worker is busy while the next two arrive, so it finds both queued.
    let busy = pool.submit(wait_for_file, gate.clone()).unwrap();
    let quick = pool.submit(square, 3).unwrap();
    let long = pool.submit(wait_long_for_file, then.clone()).unwrap();
    std::fs::write(&gate, b"").unwrap();
    assert_eq!(busy.result_timeout(HANG), Ok(0));
    assert_eq!(quick.result_timeout(HANG), Ok(9), "the reply stayed held");
    std::fs::write(&then, b"").unwrap();
    assert_eq!(long.result_timeout(HANG), Ok(0));
    let _ = std::fs::remove_file(&gate);
    let _ = std::fs::remove_file(&then);
}

/// `shutdown()` from a done callback, which runs on the MPI thread: the MPI thread finishes
/// the pool's tasks (the callback's own future among them), so the call must not wait for
/// them there; it returns, the pool refuses new tasks and finishes the others.
fn a_done_callback_may_shut_the_pool_down() {
    let pool = std::sync::Arc::new(MpiPool::builder().max_workers(1).build().unwrap());
    let go = std::env::temp_dir().join(format!("pool-mpi-go-{}", std::process::id()));
    let _ = std::fs::remove_file(&go);
    // The callback is registered while its task waits for `go`: it runs on the MPI thread.
    let first = pool
        .submit(wait_for_file, go.to_string_lossy().into_owned())
        .unwrap();
    let later = pool.submit(nap, 20).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let for_callback = pool.clone();
    let main_thread = std::thread::current().id();
    first.add_done_callback(move |_| {
        for_callback.shutdown();
        let refused = for_callback.submit(square, 1).err();
        let _ = tx.send((std::thread::current().id() != main_thread, refused));
    });
    std::fs::write(&go, b"").unwrap();
    let (elsewhere, refused) = rx.recv_timeout(HANG).unwrap_or_else(|_| {
        panic!("shutdown() in a done callback never returned: it waited on the MPI thread")
    });
    let _ = std::fs::remove_file(&go);
    assert!(
        elsewhere,
        "the callback ran on the test's thread, not the MPI thread"
    );
    assert_eq!(refused, Some(SubmitError::Shutdown));
    assert_eq!(later.result_timeout(HANG), Ok(20));
}

fn main() {
    if std::env::var_os("POOL_MPI_TEST_CHILD").is_some() {
        let _mpi = pool_mpi::init();
        match MpiPool::from_world() {
            Err(MpiPoolBuildError::NotInMpiJob) => println!("child: not in the MPI job"),
            other => println!("child: unexpected {other:?}"),
        }
        return;
    }
    if !common::inner() {
        common::launch(Some(3));
    }
    let _mpi = pool_mpi::init(); // ranks 1 and 2 serve here and exit
    pool_process::init(); // a process pool's worker (started by a task) serves here
    common::run_tests(&[
        (
            "submit_runs_on_the_worker_ranks",
            submit_runs_on_the_worker_ranks,
        ),
        ("map_and_the_shared_interface", map_and_the_shared_interface),
        (
            "a_panic_fails_only_its_element",
            a_panic_fails_only_its_element,
        ),
        (
            "large_payloads_cross_both_ways",
            large_payloads_cross_both_ways,
        ),
        (
            "large_results_among_small_tasks_do_not_block",
            large_results_among_small_tasks_do_not_block,
        ),
        (
            "the_initializer_runs_once_on_each_worker",
            the_initializer_runs_once_on_each_worker,
        ),
        (
            "a_timeout_fails_the_task_and_retires_its_worker",
            a_timeout_fails_the_task_and_retires_its_worker,
        ),
        (
            "max_workers_and_the_world_in_use",
            max_workers_and_the_world_in_use,
        ),
        ("shutdown_and_stats", shutdown_and_stats),
        (
            "a_done_callback_may_shut_the_pool_down",
            a_done_callback_may_shut_the_pool_down,
        ),
        (
            "a_result_is_not_held_back_by_the_long_task_after_it",
            a_result_is_not_held_back_by_the_long_task_after_it,
        ),
        (
            "follow_ups_submitted_by_done_callbacks_all_complete",
            follow_ups_submitted_by_done_callbacks_all_complete,
        ),
        (
            "processes_started_by_a_rank_stay_out_of_the_job",
            processes_started_by_a_rank_stay_out_of_the_job,
        ),
    ]);
}
