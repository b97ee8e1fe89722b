//! The front end of a pool: `submit`, `try_submit`, `submit_with_timeout`, `map` and
//! `map_unordered` name the function, encode the task's frame and make its future outside
//! the pool's lock, then hand the task to the pool's [`Dispatcher`]. A task that cannot be
//! sent (its function cannot be named in a worker, its arguments do not encode) fails its
//! own future at once, unless the pool refuses every task anyway (shut down, broken), which
//! takes precedence.

use std::fmt;
use std::ops::DerefMut;
use std::sync::MutexGuard;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use future_core::executor::{ChunkFuture, Elements, Promise, drop_each};
use future_core::{
    Map, MapOptions, MapUnordered, PoolStats, Portable, ShutdownOptions, SubmitError, TaskError,
    TaskErrorKind, TaskFuture,
};
use serde::Serialize;
use task_wire::messages::{TaskHead, ToWorker};
use task_wire::{Chunk, Completion, Counters, Settled, Single, TaskName};

use crate::{Finish, Table, Worker};

/// What the front end needs of a pool: where a task goes once made, and the pool's state
/// behind its lock.
pub trait Dispatcher: Sync {
    /// The crate that reports a contained panic (`task_wire::contain`), e.g. `"pool-mpi"`.
    const CRATE: &'static str;
    /// The worker, in the error of a task whose function cannot be named in one (`"a worker
    /// process"`).
    const WORKER: &'static str;
    /// Which workers may run a task: any (the default) or, for a pool that has them, one.
    type Target: Copy + Default + Send;
    /// The pool's record of a worker.
    type Worker: Worker<Target = Self::Target>;
    /// The pool's state: the engine's [`Table`], read through `Deref`, and what the pool
    /// keeps beside it.
    type State: DerefMut<Target = Table<Self::Worker>>;

    /// Locks the pool's state. No user code runs under this lock.
    fn lock(&self) -> MutexGuard<'_, Self::State>;

    /// The most workers the pool runs at once.
    fn max_workers(&self) -> usize;

    /// Why a task's frame cannot be sent (larger than the pool's frame limit, say).
    fn check_frame(&self, frame: &[u8]) -> Result<(), TaskError> {
        let _ = frame;
        Ok(())
    }

    /// Why the pool refuses new tasks, if it does.
    fn refusal(&self) -> Option<SubmitError> {
        self.lock().refusal()
    }

    /// Queues `task` for a worker. With `block`, waits for room in a bounded queue;
    /// without, a full queue is [`SubmitError::Full`].
    fn enqueue(&self, task: NewTask<Self::Target>, block: bool) -> Result<(), SubmitError>;

    /// The pool's statistics, where a task that failed before it was queued is counted.
    fn counters(&self) -> &Counters;

    /// How long a waiter on a future spins before it sleeps (the builder's `spin`).
    fn spin(&self) -> Duration;

    /// The pool's time limit per task.
    fn timeout(&self) -> Option<Duration>;

    /// How many `map` chunks are in flight when the options do not say.
    fn default_buffersize(&self) -> usize;

    /// Settles `finish`'s futures, after the unlock (their done callbacks run here), and
    /// counts them.
    fn settle(&self, finish: Vec<Finish>);

    /// `shutdown_with`'s part under the lock, after the table's (see [`Table::shut_down`]):
    /// what the pool's own threads must see of it; `wait` says whether the caller waits.
    fn shutting_down(&self, state: &mut Self::State, wait: bool);

    /// `shutdown_with`'s part after the unlock: wakes what must see the shutdown and, with
    /// `wait`, waits until the pool finished its tasks.
    fn after_shutdown(&self, wait: bool);
}

/// A task made by the front end, for [`Dispatcher::enqueue`].
pub struct NewTask<T> {
    /// Unique in the pool.
    pub id: u64,
    /// Its head and arguments, encoded.
    pub frame: Vec<u8>,
    /// Its future's promise.
    pub completion: Box<dyn Completion>,
    /// Its time limit.
    pub timeout: Option<Duration>,
    /// Which workers may run it.
    pub target: T,
}

impl<T: std::fmt::Debug> std::fmt::Debug for NewTask<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewTask")
            .field("id", &self.id)
            .field("frame", &self.frame.len())
            .field("timeout", &self.timeout)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// A pool's front end over its dispatcher `D`.
