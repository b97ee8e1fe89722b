//! The pool's life under faults, with real child processes: workers that fail to start,
//! workers whose parent dies, done callbacks that call back into the pool, dropping a pool
//! with work still running, large messages, and what the pool shows of its workers.
//!
//! Tests run one at a time (each takes `common::serial()`) and check that they left no child
//! process. Deadlines only catch hangs.

pool_process::test_worker!(worker_main);

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use common::{HANG, broken_with, children, forever, kill_children, run, task_error};
use future_core::{MapOptions, ShutdownOptions, SubmitError, TaskErrorKind};
use pool_process::{ProcessPool, ProcessPoolBuilder, WorkerDeath, WorkerInfo, WorkerState};

fn square(x: u64) -> u64 {
    x * x
}

/// What a worker of this test binary does before `init` (see `worker_main`).
const BEFORE_INIT: &str = "POOL_PROCESS_TEST_BEFORE_INIT";

/// Where a slow-starting worker waits for its go-ahead (a file named after its pid).
const GO_DIR: &str = "POOL_PROCESS_TEST_GO_DIR";

/// The `main` of this test binary's workers, as a program's `main` whose pool sets
/// `BEFORE_INIT`: `forget` returns without calling `init` (the worker exits 0 without a
/// word); `reject_args` rejects its arguments as a strict argument parser does (clap's
/// words on stderr, exit code 2); `wait` does its own work first: it waits until the file
/// `GO_DIR/<its pid>` exists (at most `HANG`).
fn worker_main() {
    match std::env::var(BEFORE_INIT).as_deref() {
        Ok("forget") => return,
        Ok("reject_args") => {
            let first = std::env::args().nth(1).unwrap_or_default();
            eprintln!("error: unexpected argument '{first}' found");
            eprintln!();
            eprintln!("Usage: program [OPTIONS]");
            std::process::exit(2);
        }
        Ok("wait") => {
            let dir = std::env::var_os(GO_DIR).unwrap_or_default();
            let go = Path::new(&dir).join(std::process::id().to_string());
            let deadline = Instant::now() + HANG;
            while !go.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        _ => {}
    }
    pool_process::init();
}

/// A pool whose workers do `what` (see `worker_main`) before `init`: they run `main` (here
/// `worker_main`) instead of serving before it.
fn pool_whose_workers(what: &str) -> ProcessPoolBuilder {
    ProcessPool::builder()
        .serve_before_main(false)
        .env(BEFORE_INIT, what)
}

/// A one-worker pool whose workers wait for a go-ahead file in `dir` before `init`.
fn slow_pool(dir: &Path) -> ProcessPoolBuilder {
    pool_whose_workers("wait").env(GO_DIR, dir).max_workers(1)
}

/// A directory for go-ahead files, empty, unique to this test process and `name`.
fn go_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pool-process-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits until the pool has a live worker process not in `seen`, and returns its pid.
fn new_worker(pool: &ProcessPool, seen: &[u32]) -> u32 {
    let deadline = Instant::now() + HANG;
    loop {
        if let Some(pid) = pool.worker_pids().into_iter().find(|p| !seen.contains(p)) {
            return pid;
        }
        assert!(Instant::now() < deadline, "no new worker started");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn sigkill(pid: u32) {
    let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
}

/// Runs `shutdown()` on another thread and fails (after unblocking everything)
/// unless it returns within `HANG`.
fn shutdown_returns(pool: Arc<ProcessPool>) {
    let (done, returned) = mpsc::channel();
    std::thread::spawn(move || {
        pool.shutdown();
        let _ = done.send(());
    });
    if returned.recv_timeout(HANG).is_err() {
        kill_children();
        panic!("shutdown() never returned");
    }
}

#[test]
fn workers_that_never_call_init_break_the_pool_after_a_few_tries() {
    run(|| {
        let pool = Arc::new(pool_whose_workers("forget").max_workers(2).build().unwrap());
        let futures: Vec<_> = (0..3).map(|x| pool.submit(square, x).unwrap()).collect();
        shutdown_returns(pool.clone());
        let needles = [
            "3 worker processes in a row failed",
            "exited with code 0 before the handshake; it wrote nothing on stderr",
        ];
        for future in &futures {
            broken_with(future, &needles);
        }
        let started = pool.stats().workers_started;
        assert!((3..=4).contains(&started), "{started} workers started");
    });
}

/// Issue 21, item 1: a worker copy that failed to start was said to have "never called
/// pool_process::init()" whatever it did (a clap program that rejected the pool's worker
/// arguments and exited with code 2 included). The pool now says what it did: its exit code
/// and the last lines it wrote on stderr, which the pool shows on its own stderr as well.
#[test]
fn a_worker_that_fails_to_start_is_reported_with_its_exit_code_and_its_stderr() {
    run(|| {
        let pool = pool_whose_workers("reject_args")
            .max_workers(1)
            .build()
            .unwrap();
        let future = pool.submit(square, 2).unwrap();
        let message = broken_with(
            &future,
            &[
                "3 worker processes in a row failed",
                "exited with code 2 before the handshake; the last lines of its stderr:\n    \
                 | error: unexpected argument '__pool_process_worker' found\n    \
                 | Usage: program [OPTIONS]",
            ],
        );
        assert!(!message.contains("init()"), "a guess: {message}");
    });
}

#[test]
fn a_worker_killed_while_it_starts_is_replaced_round_after_round() {
    run(|| {
        let dir = go_dir("killed-at-start");
        let pool = slow_pool(&dir).max_tasks_per_child(1).build().unwrap();
        let mut seen = Vec::new();
        for round in 0..8u64 {
            let future = pool.submit(square, round).unwrap();
            let doomed = new_worker(&pool, &seen);
            seen.push(doomed);
            sigkill(doomed);
            let replacement = new_worker(&pool, &seen);
            seen.push(replacement);
            std::fs::write(dir.join(replacement.to_string()), b"go").unwrap();
            assert_eq!(
                future.result_timeout(HANG),
                Ok(round * round),
                "round {round}"
            );
        }
        assert_eq!(pool.stats().workers_started, 16);
        drop(pool);
        let _ = std::fs::remove_dir_all(&dir);
    });
}

#[test]
fn start_up_failures_in_a_row_break_the_pool_saying_what_happened() {
    run(|| {
        let dir = go_dir("killed-in-a-row");
        let pool = slow_pool(&dir).build().unwrap();
        let future = pool.submit(square, 2).unwrap();
        let mut seen = Vec::new();
        for _ in 0..3 {
            let doomed = new_worker(&pool, &seen);
            seen.push(doomed);
            sigkill(doomed);
        }
        let needles = [
            "3 worker processes in a row failed",
            "was killed by signal 9 (SIGKILL) before the handshake",
        ];
        let message = broken_with(&future, &needles);
        assert!(
            !message.contains("init()"),
            "a kill is not a missing init: {message}"
        );
        drop(pool);
        let _ = std::fs::remove_dir_all(&dir);
    });
}

#[test]
fn a_worker_that_does_not_reach_init_in_time_is_killed() {
    run(|| {
        let dir = go_dir("never-go"); // no go-ahead ever: the workers wait until killed
        let pool = slow_pool(&dir)
            .handshake_timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        let future = pool.submit(square, 2).unwrap();
        let needles = [
            "3 worker processes in a row failed",
            "handshake timeout of 200ms",
        ];
        broken_with(&future, &needles);
        assert_eq!(pool.stats().workers_started, 3);
        // Under `WorkerDeath::Break`, the first failure breaks the pool.
        let pool = pool_whose_workers("wait")
            .env(GO_DIR, &dir)
            .on_worker_death(WorkerDeath::Break)
            .handshake_timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        let err = task_error(&pool.submit(square, 2).unwrap());
        assert!(
            err.message()
                .starts_with("the pool is broken: worker process"),
            "{err}"
        );
        assert_eq!(pool.stats().workers_started, 1);
        let _ = std::fs::remove_dir_all(&dir);
    });
}

/// This test binary's stand-in for a program's `main` (see `common::program_role`).
#[test]
fn program_main() {
    let Some(role) = common::program_role() else {
        return;
    };
    match role.as_str() {
        // Start a worker with a task that never ends, say its pid, and wait to be killed.
        "parent_of_a_busy_worker" => {
            let pool = ProcessPool::builder().max_workers(1).build().unwrap();
            let future = pool.submit(forever, ()).unwrap();
            while !future.running() || pool.worker_pids().is_empty() {
                std::thread::sleep(Duration::from_millis(1));
            }
            println!("worker {}", pool.worker_pids()[0]);
            std::thread::sleep(HANG);
        }
        other => panic!("unknown role {other}"),
    }
}

/// True when process `pid` is gone (or a zombie: dead, not reaped yet).
fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[test]
fn workers_die_with_their_parent() {
    run(|| {
        let mut parent = common::program("parent_of_a_busy_worker")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(parent.stdout.take().unwrap()).lines();
        let worker: u32 = loop {
            let line = lines
                .next()
                .expect("the parent says its worker's pid")
                .unwrap();
            if let Some(pid) = line.strip_prefix("worker ") {
                break pid.trim().parse().unwrap();
            }
        };
        assert!(!dead(worker));
        parent.kill().unwrap(); // SIGKILL: no destructor, no shutdown
        parent.wait().unwrap();
        let deadline = Instant::now() + HANG;
        while !dead(worker) {
            if Instant::now() > deadline {
                sigkill(worker);
                panic!("worker {worker} outlived its parent");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(children().is_empty());
    });
}

fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// Runs `then` in a done callback of a task of `pool`, and returns what it sent, failing
/// (after unblocking everything) unless it finishes within `HANG`.
fn in_a_callback<T: Send + 'static>(
    pool: &Arc<ProcessPool>,
    then: impl FnOnce(&ProcessPool) -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let for_callback = pool.clone();
    pool.submit(square, 1).unwrap().add_done_callback(move |_| {
        let _ = tx.send(then(&for_callback));
    });
    rx.recv_timeout(HANG).unwrap_or_else(|_| {
        kill_children();
        panic!("the done callback never finished: it deadlocked the pool");
    })
}

#[test]
fn a_done_callback_may_call_any_method_of_a_bounded_pool() {
    run(|| {
        let builder = ProcessPool::builder().max_workers(1).queue_bound(2);
        let pool = Arc::new(builder.build().unwrap());
        let results = in_a_callback(&pool, |pool| {
            // Fill the queue, then a blocking submit: it waits for room.
            let mut futures = Vec::new();
            loop {
                match pool.try_submit(nap, 1) {
                    Ok(future) => futures.push(future),
                    Err(SubmitError::Full) => break,
                    Err(err) => panic!("{err}"),
                }
            }
            futures.push(pool.submit(nap, 1).unwrap());
            let naps: Vec<_> = futures.iter().map(|f| f.result_timeout(HANG)).collect();
            let squares: Vec<u64> = pool
                .map(square, 0..4, MapOptions::new())
                .unwrap()
                .map(Result::unwrap)
                .collect();
            (naps, squares)
        });
        assert!(results.0.iter().all(|r| *r == Ok(1)), "{:?}", results.0);
        assert_eq!(results.1, vec![0, 1, 4, 9]);

        // shutdown() from a callback waits for the rest, like anywhere else.
        let late_done = in_a_callback(&pool, |pool| {
            let late = pool.submit(nap, 50).unwrap();
            pool.shutdown();
            late.done()
        });
        assert!(
            late_done,
            "shutdown() returned before the pool's tasks ended"
        );
    });
}

/// Waits until `future`'s task is running in a worker, and returns that worker's pid.
fn running_in(pool: &ProcessPool, future: &future_core::TaskFuture<u32>) -> u32 {
    let deadline = Instant::now() + HANG;
    while !future.running() || pool.worker_pids().is_empty() {
        assert!(Instant::now() < deadline, "the task never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    pool.worker_pids()[0]
}

/// Runs `f` on another thread and returns its outcome, failing (after unblocking
/// everything) unless it ends within `HANG`.
fn ends<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::Result<T> {
    let (done, ended) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = done.send(());
        outcome
    });
    if ended.recv_timeout(HANG).is_err() {
        kill_children();
        panic!("{what} never ended");
    }
    thread.join().unwrap()
}

/// Waits until this process has no child left (the pool's background threads reap them).
fn no_children_soon() {
    let deadline = Instant::now() + HANG;
    while !children().is_empty() {
        assert!(Instant::now() < deadline, "children left: {:?}", children());
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn dropping_a_pool_after_shutdown_without_wait_lets_it_go() {
    run(|| {
        let pool = ProcessPool::builder().max_workers(1).build().unwrap();
        let stuck = pool.submit(forever, ()).unwrap();
        let worker = running_in(&pool, &stuck);
        pool.shutdown_with(ShutdownOptions::new().wait(false));
        ends("drop after shutdown_with without wait", move || drop(pool)).unwrap();
        assert!(!stuck.done(), "the task goes on in the background");
        sigkill(worker);
        assert_eq!(task_error(&stuck).kind(), TaskErrorKind::WorkerDied);
        no_children_soon();
    });
}

#[test]
fn a_dropped_pool_terminates_its_workers_after_the_grace_period() {
    run(|| {
        let builder = ProcessPool::builder()
            .max_workers(1)
            .drop_grace(Duration::from_millis(100));
        let pool = builder.build().unwrap();
        let stuck = pool.submit(forever, ()).unwrap();
        let queued = pool.submit(square, 3).unwrap();
        running_in(&pool, &stuck);
        ends("drop with a grace period", move || drop(pool)).unwrap();
        let err = task_error(&stuck);
        assert_eq!(err.kind(), TaskErrorKind::WorkerDied, "{err}");
        let why = "(stopped because the pool was dropped and its grace period of 100ms ran out)";
        assert!(err.message().ends_with(why), "{err}");
        assert_eq!(queued.result(), Err(future_core::FutureError::Cancelled));
    });
}

#[test]
fn a_thread_that_panics_holding_a_pool_with_a_stuck_task_does_not_hang() {
    run(|| {
        let (futures_tx, futures_rx) = mpsc::channel();
        let outcome = ends("a panicking thread's drop of its pool", move || {
            let pool = ProcessPool::builder().max_workers(1).build().unwrap();
            let stuck = pool.submit(forever, ()).unwrap();
            let queued = pool.submit(square, 3).unwrap();
            running_in(&pool, &stuck);
            futures_tx.send((stuck, queued)).unwrap();
            panic!("a failing assertion, with the pool still working");
        });
        assert!(outcome.is_err(), "the thread panicked");
        let (stuck, queued) = futures_rx.recv().unwrap();
        assert_eq!(task_error(&stuck).kind(), TaskErrorKind::WorkerDied);
        assert_eq!(queued.result(), Err(future_core::FutureError::Cancelled));
    });
}

/// The 100 MiB payload of the memory test.
const PAYLOAD: usize = 100 << 20;

fn reversed(mut bytes: serde_bytes::ByteBuf) -> serde_bytes::ByteBuf {
    bytes.reverse();
    bytes
}

/// This process's resident memory now and at its peak since the last `reset_peak`, in bytes
/// (`VmRSS` and `VmHWM` of `/proc/self/status`).
fn memory(_: ()) -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kb * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Resets this process's peak resident memory to its current size (Linux `clear_refs`).
fn reset_peak(_: ()) {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

#[test]
fn a_100_mib_round_trip_peaks_at_about_twice_the_payload_in_each_process() {
    run(|| {
        let builder = ProcessPool::builder()
            .max_workers(1)
            .max_frame(PAYLOAD + 1024);
        let pool = builder.build().unwrap();
        pool.submit(reset_peak, ())
            .unwrap()
            .result_timeout(HANG)
            .unwrap();
        let (worker_base, _) = pool
            .submit(memory, ())
            .unwrap()
            .result_timeout(HANG)
            .unwrap();
        reset_peak(());
        let (parent_base, _) = memory(());

        let payload: Vec<u8> = (0..PAYLOAD).map(|i| (i % 251) as u8).collect();
        let future = pool
            .submit(reversed, serde_bytes::ByteBuf::from(payload))
            .unwrap();
        let back = future.take_timeout(HANG).unwrap();
        let (_, parent_peak) = memory(());
        assert_eq!(back.len(), PAYLOAD);
        assert!(
            [0, 1, PAYLOAD / 2, PAYLOAD - 1]
                .iter()
                .all(|&i| back[PAYLOAD - 1 - i] == (i % 251) as u8)
        );
        drop(back);
        let (_, worker_peak) = pool
            .submit(memory, ())
            .unwrap()
            .result_timeout(HANG)
            .unwrap();

        let mib = |bytes: u64| bytes as f64 / (1 << 20) as f64;
        let parent = mib(parent_peak - parent_base);
        let worker = mib(worker_peak - worker_base);
        eprintln!(
            "100 MiB round trip: peak above the start, parent {parent:.0} MiB, worker {worker:.0} MiB"
        );
        assert!(
            parent <= 220.0,
            "the parent peaked {parent:.0} MiB above its start"
        );
        assert!(
            worker <= 220.0,
            "the worker peaked {worker:.0} MiB above its start"
        );
    });
}

/// Waits until `pool`'s only worker is in a state that `wanted` accepts, and returns it.
fn worker_state(pool: &ProcessPool, wanted: impl Fn(&WorkerState) -> bool) -> WorkerInfo {
    let deadline = Instant::now() + HANG;
    loop {
        if let [worker] = pool.workers().as_slice() {
            if wanted(&worker.state) {
                return worker.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "never seen: {:?}",
            pool.workers()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn each_worker_shows_what_it_does_and_a_future_shows_its_pid() {
    run(|| {
        let dir = go_dir("visible");
        let pool = slow_pool(&dir).build().unwrap();
        let before = Instant::now();
        let first = pool.submit(square, 4).unwrap();
        let starting = worker_state(&pool, |s| *s == WorkerState::Starting);
        assert!(
            starting.since >= before && starting.tasks_sent == 0,
            "{starting:?}"
        );
        assert_eq!(pool.worker_pid(&first), None, "it waits for a worker");
        std::fs::write(dir.join(starting.pid.to_string()), b"go").unwrap();
        assert_eq!(first.result_timeout(HANG), Ok(16));
        let idle = worker_state(&pool, |s| *s == WorkerState::Idle);
        assert_eq!((idle.pid, idle.tasks_sent), (starting.pid, 1));
        assert_eq!(pool.worker_pid(&first), None, "done");

        let stuck = pool.submit(forever, ()).unwrap();
        let running = worker_state(&pool, |s| matches!(s, WorkerState::Running { .. }));
        assert_eq!(running.state, WorkerState::Running { task: 1, queued: 0 });
        assert!(running.since >= idle.since);
        assert_eq!(pool.worker_pid(&stuck), Some(running.pid));
        pool.kill_workers();
        assert_eq!(task_error(&stuck).kind(), TaskErrorKind::WorkerDied);
        let _ = std::fs::remove_dir_all(&dir);
    });
}

#[test]
fn a_per_submit_timeout_overrides_the_pools() {
    run(|| {
        let short = Some(Duration::from_millis(100));
        let pool = ProcessPool::builder().max_workers(1).build().unwrap();
        let err = task_error(&pool.submit_with_timeout(forever, (), short).unwrap());
        assert_eq!(err.kind(), TaskErrorKind::TimedOut, "{err}");
        assert!(err.message().contains("timeout of 100ms"), "{err}");

        let builder = ProcessPool::builder()
            .max_workers(1)
            .timeout(Duration::from_millis(100));
        let pool = builder.build().unwrap();
        let unlimited = pool.submit_with_timeout(nap, 300, None).unwrap();
        assert_eq!(unlimited.result_timeout(HANG), Ok(300));
        let err = task_error(&pool.submit(nap, 300).unwrap());
        assert_eq!(err.kind(), TaskErrorKind::TimedOut, "{err}");
    });
}
