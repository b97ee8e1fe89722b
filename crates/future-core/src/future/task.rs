//! [`Task`]: a task whose closure lives in its future's own allocation, so that one
//! allocation holds the closure, the state and the result, and a thread that waits on the
//! future may run the task itself (see [`TaskFuture::result`](crate::TaskFuture::result)).
//!
//! The closure is stored inline when it fits in [`INLINE_WORDS`] words (a closure capturing
//! a few words, a `map` chunk), boxed otherwise, behind a hand-made vtable of two
//! functions (call, drop). Who owns it is decided by the future's state word: the closure is
//! in the cell exactly while the future is pending, and the one thread that moves the
//! status off `Pending` (to run it, cancel it, fail it) takes it out and consumes it.

use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit, align_of, size_of};
use std::ptr::{self, NonNull};
use std::time::Duration;

use crate::error::{TaskError, TaskErrorKind};
use crate::future::TaskFuture;
use crate::future::state::{Inner, Status};
use crate::sync::{Arc, UnsafeCell};
use crate::unwind::{catch_panic, drop_contained};
use crate::worker::ExecutorId;

/// Words of inline storage for a task's closure: four words hold a closure capturing a
/// function and a three-word argument (`submit(f, arg)` with a `String` or a `Vec`), or a
/// `map` chunk's `Vec` and function.
const INLINE_WORDS: usize = 4;

/// Uninitialized words, so any closure of at most `usize` alignment fits.
type Storage = [MaybeUninit<usize>; INLINE_WORDS];

/// How to call or drop the closure stored in a [`Storage`], for one closure type. `call`
/// writes the result through its second pointer, a `*mut T` erased (so that the table
/// has no type parameter and can be a promoted constant even when `T` borrows).
struct ClosureVTable {
    call: unsafe fn(*mut Storage, *mut ()),
    drop: unsafe fn(*mut Storage),
}

/// A future's task closure, if it has one, and the executor whose worker threads may run
/// it while waiting on the future.
///
/// Ownership: the closure is in `closure` exactly while the future's status is `Pending`
/// (and `vtable` is set). The one thread whose compare-and-swap on the future's state word
/// moves the status off `Pending` owns it from then on and calls [`TaskCell::take`] once to consume it;
/// no other thread touches `closure`.
pub(crate) struct TaskCell<T> {
    closure: UnsafeCell<Storage>,
    vtable: Option<&'static ClosureVTable>,
    executor: Option<ExecutorId>,
    /// The closure's type is erased: neither `Send` nor `Sync` by default.
    _erased: PhantomData<*const ()>,
    /// Its result is a `T`.
    _result: PhantomData<fn() -> T>,
}

// SAFETY: the closure is `Send` (the only constructor, `holding`, requires it), and it is
// touched by one thread at a time (the ownership rule above), so the cell may be sent and
// shared like a `Mutex<F>`.
unsafe impl<T: Send> Send for TaskCell<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for TaskCell<T> {}

impl<T> TaskCell<T> {
    /// No closure: the future of a [`Promise`](crate::executor::Promise).
    pub(crate) fn none() -> Self {
        TaskCell {
            closure: UnsafeCell::new([MaybeUninit::uninit(); INLINE_WORDS]),
            vtable: None,
            executor: None,
            _erased: PhantomData,
            _result: PhantomData,
        }
    }

    /// Holds `f`, inline when it fits, boxed otherwise.
    ///
    /// # Safety
    /// Everything `f` borrows outlives the closure's consumption (see [`Task::new_unchecked`]).
    unsafe fn holding<F>(executor: ExecutorId, f: F) -> Self
    where
        F: FnOnce() -> T + Send,
    {
        if fits::<F>() {
            // SAFETY: checked just above; the caller's promise is passed on.
            unsafe { Self::inline(executor, f) }
        } else {
            // SAFETY: a `Box` is one pointer, so it fits; the box owns the closure and
            // consumes it when it is consumed.
            unsafe { Self::inline(executor, Box::new(f)) }
        }
    }

