//! A worker thread: its main loop (find a job, run it, spin a little, sleep), the search
//! order (own deque, injector, the others' deques), and what it tells `future-core` (the
//! pool it works for, so a wait on one of the pool's tasks that no thread started runs it
//! here; when it blocks in a wait, so the pool can start a thread in its place).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use future_core::executor::catch_panic;
use future_core::executor::{ExecutorId, Ran, WorkerThread, enter_worker, print_panics};

use crate::job::{Job, TaskEnd};
use crate::latch::CountLatch;
use crate::queue::{Steal, Worker};
use crate::registry::Registry;
use crate::sleep::{IdleWake, Sleeper};
use crate::stats::WorkerCounts;
use crate::sync::{Arc, current_thread, read, yield_now};

/// Rounds of searching (with a `yield_now` between) before an idle worker registers as a
/// sleeper: a burst of submits then finds it awake and costs no wake-up syscall. (One
/// under loom: the models explore sleeping, not spinning.)
const SPIN_ROUNDS: u32 = if cfg!(loom) { 1 } else { 64 };

#[cfg(not(loom))]
std::thread_local! {
    /// The worker running on this thread, if it is one: how a submit knows it comes from
    /// inside (and pushes to the worker's own deque).
    static CURRENT: RefCell<Option<Rc<WorkerCtx>>> = const { RefCell::new(None) };
}

#[cfg(loom)]
loom::thread_local! {
    static CURRENT: RefCell<Option<Rc<WorkerCtx>>> = RefCell::new(None);
}

/// True when the calling thread is a worker of `registry`'s pool.
pub(crate) fn is_inside(registry: &Arc<Registry>) -> bool {
    CURRENT.with(|current| {
        current
            .borrow()
            .as_ref()
            .is_some_and(|ctx| Arc::ptr_eq(&ctx.registry, registry))
    })
}

/// Pushes `job` on the calling worker's own deque; gives it back when the calling thread
/// is no worker of `registry`'s pool.
pub(crate) fn push_local(registry: &Arc<Registry>, job: Job) -> Result<(), Job> {
    CURRENT.with(|current| match current.borrow().as_ref() {
        Some(ctx) if Arc::ptr_eq(&ctx.registry, registry) => {
            ctx.local.push(job);
            Ok(())
        }
        _ => Err(job),
    })
}

/// In a worker of `registry`'s pool, when no thread needs starting for it, pushes `job` on
/// this worker's own deque without a submit (see `Sleep::may_push_local`: only for a job
/// its owner takes back); gives it back otherwise.
pub(crate) fn push_own(registry: &Arc<Registry>, job: Job) -> Result<(), Job> {
    CURRENT.with(|current| match current.borrow().as_ref() {
        Some(ctx) if Arc::ptr_eq(&ctx.registry, registry) && registry.sleep.may_push_local() => {
            registry.count_queued();
            ctx.local.push(job);
            registry.sleep.local_job_pushed();
            Ok(())
        }
        _ => Err(job),
    })
}

/// This thread's worker, if it is one of `registry`'s pool.
fn current_in(registry: &Arc<Registry>) -> Option<Rc<WorkerCtx>> {
    CURRENT
        .with(|current| current.borrow().clone())
        .filter(|ctx| Arc::ptr_eq(&ctx.registry, registry))
}

/// In a worker of `registry`'s pool, runs the jobs of the scope counted by `latch` that
/// sit in this worker's own deque (the scope's own tasks, which its wait waits for; a
/// task already run by a waiter is a no-op), wherever they sit: each is taken as
/// [`take_back`] takes a join's closure, from under the jobs that are not the scope's
/// (a task the scope's closure spawned and left, a map's helpers that never started),
/// which stay queued in their order. Returns once the deque holds none of them (the rest
/// run, or are running, on other threads), or none is left anywhere.
pub(crate) fn run_own_scoped_jobs(registry: &Arc<Registry>, latch: &Arc<CountLatch>) {
    let Some(ctx) = current_in(registry) else {
        return;
    };
    // `probe` spares the search of the deque when every task is consumed already.
    while !latch.probe() {
        let Some(job) = ctx.take_mine(|job| job.holds(latch)) else {
            return;
        };
        registry.job_taken();
        // A scoped task may spawn more into the scope: they go on top, found next turn.
        ctx.run_job(job, true);
    }
}

