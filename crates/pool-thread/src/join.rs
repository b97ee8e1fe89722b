//! [`ThreadPool::join`]: two closures, the second offered to the pool straight from the
//! caller's stack frame (no allocation, no future), and taken back and run right there
//! when no thread took it meanwhile.
//!
//! The second closure and its result live in a [`StackJob`] in `join`'s frame; a queue
//! holds a [`StackJobRef`] to it. Whoever takes the reference off the queue either runs
//! the closure (another thread) or gives it up unrun (the caller taking it back, a
//! cancelling shutdown, a broken pool, any drop); either way it ends by setting the job's
//! [`JobLatch`], and never touches the frame after. `join` neither returns nor unwinds
//! before it saw the latch set: its first closure runs inside `catch_unwind`, and the rest
//! of that stretch is this crate's code under an [`AbortIfPanic`].

use std::any::Any;
use std::cell::UnsafeCell;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::ptr::NonNull;
use std::task::Waker;
use std::time::Duration;

use future_core::executor::{AbortIfPanic, Ran, block_on, catch_panic};

use crate::job::Job;
use crate::pool::ThreadPool;
use crate::registry::Registry;
use crate::sync::{AtomicUsize, Ordering};
use crate::worker;

type Payload = Box<dyn Any + Send>;

impl ThreadPool {
    /// Runs `a` and `b`, possibly at the same time, and returns both results: `a` runs on
    /// the calling thread, `b` is offered to the pool, and the call returns once both are
    /// done (rayon's `join`). Both closures may borrow from the caller's stack.
    ///
    /// `b` waits in the queue from the caller's own stack frame: no allocation, no future.
    /// Called from one of the pool's own tasks, it goes on top of this worker's queue, and
    /// once `a` is done, `b` runs right here if no thread took it meanwhile (the common
    /// case), whatever `a` left above it in the queue (tasks it spawned stay queued, in
    /// their order), so nested joins cannot deadlock, even on one thread. If another
    /// thread took `b`, the caller waits for it (spinning a little, then blocking, and the
    /// pool may start a thread in its place: see the crate docs, "Waiting inside a
    /// task"). When the pool does not run `b` (it is shut down or broken, or a
    /// `shutdown_with` that cancels futures dropped it from the queue), `b` runs on the
    /// calling thread after `a`: both closures always run. The pool's
    /// [`stats`](Self::stats) count `b` as a task when another thread ran it.
    ///
    /// # Panics
    ///
    /// If `a` panics, the panic goes on once `b` is done. Otherwise, if `b` panics, `join`
    /// goes on with `b`'s panic (its own payload, on the calling thread).
    ///
    /// ```
    /// fn fib(pool: &rustures::ThreadPool, n: u64) -> u64 {
    ///     if n < 10 {
    ///         return (1..=n).fold((0, 1), |(a, b), _| (b, a + b)).0;
    ///     }
    ///     let (a, b) = pool.join(|| fib(pool, n - 1), || fib(pool, n - 2));
    ///     a + b
    /// }
    ///
    /// let pool = rustures::ThreadPool::builder().max_workers(1).build().unwrap();
    /// let words = ["a", "bb"];
    /// let (x, y) = pool.join(|| words[0].len(), || words[1].len());
    /// assert_eq!((x, y), (1, 2));
    /// assert_eq!(pool.spawn(|| 0).unwrap().result(), Ok(0));
    /// let pool = std::sync::Arc::new(pool);
    /// let p = pool.clone();
    /// assert_eq!(pool.spawn(move || fib(&p, 30)).unwrap().take(), Ok(832_040));
    /// ```
    pub fn join<A, B, RA, RB>(&self, a: A, b: B) -> (RA, RB)
    where
        A: FnOnce() -> RA + Send,
        B: FnOnce() -> RB + Send,
        RA: Send,
        RB: Send,
    {
        let job = StackJob::new(b);
        // From the push on, this frame must not go before the latch is set.
        let abort = AbortIfPanic::new("ThreadPool::join's wait for its second closure");
        // SAFETY: `job` stays in this frame, which neither returns nor unwinds before the
        // latch is set: `a` runs inside `catch_unwind`, and any other panic until the
        // wait below is over aborts (`abort`).
        let job_ref = unsafe { job.as_job_ref() };
        let id = job_ref.id();
        // A refused push drops the reference unrun, which sets the latch: `b` runs here.
        let _ = Registry::push_join(&self.registry, Job::Stack(job_ref));
        let ra = catch_unwind(AssertUnwindSafe(a));
        // Still in this worker's deque (under whatever `a` left there): taken back unrun
        // (the drop sets the latch).
        drop(worker::take_back(&self.registry, |job| job.is_stack(id)));
        job.latch.wait();
        abort.disarm();
        let rb = job.into_result();
        match (ra, rb) {
            (Ok(ra), Ok(rb)) => (ra, rb),
            (Err(pa), rb) => {
                // `b`'s value or panic goes without a second panic out of its drop.
                let _ = catch_panic(move || drop(rb));
                resume_unwind(pa)
            }
            (Ok(ra), Err(pb)) => {
                let _ = catch_panic(move || drop(ra));
                resume_unwind(pb)
            }
        }
    }
}

