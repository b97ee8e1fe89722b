//! Done callbacks that call back into the pool, with real child processes: whatever the
//! state of the pool's queue when a callback submits, its task completes, and the pool
//! never stops reading replies while a callback waits on it.
//!
//! Tests run one at a time (each takes `common::serial()`) and check that they left no child
//! process. Deadlines only catch hangs.

pool_process::test_worker!();

mod common;

use std::sync::{Arc, mpsc};

use common::{HANG, kill_children, run};
use pool_process::ProcessPool;

fn square(x: u64) -> u64 {
    x * x
}

/// The scenario: one worker, `queue_bound(2)`, one thread submits 200 short tasks
/// (blocking on the bound), and each task's done callback submits a follow-up task to the
/// same pool. Every follow-up must complete, whatever the queue's state when its callback
/// submits (mostly full: the submitting thread keeps it so).
#[test]
fn follow_ups_submitted_by_done_callbacks_to_a_full_bounded_queue_all_complete() {
    const TASKS: u64 = 200;
    run(|| {
        let pool = Arc::new(
            ProcessPool::builder()
                .max_workers(1)
                .queue_bound(2)
                .build()
                .unwrap(),
        );
        let (done_tx, done_rx) = mpsc::channel::<(u64, u64)>();
        let submitter = {
            let pool = pool.clone();
            std::thread::spawn(move || {
                for i in 0..TASKS {
                    let for_callback = pool.clone();
                    let done_tx = done_tx.clone();
                    let future = pool.submit(square, i).expect("the pool takes the task");
                    future.add_done_callback(move |_| {
                        // A follow-up, submitted from the callback while the queue is
                        // (usually) full: it waits for room like any other submit.
                        let follow_up = for_callback
                            .submit(square, TASKS + i)
                            .expect("the pool takes the follow-up");
                        follow_up.add_done_callback(move |f| {
                            let _ = done_tx.send((i, f.result().expect("the follow-up ran")));
                        });
                    });
                }
            })
        };
        let mut seen = vec![false; TASKS as usize];
        for _ in 0..TASKS {
            let (i, square) = done_rx.recv_timeout(HANG).unwrap_or_else(|_| {
                let left = seen.iter().filter(|s| !**s).count();
                kill_children();
                panic!("{left} of {TASKS} follow-ups never completed: the pool stopped");
            });
            assert_eq!(square, (TASKS + i) * (TASKS + i));
            assert!(!std::mem::replace(&mut seen[i as usize], true));
        }
        submitter.join().unwrap();
        pool.shutdown();
    });
}

/// Done callbacks that wait on the pool, several at once: each waits for the result of a
/// task it submits. Only the manager completes that task, so the manager must go on while
/// every one of them waits (each waiting callback holds one thread, not the pool).
#[test]
fn done_callbacks_that_wait_on_the_pools_own_futures_all_finish() {
    const TASKS: u64 = 50;
    run(|| {
        let pool = Arc::new(ProcessPool::builder().max_workers(2).build().unwrap());
        let (done_tx, done_rx) = mpsc::channel::<(u64, u64)>();
        for i in 0..TASKS {
            let for_callback = pool.clone();
            let done_tx = done_tx.clone();
            pool.submit(square, i).unwrap().add_done_callback(move |_| {
                let inner = for_callback.submit(square, TASKS + i).unwrap();
                let _ = done_tx.send((i, inner.result_timeout(HANG).unwrap()));
            });
        }
        for _ in 0..TASKS {
            let (i, square) = done_rx.recv_timeout(HANG).unwrap_or_else(|_| {
                kill_children();
                panic!("a done callback waiting on the pool never finished: the pool stopped");
            });
            assert_eq!(square, (TASKS + i) * (TASKS + i));
        }
        pool.shutdown();
    });
}
