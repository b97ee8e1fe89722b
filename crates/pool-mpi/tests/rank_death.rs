//! A dead worker rank in a fault-tolerant job (`mpirun --with-ft ulfm -n 4`, a build with the
//! `ulfm` feature against an Open MPI 5 with ULFM): only its tasks fail, the other workers
//! finish the rest, the pool shrinks, and the job still ends as its program says. Each
//! scenario is this binary run again under `mpirun`; the scenario asserts inside, and the
//! test asserts that the job exited as documented within a deadline that only a hang would
//! reach. A dead rank 0 ends the job instead.

mod common;

use std::time::{Duration, Instant};

use future_core::{FutureError, MapOptions, SubmitError, TaskErrorKind, TaskFuture};
use pool_mpi::MpiPool;

/// Only a hang takes this long.
const DEADLINE: Duration = Duration::from_secs(120);

/// The job's launch: fault tolerant, with the heartbeat detector that notices a rank which
/// exits without a signal (see `docs/MPI.md`).
const LAUNCH: [&str; 8] = [
    "--with-ft",
    "ulfm",
    "--mca",
    "mpi_ft_detector",
    "true",
    "--mca",
    "mpi_ft_detector_timeout",
    "1",
];

/// The most tasks in flight on one worker: those fail with it.
const TASKS_PER_WORKER: usize = 8;

/// The item whose task ends its worker.
const FATAL: u64 = 500;

fn kill_self() {
    // SIGKILL: no unwinding, no MPI_Finalize, as a crash or the OOM killer would.
    // SAFETY: `kill` on this process's own pid; it does not return.
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
}

/// Doubles `x`; the item `FATAL` kills its worker first.
fn double_or_die(x: u64) -> u64 {
    if x == FATAL {
        kill_self();
    }
    x * 2
}

/// Doubles `x`; the item `FATAL` makes its worker exit with status 3, without a signal.
fn double_or_exit(x: u64) -> u64 {
    if x == FATAL {
        std::process::exit(3);
    }
    x * 2
}

