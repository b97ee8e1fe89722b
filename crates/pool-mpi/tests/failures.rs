//! Fail-stop: a worker that dies ends the MPI job, and nothing hangs. Each scenario is
//! this binary run again (under `mpirun -n 3`, or alone for spawn mode); the test asserts
//! that the job exits non-zero within a deadline that only a hang would reach, and says why.

mod common;

use std::time::{Duration, Instant};

use pool_mpi::MpiPool;

/// A dead rank ends the job in about a second; this only catches a hang.
const DEADLINE: Duration = Duration::from_secs(60);

fn die(_: ()) -> u8 {
    // SIGKILL: no unwinding, no MPI_Finalize, as a crash or the OOM killer would.
    let _ = std::process::Command::new("kill")
        .args(["-9", &std::process::id().to_string()])
        .status();
    std::thread::sleep(Duration::from_secs(60));
    0
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// The scenarios, run in the inner process: each must end the job.
fn scenario(name: &str) {
    let mpi = pool_mpi::init();
    match name {
        "kill-rank" => {
            let pool = MpiPool::from_world().unwrap();
            let _ = pool.submit(die, ()).unwrap().result();
        }
        "kill-spawned" => {
            let pool = MpiPool::builder().spawn_workers(1).unwrap();
            let _ = pool.submit(die, ()).unwrap().result();
        }
        "forget-pool" => {
            let pool = MpiPool::from_world().unwrap();
            let running = pool.submit(nap, 60_000).unwrap();
            while !running.running() {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::mem::forget(pool); // the session ends below with the task in flight
        }
        "another-build" => {
            let err = MpiPool::from_world().unwrap_err();
            println!("scenario another-build: {err}");
            drop(mpi); // the workers stop, the job ends cleanly
            return;
        }
        _ => {}
    }
    drop(mpi);
    println!("scenario {name}: the job went on");
}

/// Runs `scenario` as the job `ranks` says; asserts it ends non-zero, in time, and that its
/// output has `says`.
fn ends_the_job(scenario: &str, ranks: Option<u32>, says: &str) {
    let start = Instant::now();
    let (status, stdout, stderr) = common::run(common::command(ranks, &[scenario]), DEADLINE);
    let took = start.elapsed();
    let status =
        status.unwrap_or_else(|| panic!("{scenario}: hung for {DEADLINE:?}\n{stdout}\n{stderr}"));
    assert!(
        !status.success(),
        "{scenario}: the job exited 0\n{stdout}\n{stderr}"
    );
    assert!(!stdout.contains("the job went on"), "{stdout}");
    let output = format!("{stdout}{stderr}");
    assert!(
        output.contains(says),
        "{scenario}: expected {says:?} in\n{output}"
    );
    println!(
        "{scenario}: exited {status} after {:.2} s",
        took.as_secs_f64()
    );
}

fn a_killed_rank_ends_the_job() {
    // mpirun's own report of the dead process.
    ends_the_job("kill-rank", Some(3), "signal 9");
}

fn a_killed_spawned_worker_ends_the_job() {
    ends_the_job("kill-spawned", None, "died; an MPI job cannot go on");
}

fn a_session_that_ends_with_tasks_in_flight_ends_the_job() {
    ends_the_job("forget-pool", Some(3), "still running on the workers");
}

/// A rank that runs another build (as a node with another copy of the program would; here
/// the fingerprint's salt makes rank 2 look like one) is refused with a clear error, and
/// the job still ends cleanly.
fn a_rank_of_another_build_is_refused_by_name() {
    let exe = std::env::current_exe().expect("the test binary");
    let mut cmd = common::command(Some(2), &["another-build"]);
    cmd.args([
        ":",
        "-n",
        "1",
        "-x",
        "POOL_MPI_FINGERPRINT_SALT=another build",
    ])
    .arg(&exe)
    .arg("another-build");
    let (status, stdout, stderr) = common::run(cmd, DEADLINE);
    assert!(status.is_some_and(|s| s.success()), "{stdout}\n{stderr}");
    assert!(stdout.contains("MPI rank 2"), "{stdout}");
    assert!(stdout.contains("is not the same build"), "{stdout}");
}

fn main() {
    if common::inner() {
        let name = std::env::args().nth(1).unwrap_or_default();
        scenario(&name);
        return;
    }
    common::run_tests(&[
        ("a_killed_rank_ends_the_job", a_killed_rank_ends_the_job),
        (
            "a_killed_spawned_worker_ends_the_job",
            a_killed_spawned_worker_ends_the_job,
        ),
        (
            "a_rank_of_another_build_is_refused_by_name",
            a_rank_of_another_build_is_refused_by_name,
        ),
        (
            "a_session_that_ends_with_tasks_in_flight_ends_the_job",
            a_session_that_ends_with_tasks_in_flight_ends_the_job,
        ),
    ]);
}