/// In a worker of `registry`'s pool, takes the job that `mine` picks back off this
/// worker's own deque, wherever it sits (see [`WorkerCtx::take_mine`]), to run it on the
/// calling thread. `None` when it is not there (another thread took it) or this thread
/// is no worker of the pool.
pub(crate) fn take_back(registry: &Arc<Registry>, mine: impl Fn(&Job) -> bool) -> Option<Job> {
    let ctx = current_in(registry)?;
    let job = ctx.take_mine(mine)?;
    // One fewer job waits, and this thread stays busy: its token comes back, kept as a
    // task's end keeps it while the pool runs `max_workers` tasks (no RMW of the shared
    // word).
    registry.job_taken();
    ctx.owed_tokens
        .set(registry.sleep.task_done(ctx.owed_tokens.get()));
    Some(job)
}

/// One worker thread's state.
struct WorkerCtx {
    registry: Arc<Registry>,
    /// This worker's own deque (LIFO for its owner; others steal the oldest).
    local: Worker<Job>,
    slot: usize,
    sleeper: Arc<Sleeper>,
    /// Tokens kept back by `Sleep::task_done`, given back once this worker finds no job.
    owed_tokens: Cell<u32>,
    /// What this worker counted, for the pool's statistics.
    counts: WorkerCounts,
}

/// How a worker's main loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// The pool shut down (or broke): the thread ends.
    Shutdown,
    /// Idle past its keep-alive: the thread ends.
    Retired,
    /// A thread started in place of a blocked worker that went on: it waits a while as a
    /// spare, for the next worker that blocks, before it ends.
    Surplus,
}

/// The body of a worker thread: a worker, then (after a surplus retirement) a spare that
/// may become a worker again in the same slot, until it ends.
pub(crate) fn thread_main(registry: Arc<Registry>, slot: usize, mut local: Worker<Job>) {
    // Counted out for `shutdown(wait = true)` last, however the body ends.
    let _exit = ThreadExit(registry.clone());
    let mut initialized = false;
    loop {
        let exit = run_worker(&registry, slot, local, &mut initialized);
        if exit != Exit::Surplus {
            return;
        }
        match registry.wait_as_spare(slot) {
            Some(revived) => local = revived,
            None => return,
        }
    }
}

/// Counts the OS thread out for `shutdown(wait = true)` when its body ends.
struct ThreadExit(Arc<Registry>);

impl Drop for ThreadExit {
    fn drop(&mut self) {
        self.0.worker_exited();
    }
}

/// One worker's life in a thread: runs the initializer (once per thread), then the main
/// loop; says how it ended.
fn run_worker(
    registry: &Arc<Registry>,
    slot: usize,
    local: Worker<Job>,
    initialized: &mut bool,
) -> Exit {
    // Counts the worker out however it ends (a return, or a panic of this crate's code:
    // no job lets one out).
    let mut exit = WorkerExit {
        registry: registry.clone(),
        slot,
        exit: Exit::Shutdown,
    };
    print_panics(registry.config.print_task_panics);
    if !*initialized {
        *initialized = true;
        if let Some(init) = registry.config.initializer.clone() {
            if let Err(err) = catch_panic(|| init()) {
                let name = current_thread().name().unwrap_or("?").to_owned();
                registry.break_pool(format!(
                    "the initializer panicked in worker thread {name}: {}",
                    err.message()
                ));
                return Exit::Shutdown;
            }
        }
    }
    let ctx = Rc::new(WorkerCtx {
        counts: registry.stats.join(),
        registry: registry.clone(),
        local,
        slot,
        sleeper: Sleeper::current(),
        owed_tokens: Cell::new(0),
    });
    let _current = Current::enter(ctx.clone());
    let _worker = enter_worker(ctx.clone());
    exit.exit = ctx.run();
    exit.exit
}

/// Makes this thread's [`WorkerCtx`] current until dropped.
struct Current;

impl Current {
    fn enter(ctx: Rc<WorkerCtx>) -> Current {
        CURRENT.with(|current| *current.borrow_mut() = Some(ctx));
        Current
    }
}

impl Drop for Current {
    fn drop(&mut self) {
        let ctx = CURRENT.with(|current| current.borrow_mut().take());
        if let Some(ctx) = ctx {
            ctx.give_back_tokens();
            ctx.registry.stats.leave(&ctx.counts);
            // A worker leaves with jobs in its deque only when this crate's own code
            // panicked (no job lets a panic out): hand them to the other threads.
            while let Some(job) = ctx.local.pop() {
                ctx.registry.injector.push(job);
            }
        }
    }
}

/// Counts a worker out when it ends: its token (unless it retired, which took it), and its
/// deque's place (its slot too, unless it stays as a spare that keeps the slot).
struct WorkerExit {
    registry: Arc<Registry>,
    slot: usize,
    exit: Exit,
}

