//! Dropping a pool: after `shutdown(wait = false)` the drop does not join (Python: the
//! resources are freed when the running futures finish), and a drop during a panic never
//! turns a failing assertion into a hang.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Gate, occupy, within};
use pool_thread::ThreadPool;

#[test]
fn drop_after_a_non_waiting_shutdown_does_not_join_a_stuck_task() {
    let gate = Gate::new();
    let g = gate.clone();
    let stuck = within("the drop", move || {
        let pool = ThreadPool::builder().max_workers(1).build().unwrap();
        let stuck = occupy(&pool, &g);
        pool.shutdown_with(future_core::ShutdownOptions {
            wait: false,
            cancel_futures: false,
        });
        drop(pool);
        stuck
    });
    assert!(
        !stuck.done(),
        "the task still runs after the pool was let go"
    );
    gate.open();
    assert_eq!(stuck.result_timeout(common::HANG), Ok(()));
}

#[test]
fn drop_while_panicking_cancels_the_queue_and_lets_a_stuck_task_go() {
    let gate = Gate::new();
    let g = gate.clone();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let (queued_tx, queued_rx) = std::sync::mpsc::channel();
    let unwound = within("the unwinding", move || {
        std::thread::spawn(move || {
            let pool = ThreadPool::builder()
                .max_workers(1)
                .drop_grace(Duration::from_millis(100))
                .build()
                .unwrap();
            let _stuck = occupy(&pool, &g);
            let queued = pool
                .spawn(move || {
                    r.fetch_add(1, Ordering::SeqCst);
                })
                .unwrap();
            queued_tx.send(queued).unwrap();
            panic!("a failing assertion while the pool is busy");
        })
        .join()
    });
    assert!(
        unwound.is_err(),
        "the thread panicked and finished unwinding"
    );
    let queued = queued_rx.recv().unwrap();
    assert!(
        queued.cancelled(),
        "the queued task was cancelled by the drop"
    );
    gate.open();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn drop_grace_cancels_what_has_not_started_and_lets_a_stuck_task_go() {
    let gate = Gate::new();
    let g = gate.clone();
    let (stuck, queued) = within("the drop with a grace", move || {
        let pool = ThreadPool::builder()
            .max_workers(1)
            .drop_grace(Duration::from_millis(50))
            .build()
            .unwrap();
        let stuck = occupy(&pool, &g);
        let queued = pool.spawn(|| 1).unwrap();
        drop(pool);
        (stuck, queued)
    });
    assert!(
        queued.cancelled(),
        "past the grace, the queued task is cancelled"
    );
    assert!(!stuck.done());
    gate.open();
    assert_eq!(stuck.result_timeout(common::HANG), Ok(()));
}

#[test]
fn default_drop_still_joins_running_tasks() {
    within("the joining drop", || {
        let finished = Arc::new(AtomicUsize::new(0));
        let pool = ThreadPool::builder().max_workers(2).build().unwrap();
        for _ in 0..4 {
            let f = finished.clone();
            pool.spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                f.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
        drop(pool);
        assert_eq!(finished.load(Ordering::SeqCst), 4);
    });
}