    /// # Safety
    /// `fits::<F>()`, and the contract of [`TaskCell::holding`].
    unsafe fn inline<F>(executor: ExecutorId, f: F) -> Self
    where
        F: FnOnce() -> T + Send,
    {
        let mut storage: Storage = [MaybeUninit::uninit(); INLINE_WORDS];
        // SAFETY: `storage` is big and aligned enough for an `F` (the caller checked
        // `fits`); writing to uninitialized memory through a raw pointer is fine.
        unsafe { storage.as_mut_ptr().cast::<F>().write(f) };
        TaskCell {
            closure: UnsafeCell::new(storage),
            vtable: Some(
                const {
                    &ClosureVTable {
                        call: call::<F, T>,
                        drop: drop_closure::<F>,
                    }
                },
            ),
            executor: Some(executor),
            _erased: PhantomData,
            _result: PhantomData,
        }
    }

    /// The executor whose workers may run the task while waiting on its future.
    pub(crate) fn executor(&self) -> Option<ExecutorId> {
        self.executor
    }

    /// Moves the closure out, if the future has one.
    ///
    /// # Safety
    /// The caller moved the future's status off `Pending` itself, by its own CAS (or holds
    /// the only reference to the future), and calls this once for that transition.
    pub(crate) unsafe fn take(&self) -> Option<Closure<T>> {
        let vtable = self.vtable?;
        // SAFETY: by the caller's promise this thread owns the closure; reading the words
        // moves it out (the cell is never read again: the status is no longer `Pending`).
        let storage = self.closure.with(|storage| unsafe { ptr::read(storage) });
        Some(Closure {
            storage,
            vtable,
            _result: PhantomData,
        })
    }
}

/// A closure moved out of its [`TaskCell`]: called or dropped, once.
pub(crate) struct Closure<T> {
    storage: Storage,
    vtable: &'static ClosureVTable,
    _result: PhantomData<fn() -> T>,
}

impl<T> Closure<T> {
    /// Calls the closure (consuming it).
    pub(crate) fn call(self) -> T {
        let mut this = ManuallyDrop::new(self);
        let mut out = MaybeUninit::<T>::uninit();
        // SAFETY: `storage` holds the vtable's closure type, whose result is a `T`, not
        // consumed yet; `this` is never dropped or used again, so it is consumed exactly
        // once. If it panics, `out` stays uninitialized and is not read.
        unsafe { (this.vtable.call)(&mut this.storage, out.as_mut_ptr().cast()) };
        // SAFETY: `call` returned, so it wrote the result.
        unsafe { out.assume_init() }
    }
}

impl<T> Drop for Closure<T> {
    fn drop(&mut self) {
        // SAFETY: `call` wraps `self` in `ManuallyDrop`, so when this runs the closure is
        // still in `storage`, and it is never touched again.
        unsafe { (self.vtable.drop)(&mut self.storage) }
    }
}

/// True when an `F` can live in [`Storage`].
const fn fits<F>() -> bool {
    size_of::<F>() <= size_of::<Storage>() && align_of::<F>() <= align_of::<Storage>()
}

/// # Safety
/// `storage` holds an `F` that nobody consumes again; `out` points to room for a `T`.
unsafe fn call<F: FnOnce() -> T, T>(storage: *mut Storage, out: *mut ()) {
    // SAFETY: the caller's promise: a valid, aligned `F` whose ownership moves here.
    let f = unsafe { ptr::read(storage.cast::<F>()) };
    let result = f();
    // SAFETY: the caller's promise: `out` is writable room for a `T`.
    unsafe { out.cast::<T>().write(result) };
}

/// # Safety
/// As [`call`].
unsafe fn drop_closure<F>(storage: *mut Storage) {
    // SAFETY: as in `call`.
    unsafe { ptr::drop_in_place(storage.cast::<F>()) }
}

