//! Helpers shared by the process-pool test files: a deadline that only catches hangs, one
//! test at a time, and the check that a test left no child process behind.
#![allow(dead_code, unreachable_pub)] // each test binary uses its own part

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use future_core::{TaskError, TaskFuture};

pub const HANG: Duration = Duration::from_secs(60);

/// The error `future`'s task failed with (waiting at most `HANG`).
pub fn task_error<T>(future: &TaskFuture<T>) -> TaskError {
    future
        .exception_timeout(HANG)
        .expect("the task ends in time")
        .expect("the task failed")
}

/// A task: waits until the file `path` exists (at most `HANG`), then returns the worker's
/// pid.
pub fn wait_for_file(path: String) -> u32 {
    let deadline = Instant::now() + HANG;
    while !std::path::Path::new(&path).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::process::id()
}

/// A task: kills its own worker process with SIGKILL.
pub fn sigkill_self(_: ()) -> u32 {
    let me = rustix::process::getpid();
    let _ = rustix::process::kill_process(me, rustix::process::Signal::KILL);
    loop {
        std::thread::park();
    }
}

/// A task that never ends.
pub fn forever(_: ()) -> u32 {
    loop {
        std::thread::park();
    }
}

/// A file name unique to this test process and `name` (no file yet).
pub fn temp_file(name: &str) -> String {
    let path = std::env::temp_dir().join(format!("pool-process-{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path.to_string_lossy().into_owned()
}

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs tests one at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// The pids of this process's children (scanning `/proc/*/stat` for our pid as parent).
pub fn children() -> Vec<u32> {
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
            continue;
        };
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(me) {
            found.push(pid);
        }
    }
    found
}

pub fn assert_no_children() {
    let left = children();
    assert!(left.is_empty(), "child processes left behind: {left:?}");
}

/// Runs `test` alone and checks afterwards that it left no child process (zombie or not).
pub fn run(test: impl FnOnce()) {
    let _serial = serial();
    test();
    assert_no_children();
}

/// Kills every child process of this one: the way out of a test that found a hang, so that
/// the pool can wind down and the failure is reported instead of hanging the run.
pub fn kill_children() {
    for pid in children() {
        if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

/// The environment variable naming the role in which a test binary runs as a program.
pub const ROLE: &str = "POOL_PROCESS_TEST_ROLE";

/// In a test binary's `program_main` test, its stand-in for a program's `main`: when a test
/// started this binary as a program (see [`program`]), calls `init()` first, as a program's
/// `main` does, and returns the role; in the normal test run, `None`.
pub fn program_role() -> Option<String> {
    let role = std::env::var(ROLE).ok()?;
    pool_process::init();
    Some(role)
}

/// A command that runs this test binary as a program in `role` (its `program_main` test).
pub fn program(role: &str) -> std::process::Command {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "program_main",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env(ROLE, role);
    command
}

/// Checks that `future` failed because its pool broke, with a message holding each of
/// `needles`; returns the message.
pub fn broken_with<T>(future: &TaskFuture<T>, needles: &[&str]) -> String {
    let err = task_error(future);
    assert_eq!(err.kind(), future_core::TaskErrorKind::Broken, "{err}");
    for needle in needles {
        assert!(err.message().contains(needle), "{needle:?} not in: {err}");
    }
    err.message().to_owned()
}
