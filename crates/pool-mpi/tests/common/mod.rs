//! The MPI tests' small harness: each test binary has its own `main` (`harness = false`),
//! because `pool_mpi::init()` must be its first line on every rank. The binary, as
//! `cargo test` runs it, starts itself again under `mpirun -n 3` (static mode) or alone
//! (spawn mode) with the environment Open MPI needs here, waits with a deadline that only
//! catches hangs, and reports what the inner run printed.

#![allow(dead_code)]

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Generous: only a hang takes this long.
pub(crate) const HANG: Duration = Duration::from_secs(120);

/// The environment every launch gets: Open MPI as root, oversubscribed on a small machine
/// (Open MPI 4's variable and Open MPI 5's), its TCP on loopback.
pub(crate) const MPI_ENV: [(&str, &str); 8] = [
    ("OMPI_ALLOW_RUN_AS_ROOT", "1"),
    ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"),
    ("PRTE_ALLOW_RUN_AS_ROOT", "1"),
    ("PRTE_ALLOW_RUN_AS_ROOT_CONFIRM", "1"),
    ("OMPI_MCA_rmaps_base_oversubscribe", "1"),
    ("PRTE_MCA_rmaps_default_mapping_policy", ":oversubscribe"),
    ("OMPI_MCA_btl_tcp_if_include", "lo"),
    ("OMPI_MCA_oob_tcp_if_include", "lo"),
];

/// The variable that marks the inner run.
const INNER: &str = "POOL_MPI_TEST_INNER";

/// True in the inner run (started by [`launch`]).
pub(crate) fn inner() -> bool {
    std::env::var_os(INNER).is_some()
}

/// This test binary with `args`, under `mpirun -n ranks` (`None`: alone), inner-marked.
pub(crate) fn command(ranks: Option<u32>, args: &[&str]) -> Command {
    launched_by(&[], ranks, args)
}

/// [`command`], with `mpirun`'s own options `launcher` before `-n`.
pub(crate) fn launched_by(launcher: &[&str], ranks: Option<u32>, args: &[&str]) -> Command {
    let exe = std::env::current_exe().expect("the test binary");
    let mut cmd = match ranks {
        Some(n) => {
            let mut cmd = Command::new("mpirun");
            cmd.args(launcher).args(["-n", &n.to_string()]).arg(&exe);
            cmd
        }
        None => Command::new(&exe),
    };
    cmd.args(args).env(INNER, "1").envs(MPI_ENV);
    cmd
}

/// Runs `cmd` to its end or until `deadline` passes (then kills it): its status (`None`:
/// killed at the deadline), stdout and stderr.
pub(crate) fn run(mut cmd: Command, deadline: Duration) -> (Option<ExitStatus>, String, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start the test");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let start = Instant::now();
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status,
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    )
}

/// The outer run: starts the inner run and exits with its verdict.
pub(crate) fn launch(ranks: Option<u32>) -> ! {
    let (status, stdout, stderr) = run(command(ranks, &[]), HANG);
    print!("{stdout}");
    eprint!("{stderr}");
    match status {
        Some(status) if status.success() => std::process::exit(0),
        Some(status) => {
            eprintln!("the inner run failed: {status}");
            std::process::exit(1)
        }
        None => {
            eprintln!("the inner run hung: killed after {HANG:?}");
            std::process::exit(1)
        }
    }
}

/// Runs `tests` in order, each caught, printing libtest-like lines and the closing count;
/// exits with status 1 if one failed.
pub(crate) fn run_tests(tests: &[(&str, fn())]) {
    println!("\nrunning {} tests", tests.len());
    let mut failed = Vec::new();
    for (name, test) in tests {
        let start = Instant::now();
        match std::panic::catch_unwind(test) {
            Ok(()) => println!(
                "test {name} ... ok ({:.2} s)",
                start.elapsed().as_secs_f64()
            ),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(*name);
            }
        }
    }
    let verdict = if failed.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {verdict}. {} passed; {} failed; 0 ignored; 0 measured; 0 filtered out\n",
        tests.len() - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        println!("failures: {failed:?}");
        std::process::exit(1);
    }
}

/// A task: the process it runs in.
pub(crate) fn pid(_: ()) -> u32 {
    std::process::id()
}

/// The process ids of `pool`'s workers, in rank order.
pub(crate) fn worker_pids(pool: &pool_mpi::MpiPool) -> Vec<u32> {
    pool.on_each_worker(pid, ())
        .expect("on_each_worker")
        .iter()
        .map(|f| f.result_timeout(HANG).expect("a pid"))
        .collect()
}
