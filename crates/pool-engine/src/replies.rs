//! The replies a worker holds back while it has more tasks at hand, so that several go out
//! in one write (one message), and the thread that sends them when a task runs long.
//!
//! A busy worker (tasks sent ahead) would send one reply per task, and its pool would read
//! them one by one. Instead, when its next task has arrived already, the worker holds the
//! reply and runs that task; it sends what it holds when it has no task at hand, when it
//! holds as many as its pool allows (half the tasks that may be sent to it before it
//! answers, so that the pool can send more while it runs the rest), or before a task whose
//! time limit counts from that reply. Holding delays only what the pool sees, and each pool
//! keeps what it must exact:
//!
//! - a task's result waits for the run of the tasks after it: at most [`MAX_HOLD`], after
//!   which the *watchdog*, a thread of its own, sends the held replies (a task after it may
//!   never end);
//! - the process pool learns that a task started from the reply before it: its cancel set
//!   records every start anyway, timed tasks are never held behind, and each held reply has
//!   a copy the pool reads if the worker dies ([`Sink::keep`]).
//!
//! Every send happens under the one lock, so replies go out in task order whoever sends.
//! The watchdog wakes every `MAX_HOLD` while the worker is busy and then parks; the worker
//! wakes it (one system call) only when it holds a reply while it is parked.
use std::time::{Duration, Instant};

use crate::sync::{self, Arc, Condvar, Mutex};

/// The longest a reply is held before the watchdog sends it.
pub const MAX_HOLD: Duration = Duration::from_millis(1);

/// After this many looks that found nothing held, the watchdog parks until a reply is held
/// (at once under loom, whose timed waits never time out).
const LOOKS_BEFORE_PARKING: u32 = if cfg!(loom) { 0 } else { 50 };

/// Where a worker's replies go: its socket or its MPI communicator, and the copies of those
/// it holds.
pub trait Sink: Send + Sync + 'static {
    /// Sends `replies`, in order, as one write where it can; `false` when the pool is gone.
    fn send_all(&self, replies: &[Vec<u8>]) -> bool;

    /// Keeps a copy of `reply`, which the worker holds, where its pool finds it if the worker
    /// dies; false when it cannot (the reply is then sent now). A pool that does not outlive
    /// its workers' deaths (MPI's) keeps nothing and returns true.
    fn keep(&self, reply: &[u8]) -> bool;

    /// The held replies were sent: their copies go.
    fn forget(&self);
}

/// The replies held, and the watchdog that bounds how long.
pub struct Replies<S: Sink> {
    shared: Arc<Shared<S>>,
    /// The most replies held at once.
    max_held: usize,
}

struct Shared<S> {
    state: Mutex<State>,
    /// The longest a reply is held: `MAX_HOLD` (other values in unit tests).
    max_hold: Duration,
    /// Signalled when a reply is held while the watchdog is parked, and at the end.
    changed: Condvar,
    sink: S,
}

#[derive(Default)]
struct State {
    held: Vec<Vec<u8>>,
    /// When the oldest held reply was held.
    since: Option<Instant>,
    /// The watchdog waits without a timeout.
    parked: bool,
    /// The worker is done: the watchdog returns.
    closed: bool,
    /// A send failed: the pool is gone, and nothing more is sent.
    failed: bool,
    /// Whether the watchdog thread runs: it starts with the first reply held, and a worker
    /// that cannot start it (under `RLIMIT_NPROC`, say) holds no reply.
    watchdog: Watchdog,
}

#[derive(Debug, Default)]
enum Watchdog {
    #[default]
    NotStarted,
    Running(sync::JoinHandle<()>),
    Unavailable,
}

impl<S> Shared<S> {
    fn lock(&self) -> sync::MutexGuard<'_, State> {
        sync::lock(&self.state)
    }
}

impl<S: Sink> Shared<S> {
    /// Sends what `state` holds; false once a send failed.
    fn send_held(&self, state: &mut State) -> bool {
        state.since = None;
        if !state.held.is_empty() && !state.failed {
            state.failed = !self.sink.send_all(&state.held);
            if !state.failed {
                self.sink.forget();
            }
        }
        state.held.clear();
        !state.failed
    }
}

impl<S: Sink> Replies<S> {
    /// Replies to `sink`, holding at most `max_held` at once; the watchdog starts when a
    /// reply is first held.
    pub fn new(sink: S, max_held: usize) -> Replies<S> {
        Replies::with_max_hold(sink, max_held, MAX_HOLD)
    }

    fn with_max_hold(sink: S, max_held: usize, max_hold: Duration) -> Replies<S> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            max_hold,
            changed: Condvar::new(),
            sink,
        });
        Replies { shared, max_held }
    }

    /// Whether the watchdog runs, starting it if need be.
    fn watchdog_runs(&self, state: &mut State) -> bool {
        if matches!(state.watchdog, Watchdog::NotStarted) {
            let shared = self.shared.clone();
            let started = sync::spawn("rustures-replies", move || watchdog(&shared));
            state.watchdog = match started {
                Ok(thread) => Watchdog::Running(thread),
                Err(_) => Watchdog::Unavailable,
            };
        }
        matches!(state.watchdog, Watchdog::Running(_))
    }

    /// Adds `reply` to those held. With `hold` (another task is at hand, and neither has a
    /// time limit), it stays held unless `max_held` are, the oldest waited `MAX_HOLD`, or
    /// its copy finds no room; otherwise it goes out now with the others. False once the
    /// pool is gone.
    pub fn add(&self, reply: Vec<u8>, hold: bool) -> bool {
        let mut state = self.shared.lock();
        let since = *state.since.get_or_insert_with(Instant::now);
        let hold = hold
            && state.held.len() < self.max_held
            && sync::elapsed(since) < self.shared.max_hold
            && self.watchdog_runs(&mut state)
            && self.shared.sink.keep(&reply);
        state.held.push(reply);
        if !hold {
            return self.shared.send_held(&mut state);
        }
        if state.parked {
            state.parked = false;
            self.shared.changed.notify_one();
        }
        !state.failed
    }

    /// Sends the held replies now (the worker is about to wait, or to start a timed task).
    pub fn send_held(&self) -> bool {
        let mut state = self.shared.lock();
        self.shared.send_held(&mut state)
    }
}