impl Drop for WorkerExit {
    fn drop(&mut self) {
        if self.exit == Exit::Shutdown {
            self.registry.sleep.thread_exited();
        }
        self.registry
            .worker_left(self.slot, self.exit == Exit::Surplus);
        if std::thread::panicking() {
            Registry::replace_lost_worker(&self.registry);
        }
    }
}

impl WorkerCtx {
    /// The main loop; says how it ended (a retirement is already counted out).
    fn run(&self) -> Exit {
        let sleep = &self.registry.sleep;
        let mut idle_rounds = 0;
        // Counted in the SEARCHING field (sleep/README.md, "Searching: the last searcher wakes
        // one more"): from its first empty search until it finds a job, sleeps, or exits.
        let mut searching = false;
        loop {
            if let Some(job) = self.find_job() {
                if std::mem::take(&mut searching) {
                    sleep.stop_searching(true);
                }
                self.run_job(job, false);
                idle_rounds = 0;
                continue;
            }
            // Out of work: idle from here on, so every kept token goes back before this
            // worker searches, sleeps, retires or exits.
            self.give_back_tokens();
            if !searching {
                // Counted before the next search: a submit that then sees us searching
                // leaves the job to us.
                sleep.start_searching();
                searching = true;
                continue;
            }
            if sleep.can_exit() {
                // Shut down, every accepted job pushed: leave once the queues are empty.
                match self.find_job() {
                    Some(job) => {
                        searching = false;
                        sleep.stop_searching(true);
                        self.run_job(job, false);
                    }
                    None => {
                        sleep.stop_searching(false);
                        return Exit::Shutdown;
                    }
                }
                continue;
            }
            // A thread started in place of a blocked worker that came back: retire now.
            let surplus = sleep.is_surplus();
            if idle_rounds < SPIN_ROUNDS && !surplus {
                idle_rounds += 1;
                yield_now();
                continue;
            }
            let keep_alive = if surplus {
                Some(Duration::ZERO)
            } else {
                self.registry.config.keep_alive
            };
            match sleep.sleep_idle(
                &self.sleeper,
                || self.registry.has_work(),
                keep_alive,
                surplus,
            ) {
                // Woken for work (searching again): search, and spin a little if it was
                // taken meanwhile.
                IdleWake::Search => idle_rounds = SPIN_ROUNDS / 2,
                // Shut down with every submit ended: the next turn exits (`can_exit`) once
                // the queues are empty.
                IdleWake::Shutdown => {}
                // Counted out, not searching.
                IdleWake::Retire if surplus => return Exit::Surplus,
                IdleWake::Retire => return Exit::Retired,
            }
        }
    }

    /// Before this worker blocks: takes off the top of its deque the jobs with nothing left
    /// to do (entries of tasks that its waits ran, or that were cancelled), so that they do
    /// not count as queued work that needs a thread in its place.
    fn drop_spent_jobs(&self) {
        while let Some(job) = self.local.pop() {
            if job.is_pending() {
                self.put_back(std::iter::once(job));
                return;
            }
            self.consume_spent(job);
        }
    }

    /// Pops the job that `mine` picks off this worker's own deque, wherever it sits: the
    /// spent jobs above it (entries of tasks that waits ran) are consumed, and the pending
    /// ones (a task its caller spawned and left, a map's helpers that never started) are
    /// set aside and pushed back, in their order, once it is found. `None` when no job of
    /// the deque is picked (the pending ones are all pushed back). Rayon pops until it
    /// reaches its job too; it runs the others, but a task here never runs other work on
    /// a waiter's stack (sleep/README.md, "Waiting inside a task"). The one way both a join's second closure
    /// ([`take_back`]) and a scope's tasks ([`run_own_scoped_jobs`]) are found under what
    /// their caller left: stopping at the first other job left the caller blocked on a
    /// job in its own deque that no thread took.
    ///
    /// Consuming a spent entry drops what only it still owns (its task's result): user
    /// code, which may wait for any other job. So it happens only while no pending job is
    /// held off the deque: in place while none is set aside; otherwise every job popped
    /// goes back where it was first (the picked one too), then the spent ones are consumed
    /// and the search starts over. Nothing else runs while jobs are set aside (see
    /// [`WorkerCtx::put_back`]); the caller counts the job taken.
    fn take_mine(&self, mine: impl Fn(&Job) -> bool) -> Option<Job> {
        loop {
            // The fast path (the job on top) allocates nothing: `Vec::new` does not.
            let mut set_aside = Vec::new();
            let mut spent = Vec::new();
            let mut found = None;
            while let Some(job) = self.local.pop() {
                if mine(&job) {
                    found = Some(job);
                    break;
                }
                if job.is_pending() {
                    set_aside.push(job);
                } else if set_aside.is_empty() {
                    self.consume_spent(job);
                } else {
                    spent.push(job);
                }
            }
            if spent.is_empty() {
                if !set_aside.is_empty() {
                    self.put_back(set_aside.into_iter());
                }
                return found;
            }
            // Newest first: the picked job was under the others, so it goes back first.
            set_aside.extend(found);
            self.put_back(set_aside.into_iter());
            for job in spent {
                self.consume_spent(job);
            }
        }
    }

