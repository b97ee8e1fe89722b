//! Loom models of the MPI thread's inbox (`src/rank0/inbox.rs`): the real flags, lock and
//! condition variable, between a pool that queues a task and pokes, and a thread that looks
//! at the queue and sleeps when it found nothing, as the MPI thread's loop does. A wake-up
//! lost shows up as a loom deadlock: the thread asleep for ever with a task queued.
//!
//! Run with `cargo xtask loom`, or:
//! `RUSTFLAGS="--cfg loom" cargo test -p pool-mpi --test loom --release`
#![cfg(loom)]

use loom::sync::{Arc, Mutex};

use pool_mpi::inbox::Inbox;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

/// The thread's loop, until it has seen `expected` tasks of `queue`: clear the pokes, look
/// at the queue, sleep (without a timeout) when it was empty.
fn serve_until(inbox: &Inbox<u8>, queue: &Mutex<u32>, expected: u32) {
    let mut seen = 0;
    while seen < expected {
        inbox.clear_work();
        let taken = std::mem::take(&mut *queue.lock().unwrap());
        seen += taken;
        if taken == 0 {
            inbox.take_or_wait(None);
        }
    }
}

/// Two pools each queue a task and poke while the thread goes to sleep: it wakes for both.
#[test]
fn no_queued_task_waits_while_the_thread_sleeps() {
    model(|| {
        let inbox = Arc::new(Inbox::<u8>::new());
        let queue = Arc::new(Mutex::new(0u32));
        let pools: Vec<_> = (0..2)
            .map(|_| {
                let (inbox, queue) = (inbox.clone(), queue.clone());
                loom::thread::spawn(move || {
                    *queue.lock().unwrap() += 1;
                    inbox.poke();
                })
            })
            .collect();
        serve_until(&inbox, &queue, 2);
        for pool in pools {
            pool.join().unwrap();
        }
    });
}

/// A command wakes the sleeping thread; once the inbox ended, a command is refused and the
/// ones not taken go back to the caller.
#[test]
fn a_command_wakes_the_thread_and_an_ended_inbox_refuses_them() {
    model(|| {
        let inbox = Arc::new(Inbox::<u8>::new());
        let sender = {
            let inbox = inbox.clone();
            loom::thread::spawn(move || inbox.send(7))
        };
        let mut commands = Vec::new();
        while commands.is_empty() {
            commands = inbox.take_or_wait(None);
        }
        assert_eq!(commands, vec![7]);
        assert_eq!(sender.join().unwrap(), Ok(()));
        assert!(inbox.send(8).is_ok());
        assert_eq!(inbox.end("ended".to_owned()), vec![8]);
        assert_eq!(inbox.send(9), Err("ended".to_owned()));
    });
}