/// A task as an executor's queue holds it: one pointer to its future's allocation (where
/// the closure lives) and one to the functions of its result type.
///
/// An executor makes one with [`Task::new`], queues it, and later consumes it exactly once:
/// [`run`](Self::run) (on a worker), [`cancel`](Self::cancel), [`fail`](Self::fail), or a
/// plain drop (which fails the future as abandoned, like a dropped
/// [`Promise`](crate::executor::Promise)). Meanwhile a worker thread of the same executor that
/// waits on the future without a deadline may run the task itself, if no thread has
/// started it ([`TaskFuture::result`]); the queued `Task` then finds it started and does
/// nothing.
///
/// ```
/// use rustures::executor::{ExecutorId, Task};
///
/// let executor = ExecutorId::new();
/// let (task, future) = Task::new(executor, || 6 * 7);
/// std::thread::spawn(move || task.run()).join().unwrap();
/// assert_eq!(future.result(), Ok(42));
///
/// let (task, future) = Task::new(executor, || 1);
/// assert!(future.cancel());
/// assert!(!task.run().here(), "a cancelled task is skipped");
/// ```
pub struct Task {
    /// `Arc::into_raw` of the future's `Inner<T>`: the reference this task holds.
    inner: NonNull<()>,
    vtable: &'static TaskVTable,
}

// SAFETY: the future's allocation is `Send + Sync` for a `Send` result, and the closure
// in it is `Send` (both required by the constructors); the vtable is plain functions.
unsafe impl Send for Task {}

/// What [`Task::run`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ran {
    /// It ran here and gave a value.
    Completed,
    /// It ran here and failed (a panic).
    Failed,
    /// Its future was cancelled before it started: skipped.
    Cancelled,
    /// A thread waiting on its future ran it (or is running it): nothing to do here.
    Elsewhere,
}

impl Ran {
    /// True when the task ran in this call.
    pub fn here(self) -> bool {
        matches!(self, Ran::Completed | Ran::Failed)
    }
}

/// The functions of a [`Task`], for one result type. Each takes the task's reference to
/// the future's allocation.
struct TaskVTable {
    run: unsafe fn(NonNull<()>, &mut dyn FnMut()) -> Ran,
    is_pending: unsafe fn(NonNull<()>) -> bool,
    cancel: unsafe fn(NonNull<()>) -> bool,
    fail: unsafe fn(NonNull<()>, TaskError),
}

impl Task {
    /// A task running `f` for `executor`, and its future.
    ///
    /// ```
    /// let (task, future) = rustures::executor::Task::new(
    ///     rustures::executor::ExecutorId::new(),
    ///     || "done",
    /// );
    /// assert!(task.run().here());
    /// assert_eq!(future.result(), Ok("done"));
    /// ```
    pub fn new<F, R>(executor: ExecutorId, f: F) -> (Task, TaskFuture<R>)
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        // SAFETY: `'static`: nothing borrowed can die first.
        unsafe { Self::new_unchecked(executor, f) }
    }

    /// Like [`new`](Self::new), for a closure and result that borrow for a lifetime shorter
    /// than the queue keeps the task (a scope's tasks).
    ///
    /// # Safety
    /// Everything `f` borrows must outlive the closure's consumption, wherever it happens
    /// (in [`run`](Self::run), or in a waiting worker that runs it, or a drop); and
    /// everything `R` borrows must outlive this `Task` (its drop may drop the result).
    /// A scope ensures both by waiting for a guard held inside the closure and one held
    /// beside the task.
    pub unsafe fn new_unchecked<F, R>(executor: ExecutorId, f: F) -> (Task, TaskFuture<R>)
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        // SAFETY: the caller's promise is passed on.
        let cell = unsafe { TaskCell::holding(executor, f) };
        let inner = Arc::new(Inner::new(Duration::ZERO, cell));
        let future = TaskFuture::from_inner(inner.clone());
        let raw = Arc::into_raw(inner).cast_mut().cast::<()>();
        let task = Task {
            // SAFETY: `Arc::into_raw` never returns null.
            inner: unsafe { NonNull::new_unchecked(raw) },
            vtable: const {
                &TaskVTable {
                    run: run::<R>,
                    is_pending: is_pending::<R>,
                    cancel: cancel::<R>,
                    fail: fail::<R>,
                }
            },
        };
        (task, future)
    }

    /// Runs the task unless its future was cancelled or a waiting thread already started
    /// it, and says which. A panic becomes the future's [`TaskErrorKind::Panicked`]
    /// error: nothing escapes.
    pub fn run(self) -> Ran {
        self.run_then(|| {})
    }

    /// Like [`run`](Self::run), calling `before_complete` once the task's value is
    /// computed and before its future completes (a pool counts the thread idle there, so a
    /// caller woken by the result finds it idle). Not called when the task did not run.
    pub fn run_then(self, mut before_complete: impl FnMut()) -> Ran {
        let this = ManuallyDrop::new(self);
        // SAFETY: `inner` is this task's reference, handed over once (`this` is never
        // dropped or used again).
        unsafe { (this.vtable.run)(this.inner, &mut before_complete) }
    }

    /// Cancels the task's future if no thread started it (`shutdown(cancel_futures)`);
    /// returns whether it is now cancelled by this call. The closure is dropped unrun.
    pub fn cancel(self) -> bool {
        let this = ManuallyDrop::new(self);
        // SAFETY: as in `run_then`.
        unsafe { (this.vtable.cancel)(this.inner) }
    }

    /// Fails the task's future with `error` if no thread started it (a broken pool); the
    /// closure is dropped unrun.
    pub fn fail(self, error: TaskError) {
        let this = ManuallyDrop::new(self);
        // SAFETY: as in `run_then`.
        unsafe { (this.vtable.fail)(this.inner, error) }
    }

    /// True while no thread has started the task and its future is not cancelled: running
    /// it would run it. (A task a waiting worker ran itself, or whose future was cancelled,
    /// is a queue entry with nothing left to do.)
    pub fn is_pending(&self) -> bool {
        // SAFETY: `inner` is this task's reference, alive as long as the task is.
        unsafe { (self.vtable.is_pending)(self.inner) }
    }

    /// An identity for this task (its future's allocation), to tell tasks apart.
    pub fn id(&self) -> usize {
        self.inner.as_ptr() as usize
    }
}