    /// Pushes back pending jobs just popped off this worker's deque (`popped`, newest
    /// first), where they were. Another thread may have looked at the queues while they
    /// were off, found nothing, and gone to sleep, leaving them to this worker, which may
    /// be about to block: so the push back is followed by an RMW of the sleep state that
    /// wakes a sleeper ([`Sleep::jobs_pushed_back`](crate::sleep::Sleep::jobs_pushed_back)).
    /// Without it, a job popped and pushed back just before this worker blocked could sit
    /// beside a sleeping thread for good (the loom models
    /// `a_job_popped_and_pushed_back_by_a_blocking_worker_is_not_hidden` and
    /// `a_job_set_aside_by_a_join_is_not_hidden_from_a_sleeper` deadlocked).
    fn put_back(&self, popped: impl DoubleEndedIterator<Item = Job>) {
        for job in popped.rev() {
            self.local.push(job);
        }
        self.registry.sleep.jobs_pushed_back();
    }

    /// Consumes `job`, just popped off this worker's deque, which has nothing left to do
    /// (not [`Job::is_pending`]). Its drop may drop the task's result (user code).
    fn consume_spent(&self, job: Job) {
        self.registry.job_taken();
        self.registry.sleep.add_token();
        self.counts.ran(job.run(&TaskEnd::nested()));
    }

    /// Gives back the tokens kept by `Sleep::task_done`.
    fn give_back_tokens(&self) {
        self.registry.sleep.give_back(self.owed_tokens.take());
    }

    /// Takes a job: own deque first (newest), then the injector (oldest), then steals
    /// the oldest of another worker's deque.
    fn find_job(&self) -> Option<Job> {
        let job = self.local.pop().or_else(|| self.steal());
        if job.is_some() {
            self.registry.job_taken();
        }
        job
    }

    fn steal(&self) -> Option<Job> {
        loop {
            match self.registry.injector.steal() {
                Steal::Success(job) => return Some(job),
                Steal::Retry => continue,
                Steal::Empty => break,
            }
        }
        let stealers = read(&self.registry.stealers);
        let n = stealers.len();
        for i in 1..n {
            let Some(stealer) = &stealers[(self.slot + i) % n] else {
                continue;
            };
            loop {
                match stealer.steal() {
                    Steal::Success(job) => return Some(job),
                    Steal::Retry => continue,
                    Steal::Empty => break,
                }
            }
        }
        None
    }

    /// Runs a job taken from a queue: from the main loop (`nested == false`) or inside a
    /// scope's wait. A broken pool fails it instead.
    fn run_job(&self, job: Job, nested: bool) {
        if nested {
            // One fewer job waits, and this thread stays busy.
            self.registry.sleep.add_token();
        }
        if let Some(error) = self.registry.broken_error() {
            job.fail(error);
            return;
        }
        self.counts.started();
        let ran = if nested {
            job.run(&TaskEnd::nested())
        } else {
            let end = TaskEnd::top_level(&self.registry.sleep, &self.owed_tokens);
            let ran = job.run(&end);
            end.finish();
            ran
        };
        if !ran.here() {
            // It did not run after all: not started.
            self.counts.unstart();
        }
        self.counts.ran(ran);
    }
}

impl WorkerThread for WorkerCtx {
    fn executor(&self) -> ExecutorId {
        self.registry.id
    }

    /// The task running here blocks in a wait: it gives back its kept tokens and stops
    /// counting toward `max_workers`; when queued jobs then have no thread, one starts in
    /// its place.
    fn blocking(&self) {
        self.drop_spent_jobs();
        if self.registry.sleep.block(self.owed_tokens.take()) {
            Registry::start_reserved_thread(&self.registry);
        }
    }

    fn unblocked(&self) {
        self.registry.sleep.unblock();
    }

    fn ran_here(&self, ran: Ran) {
        self.counts.started();
        self.counts.ran(ran);
    }
}
