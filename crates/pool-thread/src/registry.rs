//! The state a pool's handle and its worker threads share: the queues, the sleep/wake
//! state, the threads, the queue bound, and the submit / spawn / shutdown / break paths.

use std::time::{Duration, Instant};

use future_core::executor::ExecutorId;
use future_core::{SubmitError, TaskError, TaskErrorKind};

pub(crate) use crate::bound::WhenFull;
use crate::bound::{Bound, Refused};
use crate::job::Job;
use crate::queue::{Injector, Steal, Stealer, Worker};
use crate::sleep::Sleep;
use crate::stats::Stats;
use crate::sync::{
    Arc, AtomicBool, Condvar, JoinHandle, Mutex, MutexGuard, Ordering, RwLock, ThreadBuilder,
    current_thread, lock, read, wait, wait_timeout, write,
};
use crate::worker;

/// A pool's settings, fixed at build time.
pub(crate) struct Config {
    pub(crate) max_workers: usize,
    /// Threads beyond `max_workers` started in place of workers blocked in a wait.
    pub(crate) max_extra_threads: usize,
    /// How long a drop lets running tasks run on (`None`: no limit, but zero while the
    /// thread panics).
    pub(crate) drop_grace: Option<Duration>,
    /// Whether the panic hook prints task panics on the workers.
    pub(crate) print_task_panics: bool,
    pub(crate) thread_name_prefix: String,
    pub(crate) initializer: Option<std::sync::Arc<dyn Fn() + Send + Sync>>,
    pub(crate) keep_alive: Option<Duration>,
    pub(crate) stack_size: Option<usize>,
}

/// The worker threads' join handles and which name/steal slots are in use.
#[derive(Default)]
struct Threads {
    handles: Vec<JoinHandle<()>>,
    /// Threads past the end of their body whose handles are still in `handles`: joined
    /// (reaped) by the next thread start.
    finished: Vec<crate::sync::ThreadId>,
    slots: Vec<bool>,
    /// Worker threads started and not yet at the end of their body.
    live: usize,
    /// Worker threads of this pool waiting in `shutdown(wait = true)` themselves: they
    /// exit once their task returns, so no other worker waits for them.
    waiting_workers: usize,
    /// Handles taken by a `shutdown(wait = true)` and not yet joined.
    joining: usize,
}

/// What a pool's handle and its workers share.
pub(crate) struct Registry {
    /// The pool's identity for its tasks: a worker waiting on one runs it if no thread did.
    pub(crate) id: ExecutorId,
    /// Jobs submitted from outside the pool's threads.
    pub(crate) injector: Injector<Job>,
    /// The steal ends of the workers' local deques, by slot.
    pub(crate) stealers: RwLock<Vec<Option<Stealer<Job>>>>,
    pub(crate) sleep: Sleep,
    pub(crate) config: Config,
    threads: Mutex<Threads>,
    /// Notified when `Threads::live`, `waiting_workers` or `joining` drops.
    exited: Condvar,
    bound: Option<Bound>,
    broken: AtomicBool,
    broken_cause: Mutex<Option<String>>,
    /// Set by a user's `shutdown(wait = false)`: dropping the pool then does not join.
    let_go: AtomicBool,
    pub(crate) stats: Stats,
    /// Threads waiting as spares, with the slot each keeps.
    spares: Mutex<Vec<(usize, Arc<Spare>)>>,
}

/// What a spare thread is told.
enum SpareCall {
    /// Be a worker again, with this deque.
    Work(Worker<Job>),
    /// End.
    Exit,
}

/// Where a spare thread waits for its call.
#[derive(Default)]
struct Spare {
    call: Mutex<Option<SpareCall>>,
    called: Condvar,
}

impl Registry {
    pub(crate) fn new(config: Config, queue_bound: Option<usize>) -> Registry {
        Registry {
            id: ExecutorId::new(),
            injector: Injector::new(),
            stealers: RwLock::new(Vec::new()),
            sleep: Sleep::new(
                config.max_workers,
                config.max_workers + config.max_extra_threads,
            ),
            config,
            threads: Mutex::new(Threads::default()),
            exited: Condvar::new(),
            bound: queue_bound.map(Bound::new),
            broken: AtomicBool::new(false),
            broken_cause: Mutex::new(None),
            let_go: AtomicBool::new(false),
            stats: Stats::default(),
            spares: Mutex::new(Vec::new()),
        }
    }

