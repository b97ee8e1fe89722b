//! [`wait`] and [`as_completed`]: waiting on many futures at once, from any executors.
//!
//! Both register one listener on each pending future that pushes its index into a shared
//! ready queue ([`Ready`]: one slot write and one `fetch_add` per completion, no lock) and
//! wakes the waiting thread if it parked; the waiting thread never scans the futures again
//! and never sleeps on a timer (Python's `_Waiter` design, without its polling of cancelled
//! futures).

use std::cell::Cell;
use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::error::WaitTimeout;
use crate::future::TaskFuture;
use crate::future::listeners::Action;
use crate::future::state::Key;
use crate::sync::Arc;
use crate::waiting::block::deadline_after;
use crate::waiting::done_queue::DoneQueue;
use crate::waiting::ready::Ready;

/// When [`wait`] returns (Python's `FIRST_COMPLETED`, `FIRST_EXCEPTION`, `ALL_COMPLETED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReturnWhen {
    /// As soon as any future is done (finished or cancelled).
    FirstCompleted,
    /// As soon as any future fails; if none fails, when all are done.
    FirstException,
    /// When every future is done.
    AllCompleted,
}

/// What [`wait`] returns: the futures that were done, and those that were not, each
/// future once, in the order first given.
#[derive(Debug)]
pub struct DoneAndNotDone<T> {
    /// The futures that were done (finished or cancelled) when `wait` returned.
    pub done: Vec<TaskFuture<T>>,
    /// The others.
    pub not_done: Vec<TaskFuture<T>>,
}

/// The deduplicated futures with one ready-queue listener registered on each pending one.
struct Watch<T> {
    futures: Vec<TaskFuture<T>>,
    /// Each future's position in the input (its first, for a duplicate).
    positions: Vec<usize>,
    /// Registration key per future; `None` once done (or never registered).
    keys: Vec<Option<Key>>,
    /// Its ready queue (see [`DoneQueue::ready`]).
    done_queue: Arc<DoneQueue>,
    /// The next future a worker thread's untimed wait may try to run itself: each is
    /// tried once (a future that cannot be run here now never can: it started elsewhere,
    /// or belongs to another executor).
    next_to_run: Cell<usize>,
}

impl<T> Watch<T> {
    fn new<'a, I>(futures: I) -> Watch<T>
    where
        I: IntoIterator<Item = &'a TaskFuture<T>>,
        T: 'a,
    {
        let futures = futures.into_iter();
        let mut seen = HashSet::with_capacity_and_hasher(futures.size_hint().0, BuildIdHasher);
        let (positions, futures): (Vec<usize>, Vec<TaskFuture<T>>) = futures
            .enumerate()
            .filter(|(_, f)| seen.insert(f.id()))
            .map(|(position, f)| (position, f.clone()))
            .unzip();
        let done_queue = DoneQueue::ready(futures.len());
        // A future already done is recorded at once, in input order: so those come
        // first, as Python's `as_completed` yields them.
        let keys = futures
            .iter()
            .enumerate()
            .map(|(index, future)| future.register(Action::DoneQueue(done_queue.clone(), index)))
            .collect();
        Watch {
            futures,
            positions,
            keys,
            done_queue,
            next_to_run: Cell::new(0),
        }
    }

    /// Blocks until `ready` holds for the queue (true) or `deadline` passes (false).
    /// Without a deadline, in a worker thread, first runs here (one after the other) the
    /// tasks waited on that no thread has started, as `TaskFuture::result` does.
    fn block_until(
        &self,
        deadline: Option<Instant>,
        mut ready: impl FnMut(&Ready) -> bool,
    ) -> bool {
        let queue = self.done_queue.queue();
        if ready(queue) {
            return true;
        }
        if deadline.is_none() && crate::worker::current().is_some() {
            while let Some(future) = self.futures.get(self.next_to_run.get()) {
                self.next_to_run.set(self.next_to_run.get() + 1);
                if future.run_here() && ready(queue) {
                    return true;
                }
            }
        }
        // Checked just now (after the last task run here, if any): false.
        queue.block_until(deadline, ready)
    }
}

/// Hashes a future's identity (an allocation's address) for the de-duplication in
/// [`Watch::new`]: one multiplication, where the default hasher is built to resist
/// chosen keys, which addresses are not.
#[derive(Clone, Copy, Default)]
struct BuildIdHasher;

impl std::hash::BuildHasher for BuildIdHasher {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0 ^ value).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }

    fn finish(&self) -> u64 {
        // Fold the well-mixed high bits into the low ones the table indexes with.
        self.0 ^ (self.0 >> 29)
    }
}