/// The second closure of a join and its result, in `join`'s frame. `f` and `result` belong
/// to whoever holds the job's reference (taken off a queue) until the latch is set, then
/// to `join` again.
struct StackJob<B, RB> {
    f: UnsafeCell<Option<B>>,
    result: UnsafeCell<Option<Result<RB, Payload>>>,
    latch: JobLatch,
}

impl<B, RB> StackJob<B, RB>
where
    B: FnOnce() -> RB + Send,
    RB: Send,
{
    fn new(f: B) -> Self {
        StackJob {
            f: UnsafeCell::new(Some(f)),
            result: UnsafeCell::new(None),
            latch: JobLatch::new(),
        }
    }

    /// The one reference to queue.
    ///
    /// # Safety
    ///
    /// The job must stay where it is, alive, until its latch is set; at most one
    /// reference is made.
    unsafe fn as_job_ref(&self) -> StackJobRef {
        StackJobRef {
            job: NonNull::from(self).cast(),
            run: run_stack_job::<B, RB>,
            give_up: give_up_stack_job::<B, RB>,
        }
    }

    /// `b`'s outcome once the latch is set: run here if no thread ran it.
    fn into_result(self) -> Result<RB, Payload> {
        match self.f.into_inner() {
            Some(f) => catch_unwind(AssertUnwindSafe(f)),
            None => match self.result.into_inner() {
                Some(result) => result,
                None => unreachable!("a stack job's closure was taken without a result"),
            },
        }
    }
}

/// Runs the job's closure and stores its outcome; calls `finish` between the two, then sets
/// the latch.
///
/// # Safety
///
/// `job` is a `StackJob<B, RB>` whose reference the caller held (and gives up): alive and
/// not touched by anyone else until its latch is set.
unsafe fn run_stack_job<B, RB>(job: NonNull<()>, finish: &dyn Fn()) -> Ran
where
    B: FnOnce() -> RB,
{
    let job = job.cast::<StackJob<B, RB>>().as_ptr();
    // SAFETY: the caller's promise: this thread alone touches `f` and `result` until the
    // latch is set, and the job is alive until then.
    let f = unsafe { (*(*job).f.get()).take() };
    let ran = match f {
        Some(f) => {
            let result = catch_unwind(AssertUnwindSafe(f));
            let ran = if result.is_ok() {
                Ran::Completed
            } else {
                Ran::Failed
            };
            // SAFETY: as above.
            unsafe { *(*job).result.get() = Some(result) };
            ran
        }
        None => Ran::Elsewhere,
    };
    // The pool's bookkeeping; it does not panic, and if it did, the latch would stay unset
    // and `join`'s frame alive (a hang, never a dangling access). `f`'s panic is in `result`.
    finish();
    // SAFETY: alive until set, set once (this reference is consumed); nothing of the job
    // is touched after.
    unsafe { JobLatch::set(&raw const (*job).latch) };
    ran
}

/// Sets the latch of a job that will not run here: `join` runs its closure itself.
///
/// # Safety
///
/// As [`run_stack_job`].
unsafe fn give_up_stack_job<B, RB>(job: NonNull<()>) {
    let job = job.cast::<StackJob<B, RB>>().as_ptr();
    // SAFETY: the caller's promise; nothing of the job is touched after.
    unsafe { JobLatch::set(&raw const (*job).latch) };
}

/// What a queue holds for a join's second closure: a pointer into the joining thread's
/// frame. Consumed by [`run`](Self::run); dropped, it gives the job up (its latch is set
/// and `join` runs the closure itself).
pub(crate) struct StackJobRef {
    job: NonNull<()>,
    run: unsafe fn(NonNull<()>, &dyn Fn()) -> Ran,
    give_up: unsafe fn(NonNull<()>),
}