    /// Queues `job`: on the calling worker's own deque when called from one of this pool's
    /// threads, else on the injector (waiting for room in a bounded queue, or failing
    /// with [`SubmitError::Full`]). Starts a thread or wakes a sleeper as needed. On error
    /// the job is dropped unrun before this returns.
    pub(crate) fn push(this: &Arc<Self>, job: Job, when_full: WhenFull) -> Result<(), SubmitError> {
        let inside = worker::is_inside(this);
        if inside {
            // A task's own submits never wait for room: if every worker waited on a full
            // queue that only workers drain, nesting would deadlock.
            this.count_queued();
        } else {
            this.reserve_place(when_full)?;
        }
        let Ok((submitting, spawn)) = this.sleep.begin_submit() else {
            this.job_taken();
            return Err(this.closed_error());
        };
        // Until `submitting` is dropped: no blocking, so shutdown's wait is short. The
        // thread is started before the push (it finds the job, or sleeps and is woken
        // when the submit ends), so that every start happens while shutdown still waits
        // for us.
        let spawn_failed = if spawn {
            Self::spawn_worker(this).err()
        } else {
            None
        };
        let job = if inside {
            worker::push_local(this, job).err()
        } else {
            Some(job)
        };
        if let Some(job) = job {
            this.injector.push(job);
        }
        drop(submitting);
        if let Some(cause) = spawn_failed {
            this.break_pool(cause);
        }
        Ok(())
    }

    /// Queues a join's second closure: from one of this pool's workers, on its own deque
    /// with one RMW of the sleep state when no thread needs starting for it (its owner
    /// takes it back if no other thread takes it: see `Sleep::may_push_local`); else as
    /// any submit.
    pub(crate) fn push_join(this: &Arc<Self>, job: Job) -> Result<(), SubmitError> {
        match worker::push_own(this, job) {
            Ok(()) => Ok(()),
            Err(job) => Self::push(this, job, WhenFull::Wait),
        }
    }