impl<T> Drop for Watch<T> {
    fn drop(&mut self) {
        for (future, key) in self.futures.iter().zip(&self.keys) {
            if let Some(key) = key {
                future.inner.unregister(*key);
            }
        }
    }
}

/// Waits until `return_when` holds for `futures` or `timeout` passes, and returns which
/// were done: Python's `concurrent.futures.wait`.
///
/// The futures may come from different executors. A duplicate counts once. It returns at
/// once when the condition already holds, and a timeout is no error: it returns the sets as
/// they are. A future cancelled by its user counts as done at once. Nothing polls: each
/// future's completion wakes this call.
///
/// ```
/// use rustures::{wait, ReturnWhen};
/// use rustures::executor::Promise;
/// use std::time::Duration;
///
/// let (slow, slow_f) = Promise::<u32>::new();
/// let (fast, fast_f) = Promise::<u32>::new();
/// std::thread::spawn(move || fast.set_result(1));
///
/// let sets = wait([&slow_f, &fast_f, &fast_f], None, ReturnWhen::FirstCompleted);
/// assert_eq!(sets.done.len(), 1);
/// assert!(sets.done[0].same_future(&fast_f));
/// assert_eq!(sets.not_done.len(), 1);
///
/// let sets = wait([&slow_f, &fast_f], Some(Duration::from_millis(10)), ReturnWhen::AllCompleted);
/// assert_eq!((sets.done.len(), sets.not_done.len()), (1, 1), "a timeout returns the partial sets");
/// drop(slow);
/// ```
pub fn wait<'a, T, I>(
    futures: I,
    timeout: Option<Duration>,
    return_when: ReturnWhen,
) -> DoneAndNotDone<T>
where
    I: IntoIterator<Item = &'a TaskFuture<T>>,
    T: 'a,
{
    let deadline = deadline_after(timeout);
    let mut watch = Watch::new(futures);
    let total = watch.futures.len();
    watch.block_until(deadline, |ready| {
        let done = ready.done();
        match return_when {
            ReturnWhen::FirstCompleted => done > 0 || total == 0,
            ReturnWhen::FirstException => ready.any_failed() || done == total,
            ReturnWhen::AllCompleted => done == total,
        }
    });
    let mut done = Vec::new();
    let mut not_done = Vec::new();
    for (future, key) in watch.futures.iter().zip(&mut watch.keys) {
        if future.done() {
            // Its completion took (or takes) the listener: nothing to unregister.
            *key = None;
            done.push(future.clone());
        } else {
            not_done.push(future.clone());
        }
    }
    DoneAndNotDone { done, not_done }
}

/// An iterator over futures in the order they finish: Python's
/// `concurrent.futures.as_completed`.
///
/// It yields the futures that are already done first, then each future as it becomes done
/// (finished or cancelled), each future once even when given twice. With a timeout, once it
/// passes with futures unfinished, each of them yields a [`WaitTimeout`] error saying how
/// many of how many were unfinished (so the iterator always yields exactly one item per
/// distinct future: it is an [`ExactSizeIterator`], ready for a progress bar), and the
/// first of those errors is Python's `TimeoutError`. The futures may come from different
/// executors; nothing polls, each completion wakes the iterator.
/// [`indexed`](AsCompleted::indexed) also gives each future's position in the input.
///
/// A progress bar, `tqdm(as_completed(fs), total=len(fs))` in Python (here with the
/// `indicatif` crate: `as_completed(&futures, None).progress()`):
///
/// ```
/// use rustures::{as_completed};
/// use rustures::executor::Promise;
/// let (promises, futures): (Vec<_>, Vec<_>) = (0..3).map(|_| Promise::new()).unzip();
/// for (i, p) in promises.into_iter().enumerate() { p.set_result(i) }
/// let done = as_completed(&futures, None);
/// assert_eq!(done.len(), 3);
/// for (n, future) in done.enumerate() {
///     println!("{}/3 done: {:?}", n + 1, future.unwrap().result());
/// }
/// ```
///
/// ```
/// use rustures::{as_completed};
/// use rustures::executor::Promise;
///
/// let (promises, futures): (Vec<_>, Vec<_>) = (0..4).map(|_| Promise::new()).unzip();
/// std::thread::spawn(move || {
///     for (i, p) in promises.into_iter().enumerate().rev() {
///         p.set_result(i);
///     }
/// });
/// let mut seen: Vec<usize> = as_completed(&futures, None)
///     .map(|f| f.unwrap().result().unwrap())
///     .collect();
/// seen.sort();
/// assert_eq!(seen, vec![0, 1, 2, 3]);
/// ```
///
/// A timeout:
///
/// ```
/// use rustures::{as_completed, WaitTimeout};
/// use rustures::executor::Promise;
/// use std::time::Duration;
///
/// let (done, done_f) = Promise::new();
/// let (_pending, pending_f) = Promise::new();
/// done.set_result(1);
/// let mut it = as_completed([&pending_f, &done_f], Some(Duration::from_millis(10)));
/// assert!(it.next().unwrap().unwrap().same_future(&done_f));
/// assert_eq!(it.next().unwrap().unwrap_err(), WaitTimeout { unfinished: 1, total: 2 });
/// assert!(it.next().is_none());
/// ```
///
/// Which input each one was (no need for the task to echo its input):
///
/// ```
/// use rustures::{as_completed};
/// use rustures::executor::Promise;
/// let (promises, futures): (Vec<_>, Vec<_>) = (0..3u32).map(|_| Promise::new()).unzip();
/// for (i, p) in promises.into_iter().enumerate().rev() { p.set_result(i as u32 * 10) }
/// for done in as_completed(&futures, None).indexed() {
///     let (index, future) = done.unwrap();
///     assert_eq!(future.result(), Ok(index as u32 * 10));
/// }
/// ```
pub fn as_completed<'a, T, I>(futures: I, timeout: Option<Duration>) -> AsCompleted<T>
where
    I: IntoIterator<Item = &'a TaskFuture<T>>,
    T: 'a,
{
    let watch = Watch::new(futures);
    AsCompleted {
        deadline: deadline_after(timeout),
        yielded: 0,
        timed_out: None,
        watch,
    }
}

