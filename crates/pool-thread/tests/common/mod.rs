//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use future_core::TaskFuture;
use pool_thread::ThreadPool;

/// A gate tasks wait at until the test opens it (no sleeping and hoping).
#[derive(Clone, Default)]
pub struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }

    pub fn open(&self) {
        let (open, cv) = &*self.0;
        *open.lock().unwrap() = true;
        cv.notify_all();
    }

    pub fn wait(&self) {
        let (open, cv) = &*self.0;
        let mut open = open.lock().unwrap();
        while !*open {
            open = cv.wait(open).unwrap();
        }
    }
}

/// Submits a task that holds one of `pool`'s threads until `gate` opens; returns its
/// future once the task is running.
pub fn occupy(pool: &ThreadPool, gate: &Gate) -> TaskFuture<()> {
    let (started_tx, started) = std::sync::mpsc::channel();
    let gate = gate.clone();
    let busy = pool
        .spawn(move || {
            started_tx.send(()).unwrap();
            gate.wait();
        })
        .unwrap();
    started.recv().unwrap();
    busy
}

/// Polls `condition` until it holds; panics after a generous deadline (it only catches
/// hangs, it never decides a pass).
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A deadline long enough to only catch hangs (Miri runs code about a thousand times
/// slower).
pub const HANG: Duration = Duration::from_secs(if cfg!(miri) { 900 } else { 30 });

/// Runs `scenario` on its own thread and returns its value; panics if it has not returned
/// within [`HANG`] (the deadline only catches hangs: a hung scenario's thread is left
/// behind, and the test fails instead of hanging CI).
pub fn within<T: Send + 'static>(what: &str, scenario: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(scenario));
        let _ = tx.send(outcome);
    });
    match rx.recv_timeout(HANG) {
        Ok(Ok(value)) => value,
        Ok(Err(payload)) => std::panic::resume_unwind(payload),
        Err(_) => panic!("hung: {what} did not finish within {HANG:?}"),
    }
}
