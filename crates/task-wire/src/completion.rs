//! The parent's side of one task, with its result type erased: the promise to complete,
//! and how to decode the worker's reply for it.

use std::any::Any;

use future_core::executor::ChunkResults;
use future_core::executor::Promise;
use future_core::{Portable, TaskError, TaskFuture};

use crate::stats::{Counters, Settled};

/// A veto on a future's cancel, asked under the future's lock (see
/// `future_core::executor::Promise::set_cancel_guard`): true allows it.
pub type CancelVeto = Box<dyn Fn() -> bool + Send + Sync>;

/// A task's promise, typed away so a pool's dispatcher holds tasks of every type in one
/// queue: [`Single`] for a `submit`, [`Chunk`] for a `map` chunk.
///
/// ```
/// use future_core::executor::{Elements, Promise};
/// use task_wire::{Completion, Settled, Single};
/// fn square(x: u8) -> u8 { x * x }
///
/// let (promise, future) = Promise::<u8>::new();
/// let task: Box<dyn Completion> = Box::new(Single(promise));
/// assert!(task.start());
/// let mut reply = Vec::new();
/// let args = task_wire::encode(&Elements(&[7u8])).unwrap();
/// let frame = ipc_queue::Frame::from(args);
/// // SAFETY: the name comes from `name_task` in this very process.
/// unsafe { task_wire::run_task(task_wire::name_task(square).unwrap(), frame, 0, &mut reply) };
/// let counters = task_wire::Counters::default();
/// assert_eq!(task.complete(&reply, &counters), Settled::Completed);
/// assert_eq!(counters.read(0, 0, 0).completed, 1);
/// assert_eq!(future.result(), Ok(49));
/// ```
pub trait Completion: Send {
    /// Marks the task running unless it was cancelled (then false: drop it unrun).
    fn start(&self) -> bool;
    /// True when the user cancelled the future (only possible before `start`).
    fn is_cancelled(&self) -> bool;
    /// Cancels the task if it has not started (`shutdown_with` and `cancel_futures`).
    fn cancel(&self);
    /// A handle that cancels the task if it has not started, for a caller that must not do it
    /// here (under the pool's lock: cancelling runs the done callbacks).
    fn canceller(&self) -> Box<dyn FnOnce() + Send>;
    /// The task is sent ahead to a busy worker: `veto` decides whether the future may still
    /// be cancelled. False when the future was cancelled already: do not send it.
    fn send_ahead(&self, veto: CancelVeto) -> bool;
    /// Completes the future from the worker's encoded reply (its task had started: it
    /// completes or fails), and counts how it ended in `counters` first, so that a thread
    /// that sees the result in the future also sees it in the pool's statistics.
    fn complete(self: Box<Self>, payload: &[u8], counters: &Counters) -> Settled;
    /// Fails the future (and, for a chunk, each of its elements) with `err`; `Cancelled` when
    /// it was cancelled already (a pool that counts first calls [`start`](Self::start)
    /// before, so that it cannot be).
    fn fail(self: Box<Self>, err: TaskError) -> Settled;
    /// True when `future` (a `TaskFuture` of some type) is this task's future.
    fn is_for(&self, future: &dyn Any) -> bool;
}

fn canceller<T: Send + 'static>(future: TaskFuture<T>) -> Box<dyn FnOnce() + Send> {
    Box::new(move || {
        future.cancel();
    })
}

/// Fails `promise`'s future with `err`, unless it was cancelled (said after the fact, when
/// nothing can change it any more).
fn fail<T>(promise: Promise<T>, err: TaskError) -> Settled {
    let future = promise.future();
    promise.set_error(err);
    if future.cancelled() {
        Settled::Cancelled
    } else {
        Settled::Failed
    }
}

fn send_ahead<T>(promise: &Promise<T>, veto: CancelVeto) -> bool {
    promise.set_cancel_guard(veto);
    // Checked after the guard is in place: a cancel either came before (seen here) or asks
    // the guard.
    !promise.is_cancelled()
}

/// The completion of a `submit`: one result.
#[derive(Debug)]
pub struct Single<R>(pub Promise<R>);

impl<R: Portable> Completion for Single<R> {
    fn start(&self) -> bool {
        self.0.set_running_or_notify_cancel()
    }

    fn is_cancelled(&self) -> bool {
        self.0.is_cancelled()
    }

    fn cancel(&self) {
        self.0.cancel();
    }

    fn canceller(&self) -> Box<dyn FnOnce() + Send> {
        canceller(self.0.future())
    }

    fn send_ahead(&self, veto: CancelVeto) -> bool {
        send_ahead(&self.0, veto)
    }

