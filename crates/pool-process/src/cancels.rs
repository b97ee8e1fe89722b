//! The cancel set: how a task sent ahead to a busy worker can still be cancelled until the
//! worker starts it.
//!
//! A task queued behind a worker's running task (`tasks_per_worker` > 1) has already been
//! written to the worker's socket, so the pool cannot take it back. Its future stays pending
//! instead, and its fate is decided in a few words of memory that the pool and the worker
//! share (a `memfd` mapped by both): the pool records the task there as *queued* when it sends
//! it ahead; the worker, before it runs a task it finds there, moves it from *queued* to
//! *started*; a cancel of the future moves it from *queued* to *cancelled*, from the future's
//! cancel guard ([`CancelGuard`]), under the future's lock, and fails if the word says
//! *started*. Both moves are one compare-and-swap on the same word, so exactly one of them
//! wins: a task whose cancel won is skipped by the worker, which answers with `Skipped` so that
//! the pool frees its place.
//!
//! One word per task the worker may hold (`tasks_per_worker`): the task's id and its state.
//! A task sent to an idle worker is not in the set (it starts at once, its future is marked
//! running when it is sent), so the common path costs the worker a scan of a few words and
//! nothing more.
//!
//! The pool creates the set when it starts the worker, sends the descriptor through the
//! worker's socket before the spawn (`ipc_queue::send_fds`; [`CANCEL_FD_ENV`] announces it) and
//! keeps its own mapping; the worker maps it once in `init`, after checking that it is a memfd
//! sealed at its size. A worker without a set (it could not be created; the variable is then
//! removed from its environment) is never sent a task ahead.

use std::os::fd::OwnedFd;
use std::sync::Weak;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::shared_memory::SharedMemory;

/// The environment variable that announces the cancel set's descriptor among those sent
/// through the worker's socket (it comes first): present only when the pool made a set.
pub(crate) const CANCEL_FD_ENV: &str = "POOL_PROCESS_CANCEL_FD";

/// A free word.
const EMPTY: u64 = 0;
/// Sent ahead, not started: a cancel still wins.
const QUEUED: u64 = 1;
/// The worker started it: a cancel loses.
const STARTED: u64 = 2;
/// Cancelled before it started: the worker skips it.
const CANCELLED: u64 = 3;
/// The bits of a word that hold the state; the others hold the task's id plus one.
const STATE: u64 = 3;

/// The word of task `id` in `state` (never `EMPTY`: ids are below 2^62).
fn word(id: u64, state: u64) -> u64 {
    (id.wrapping_add(1) << 2) | state
}

/// The words shared by the pool and one worker.
#[derive(Debug)]
pub(crate) struct CancelSet {
    memory: SharedMemory,
}

impl CancelSet {
    /// A new set of `len` words for a worker about to start, and the descriptor to hand to
    /// it.
    pub(crate) fn create(len: usize) -> std::io::Result<(CancelSet, OwnedFd)> {
        let (memory, fd) = SharedMemory::create(c"pool-process-cancels", len)?;
        Ok((CancelSet { memory }, fd))
    }

    /// The set whose descriptor the pool sent to this worker.
    pub(crate) fn from_fd(fd: OwnedFd) -> std::io::Result<CancelSet> {
        let memory = SharedMemory::from_fd(fd, "cancel set")?;
        Ok(CancelSet { memory })
    }

    fn words(&self) -> &[AtomicU64] {
        self.memory.words()
    }

    /// The pool sends task `id` ahead: records it as queued, and returns its word's index
    /// (`None` when every word is taken, which the pool's bound on tasks per worker rules
    /// out).
    pub(crate) fn queue(&self, id: u64) -> Option<usize> {
        let words = self.words();
        let slot = words
            .iter()
            .position(|w| w.load(Ordering::SeqCst) == EMPTY)?;
        words[slot].store(word(id, QUEUED), Ordering::SeqCst);
        Some(slot)
    }

    /// Cancels task `id` (in word `slot`) unless the worker started it: false when it did
    /// (the cancel must fail). A word that no longer holds the task (it left this worker) is
    /// left alone.
    pub(crate) fn cancel(&self, slot: usize, id: u64) -> bool {
        let Some(w) = self.words().get(slot) else {
            return true;
        };
        match w.compare_exchange(
            word(id, QUEUED),
            word(id, CANCELLED),
            Ordering::SeqCst,
            Ordering::SeqCst,
        ) {
            Ok(_) => true,
            Err(now) => now != word(id, STARTED),
        }
    }

    /// The worker answered for task `id`: frees its word.
    pub(crate) fn clear(&self, slot: usize, id: u64) {
        if let Some(w) = self.words().get(slot) {
            if w.load(Ordering::SeqCst) & !STATE == word(id, EMPTY) {
                w.store(EMPTY, Ordering::SeqCst);
            }
        }
    }

    /// The worker is about to run task `id`: marks it started, unless it was cancelled (skip
    /// it). A task that is not in the set was sent to an idle worker: it runs.
    pub(crate) fn start(&self, id: u64) -> Start {
        let Some(w) = self
            .words()
            .iter()
            .find(|w| w.load(Ordering::SeqCst) & !STATE == word(id, EMPTY))
        else {
            return Start::Unlisted;
        };
        match w.compare_exchange(
            word(id, QUEUED),
            word(id, STARTED),
            Ordering::SeqCst,
            Ordering::SeqCst,
        ) {
            Err(now) if now == word(id, CANCELLED) => Start::Cancelled,
            _ => Start::Started,
        }
    }