/// The iterator of [`as_completed`]; dropping it unregisters it from the futures.
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct AsCompleted<T> {
    watch: Watch<T>,
    deadline: Option<Instant>,
    /// Futures yielded so far: also the position, in the ready queue, of the next one.
    yielded: usize,
    /// Set once the timeout passed: the error each unfinished future yields.
    timed_out: Option<WaitTimeout>,
}

impl<T> AsCompleted<T> {
    /// The same iterator, yielding each future with its position in the input (the first
    /// position, for a future given twice).
    pub fn indexed(self) -> Indexed<T> {
        Indexed(self)
    }

    /// The next done future's index among the distinct futures, or the timeout.
    fn next_index(&mut self) -> Option<Result<usize, WaitTimeout>> {
        let total = self.watch.futures.len();
        if self.yielded == total {
            return None;
        }
        let position = self.yielded;
        self.yielded += 1;
        if let Some(timed_out) = self.timed_out {
            return Some(Err(timed_out));
        }
        let mut next = None;
        self.watch.block_until(self.deadline, |ready| {
            next = ready.get(position);
            next.is_some()
        });
        match next {
            Some(index) => {
                if let Some(key) = self.watch.keys.get_mut(index) {
                    *key = None;
                }
                Some(Ok(index))
            }
            None => {
                let timed_out = WaitTimeout {
                    unfinished: total - (self.yielded - 1),
                    total,
                };
                self.timed_out = Some(timed_out);
                Some(Err(timed_out))
            }
        }
    }
}

impl<T> Iterator for AsCompleted<T> {
    type Item = Result<TaskFuture<T>, WaitTimeout>;

    fn next(&mut self) -> Option<Self::Item> {
        let index = self.next_index()?;
        Some(index.map(|index| self.watch.futures[index].clone()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.watch.futures.len() - self.yielded;
        (left, Some(left))
    }
}

impl<T> ExactSizeIterator for AsCompleted<T> {}

impl<T> std::iter::FusedIterator for AsCompleted<T> {}

/// [`as_completed`] yielding each future with its position in the input; see
/// [`AsCompleted::indexed`].
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Indexed<T>(AsCompleted<T>);

impl<T> Iterator for Indexed<T> {
    type Item = Result<(usize, TaskFuture<T>), WaitTimeout>;

    fn next(&mut self) -> Option<Self::Item> {
        let index = self.0.next_index()?;
        let watch = &self.0.watch;
        Some(index.map(|index| (watch.positions[index], watch.futures[index].clone())))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl<T> ExactSizeIterator for Indexed<T> {}

impl<T> std::iter::FusedIterator for Indexed<T> {}

impl<T> std::fmt::Debug for Indexed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Indexed").field(&self.0).finish()
    }
}

impl<T> std::fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsCompleted")
            .field("total", &self.watch.futures.len())
            .field("yielded", &self.yielded)
            .finish()
    }
}