fn die(_: ()) -> u64 {
    kill_self();
    0
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// `results` of the items `0..n` doubled: every one is right or failed because its worker
/// died (naming the rank); the item `FATAL` failed; at most `most` failed. Returns how many.
fn check_doubled(results: &[Result<u64, FutureError>], most: usize) -> usize {
    let mut failed = 0;
    for (x, result) in (0u64..).zip(results) {
        match result {
            Ok(doubled) => assert_eq!(*doubled, x * 2),
            Err(FutureError::Failed(err)) => {
                assert_eq!(err.kind(), TaskErrorKind::WorkerDied, "item {x}: {err}");
                assert!(err.message().contains("MPI rank"), "{err}");
                failed += 1;
            }
            Err(other) => panic!("item {x}: {other}"),
        }
    }
    let fatal = usize::try_from(FATAL).unwrap_or(usize::MAX);
    assert!(results[fatal].is_err(), "the task that killed its worker");
    assert!(
        failed <= most,
        "{failed} failed, at most {most} were on the dead worker"
    );
    failed
}

/// Waits until the pool has `workers` workers (it notices a death), and returns how long.
fn until_workers(pool: &MpiPool, workers: usize) -> Duration {
    let start = Instant::now();
    while pool.stats().workers != workers {
        assert!(
            start.elapsed() < DEADLINE,
            "the pool never noticed the death"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    start.elapsed()
}

/// The pool, with its three workers left of four ranks, still runs everything.
fn still_serves(pool: &MpiPool) {
    let doubled: Vec<u64> = pool
        .map(nap_free_double, 0..1000u64, MapOptions::new().chunksize(10))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(doubled, (0..1000u64).map(|x| x * 2).collect::<Vec<_>>());
}

fn nap_free_double(x: u64) -> u64 {
    x * 2
}

/// The scenarios, run in the inner job: each asserts, and prints `ok` at its end.
fn scenario(name: &str) {
    let mpi = pool_mpi::init();
    let mut pool = MpiPool::builder()
        .tasks_per_worker(TASKS_PER_WORKER)
        .build()
        .unwrap();
    assert!(pool.fault_tolerant(), "a job started with --with-ft ulfm");
    assert_eq!(pool.max_workers(), 3);
    // The dead worker had at most `TASKS_PER_WORKER` chunks of 10 in flight.
    let most = TASKS_PER_WORKER * 10;
    match name {
        "map-kill" | "map-exit" => {
            let f = if name == "map-kill" {
                double_or_die
            } else {
                double_or_exit
            };
            let results: Vec<_> = pool
                .map(f, 0..1000u64, MapOptions::new().chunksize(10))
                .unwrap()
                .collect();
            check_doubled(&results, most);
            until_workers(&pool, 2);
            assert_eq!(pool.max_workers(), 2);
        }
        "submit-kill" => {
            let futures: Vec<TaskFuture<u64>> = (0..1000u64)
                .map(|x| pool.submit(double_or_die, x).unwrap())
                .collect();
            let results: Vec<_> = futures.iter().map(|f| f.result_timeout(DEADLINE)).collect();
            let failed = check_doubled(&results, TASKS_PER_WORKER);
            let stats = pool.stats();
            assert_eq!(
                (stats.completed, stats.failed),
                (1000 - failed as u64, failed as u64)
            );
            until_workers(&pool, 2);
        }
        "idle-kill" => {
            let pids = common::worker_pids(&pool);
            let pid = libc::pid_t::try_from(pids[1]).unwrap();
            // SAFETY: `kill` of a worker rank of this job, on this machine.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let took = until_workers(&pool, 2);
            println!("scenario idle-kill: noticed after {} ms", took.as_millis());
            let left = common::worker_pids(&pool);
            assert_eq!(left, [pids[0], pids[2]]);
            // The next pool of the session leaves the dead rank out.
            drop(pool);
            pool = MpiPool::builder()
                .tasks_per_worker(TASKS_PER_WORKER)
                .build()
                .unwrap();
            assert_eq!(pool.max_workers(), 2);
            assert_eq!(common::worker_pids(&pool), left);
        }
        "two-kills" => {
            for left in [2, 1] {
                let start = Instant::now();
                let err = pool.submit(die, ()).unwrap().exception().unwrap().unwrap();
                let took = start.elapsed();
                assert_eq!(err.kind(), TaskErrorKind::WorkerDied, "{err}");
                assert!(
                    err.message().contains("died while it ran the task"),
                    "{err}"
                );
                println!(
                    "scenario two-kills: a task's death noticed after {} ms",
                    took.as_millis()
                );
                until_workers(&pool, left);
            }
            still_serves(&pool);
            // The last one: the tasks waiting behind it fail at once, and so does a submit.
            let last = pool.submit(die, ()).unwrap();
            let waiting: Vec<_> = (0..5).map(|_| pool.submit(nap, 100).unwrap()).collect();
            assert_eq!(
                last.exception().unwrap().unwrap().kind(),
                TaskErrorKind::WorkerDied
            );
            for future in &waiting {
                let err = future.exception().unwrap().unwrap();
                assert!(
                    matches!(
                        err.kind(),
                        TaskErrorKind::Broken | TaskErrorKind::WorkerDied
                    ),
                    "{err}"
                );
            }
            assert!(matches!(pool.submit(nap, 1), Err(SubmitError::Broken(_))));
            assert_eq!(pool.stats().workers, 0);
            println!("scenario two-kills: ok");
            drop(pool);
            drop(mpi);
            return;
        }
        "root-kill" => {
            // Rank 0 dies with a task running and one idle worker or more: nothing can finish
            // the pool's work, and no worker may wait for rank 0 for ever.
            let _running = pool.submit(nap, 200).unwrap();
            println!("scenario root-kill: rank 0 dies");
            kill_self();
        }
        _ => panic!("no scenario {name}"),
    }
    still_serves(&pool);
    drop(pool);
    drop(mpi);
    println!("scenario {name}: ok");
}

/// Runs `scenario` in a fault-tolerant job of four ranks; asserts that the scenario got to
/// its end, in time, and that the job exited with `code`: 0, as the program did, but where a
/// worker exited with a code of its own, which `mpirun` passes on.
fn survives(scenario: &str, code: i32) {
    let start = Instant::now();
    let cmd = common::launched_by(&LAUNCH, Some(4), &[scenario]);
    let (status, stdout, stderr) = common::run(cmd, DEADLINE);
    let status =
        status.unwrap_or_else(|| panic!("{scenario}: hung for {DEADLINE:?}\n{stdout}\n{stderr}"));
    assert!(
        status.code() == Some(code) && stdout.contains(&format!("scenario {scenario}: ok")),
        "{scenario}: exited {status}\n{stdout}\n{stderr}"
    );
    for line in stdout.lines().filter(|l| l.starts_with("scenario")) {
        println!("{line}");
    }
    println!(
        "{scenario}: the job went on and exited {code} after {:.2} s",
        start.elapsed().as_secs_f64()
    );
}

fn the_job_ends_when_rank_0_dies() {
    let start = Instant::now();
    let cmd = common::launched_by(&LAUNCH, Some(4), &["root-kill"]);
    let (status, stdout, stderr) = common::run(cmd, DEADLINE);
    let status =
        status.unwrap_or_else(|| panic!("root-kill: hung for {DEADLINE:?}\n{stdout}\n{stderr}"));
    assert!(
        !status.success() && stdout.contains("scenario root-kill: rank 0 dies"),
        "root-kill: exited {status}\n{stdout}\n{stderr}"
    );
    println!(
        "root-kill: the job ended ({status}) after {:.2} s",
        start.elapsed().as_secs_f64()
    );
}

fn a_rank_killed_during_a_map_fails_only_its_chunks() {
    survives("map-kill", 0);
}

fn a_rank_killed_among_submits_fails_only_its_tasks() {
    survives("submit-kill", 0);
}

fn a_rank_that_exits_without_a_signal_fails_only_its_chunks() {
    survives("map-exit", 3);
}

fn a_rank_killed_while_idle_leaves_the_pool() {
    survives("idle-kill", 0);
}

fn ranks_killed_one_after_another_until_none_is_left() {
    survives("two-kills", 0);
}

fn main() {
    if common::inner() {
        let name = std::env::args().nth(1).unwrap_or_default();
        scenario(&name);
        return;
    }
    let _ = nap;
    common::run_tests(&[
        (
            "a_rank_killed_during_a_map_fails_only_its_chunks",
            a_rank_killed_during_a_map_fails_only_its_chunks,
        ),
        (
            "a_rank_killed_among_submits_fails_only_its_tasks",
            a_rank_killed_among_submits_fails_only_its_tasks,
        ),
        (
            "a_rank_that_exits_without_a_signal_fails_only_its_chunks",
            a_rank_that_exits_without_a_signal_fails_only_its_chunks,
        ),
        (
            "a_rank_killed_while_idle_leaves_the_pool",
            a_rank_killed_while_idle_leaves_the_pool,
        ),
        (
            "ranks_killed_one_after_another_until_none_is_left",
            ranks_killed_one_after_another_until_none_is_left,
        ),
        (
            "the_job_ends_when_rank_0_dies",
            the_job_ends_when_rank_0_dies,
        ),
    ]);
}
