//! Pools whose workers cannot all start, with real processes and real limits: the operating
//! system refuses the second worker process (`RLIMIT_NPROC`), and a copy of the program
//! that forgot `init()` and goes on with its own work.
//!
//! Tests run one at a time (each takes `common::serial()`) and check that they left no child
//! process. Deadlines only catch hangs.

pool_process::test_worker!(worker_main);

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{HANG, kill_children, run};
use future_core::{SubmitError, TaskErrorKind};
use pool_process::{ProcessPool, WorkerState};

fn square(x: u64) -> u64 {
    x * x
}

/// How long the pool may take to notice what these tests set up: far more than it needs (a
/// few process starts, milliseconds), far less than the handshake timeout the pools are
/// given here (`HANG`), which is what a pool that does not notice waits for.
const SOON: Duration = Duration::from_secs(20);

/// What a worker of this test binary does before `init` (see `worker_main`).
const BEFORE_INIT: &str = "POOL_PROCESS_TEST_BEFORE_INIT";

/// The `main` of this test binary's workers, as a program's `main` whose pool sets
/// `BEFORE_INIT`: `build_then_work` forgot `init()`: it builds a pool of its own, prints the
/// error and goes on with its own work (here: waiting `HANG`), as a server would;
/// `work_then_init` does its own work first (waiting `HANG`) and calls `init()` late;
/// `reject_args` rejects its arguments as a strict argument parser does (on stderr, exit 2).
fn worker_main() {
    match std::env::var(BEFORE_INIT).as_deref() {
        Ok("reject_args") => {
            let first = std::env::args().nth(1).unwrap_or_default();
            eprintln!("error: unexpected argument '{first}' found");
            std::process::exit(2);
        }
        Ok("build_then_work") => {
            match ProcessPool::builder().max_workers(1).build() {
                Err(err) => eprintln!("cannot build a pool: {err}; going on without one"),
                Ok(_) => eprintln!("built a pool in a worker copy"),
            }
            std::thread::sleep(HANG);
        }
        Ok("work_then_init") => std::thread::sleep(HANG),
        Ok("stdin_must_be_null") => {
            let stdin = std::fs::read_link("/proc/self/fd/0").unwrap_or_default();
            if stdin != std::path::Path::new("/dev/null") {
                eprintln!("main's stdin is {}", stdin.display());
                std::process::exit(9);
            }
        }
        _ => {}
    }
    pool_process::init();
}

/// This test binary's stand-in for a program's `main` (see `common::program_role`).
#[test]
fn program_main() {
    let Some(role) = common::program_role() else {
        return;
    };
    match role.as_str() {
        "one_worker_of_two_can_start" => one_worker_of_two_can_start(),
        "no_worker_can_start" => no_worker_can_start(),
        "workers_reject_their_arguments" => workers_reject_their_arguments(),
        other => panic!("unknown role {other}"),
    }
}

/// Run as a program (see `what_a_worker_that_failed_to_start_wrote_is_shown_once`): a pool
/// whose workers run `main` and reject their arguments; prints what became of its task.
fn workers_reject_their_arguments() {
    let pool = ProcessPool::builder()
        .serve_before_main(false)
        .env(BEFORE_INIT, "reject_args")
        .max_workers(1)
        .handshake_timeout(HANG)
        .build()
        .unwrap();
    let outcome = pool.submit(square, 2).unwrap().exception_timeout(SOON);
    println!("the task: {outcome:?}");
    drop(pool);
    println!("dropped");
}

/// The threads of this process: with no other process of its user, what its user holds
/// against `RLIMIT_NPROC`.
fn threads() -> u64 {
    std::fs::read_dir("/proc/self/task").unwrap().count() as u64
}

/// Lets this process's user have `processes` processes (threads included) at once, or as
/// many as the hard limit with `None`.
fn limit_processes(processes: Option<u64>) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let maximum = getrlimit(Resource::Nproc).maximum;
    let current = processes.or(maximum);
    setrlimit(Resource::Nproc, Rlimit { current, maximum }).unwrap();
}