impl Drop for Task {
    /// A task dropped unconsumed fails its future as abandoned (unless it started).
    fn drop(&mut self) {
        let error = TaskError::new(
            TaskErrorKind::Broken,
            "the task's executor dropped it without running it",
        );
        // SAFETY: as in `run_then`: the task's reference is handed over once, here.
        unsafe { (self.vtable.fail)(self.inner, error) }
    }
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task").field("id", &self.id()).finish()
    }
}

/// Takes back the task's reference.
///
/// # Safety
/// `inner` is a task's reference to an `Inner<R>`, handed over once.
unsafe fn reclaim<R>(inner: NonNull<()>) -> Arc<Inner<R>> {
    // SAFETY: the caller's promise: made by `Arc::into_raw` of an `Arc<Inner<R>>`.
    unsafe { Arc::from_raw(inner.as_ptr().cast_const().cast::<Inner<R>>()) }
}

/// # Safety
/// As [`reclaim`].
unsafe fn run<R>(inner: NonNull<()>, before_complete: &mut dyn FnMut()) -> Ran {
    // SAFETY: passed on from the caller.
    let inner = unsafe { reclaim::<R>(inner) };
    let started = inner.start_seen();
    let closure = if started.is_some() {
        // SAFETY: this thread's `start_seen` moved the stage off `Pending`.
        Ok(unsafe { inner.task.take() })
    } else if inner.status() == Status::Cancelled {
        Err(Ran::Cancelled)
    } else {
        Err(Ran::Elsewhere)
    };
    let ran = match closure {
        Ok(Some(closure)) => {
            let outcome = catch_panic(move || closure.call());
            let ran = if outcome.is_ok() {
                Ran::Completed
            } else {
                Ran::Failed
            };
            before_complete();
            match started {
                // From the word the start stored: one CAS when nothing raced since.
                Some(word) => Inner::complete_from(&inner, outcome, word),
                None => Inner::complete(&inner, outcome),
            };
            ran
        }
        // A task's future always has a closure while pending.
        Ok(None) => Ran::Elsewhere,
        Err(ran) => ran,
    };
    // The last reference may drop the result: user code.
    drop_contained(inner);
    ran
}