#[derive(Debug)]
pub struct Front<D> {
    dispatcher: D,
    /// The id of the next task (taken outside the lock, where its frame is encoded).
    next_id: AtomicU64,
}

impl<D: Dispatcher> Front<D> {
    /// The front end of the pool that `dispatcher` queues for.
    pub fn new(dispatcher: D) -> Self {
        Front {
            dispatcher,
            next_id: AtomicU64::new(0),
        }
    }

    /// The pool's dispatcher.
    pub fn dispatcher(&self) -> &D {
        &self.dispatcher
    }

    /// Schedules `f(arg)` with the pool's time limit on any worker; `block`: wait for room
    /// in a bounded queue (`submit`), or say [`SubmitError::Full`] (`try_submit`).
    pub fn submit<A: Portable, R: Portable>(
        &self,
        f: fn(A) -> R,
        arg: A,
        block: bool,
    ) -> Result<TaskFuture<R>, SubmitError> {
        let timeout = self.dispatcher.timeout();
        self.submit_task(f, arg, timeout, block, D::Target::default())
    }

    /// Schedules `f(arg)` with time limit `timeout` on a worker of `target`; `block` as for
    /// [`submit`](Self::submit).
    pub fn submit_task<A: Portable, R: Portable>(
        &self,
        f: fn(A) -> R,
        arg: A,
        timeout: Option<Duration>,
        block: bool,
        target: D::Target,
    ) -> Result<TaskFuture<R>, SubmitError> {
        let name = match task_wire::name_task(f) {
            Ok(name) => name,
            Err(why) => return self.refused(self.unsendable(why)),
        };
        let frame = self.frame(name, &Elements(std::slice::from_ref(&arg)), timeout);
        // Dropped before the task is queued: a large argument is not held beside its frame
        // for longer than the encoding. A panic of its `Drop` is the caller's value's.
        task_wire::contain(D::CRATE, "dropping a task's argument", move || drop(arg));
        self.enqueue(frame, timeout, block, target, |promise| {
            Box::new(Single(promise))
        })
    }

    /// [`submit`](Self::submit) with the task's own time limit, of which zero is
    /// [`SubmitError::Invalid`].
    pub fn submit_with_timeout<A: Portable, R: Portable>(
        &self,
        f: fn(A) -> R,
        arg: A,
        timeout: Option<Duration>,
    ) -> Result<TaskFuture<R>, SubmitError> {
        if timeout.is_some_and(|t| t.is_zero()) {
            return Err(SubmitError::Invalid(
                "a task's timeout must be longer than zero".to_owned(),
            ));
        }
        self.submit_task(f, arg, timeout, true, D::Target::default())
    }

    /// Stops taking tasks; with `cancel_futures`, cancels those that have not started (see
    /// [`Table::shut_down`]); with `wait`, waits until the pool finished the others.
    pub fn shutdown_with(&self, options: ShutdownOptions) {
        let mut finish = Vec::new();
        {
            let mut state = self.dispatcher.lock();
            state.shut_down(options.cancel_futures, &mut finish);
            self.dispatcher.shutting_down(&mut state, options.wait);
        }
        self.dispatcher.settle(finish);
        self.dispatcher.after_shutdown(options.wait);
    }

    /// The pool's statistics: its counters, and what its table holds now (one lock).
    pub fn stats(&self) -> PoolStats {
        self.dispatcher.lock().stats(self.dispatcher.counters())
    }

    /// Writes the pool's `Debug` form, as `name`: its size, statistics, and whether it was
    /// shut down or broke. Read first: the formatter's writer is the caller's code, never
    /// run under the pool's lock.
    pub fn fmt_pool(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stats = self.stats();
        let (shutdown, broken) = {
            let state = self.dispatcher.lock();
            (state.shutdown, state.broken.clone())
        };
        f.debug_struct(name)
            .field("max_workers", &self.dispatcher.max_workers())
            .field("stats", &stats)
            .field("shutdown", &shutdown)
            .field("broken", &broken)
            .finish_non_exhaustive()
    }