/// Run as a user of its own (see `a_pool_where_only_one_worker_can_start_runs_on_it`):
/// builds a pool of two workers, lets this user have one process more than it has, submits
/// four tasks, and prints what became of them, the pool's workers and its statistics; then
/// lifts the limit and gives the pool two tasks that run until both have started.
fn one_worker_of_two_can_start() {
    let pool = ProcessPool::builder()
        .max_workers(2)
        .handshake_timeout(HANG)
        .build()
        .unwrap();
    // The pool's threads are up: room for one worker process.
    limit_processes(Some(threads() + 1));
    let futures: Vec<_> = (0..4u64).map(|x| pool.submit(square, x).unwrap()).collect();
    for (x, future) in futures.iter().enumerate() {
        match future.result_timeout(SOON) {
            Ok(value) => println!("task {x}: {value}"),
            Err(err) => println!("task {x}: error {err}"),
        }
    }
    let workers = pool.workers();
    let idle = workers.iter().filter(|w| w.state == WorkerState::Idle);
    println!("workers: {} ({} idle)", workers.len(), idle.count());
    let stats = pool.stats();
    println!(
        "stats: workers {}, started {}, completed {}",
        stats.workers, stats.workers_started, stats.completed
    );

    // The limit lifted, the pool starts its second worker again (within a second).
    limit_processes(None);
    let go = common::temp_file("nproc-go");
    let both: Vec<_> = (0..2)
        .map(|_| pool.submit(common::wait_for_file, go.clone()).unwrap())
        .collect();
    let deadline = Instant::now() + SOON;
    while !both.iter().all(|f| f.running()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let running = both.iter().filter(|f| f.running()).count();
    println!("tasks running once the limit is lifted: {running}");
    std::fs::write(&go, b"go").unwrap();
    let pids: Vec<_> = both.iter().map(|f| f.result_timeout(SOON)).collect();
    let _ = std::fs::remove_file(&go);
    println!("tasks ran in two processes: {}", pids[0] != pids[1]);
    drop(pool);
    println!("dropped");
}

/// Run as a user of its own (see `a_pool_that_can_start_no_worker_fails_its_task_at_once`):
/// leaves no room for any worker of a pool, submits one task, and prints what became of it
/// and of a later submit.
fn no_worker_can_start() {
    let pool = ProcessPool::builder().max_workers(2).build().unwrap();
    limit_processes(Some(1)); // this process alone is at the limit
    let future = pool.submit(square, 3).unwrap(); // the only task: nothing else wakes the pool
    let outcome = future.exception_timeout(SOON).map(|err| {
        let err = err.unwrap();
        (err.kind(), err.message().contains("os error 11"))
    });
    println!("no worker, the task: {outcome:?}");
    match pool.submit(square, 3) {
        Err(SubmitError::Broken(why)) => {
            println!(
                "no worker, later submit: broken, {}",
                why.contains("os error 11")
            );
        }
        other => println!("no worker, later submit: {:?}", other.map(|_| ())),
    }
    limit_processes(None);
    drop(pool);
    println!("dropped");
}

/// A user id that no process on this machine runs as, so that `RLIMIT_NPROC` counts only the
/// processes that the test gives it (below 65534: a container's user namespace maps at least
/// those).
fn unused_uid() -> u32 {
    let used: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("status")).ok())
        .filter_map(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .collect();
    (40_000 + std::process::id() % 20_000..65_534)
        .find(|uid| !used.contains(uid))
        .unwrap()
}

/// Runs this test binary as a program in `role` (see `program_main`) as a user of its own,
/// and returns the lines it printed (not libtest's), failing unless it ends within `HANG`.
/// `None` when this test process is not root: only root may give a program a user of its
/// own, whose process count (which `RLIMIT_NPROC` limits) is the program's alone.
fn as_a_user_of_its_own(role: &str) -> Option<Vec<String>> {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: RLIMIT_NPROC needs a user of its own, which only root can give");
        return None;
    }
    let uid = unused_uid();
    let mut program = common::program(role);
    program.uid(uid).gid(uid).stdout(Stdio::piped());
    let mut child = match program.spawn() {
        Ok(child) => child,
        Err(err) => {
            // Root without the right to change its user (a restricted container).
            eprintln!("skipped: cannot run the program as user {uid}: {err}");
            return None;
        }
    };
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let deadline = Instant::now() + HANG;
    let mut said = Vec::new();
    while !said.iter().any(|l: &String| l == "dropped") {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.is_empty() || line.starts_with("running ") => {} // libtest's
            Ok(line) => said.push(line),
            Err(_) => {
                kill_children();
                let _ = child.wait();
                panic!("the program never finished; it said {said:#?}");
            }
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}; it said {said:#?}");
    Some(said)
}

/// Item 8 of issue 20: a fork refused with EAGAIN (`RLIMIT_NPROC` lets one worker of two
/// start) broke the pool, which had a worker starting: every task failed ("3 worker
/// processes in a row failed to start ... os error 11") and later submits were refused. The
/// pool now runs its tasks on the worker that did start, shows one worker, and starts the
/// second once the system lets it.
#[test]
fn a_pool_where_only_one_worker_can_start_runs_on_it() {
    run(|| {
        let Some(said) = as_a_user_of_its_own("one_worker_of_two_can_start") else {
            return;
        };
        let expected = [
            "task 0: 0",
            "task 1: 1",
            "task 2: 4",
            "task 3: 9",
            "workers: 1 (1 idle)",
            "stats: workers 1, started 1, completed 4",
            "tasks running once the limit is lifted: 2",
            "tasks ran in two processes: true",
            "dropped",
        ];
        assert_eq!(said, expected);
    });
}