    fn complete(self: Box<Self>, payload: &[u8], counters: &Counters) -> Settled {
        let outcome = crate::decode_single::<R>(payload);
        let settled = match outcome {
            Ok(_) => Settled::Completed,
            Err(_) => Settled::Failed,
        };
        counters.settled(settled);
        self.0.set_outcome(outcome);
        settled
    }

    fn fail(self: Box<Self>, err: TaskError) -> Settled {
        fail(self.0, err)
    }

    fn is_for(&self, future: &dyn Any) -> bool {
        future
            .downcast_ref::<TaskFuture<R>>()
            .is_some_and(|future| future.same_future(&self.0.future()))
    }
}

/// The completion of one `map` chunk: a result per element.
#[derive(Debug)]
pub struct Chunk<R> {
    /// The chunk's promise.
    pub promise: Promise<ChunkResults<R>>,
    /// How many elements the chunk has.
    pub len: usize,
}

impl<R: Portable> Completion for Chunk<R> {
    fn start(&self) -> bool {
        self.promise.set_running_or_notify_cancel()
    }

    fn is_cancelled(&self) -> bool {
        self.promise.is_cancelled()
    }

    fn cancel(&self) {
        self.promise.cancel();
    }

    fn canceller(&self) -> Box<dyn FnOnce() + Send> {
        canceller(self.promise.future())
    }

    fn send_ahead(&self, veto: CancelVeto) -> bool {
        send_ahead(&self.promise, veto)
    }

    fn complete(self: Box<Self>, payload: &[u8], counters: &Counters) -> Settled {
        let (results, settled) = match crate::decode_results::<R>(payload, self.len) {
            Ok(results) => (results, Settled::Completed),
            Err(err) => (ChunkResults::failed(self.len, err), Settled::Failed),
        };
        counters.settled(settled);
        self.promise.set_result(results);
        settled
    }

    fn fail(self: Box<Self>, err: TaskError) -> Settled {
        // Failing the chunk's future as a whole makes `Map` give the error to each element.
        fail(self.promise, err)
    }

    fn is_for(&self, future: &dyn Any) -> bool {
        future
            .downcast_ref::<TaskFuture<ChunkResults<R>>>()
            .is_some_and(|future| future.same_future(&self.promise.future()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use future_core::TaskErrorKind;

    #[test]
    fn one_error_for_a_chunk_fans_out() {
        let err = TaskError::new(TaskErrorKind::Serialization, "bad");
        let payload = crate::error_payload(1, err.clone());
        let (promise, future) = Promise::<ChunkResults<u8>>::new();
        Box::new(Chunk { promise, len: 3 }).complete(&payload, &Counters::default());
        assert_eq!(
            future.result().map(ChunkResults::into_results),
            Ok(vec![Err(err.clone()), Err(err.clone()), Err(err)])
        );
    }

    /// A thread that sees a task's result must see it in the pool's statistics: the count
    /// comes first. A done callback runs as the future settles, so it sees what a waiter
    /// woken by it would. Counted after the settling, it saw 0 (a `stats()` read right
    /// after `result()` missed the task).
    #[test]
    fn a_completion_is_counted_before_its_future_settles() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicU64, Ordering};

        let counters = Arc::new(Counters::default());
        let seen = Arc::new(AtomicU64::new(u64::MAX));
        let (promise, future) = Promise::<ChunkResults<u8>>::new();
        let (in_callback, seen_there) = (counters.clone(), seen.clone());
        future.add_done_callback(move |_| {
            seen_there.store(in_callback.read(0, 0, 0).completed, Ordering::SeqCst);
        });
        let payload = crate::encode(&ChunkResults::run(vec![7u8], |x| x)).unwrap();
        let settled = Box::new(Chunk { promise, len: 1 }).complete(&payload, &counters);
        assert_eq!(settled, Settled::Completed);
        assert_eq!(seen.load(Ordering::SeqCst), 1);

        let seen = Arc::new(AtomicU64::new(u64::MAX));
        let (promise, future) = Promise::<u8>::new();
        let (in_callback, seen_there) = (counters.clone(), seen.clone());
        future.add_done_callback(move |_| {
            seen_there.store(in_callback.read(0, 0, 0).failed, Ordering::SeqCst);
        });
        Box::new(Single(promise)).complete(&[0x05, 0xff], &counters);
        assert_eq!(seen.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn garbage_is_a_serialization_error() {
        let (promise, future) = Promise::<String>::new();
        Box::new(Single(promise)).complete(&[0x05, 0xff], &Counters::default());
        let err = future.exception().unwrap().unwrap();
        assert_eq!(err.kind(), TaskErrorKind::Serialization);
    }
}