    /// Whether the worker started task `id` (in word `slot`): for a worker that died, whose
    /// replies may not say so (see `pool_engine::replies`).
    pub(crate) fn started(&self, slot: usize, id: u64) -> bool {
        self.words()
            .get(slot)
            .is_some_and(|w| w.load(Ordering::SeqCst) == word(id, STARTED))
    }
}

/// What [`CancelSet::start`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Start {
    /// The task was sent ahead and is started now: it runs.
    Started,
    /// The task was sent ahead and cancelled: the worker skips it.
    Cancelled,
    /// The task is not in the set (sent to an idle worker): it runs.
    Unlisted,
}

/// A task sent ahead: its word in its worker's set, and the veto on its future's cancel
/// (`Promise::set_cancel_guard`), asked under the future's lock. Allowing a cancel marks the
/// task cancelled in the set in the same compare-and-swap that checks that the worker has not
/// started it, so a cancel that succeeds has stopped the task before the future turns
/// cancelled, and one that comes after the start fails: no window in between.
#[derive(Debug)]
pub(crate) struct CancelGuard {
    pub(crate) set: Weak<CancelSet>,
    pub(crate) slot: usize,
    pub(crate) id: u64,
}

impl CancelGuard {
    /// True when the future may be cancelled: the task is cancelled in the set now (or its
    /// worker is gone, and the pool holds the task again, where a cancelled one is dropped).
    pub(crate) fn allows_cancel(&self) -> bool {
        self.set
            .upgrade()
            .is_none_or(|set| set.cancel(self.slot, self.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use future_core::executor::Promise;
    use std::sync::Arc;
    use task_wire::{Completion, Single};

    #[test]
    fn a_cancel_and_a_start_exclude_each_other() {
        let (set, fd) = CancelSet::create(2).unwrap();
        let worker = CancelSet::from_fd(fd).unwrap(); // another mapping of the same words
        assert_eq!(worker.start(7), Start::Unlisted, "not sent ahead: it runs");

        let a = set.queue(1).unwrap();
        let b = set.queue(2).unwrap();
        assert_ne!(a, b);
        assert_eq!(set.queue(3), None, "two words, two tasks ahead");
        assert!(set.cancel(a, 1));
        assert!(set.cancel(a, 1), "twice is fine");
        assert_eq!(worker.start(1), Start::Cancelled, "cancelled: skipped");
        assert!(!set.started(b, 2));
        assert_eq!(worker.start(2), Start::Started);
        assert!(set.started(b, 2), "the pool sees the start");
        assert!(!set.started(a, 1), "a cancelled task never started");
        assert!(!set.cancel(b, 2), "started: too late");

        set.clear(a, 1);
        set.clear(b, 2);
        let c = set.queue(4).unwrap();
        assert!(set.cancel(c, 1), "task 1 left the set: not started here");
        assert_eq!(
            worker.start(4),
            Start::Started,
            "a stale cancel misses the word's new task"
        );
    }

    /// A task sent ahead, as the pool records it: queued in the set, its future pending.
    fn sent_ahead(set: &Arc<CancelSet>, task: &dyn Completion, id: u64) {
        let slot = set.queue(id).unwrap();
        let guard = CancelGuard {
            set: Arc::downgrade(set),
            slot,
            id,
        };
        assert!(
            task.send_ahead(Box::new(move || guard.allows_cancel())),
            "not cancelled: it is sent"
        );
    }

    /// The worker takes the task sent ahead before the pool has read the previous reply (its
    /// future still looks pending): a cancel must fail, since the task runs.
    #[test]
    fn a_cancel_fails_once_the_worker_started_a_task_sent_ahead() {
        let (set, fd) = CancelSet::create(1).unwrap();
        let set = Arc::new(set);
        let worker = CancelSet::from_fd(fd).unwrap();
        let (promise, future) = Promise::<u8>::new();
        let task = Single(promise);
        sent_ahead(&set, &task, 7);
        assert_eq!(worker.start(7), Start::Started, "the worker runs it");
        assert!(!future.cancel(), "started: the cancel must fail");
        assert!(!future.done());
    }

    /// A cancel that succeeds has stopped the task before anything learns of it: a done
    /// callback registered before the task was sent ahead already finds it cancelled in the
    /// worker's set.
    #[test]
    fn a_successful_cancel_stops_the_task_before_any_callback_runs() {
        let (set, fd) = CancelSet::create(1).unwrap();
        let set = Arc::new(set);
        let worker = Arc::new(CancelSet::from_fd(fd).unwrap());
        let (promise, future) = Promise::<u8>::new();
        let seen = Arc::new(std::sync::Mutex::new(None));
        let (w, s) = (worker.clone(), seen.clone());
        future.add_done_callback(move |_| *s.lock().unwrap() = Some(w.start(8) == Start::Started));
        let task = Single(promise);
        sent_ahead(&set, &task, 8);
        assert!(future.cancel());
        assert_eq!(
            *seen.lock().unwrap(),
            Some(false),
            "the worker could still start the cancelled task"
        );
        assert_eq!(worker.start(8), Start::Cancelled);
    }

    #[test]
    fn a_descriptor_that_is_not_a_sealed_memfd_is_refused() {
        let path = std::env::temp_dir().join(format!("pool-process-set-{}", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(16).unwrap();
        let _ = std::fs::remove_file(&path);
        let err = CancelSet::from_fd(OwnedFd::from(file)).unwrap_err();
        assert!(err.to_string().contains("sealed memfd"), "{err}");
    }
}