/// Reads a task's status without taking its reference.
///
/// # Safety
/// `inner` is a live task's reference to an `Inner<R>` (it stays allocated meanwhile).
unsafe fn is_pending<R>(inner: NonNull<()>) -> bool {
    // SAFETY: the caller's promise: a live `Arc::into_raw` of an `Inner<R>`; a shared
    // reference only reads it.
    let inner = unsafe { &*inner.as_ptr().cast_const().cast::<Inner<R>>() };
    inner.status() == Status::Pending
}

/// # Safety
/// As [`reclaim`].
unsafe fn cancel<R>(inner: NonNull<()>) -> bool {
    // SAFETY: passed on from the caller.
    let inner = unsafe { reclaim::<R>(inner) };
    let cancelled = TaskFuture::cancel_inner(&inner);
    drop_contained(inner);
    cancelled
}

/// # Safety
/// As [`reclaim`].
unsafe fn fail<R>(inner: NonNull<()>, error: TaskError) {
    // SAFETY: passed on from the caller.
    let inner = unsafe { reclaim::<R>(inner) };
    // Still `Pending`: `complete` below finishes it; the closure is ours.
    // SAFETY: this thread's `start` moved the stage off `Pending`.
    let closure = inner.start().then(|| unsafe { inner.task.take() });
    if let Some(closure) = closure {
        drop_contained(closure);
        Inner::complete(&inner, Err(error));
    }
    drop_contained(inner);
}

/// Runs a task's closure on this thread for a waiter that found it not started (the
/// future's status already moved to `Running` by the caller), growing the stack on the
/// heap first when little of it is left: a chain of nested waits that each run their
/// child here would otherwise overflow it. `started` is the word the caller's start stored.
pub(crate) fn run_here<T>(inner: &Arc<Inner<T>>, closure: Closure<T>, started: usize) -> Ran {
    let outcome = grow_stack(move || catch_panic(move || closure.call()));
    let ran = if outcome.is_ok() {
        Ran::Completed
    } else {
        Ran::Failed
    };
    Inner::complete_from(inner, outcome, started);
    ran
}

