//! Real programs on a process pool, with no line for it in `main` (issue 21, item 1): the
//! examples `pool_by_flag` (arguments parsed with clap, which rejects the pool's own worker
//! arguments), `tokio_main` (`#[tokio::main]`: a runtime built before `main`'s first line)
//! and `no_init` (no `init()` at all), each on a process pool and on a pool chosen at run
//! time. Each is built with cargo and run as a user runs it; a worker copy of it must serve
//! before its `main` runs, so `main` runs once, and nothing is printed on stderr.
//!
//! Deadlines only catch hangs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, mpsc};
use std::time::Duration;

/// Far more than a program takes (a few worker starts); a program that hangs fails here.
const HANG: Duration = Duration::from_secs(120);

/// The examples, built once for all the tests of this file.
static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Builds the examples with the profile this test was built with, and returns the folder
/// that holds them.
fn examples() -> PathBuf {
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(dir) = &*built {
        return dir.clone();
    }
    // This test is `<target dir>/<profile dir>/deps/programs-<hash>`.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let target_dir = profile_dir.parent().unwrap();
    let profile = match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let status = Command::new(cargo)
        .args(["build", "--quiet", "--profile", profile, "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .args(["--example", "pool_by_flag", "--example", "tokio_main"])
        .args(["--example", "no_init"])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo could not build the examples");
    let dir = profile_dir.join("examples");
    *built = Some(dir.clone());
    dir
}

/// Runs the example `name` with `args`, and fails unless it ends within `HANG`.
fn run(name: &str, args: &[&str]) -> Output {
    let program = examples().join(name);
    let child = Command::new(&program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("{}: {err}", program.display()));
    let pid = child.id();
    let (done, output) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match output.recv_timeout(HANG) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("{name} {args:?} did not end within {HANG:?}");
        }
    }
}

/// Checks that the program succeeded, ran its `main` once, printed nothing on stderr and
/// every line of `expected` on stdout.
fn check(name: &str, args: &[&str], expected: &[&str]) {
    let output = run(name, args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let said = format!(
        "{name} {args:?}: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    assert!(output.status.success(), "{said}");
    assert_eq!(stdout.matches("main of process").count(), 1, "{said}");
    assert!(stderr.is_empty(), "{said}");
    for line in expected {
        assert!(
            stdout.lines().any(|l| l == *line),
            "{line:?} missing: {said}"
        );
    }
}

#[test]
fn a_program_that_parses_its_arguments_with_clap_runs_on_a_process_pool() {
    check(
        "pool_by_flag",
        &["--pool", "processes", "--workers", "2"],
        &[
            "processes: 1229 primes below 10000",
            "process pool: a task ran in another process: true",
        ],
    );
}

#[test]
fn a_program_that_parses_its_arguments_with_clap_still_rejects_unknown_ones() {
    let output = run("pool_by_flag", &["--no-such-flag"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unexpected argument"), "{stderr}");
}

#[test]
fn a_tokio_main_program_runs_on_a_process_pool() {
    check(
        "tokio_main",
        &[],
        &[
            "process pool: 27 takes 111 steps",
            "processes: 1..=10 take 67 steps in all",
        ],
    );
}

#[test]
fn a_program_without_init_runs_on_a_process_pool() {
    check(
        "no_init",
        &[],
        &[
            "process pool: the squares of 1..=100 add up to 338350",
            "processes: 12 squared is 144",
        ],
    );
}