    /// A worker thread died of a panic in this crate's code (its jobs were moved to the
    /// injector): wakes the sleepers to find them, and starts a thread if none is left.
    pub(crate) fn replace_lost_worker(this: &Arc<Self>) {
        this.sleep.wake_all();
        if this.has_work() && this.sleep.reserve_replacement() && Self::spawn_worker(this).is_ok() {
            this.stats.workers_replaced.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Starts the thread `Sleep::block` reserved in place of a blocked worker.
    pub(crate) fn start_reserved_thread(this: &Arc<Self>) {
        // It cannot leave the pool without threads: the blocked worker is one.
        if Self::spawn_worker(this).is_ok() {
            this.stats.workers_replaced.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The pool's statistics now.
    pub(crate) fn stats(&self) -> future_core::PoolStats {
        self.stats.read(self.queued(), self.sleep.threads())
    }

    /// The error for a submit after shutdown: broken or plain shut down.
    pub(crate) fn closed_error(&self) -> SubmitError {
        if self.broken.load(Ordering::Acquire) {
            SubmitError::Broken(self.broken_cause())
        } else {
            SubmitError::Shutdown
        }
    }

    fn broken_cause(&self) -> String {
        lock(&self.broken_cause)
            .clone()
            .unwrap_or_else(|| "the pool broke".to_owned())
    }

    /// The error queued tasks fail with once the pool is broken.
    pub(crate) fn broken_error(&self) -> Option<TaskError> {
        self.broken
            .load(Ordering::Acquire)
            .then(|| TaskError::new(TaskErrorKind::Broken, self.broken_cause()))
    }

    pub(crate) fn count_queued(&self) {
        if let Some(bound) = &self.bound {
            bound.count();
        }
    }

    /// Takes a place in a bounded queue, waiting for one (`WhenFull::Wait`) or not.
    fn reserve_place(&self, when_full: WhenFull) -> Result<(), SubmitError> {
        let Some(bound) = &self.bound else {
            return Ok(());
        };
        bound
            .reserve(when_full, || self.sleep.is_shut_down())
            .map_err(|refused| match refused {
                Refused::Full => SubmitError::Full,
                Refused::Closed => self.closed_error(),
            })
    }

    /// A job left the queue (taken by a worker, drained, or refused): frees its place.
    pub(crate) fn job_taken(&self) {
        if let Some(bound) = &self.bound {
            bound.take();
        }
    }

    /// Wakes every submitter waiting for room (they re-check, and see the shutdown).
    fn wake_room_waiters(&self) {
        if let Some(bound) = &self.bound {
            bound.wake_all();
        }
    }

    /// Jobs waiting in the queues now.
    pub(crate) fn queued(&self) -> usize {
        match &self.bound {
            Some(bound) => bound.queued(),
            None => {
                self.injector.len()
                    + read(&self.stealers)
                        .iter()
                        .flatten()
                        .map(Stealer::len)
                        .sum::<usize>()
            }
        }
    }

    /// True when any queue holds a job.
    pub(crate) fn has_work(&self) -> bool {
        !self.injector.is_empty() || read(&self.stealers).iter().flatten().any(|s| !s.is_empty())
    }

    /// Starts a worker thread for a reserved place (see `Sleep::begin_submit` and
    /// `Sleep::block`). On error, undoes the reservation and returns the cause if no
    /// thread is left to run jobs.
    fn spawn_worker(this: &Arc<Self>) -> Result<(), String> {
        if this.revive_spare() {
            this.stats.workers_started.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let mut threads = lock(&this.threads);
        // Reap threads that retired (they are past their body: the joins are short).
        let finished = std::mem::take(&mut threads.finished);
        let (finished, running): (Vec<_>, Vec<_>) = std::mem::take(&mut threads.handles)
            .into_iter()
            .partition(|h| finished.contains(&h.thread().id()));
        threads.handles = running;
        for handle in finished {
            let _ = handle.join();
        }
        let slot = match threads.slots.iter().position(|used| !used) {
            Some(slot) => slot,
            None => {
                threads.slots.push(false);
                threads.slots.len() - 1
            }
        };
        threads.slots[slot] = true;
        let local = Worker::new_lifo();
        {
            let mut stealers = write(&this.stealers);
            if stealers.len() <= slot {
                stealers.resize_with(slot + 1, || None);
            }
            stealers[slot] = Some(local.stealer());
        }
        let mut builder =
            ThreadBuilder::new().name(format!("{}_{}", this.config.thread_name_prefix, slot));
        if let Some(size) = this.config.stack_size {
            builder = builder.stack_size(size);
        }
        let registry = this.clone();
        match builder.spawn(move || worker::thread_main(registry, slot, local)) {
            Ok(handle) => {
                // Under the lock the new thread needs to count itself out.
                threads.handles.push(handle);
                threads.live += 1;
                this.stats.workers_started.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(err) => {
                threads.slots[slot] = false;
                write(&this.stealers)[slot] = None;
                drop(threads);
                if this.sleep.release_thread() == 0 {
                    Err(format!("could not start a worker thread: {err}"))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// A worker is leaving: its deque goes (it is empty: a worker only leaves after
    /// finding every queue empty, and only it pushes to its deque), and its slot too unless
    /// the thread stays as a spare, which keeps it (and its name) for its next life.
    pub(crate) fn worker_left(&self, slot: usize, keep_slot: bool) {
        if let Some(stealer) = write(&self.stealers).get_mut(slot) {
            *stealer = None;
        }
        if !keep_slot {
            self.free_slot(slot);
        }
    }

    fn free_slot(&self, slot: usize) {
        if let Some(used) = lock(&self.threads).slots.get_mut(slot) {
            *used = false;
        }
    }

    /// A thread whose worker retired as a surplus waits here, for as long as the
    /// keep-alive, to be a worker again (in its slot, with a new deque) when one is needed:
    /// a worker that blocks then costs no thread start. `None`: the thread ends.
    pub(crate) fn wait_as_spare(&self, slot: usize) -> Option<Worker<Job>> {
        let spare = Arc::new(Spare::default());
        {
            let mut spares = lock(&self.spares);
            if self.sleep.is_shut_down() {
                drop(spares);
                self.free_slot(slot);
                return None;
            }
            spares.push((slot, spare.clone()));
        }
        let mut deadline = self
            .config
            .keep_alive
            .and_then(|keep_alive| Instant::now().checked_add(keep_alive));
        let mut call = lock(&spare.call);
        loop {
            match call.take() {
                Some(SpareCall::Work(local)) => return Some(local),
                Some(SpareCall::Exit) => break,
                None => {}
            }
            match deadline {
                Some(at) if Instant::now() >= at => {
                    drop(call);
                    // Leave the list, unless a reviver took us off it: then its call is on
                    // its way, and we wait for it (looking at the call first).
                    let mut spares = lock(&self.spares);
                    let before = spares.len();
                    spares.retain(|(_, s)| !Arc::ptr_eq(s, &spare));
                    let left = spares.len() < before;
                    drop(spares);
                    if left {
                        break;
                    }
                    deadline = None;
                    call = lock(&spare.call);
                }
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    call = wait_timeout(&spare.called, call, left);
                }
                None => call = wait(&spare.called, call),
            }
        }
        self.free_slot(slot);
        None
    }

    /// Makes a waiting spare a worker again, in its slot; false when there is none.
    fn revive_spare(&self) -> bool {
        let Some((slot, spare)) = lock(&self.spares).pop() else {
            return false;
        };
        let local = Worker::new_lifo();
        {
            let mut stealers = write(&self.stealers);
            if stealers.len() <= slot {
                stealers.resize_with(slot + 1, || None);
            }
            stealers[slot] = Some(local.stealer());
        }
        *lock(&spare.call) = Some(SpareCall::Work(local));
        spare.called.notify_one();
        true
    }

    /// Tells every waiting spare to end (the pool shut down).
    fn end_spares(&self) {
        let spares = std::mem::take(&mut *lock(&self.spares));
        for (_, spare) in spares {
            *lock(&spare.call) = Some(SpareCall::Exit);
            spare.called.notify_one();
        }
    }

    /// A worker thread reached the end of its body (`worker::thread_main`): counts it out for
    /// `shutdown(wait = true)`.
    pub(crate) fn worker_exited(&self) {
        let mut threads = lock(&self.threads);
        threads.live -= 1;
        threads.finished.push(current_thread().id());
        drop(threads);
        self.exited.notify_all();
    }

    /// Takes every queued job out of every queue and hands it to `each`.
    fn drain(&self, mut each: impl FnMut(Job)) {
        loop {
            match self.injector.steal() {
                Steal::Success(job) => {
                    self.job_taken();
                    each(job);
                }
                Steal::Retry => continue,
                Steal::Empty => break,
            }
        }
        let stealers: Vec<_> = read(&self.stealers).iter().flatten().cloned().collect();
        for stealer in stealers {
            loop {
                match stealer.steal() {
                    Steal::Success(job) => {
                        self.job_taken();
                        each(job);
                    }
                    Steal::Retry => continue,
                    Steal::Empty => break,
                }
            }
        }
    }

    /// Breaks the pool (an initializer panicked, no thread could start): refuses every
    /// later submit with `cause` and fails every queued job with it.
    pub(crate) fn break_pool(&self, cause: String) {
        {
            let mut slot = lock(&self.broken_cause);
            if slot.is_none() {
                *slot = Some(cause);
            }
        }
        self.broken.store(true, Ordering::Release);
        self.sleep.shutdown();
        self.end_spares();
        self.wake_room_waiters();
        // Jobs of submits that began before the shutdown are pushed once this returns.
        self.sleep.wait_for_submitters();
        if let Some(error) = self.broken_error() {
            self.drain(|job| job.fail(error.clone()));
        }
    }

    /// `shutdown(wait, cancel_futures)`; see `ThreadPool::shutdown`.
    pub(crate) fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.sleep.shutdown();
        self.end_spares();
        self.wake_room_waiters();
        if cancel_futures {
            self.sleep.wait_for_submitters();
            self.drain(|job| self.cancel_job(job));
        }
        if wait {
            // Every thread start happens inside a submit or a running task; after this
            // none is left to come from a submit.
            self.sleep.wait_for_submitters();
            self.wait_for_exits(None);
        }
    }

    /// Cancels a job that will never run, counting it.
    fn cancel_job(&self, job: Job) {
        if job.cancel() {
            self.stats.pool.cancelled_by_anyone();
        }
    }

    /// A user's `shutdown(wait = false)`: dropping the pool will not join its threads.
    pub(crate) fn let_go(&self) {
        self.let_go.store(true, Ordering::Release);
    }

    /// What dropping the pool's handle does: joins (the `with` block), unless a user's
    /// `shutdown(wait = false)` let it go; with a grace period (or while the thread
    /// panics, when it is zero unless set), waits at most that long for the tasks, then
    /// cancels the ones not started and lets the running ones go.
    pub(crate) fn drop_handle(&self) {
        if self.let_go.load(Ordering::Acquire) && !std::thread::panicking() {
            return;
        }
        let grace = match self.config.drop_grace {
            Some(grace) => grace,
            None if std::thread::panicking() => Duration::ZERO,
            None => return self.shutdown(true, false),
        };
        let deadline = Instant::now().checked_add(grace);
        self.shutdown(false, false);
        self.sleep.wait_for_submitters();
        if !self.wait_for_exits(deadline) {
            // Past the grace: what has not started never will.
            self.drain(|job| self.cancel_job(job));
        }
    }

    /// `shutdown(wait = true)`: returns once every worker thread has exited and been
    /// joined, whoever joined it, so concurrent callers all wait. A worker of this pool
    /// calling it never waits for itself, nor for other workers waiting here (each exits
    /// when its task returns): it waits for every other worker to exit, and joins none.
    /// Returns false when `deadline` passed first.
    fn wait_for_exits(&self, deadline: Option<Instant>) -> bool {
        let me = current_thread().id();
        let mut threads = lock(&self.threads);
        // A live worker's handle stays in `handles` until it has exited (reaped, or taken
        // below only once `live` is zero), so this finds the caller if it is one.
        let inside = threads.handles.iter().any(|h| h.thread().id() == me);
        if inside {
            threads.waiting_workers += 1;
            self.exited.notify_all();
            while threads.live > threads.waiting_workers {
                match self.wait_until(threads, deadline) {
                    Some(guard) => threads = guard,
                    None => {
                        lock(&self.threads).waiting_workers -= 1;
                        return false;
                    }
                }
            }
            threads.waiting_workers -= 1;
            return true;
        }
        while threads.live > 0 {
            match self.wait_until(threads, deadline) {
                Some(guard) => threads = guard,
                // Past the grace period: let the running tasks go (their threads end
                // when they do).
                None => return false,
            }
        }
        // Every worker is past its body: the joins are short (thread-local teardown).
        let handles = std::mem::take(&mut threads.handles);
        threads.joining += handles.len();
        drop(threads);
        let taken = handles.len();
        for handle in handles {
            let _ = handle.join();
        }
        let mut threads = lock(&self.threads);
        threads.joining -= taken;
        self.exited.notify_all();
        while threads.joining > 0 {
            threads = wait(&self.exited, threads);
        }
        true
    }

    /// Waits on `exited` until notified, or gives up (`None`) once `deadline` passed.
    fn wait_until<'a>(
        &self,
        threads: MutexGuard<'a, Threads>,
        deadline: Option<Instant>,
    ) -> Option<MutexGuard<'a, Threads>> {
        let Some(deadline) = deadline else {
            return Some(wait(&self.exited, threads));
        };
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        Some(wait_timeout(&self.exited, threads, deadline - now))
    }
}
