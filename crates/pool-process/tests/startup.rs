//! Pools whose workers cannot all start, with real processes: a copy of the program that
//! forgot `init()` and goes on with its own work.
//!
//! Tests run one at a time (each takes `common::serial()`) and check that they left no child
//! process. Deadlines only catch hangs.

pool_process::test_worker!(worker_main);

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::{HANG, kill_children, run};
use future_core::TaskErrorKind;
use pool_process::ProcessPool;

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
/// error and goes on with its own work (here: waiting `HANG`), as a server would.
fn worker_main() {
    if std::env::var(BEFORE_INIT).as_deref() == Ok("build_then_work") {
        match ProcessPool::builder().max_workers(1).build() {
            Err(err) => eprintln!("cannot build a pool: {err}; going on without one"),
            Ok(_) => eprintln!("built a pool in a worker copy"),
        }
        std::thread::sleep(HANG);
    }
    pool_process::init();
}

/// Item 9 of issue 20: a copy of the program that forgot `init()`, built a pool of its own,
/// printed the error and went on with its own work left the parent waiting for the whole
/// handshake timeout, and the drop waited for it. The copy now ends in `build`, so the pool
/// learns at once that it never called `init()`.
#[test]
fn a_worker_copy_that_builds_a_pool_instead_of_serving_fails_the_tasks_at_once() {
    run(|| {
        let pool = ProcessPool::builder()
            .env(BEFORE_INIT, "build_then_work")
            .max_workers(1)
            .handshake_timeout(HANG)
            .build()
            .unwrap();
        let future = pool.submit(square, 2).unwrap();
        let outcome = future.exception_timeout(SOON);
        let (ended, dropped) = mpsc::channel();
        std::thread::spawn(move || {
            drop(pool);
            let _ = ended.send(());
        });
        let dropped_in_time = dropped.recv_timeout(SOON).is_ok();
        if !dropped_in_time {
            kill_children();
        }
        let err = outcome
            .expect("the pool learns that its worker never called init() long before the handshake timeout")
            .expect("the task failed");
        assert_eq!(err.kind(), TaskErrorKind::Broken, "{err}");
        for needle in [
            "exited with code 4 before the handshake",
            "never called pool_process::init()",
        ] {
            assert!(err.message().contains(needle), "{needle:?} not in: {err}");
        }
        assert!(
            dropped_in_time,
            "the drop waited for a copy that does not serve"
        );
    });
}
