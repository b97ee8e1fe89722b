//! [`JobBox`]: what the queues hold, a type-erased [`Job`] stored inline when it is small.
//!
//! A submit used to make two allocations: the future's and a `Box<dyn Job>` for the task.
//! The box was allocated by the submitting thread and freed by the worker, and such
//! cross-thread frees contend on the allocator's arena lock (a profile of 100,000 tiny
//! submits showed the producer spending about 45% of its time in malloc/free). A job whose
//! task and promise fit in [`INLINE_WORDS`] words (a closure capturing a few words) now lives in
//! the queue slot itself; a bigger or over-aligned one is boxed, as before.
//!
//! The erasure is a hand-made vtable of four functions, one per way a job ends (run,
//! cancel, fail, dropped unrun); exactly one of them takes the job out of the storage.

use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit, align_of, size_of};
use std::ptr;

use future_core::TaskError;

use crate::job::{Job, TaskEnd};

/// Words of inline storage: a task capturing a `Vec` and an `Arc` with its promise (six
/// words) fits, so the chunks of `map` are not boxed either; with the vtable pointer a
/// slot is 56 bytes, 64 with crossbeam's per-slot state: one cache line.
const INLINE_WORDS: usize = 6;

/// The inline storage: uninitialized words, so a job of at most `usize` alignment fits.
type Storage = [MaybeUninit<usize>; INLINE_WORDS];

/// The ways a job ends, for one job type `J` stored inline. Each reads the `J` out of the
/// storage (a bitwise move) and consumes it.
struct VTable {
    run: unsafe fn(*const Storage, &TaskEnd<'_>),
    cancel: unsafe fn(*const Storage),
    fail: unsafe fn(*const Storage, TaskError),
    drop: unsafe fn(*const Storage),
}

/// A queued job, type-erased: a [`Job`] stored inline, or boxed when too big. Exactly one
/// of [`run`](Self::run), [`cancel`](Self::cancel), [`fail`](Self::fail) or the drop
/// consumes the job.
pub(crate) struct JobBox {
    /// Holds a `J` (or a `Box<J>`) written by [`JobBox::new_unchecked`], moved out at most
    /// once; the `JobBox` is never used after that (its methods take `self`).
    storage: Storage,
    /// The functions for the type stored in `storage`.
    vtable: &'static VTable,
    /// Neither `Send` nor `Sync` on its own (the storage hides the job's type): `Send` is
    /// implemented below, for what the constructors let in.
    _erased: PhantomData<*const ()>,
}

// SAFETY: the only constructors take `J: Job`, and `Job: Send`, so the stored job may be
// sent to another thread; the vtable is plain function pointers.
unsafe impl Send for JobBox {}

impl JobBox {
    /// Erases `job`: inline when it fits, boxed otherwise.
    pub(crate) fn new<J: Job + 'static>(job: J) -> JobBox {
        // SAFETY: `J: 'static`, so the job may live as long as the queues keep it.
        unsafe { Self::new_unchecked(job) }
    }

    /// Erases `job`, which may borrow for a lifetime shorter than the queue's.
    ///
    /// # Safety
    ///
    /// The job must be consumed (run, cancelled, failed or dropped) before anything it
    /// borrows dies: the caller guarantees it, as a scope does by waiting for its tasks.
    pub(crate) unsafe fn new_unchecked<J: Job>(job: J) -> JobBox {
        if fits::<J>() {
            // SAFETY: checked just above; the caller's promise is passed on.
            unsafe { Self::inline(job) }
        } else {
            // SAFETY: a `Box` is one pointer, so it fits; the caller's promise is passed
            // on (the box owns the job and consumes it when it is consumed).
            unsafe { Self::inline(Box::new(job)) }
        }
    }

    /// # Safety
    ///
    /// `fits::<J>()`, and the contract of [`JobBox::new_unchecked`].
    unsafe fn inline<J: Job>(job: J) -> JobBox {
        let mut storage: Storage = [MaybeUninit::uninit(); INLINE_WORDS];
        // SAFETY: `storage` is big and aligned enough for a `J` (the caller checked
        // `fits`), and writing to uninitialized memory through a raw pointer is fine.
        unsafe { storage.as_mut_ptr().cast::<J>().write(job) };
        JobBox {
            storage,
            vtable: const {
                &VTable {
                    run: run::<J>,
                    cancel: cancel::<J>,
                    fail: fail::<J>,
                    drop: drop_unrun::<J>,
                }
            },
            _erased: PhantomData,
        }
    }

    /// Runs the task (unless cancelled) and completes its future; see [`Job::run`].
    pub(crate) fn run(self, end: &TaskEnd<'_>) {
        let this = ManuallyDrop::new(self);
        // SAFETY: `storage` holds the vtable's job type, not moved out yet; `this` is
        // never dropped or used again, so the job is moved out exactly once.
        unsafe { (this.vtable.run)(&this.storage, end) }
    }

    /// Cancels the future of a task that will never run; see [`Job::cancel`].
    pub(crate) fn cancel(self) {
        let this = ManuallyDrop::new(self);
        // SAFETY: as in `run`.
        unsafe { (this.vtable.cancel)(&this.storage) }
    }

    /// Fails the future of a task that will never run; see [`Job::fail`].
    pub(crate) fn fail(self, error: TaskError) {
        let this = ManuallyDrop::new(self);
        // SAFETY: as in `run`.
        unsafe { (this.vtable.fail)(&this.storage, error) }
    }
}