/// Item 8 of issue 20: a pool whose worker could not be started waited for a message that no
/// worker would ever send, so its only task stayed pending. A pool that can start no worker
/// now tries again at once, breaks after a few tries, fails the task with the reason, and
/// refuses later submits with it.
#[test]
fn a_pool_that_can_start_no_worker_fails_its_task_at_once() {
    run(|| {
        let Some(said) = as_a_user_of_its_own("no_worker_can_start") else {
            return;
        };
        let expected = [
            "no worker, the task: Ok((Broken, true))",
            "no worker, later submit: broken, true",
            "dropped",
        ];
        assert_eq!(said, expected);
    });
}

/// Item 9 of issue 20: a copy of the program that forgot `init()`, built a pool of its own,
/// printed the error and went on with its own work left the parent waiting for the whole
/// handshake timeout, and the drop waited for it. The copy now ends in `build`, so the pool
/// learns at once that it never called `init()`, in the copy's words (its stderr).
#[test]
fn a_worker_copy_that_builds_a_pool_instead_of_serving_fails_the_tasks_at_once() {
    run(|| {
        let pool = ProcessPool::builder()
            .serve_before_main(false)
            .env(BEFORE_INIT, "build_then_work")
            .max_workers(1)
            .handshake_timeout(HANG)
            .build()
            .unwrap();
        let future = pool.submit(square, 2).unwrap();
        let outcome = future.exception_timeout(SOON);
        let dropped_in_time = dropped_soon(pool);
        let err = outcome
            .expect("the pool learns that its worker never called init() long before the handshake timeout")
            .expect("the task failed");
        assert_eq!(err.kind(), TaskErrorKind::Broken, "{err}");
        for needle in [
            "exited with code 4 before the handshake; the last lines of its stderr:",
            "a pool worker that serves where main calls init() (rustures::init(), or \
             pool_process::init() without rustures), and it builds a pool before it called it",
        ] {
            assert!(err.message().contains(needle), "{needle:?} not in: {err}");
        }
        assert!(
            dropped_in_time,
            "the drop waited for a copy that does not serve"
        );
    });
}

/// Drops `pool` on another thread; false (after unblocking everything) unless the drop
/// returns within `SOON`.
fn dropped_soon(pool: ProcessPool) -> bool {
    let (ended, dropped) = mpsc::channel();
    std::thread::spawn(move || {
        drop(pool);
        let _ = ended.send(());
    });
    let in_time = dropped.recv_timeout(SOON).is_ok();
    if !in_time {
        kill_children();
    }
    in_time
}

/// Item 9 of issue 20, `Drop` never waits for a copy that is not serving: a pool whose only
/// task was cancelled while its worker had not reached `init()` yet waited, when dropped, for
/// that worker's handshake (the whole handshake timeout, then the next tries'), since the
/// cancelled task stayed in its queue. The drop now returns at once, and the copy is killed.
#[test]
fn dropping_a_pool_does_not_wait_for_a_copy_that_has_not_reached_init() {
    run(|| {
        let pool = ProcessPool::builder()
            .serve_before_main(false)
            .env(BEFORE_INIT, "work_then_init")
            .max_workers(1)
            .handshake_timeout(HANG)
            .build()
            .unwrap();
        let future = pool.submit(square, 2).unwrap();
        let deadline = Instant::now() + SOON;
        while pool.workers().is_empty() {
            assert!(Instant::now() < deadline, "no worker started");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(pool.workers()[0].state, WorkerState::Starting);
        assert!(
            future.cancel(),
            "a task waiting for a worker can be cancelled"
        );
        assert!(
            dropped_soon(pool),
            "the drop waited for a copy that does not serve"
        );
    });
}

/// Issue 21, item 1: a worker's stderr is kept until its handshake, so that the pool can quote
/// it when the worker fails to start; nothing it wrote may be lost or shown twice. A program
/// whose three workers in a row reject their arguments shows each one's words once on its
/// stderr, and its task's error quotes the last one's.
#[test]
fn what_a_worker_that_failed_to_start_wrote_is_shown_once() {
    run(|| {
        let child = common::program("workers_reject_their_arguments")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (done, output) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(child.wait_with_output());
        });
        let Ok(output) = output.recv_timeout(HANG) else {
            kill_children();
            panic!("the program never finished");
        };
        let output = output.unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let said = format!("{}\nstdout:\n{stdout}\nstderr:\n{stderr}", output.status);
        assert!(output.status.success(), "{said}");
        let words = "error: unexpected argument '__pool_process_worker' found";
        assert_eq!(stderr.matches(words).count(), 3, "{said}");
        assert_eq!(stderr.lines().count(), 3, "{said}");
        assert!(
            stdout.contains(&format!(
                "exited with code 2 before the handshake; the last lines of its stderr:\\n    | {words}"
            )),
            "{said}"
        );
        assert!(stdout.contains("dropped"), "{said}");
    });
}