    /// Maps `f` over `items` in chunks, results in input order (see [`Map`]).
    pub fn map<'a, A, R, I>(
        &'a self,
        f: fn(A) -> R,
        items: I,
        options: MapOptions,
    ) -> Result<Map<'a, R>, SubmitError>
    where
        A: Portable,
        R: Portable,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'a,
    {
        let buffersize = self.dispatcher.default_buffersize();
        Map::new(items, options, buffersize, self.chunk_runner(f))
    }

    /// Maps `f` over `items` in chunks, results as they come (see [`MapUnordered`]).
    pub fn map_unordered<'a, A, R, I>(
        &'a self,
        f: fn(A) -> R,
        items: I,
        options: MapOptions,
    ) -> Result<MapUnordered<'a, R>, SubmitError>
    where
        A: Portable,
        R: Portable,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'a,
    {
        let buffersize = self.dispatcher.default_buffersize();
        MapUnordered::new(items, options, buffersize, self.chunk_runner(f))
    }

    /// What a map submits each chunk with: one frame running `f` over the chunk.
    fn chunk_runner<A: Portable, R: Portable>(
        &self,
        f: fn(A) -> R,
    ) -> impl FnMut(Vec<A>) -> Result<ChunkFuture<R>, SubmitError> + Send + '_ {
        let name = task_wire::name_task(f);
        move |chunk: Vec<A>| {
            // The chunk's arguments are dropped one by one, each in a panic boundary of its
            // own (`drop_each`): dropped as one `Vec` inside one boundary, two whose `Drop`
            // panics would abort the process.
            let name = match &name {
                Ok(name) => *name,
                Err(why) => {
                    drop_each(chunk);
                    return self.refused(self.unsendable(why.clone()));
                }
            };
            let timeout = self.dispatcher.timeout();
            let frame = self.frame(name, &Elements(&chunk), timeout);
            let len = chunk.len();
            drop_each(chunk);
            let target = D::Target::default();
            self.enqueue(frame, timeout, true, target, |promise| {
                Box::new(Chunk { promise, len })
            })
        }
    }

    /// Makes the task of `frame` (see [`frame`](Self::frame)) and its future, its promise
    /// in the `completion` made of it, and queues it; a task that cannot be sent is
    /// [`refused`](Self::refused).
    fn enqueue<R: Portable>(
        &self,
        frame: Result<(u64, Vec<u8>), TaskError>,
        timeout: Option<Duration>,
        block: bool,
        target: D::Target,
        completion: impl FnOnce(Promise<R>) -> Box<dyn Completion>,
    ) -> Result<TaskFuture<R>, SubmitError> {
        let (id, frame) = match frame {
            Ok(frame) => frame,
            Err(err) => return self.refused(err),
        };
        let (promise, future) = Promise::new_spinning(self.dispatcher.spin());
        let task = NewTask {
            id,
            frame,
            completion: completion(promise),
            timeout,
            target,
        };
        self.dispatcher.enqueue(task, block)?;
        Ok(future)
    }

    /// A new task's id and frame, `args` encoded straight into it, or why it cannot be sent.
    fn frame<S: Serialize + ?Sized>(
        &self,
        task: TaskName,
        args: &S,
        timeout: Option<Duration>,
    ) -> Result<(u64, Vec<u8>), TaskError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let timed = timeout.is_some();
        let head = ToWorker::Task(TaskHead { id, task, timed });
        let frame = task_wire::encode_task(&head, args)?;
        self.dispatcher.check_frame(&frame)?;
        Ok((id, frame))
    }

    /// A task that cannot be sent: its future fails at once with `err`, unless the pool
    /// refuses every task anyway (shut down or broken), which takes precedence.
    fn refused<T>(&self, err: TaskError) -> Result<TaskFuture<T>, SubmitError> {
        if let Some(refused) = self.dispatcher.refusal() {
            return Err(refused);
        }
        let (promise, future) = Promise::new();
        self.dispatcher.counters().settled(Settled::Failed);
        promise.set_error(err);
        Ok(future)
    }

    /// The error of a task whose function cannot be named in a worker (see
    /// `task_wire::name_task`).
    fn unsendable(&self, why: String) -> TaskError {
        TaskError::new(
            TaskErrorKind::Serialization,
            format!("the task cannot be sent to {}: {why}", D::WORKER),
        )
    }
}

/// Why a pool refuses new tasks: it `broken` (for this reason), or was `shutdown`.
pub fn refusal(broken: Option<&String>, shutdown: bool) -> Option<SubmitError> {
    if let Some(reason) = broken {
        return Some(SubmitError::Broken(reason.clone()));
    }
    shutdown.then_some(SubmitError::Shutdown)
}