impl Drop for JobBox {
    /// A job dropped unrun (a submit refused after it was wrapped): drops the task and its
    /// promise, which fails the future as abandoned.
    fn drop(&mut self) {
        // SAFETY: the consuming methods wrap `self` in `ManuallyDrop`, so when this runs
        // the job is still in `storage`, and it is never touched again.
        unsafe { (self.vtable.drop)(&self.storage) }
    }
}

/// True when a `J` can live in [`Storage`].
const fn fits<J>() -> bool {
    size_of::<J>() <= size_of::<Storage>() && align_of::<J>() <= align_of::<Storage>()
}

/// # Safety
///
/// `storage` holds a `J` that nobody moves out again.
unsafe fn take<J>(storage: *const Storage) -> J {
    // SAFETY: the caller's promise: a valid, aligned `J` whose ownership moves to us.
    unsafe { ptr::read(storage.cast::<J>()) }
}

/// # Safety
///
/// As [`take`].
unsafe fn run<J: Job>(storage: *const Storage, end: &TaskEnd<'_>) {
    // SAFETY: passed on from the caller.
    unsafe { take::<J>(storage) }.run(end);
}

/// # Safety
///
/// As [`take`].
unsafe fn cancel<J: Job>(storage: *const Storage) {
    // SAFETY: passed on from the caller.
    unsafe { take::<J>(storage) }.cancel();
}

/// # Safety
///
/// As [`take`].
unsafe fn fail<J: Job>(storage: *const Storage, error: TaskError) {
    // SAFETY: passed on from the caller.
    unsafe { take::<J>(storage) }.fail(error);
}

/// # Safety
///
/// As [`take`].
unsafe fn drop_unrun<J>(storage: *const Storage) {
    // SAFETY: passed on from the caller.
    drop(unsafe { take::<J>(storage) });
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use future_core::{FutureError, Promise, TaskErrorKind, TaskFuture};

    use super::*;
    use crate::job::Task;

    /// Counts its drops.
    struct Counted<'a>(&'a AtomicUsize);

    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A job whose task sums `pad` (which sets its size) and holds a drop counter.
    struct Made {
        job: JobBox,
        future: TaskFuture<u64>,
        sum: u64,
        inline: bool,
    }

    fn fits_value<T>(_: &T) -> bool {
        fits::<T>()
    }

    fn make<const N: usize>(drops: &AtomicUsize, pad: [u64; N]) -> Made {
        let counted = Counted(drops);
        let (promise, future) = Promise::new();
        let f = move || {
            let _keep = &counted;
            pad.iter().sum::<u64>()
        };
        let task = Task { f, promise };
        let inline = fits_value(&task);
        // SAFETY: every test consumes the job before `drops` dies.
        let job = unsafe { JobBox::new_unchecked(task) };
        Made {
            job,
            future,
            sum: pad.iter().sum(),
            inline,
        }
    }

    /// Runs `check` on a small job (stored inline) and a big one (boxed).
    fn both_sizes(check: impl Fn(&dyn Fn(&AtomicUsize) -> Made)) {
        check(&|drops| {
            let made = make(drops, [1, 2]);
            assert!(made.inline);
            made
        });
        check(&|drops| {
            let made = make(drops, [1; 32]);
            assert!(!made.inline);
            made
        });
    }

    #[test]
    fn run_computes_and_drops_the_closure_once() {
        both_sizes(|make| {
            let drops = AtomicUsize::new(0);
            let made = make(&drops);
            made.job.run(&TaskEnd::nested());
            assert_eq!(drops.load(Ordering::SeqCst), 1);
            assert_eq!(made.future.result(), Ok(made.sum));
        });
    }

    #[test]
    fn cancel_and_fail_complete_the_future_and_drop_the_closure_once() {
        both_sizes(|make| {
            let drops = AtomicUsize::new(0);
            let made = make(&drops);
            made.job.cancel();
            assert_eq!(drops.load(Ordering::SeqCst), 1);
            assert!(made.future.cancelled());

            let made = make(&drops);
            made.job.fail(TaskError::new(TaskErrorKind::Broken, "gone"));
            assert_eq!(drops.load(Ordering::SeqCst), 2);
            match made.future.result() {
                Err(FutureError::Failed(err)) => assert_eq!(err.message(), "gone"),
                other => panic!("expected the pool's error, got {other:?}"),
            }
        });
    }

    #[test]
    fn dropped_unrun_fails_the_future_as_abandoned() {
        both_sizes(|make| {
            let drops = AtomicUsize::new(0);
            let made = make(&drops);
            drop(made.job);
            assert_eq!(drops.load(Ordering::SeqCst), 1);
            match made.future.result() {
                Err(FutureError::Failed(err)) => assert_eq!(err.kind(), TaskErrorKind::Broken),
                other => panic!("expected an abandoned future, got {other:?}"),
            }
        });
    }

    #[test]
    fn an_over_aligned_job_is_boxed_and_runs() {
        #[repr(align(64))]
        struct Wide(u64);
        let wide = Wide(7);
        let (promise, future) = Promise::new();
        let task = Task {
            f: move || {
                let wide = wide; // the whole value, not just its field
                wide.0
            },
            promise,
        };
        assert!(!fits_value(&task));
        JobBox::new(task).run(&TaskEnd::nested());
        assert_eq!(future.result(), Ok(7));
    }
}