// SAFETY: the job's closure and result are `Send` (`join`'s bounds), and the reference is
// the only way to them until the latch is set.
unsafe impl Send for StackJobRef {}

impl StackJobRef {
    /// Which job this is (its address).
    pub(crate) fn id(&self) -> NonNull<()> {
        self.job
    }

    /// Runs the closure (catching a panic, for `join` to resume) and sets the latch;
    /// `finish` is called once the closure is done, before the latch is set.
    pub(crate) fn run(self, finish: &dyn Fn()) -> Ran {
        let this = ManuallyDrop::new(self);
        // SAFETY: `as_job_ref` made this, the only reference, for a job that stays alive
        // until its latch is set; it is consumed here (never dropped after).
        unsafe { (this.run)(this.job, finish) }
    }
}

impl Drop for StackJobRef {
    fn drop(&mut self) {
        // SAFETY: as in `run`; a consumed reference is never dropped.
        unsafe { (self.give_up)(self.job) }
    }
}

/// Not set yet; the owner does not wait.
const PENDING: usize = 0;
/// The owner published its waker in `owner` and waits until the latch is set.
const WAITING: usize = 1;
/// Set: the job ran or was given up, and nobody touches it any more but `join`.
const SET: usize = 2;

/// Tells `join` that its second closure ran (or was given up). Set once, by whoever held
/// the job's reference; waited on by `join`'s thread only.
///
/// Set, then wake with nothing of the frame: the setter reads the owner's waker (published
/// before `WAITING`) while the state is `WAITING`, which the owner does not leave on its
/// own, then stores `SET`, and wakes the clone it took.
struct JobLatch {
    state: AtomicUsize,
    /// The owner's waker: written by the owner before it moves the state to `WAITING`;
    /// read by the setter only after it saw `WAITING`, before it sets.
    owner: UnsafeCell<Option<Waker>>,
}

impl JobLatch {
    fn new() -> Self {
        JobLatch {
            state: AtomicUsize::new(PENDING),
            owner: UnsafeCell::new(None),
        }
    }

    /// True once set (its `Acquire` pairs with the setter's release: the job's result is
    /// visible after).
    fn probe(&self) -> bool {
        self.state.load(Ordering::Acquire) == SET
    }

    /// Returns once set. Only the owner calls it, once. It waits as any wait of a worker
    /// on a future does (`future_core`'s waiting loop): it keeps looking for a while
    /// (the other half of a join is often about done), then blocks, telling the worker's
    /// pool, which may start a thread in its place.
    fn wait(&self) {
        if self.probe() {
            return;
        }
        let mut published = false;
        block_on(
            &mut |waker| {
                if !published {
                    published = true;
                    // SAFETY: the setter reads `owner` only after it saw `WAITING`, which
                    // is not published yet; nobody else touches it.
                    unsafe { *self.owner.get() = Some(waker.clone()) };
                    if self
                        .state
                        .compare_exchange(PENDING, WAITING, Ordering::AcqRel, Ordering::Acquire)
                        .is_err()
                    {
                        return true; // set meanwhile
                    }
                }
                self.probe()
            },
            None,
            Duration::ZERO,
        );
    }

    /// Sets the latch, waking the owner if it parks.
    ///
    /// # Safety
    ///
    /// `this` points to a live latch that is not set, and no one else sets it. The latch
    /// (and the frame it lives in) may be gone as soon as the state is `SET`: nothing of
    /// it is touched after.
    unsafe fn set(this: *const JobLatch) {
        // SAFETY: alive until the state is `SET` (the caller's promise).
        let state = unsafe { &(*this).state };
        let mut current = state.load(Ordering::Acquire);
        loop {
            if current == WAITING {
                // SAFETY: the owner wrote `owner` before publishing `WAITING` (acquired
                // above) and leaves it alone until `SET`.
                let owner = unsafe { (*(*this).owner.get()).clone() };
                state.store(SET, Ordering::Release);
                if let Some(owner) = owner {
                    // `future_core`'s own waker (it unparks the owner): it does not panic.
                    owner.wake();
                }
                return;
            }
            match state.compare_exchange(PENDING, SET, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(now) => current = now,
            }
        }
    }
}