/// Calls `f`, on a new stack segment allocated on the heap if less than 128 KiB is left of
/// this one (Miri and loom run `f` where it is).
fn grow_stack<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(not(any(miri, loom)))]
    {
        /// Stack left below which a new segment is used.
        const RED_ZONE: usize = 128 * 1024;
        /// The size of each new segment.
        const SEGMENT: usize = 2 * 1024 * 1024;
        stacker::maybe_grow(RED_ZONE, SEGMENT, f)
    }
    #[cfg(any(miri, loom))]
    {
        f()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::FutureError;
    use crate::worker::{WorkerThread, enter_worker};

    /// Counts its drops.
    struct Counted<'a>(&'a AtomicUsize);

    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A task whose closure sums `pad` (which sets its size) and holds a drop counter that
    /// it borrows: made with `new_unchecked`, as a scope's tasks are.
    fn make<const N: usize>(drops: &AtomicUsize, pad: [u64; N]) -> (Task, TaskFuture<u64>) {
        let counted = Counted(drops);
        let f = move || {
            let _keep = &counted;
            pad.iter().sum::<u64>()
        };
        // SAFETY: every test consumes the task (and drops the future) before `drops` dies.
        unsafe { Task::new_unchecked(ExecutorId::new(), f) }
    }

    /// Runs `check` with a maker of small (inline) tasks and one of big (boxed) ones.
    fn both_sizes(check: impl Fn(&dyn Fn(&AtomicUsize) -> (Task, TaskFuture<u64>), u64)) {
        assert!(fits::<[u64; 2]>() && !fits::<[u64; 32]>());
        check(&|drops| make(drops, [1, 2]), 3);
        check(&|drops| make(drops, [1; 32]), 32);
    }

    #[test]
    fn run_computes_and_drops_the_closure_once() {
        both_sizes(|make, sum| {
            let drops = AtomicUsize::new(0);
            let (task, future) = make(&drops);
            assert_eq!(task.run(), Ran::Completed);
            assert_eq!(drops.load(Ordering::SeqCst), 1);
            assert_eq!(future.result(), Ok(sum));
        });
    }

    #[test]
    fn cancel_fail_and_drop_consume_the_closure_once_and_complete_the_future() {
        both_sizes(|make, _| {
            let drops = AtomicUsize::new(0);
            let (task, future) = make(&drops);
            assert!(task.cancel());
            assert_eq!(drops.load(Ordering::SeqCst), 1);
            assert!(future.cancelled());

            let (task, future) = make(&drops);
            task.fail(TaskError::new(TaskErrorKind::Broken, "gone"));
            assert_eq!(drops.load(Ordering::SeqCst), 2);
            match future.result() {
                Err(FutureError::Failed(err)) => assert_eq!(err.message(), "gone"),
                other => panic!("expected the pool's error, got {other:?}"),
            }

            let (task, future) = make(&drops);
            drop(task);
            assert_eq!(drops.load(Ordering::SeqCst), 3);
            let err = future.exception().unwrap().expect("abandoned");
            assert_eq!(err.kind(), TaskErrorKind::Broken);
        });
    }

    #[test]
    fn a_cancelled_future_drops_the_closure_and_its_task_does_nothing() {
        both_sizes(|make, _| {
            let drops = AtomicUsize::new(0);
            let (task, future) = make(&drops);
            assert!(future.cancel());
            assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped by the cancel");
            assert_eq!(task.run(), Ran::Cancelled);
            assert_eq!(drops.load(Ordering::SeqCst), 1);
        });
    }

    struct Worker {
        executor: ExecutorId,
        blocked: Cell<u32>,
    }

    impl WorkerThread for Worker {
        fn executor(&self) -> ExecutorId {
            self.executor
        }
        fn blocking(&self) {
            self.blocked.set(self.blocked.get() + 1);
        }
        fn unblocked(&self) {}
    }

    #[test]
    fn a_worker_of_the_executor_runs_the_task_it_waits_for_and_only_then() {
        let drops = AtomicUsize::new(0);
        let counted = Counted(&drops);
        let executor = ExecutorId::new();
        // SAFETY: consumed below, before `drops` dies.
        let (task, future) = unsafe {
            Task::new_unchecked(executor, move || {
                let _keep = counted;
                std::thread::current().id()
            })
        };
        let other = Rc::new(Worker {
            executor: ExecutorId::new(),
            blocked: Cell::new(0),
        });
        {
            // A worker of another executor does not run it.
            let _other = enter_worker(other.clone());
            assert!(!future.run_here());
        }
        let worker = Rc::new(Worker {
            executor,
            blocked: Cell::new(0),
        });
        let _guard = enter_worker(worker.clone());
        assert_eq!(future.result(), Ok(std::thread::current().id()));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(worker.blocked.get(), 0, "it ran here, it never blocked");
        assert_eq!(task.run(), Ran::Elsewhere, "the queued run finds it done");
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_panicking_closure_fails_its_future_and_drops_its_captures_once() {
        let drops = AtomicUsize::new(0);
        let counted = Counted(&drops);
        // SAFETY: consumed below, before `drops` dies.
        let (task, future) = unsafe {
            Task::new_unchecked(ExecutorId::new(), move || -> u8 {
                let _keep = counted;
                panic!("no luck")
            })
        };
        assert_eq!(task.run(), Ran::Failed);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        let err = future.exception().unwrap().expect("panicked");
        assert_eq!(
            (err.kind(), err.message()),
            (TaskErrorKind::Panicked, "no luck")
        );
    }

    #[test]
    fn an_over_aligned_closure_is_boxed_and_runs() {
        #[repr(align(64))]
        struct Wide(u64);
        let wide = Wide(7);
        let f = move || {
            let wide = wide; // the whole value, not just its field
            wide.0
        };
        assert!(!fits::<Wide>());
        let (task, future) = Task::new(ExecutorId::new(), f);
        assert!(task.run().here());
        assert_eq!(future.result(), Ok(7));
    }
}