/// The `fork`s this process made (counted by `count_fork`).
static FORKS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A `pthread_atfork` prepare handler: runs before every `fork`, never for `posix_spawn`.
extern "C" fn count_fork() {
    FORKS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

/// A task: the worker's parent-death signal and what its stdin is.
fn death_signal_and_stdin(_: ()) -> (i32, String) {
    let mut signal: libc::c_int = 0;
    // SAFETY: `PR_GET_PDEATHSIG` writes one `int` to the pointer given.
    unsafe { libc::prctl(libc::PR_GET_PDEATHSIG, &mut signal as *mut libc::c_int) };
    let stdin = std::fs::read_link("/proc/self/fd/0").unwrap_or_default();
    (signal, stdin.to_string_lossy().into_owned())
}

/// Workers start with `posix_spawn`, not `fork` (which copies the pool's page tables: its cost
/// grows with the program's heap), yet keep what the `pre_exec` hooks that forced `fork` gave:
/// each asks for SIGKILL when its pool dies, and its stdin is `/dev/null`.
#[test]
fn workers_start_without_fork_and_die_with_the_pool() {
    run(|| {
        // SAFETY: the handler only bumps an atomic: safe in the forking thread before `fork`.
        assert_eq!(
            unsafe { libc::pthread_atfork(Some(count_fork), None, None) },
            0
        );
        let before = FORKS.load(std::sync::atomic::Ordering::SeqCst);
        let pool = ProcessPool::builder().max_workers(2).build().unwrap();
        let futures: Vec<_> = (0..4)
            .map(|_| pool.submit(death_signal_and_stdin, ()).unwrap())
            .collect();
        for future in futures {
            let (signal, stdin) = future.result_timeout(SOON).unwrap();
            assert_eq!(
                signal,
                libc::SIGKILL,
                "the worker asked to die with its pool"
            );
            assert_eq!(stdin, "/dev/null");
        }
        pool.shutdown();
        let forks = FORKS.load(std::sync::atomic::Ordering::SeqCst) - before;
        assert_eq!(forks, 0, "workers were started with fork");
    });
}

/// A worker that runs `main` before `init` finds `/dev/null` on its stdin, as before workers
/// got their socket there: the crate's constructor takes the socket off stdin first.
#[test]
fn a_worker_main_finds_dev_null_on_its_stdin() {
    run(|| {
        let pool = ProcessPool::builder()
            .serve_before_main(false)
            .env(BEFORE_INIT, "stdin_must_be_null")
            .max_workers(1)
            .build()
            .unwrap();
        assert_eq!(
            pool.submit(square, 3)
                .unwrap()
                .result_timeout(SOON)
                .unwrap(),
            9
        );
        pool.shutdown();
    });
}

/// A worker whose pool died before it first checked its parent (it was re-parented) exits
/// with code 5 instead of running `main`: its stdin is still the socket its marker names. A
/// process with the same marker but another stdin (one a worker's task started) runs `main`.
#[test]
fn a_worker_whose_pool_is_gone_exits_instead_of_running_main() {
    use std::os::fd::AsFd;
    run(|| {
        let (_pool_end, worker_end) = std::os::unix::net::UnixStream::pair().unwrap();
        let inode = rustix::fs::fstat(worker_end.as_fd()).unwrap().st_ino;
        // A pid that is not this process's child's parent: the pool that "died".
        let marker = format!("{}:abc:{inode:x}", u32::MAX / 2);
        let run_with = |stdin: Stdio| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args([pool_process::WORKER_TEST_NAME, "--exact"])
                .env("POOL_PROCESS_WORKER", &marker)
                .stdin(stdin)
                .stdout(Stdio::null())
                .status()
                .unwrap()
        };
        let orphan = run_with(Stdio::from(std::os::fd::OwnedFd::from(worker_end)));
        assert_eq!(orphan.code(), Some(5), "{orphan}");
        let grandchild = run_with(Stdio::null());
        assert_eq!(grandchild.code(), Some(0), "{grandchild}");
    });
}