impl<S: Sink> std::fmt::Debug for Replies<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replies").finish_non_exhaustive()
    }
}

impl<S: Sink> Drop for Replies<S> {
    /// Sends what is still held, and stops the watchdog and waits for it (it may hold what a
    /// sink needs, such as an MPI communicator, which must be gone before MPI ends).
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        self.shared.send_held(&mut state);
        state.closed = true;
        self.shared.changed.notify_one();
        let watchdog = std::mem::take(&mut state.watchdog);
        drop(state);
        if let Watchdog::Running(thread) = watchdog {
            let _ = thread.join();
        }
    }
}

/// The watchdog: sends the held replies once the oldest waited `MAX_HOLD`.
fn watchdog<S: Sink>(shared: &Shared<S>) {
    let mut state = shared.lock();
    let mut empty_looks = 0;
    while !state.closed {
        match state.since {
            Some(since) => {
                empty_looks = 0;
                let waited = sync::elapsed(since);
                if waited >= shared.max_hold {
                    shared.send_held(&mut state);
                } else {
                    state = sync::wait_timeout(&shared.changed, state, shared.max_hold - waited);
                }
            }
            None if empty_looks < LOOKS_BEFORE_PARKING => {
                empty_looks += 1;
                state = sync::wait_timeout(&shared.changed, state, shared.max_hold);
            }
            None => {
                empty_looks = 0;
                state.parked = true;
                while state.parked && !state.closed {
                    state = sync::wait(&shared.changed, state);
                }
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// Only catches a hang.
    const DEADLINE: Duration = Duration::from_secs(60);
    /// Longer than any test: the watchdog never sends on its own.
    const NEVER: Duration = Duration::from_secs(3600);

    /// Records each send; keeps every copy.
    struct Recorder(std::sync::Mutex<mpsc::Sender<Vec<Vec<u8>>>>);

    impl Sink for Recorder {
        fn send_all(&self, replies: &[Vec<u8>]) -> bool {
            self.0.lock().unwrap().send(replies.to_vec()).is_ok()
        }
        fn keep(&self, _: &[u8]) -> bool {
            true
        }
        fn forget(&self) {}
    }

    fn recorded(
        max_held: usize,
        max_hold: Duration,
    ) -> (Replies<Recorder>, mpsc::Receiver<Vec<Vec<u8>>>) {
        let (tx, rx) = mpsc::channel();
        let sink = Recorder(std::sync::Mutex::new(tx));
        (Replies::with_max_hold(sink, max_held, max_hold), rx)
    }

    #[test]
    fn held_replies_go_out_in_one_send_with_the_next_one_not_held() {
        let (replies, sent) = recorded(8, NEVER);
        assert!(replies.add(vec![1], true));
        assert!(replies.add(vec![2], true));
        assert!(sent.try_recv().is_err(), "held, not sent");
        assert!(replies.add(vec![3], false));
        assert_eq!(sent.try_recv(), Ok(vec![vec![1], vec![2], vec![3]]));
        assert!(replies.send_held(), "nothing held: nothing to send");
        assert!(sent.try_recv().is_err());
    }

    #[test]
    fn no_more_than_max_held_are_held() {
        let (replies, sent) = recorded(2, NEVER);
        assert!(replies.add(vec![1], true));
        assert!(replies.add(vec![2], true));
        assert!(sent.try_recv().is_err(), "two held");
        assert!(replies.add(vec![3], true));
        assert_eq!(sent.try_recv(), Ok(vec![vec![1], vec![2], vec![3]]));
        assert!(replies.add(vec![4], true));
        assert!(sent.try_recv().is_err(), "held again");
        assert!(replies.send_held());
        assert_eq!(sent.try_recv(), Ok(vec![vec![4]]));
    }

    /// The worker holds a reply and then runs a task that does not end: the watchdog sends
    /// it, parks once nothing was held for a while, and wakes for the next held reply.
    #[test]
    fn the_watchdog_sends_a_held_reply_and_parks_between_them() {
        let (replies, sent) = recorded(8, MAX_HOLD);
        assert!(replies.add(vec![7], true));
        assert_eq!(sent.recv_timeout(DEADLINE), Ok(vec![vec![7]]));
        let start = Instant::now();
        while !replies.shared.lock().parked {
            assert!(start.elapsed() < DEADLINE, "the watchdog never parked");
            std::thread::sleep(MAX_HOLD);
        }
        // Held (unless this thread was held up past `MAX_HOLD` in `add`): only the parked
        // watchdog, woken, can send it.
        assert!(replies.add(vec![8], true));
        assert_eq!(sent.recv_timeout(DEADLINE), Ok(vec![vec![8]]));
    }

    #[test]
    fn dropping_sends_what_is_held_and_a_failed_send_is_reported() {
        let (replies, sent) = recorded(8, NEVER);
        assert!(replies.add(vec![4], true));
        drop(replies);
        assert_eq!(sent.try_recv(), Ok(vec![vec![4]]));
        let (replies, sent) = recorded(8, NEVER);
        drop(sent);
        assert!(!replies.add(vec![5], false), "the pool is gone");
        assert!(!replies.add(vec![6], true), "and stays gone");
    }
}
