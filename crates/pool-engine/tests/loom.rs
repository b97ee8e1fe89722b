//! Loom models of the replies a worker holds (`src/replies.rs`): the real lock, watchdog
//! thread, parking and closing, around a sink that records what is sent. Loom models no
//! time, so the watchdog never finds a reply old enough to send: it must only park, wake
//! and stop without a lost wake-up, while the worker's own sends keep order.
//!
//! Run with `cargo xtask loom`, or:
//! `RUSTFLAGS="--cfg loom" cargo test -p pool-engine --test loom --release`
#![cfg(loom)]

use loom::sync::{Arc, Mutex};

use pool_engine::replies::{Replies, Sink};

/// Records each send.
#[derive(Clone, Default)]
struct Recorder {
    sent: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Sink for Recorder {
    fn send_all(&self, replies: &[Vec<u8>]) -> bool {
        self.sent.lock().unwrap().push(replies.concat());
        true
    }
    fn keep(&self, _: &[u8]) -> bool {
        true
    }
    fn forget(&self) {}
}

/// Held, sent with the next, held again while the watchdog parks or wakes, sent at the end:
/// every reply goes out once, in order, and the watchdog stops (a loom deadlock if it waited
/// on, or if the end waited for it in vain).
#[test]
fn held_replies_go_out_once_in_order_and_the_watchdog_stops() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let recorder = Recorder::default();
        let replies = Replies::new(recorder.clone(), 2);
        assert!(replies.add(vec![1], true)); // starts the watchdog
        assert!(replies.add(vec![2], false));
        assert!(replies.add(vec![3], true)); // wakes it if it parked
        drop(replies); // and waits for it to end
        let sent = recorder.sent.lock().unwrap().clone();
        assert_eq!(sent, vec![vec![1, 2], vec![3]]);
    });
}
