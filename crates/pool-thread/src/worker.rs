//! A worker thread: its main loop (find a job, run it, spin a little, sleep), the search
//! order (own deque, injector, the others' deques), and the [`WaitHook`] through which a
//! worker blocked on a future runs other jobs instead of sleeping.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::{Wake, Waker};
use std::time::Instant;

use crossbeam_deque::{Steal, Worker};
use future_core::{WaitHook, catch_panic, install_wait_hook};

use crate::job::TaskEnd;
use crate::job_box::JobBox;
use crate::registry::Registry;
use crate::sleep::{IdleWake, Sleeper};
use crate::sync::{Arc, Thread, current_thread, read, yield_now};

/// Rounds of searching (with a `yield_now` between) before an idle worker registers as a
/// sleeper: a burst of submits then finds it awake and costs no wake-up syscall.
const SPIN_ROUNDS: u32 = 64;

thread_local! {
    /// The worker running on this thread, if it is one: how a submit knows it comes from
    /// inside (and pushes to the worker's own deque).
    static CURRENT: RefCell<Option<Rc<WorkerCtx>>> = const { RefCell::new(None) };
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
pub(crate) fn push_local(registry: &Arc<Registry>, job: JobBox) -> Result<(), JobBox> {
    CURRENT.with(|current| match current.borrow().as_ref() {
        Some(ctx) if Arc::ptr_eq(&ctx.registry, registry) => {
            ctx.local.push(job);
            Ok(())
        }
        _ => Err(job),
    })
}

/// A waker that unparks a worker blocked in [`WorkerCtx::block_on`].
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// One worker thread's state.
struct WorkerCtx {
    registry: Arc<Registry>,
    /// This worker's own deque (LIFO for its owner; others steal the oldest).
    local: Worker<JobBox>,
    slot: usize,
    sleeper: Arc<Sleeper>,
    waker: Waker,
    /// Tokens kept back by `Sleep::task_done`, given back once this worker finds no job.
    owed_tokens: Cell<u32>,
}

/// The body of a worker thread.
pub(crate) fn main(registry: Arc<Registry>, slot: usize, local: Worker<JobBox>) {
    // Counted out last (after any early return, or a panic of this crate's code).
    let _exit = ExitGuard(registry.clone());
    if let Some(init) = registry.config.initializer.clone() {
        if let Err(err) = catch_panic(|| init()) {
            let name = current_thread().name().unwrap_or("?").to_owned();
            registry.break_pool(format!(
                "the initializer panicked in worker thread {name}: {}",
                err.message()
            ));
            registry.sleep.thread_exited();
            registry.worker_left(slot);
            return;
        }
    }
    let ctx = Rc::new(WorkerCtx {
        registry: registry.clone(),
        local,
        slot,
        sleeper: Sleeper::current(),
        waker: Waker::from(std::sync::Arc::new(Unpark(current_thread()))),
        owed_tokens: Cell::new(0),
    });
    CURRENT.with(|current| *current.borrow_mut() = Some(ctx.clone()));
    let hook = install_wait_hook(ctx.clone());
    let retired = ctx.run();
    drop(hook);
    CURRENT.with(|current| current.borrow_mut().take());
    if !retired {
        registry.sleep.thread_exited();
    }
    registry.worker_left(slot);
}

/// Counts the worker thread out for `shutdown(wait = true)` when its body ends.
struct ExitGuard(Arc<Registry>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        self.0.worker_exited();
    }
}

impl WorkerCtx {
    /// The main loop; returns true when the thread retired (already counted out), false
    /// when it exits on shutdown.
    fn run(&self) -> bool {
        let sleep = &self.registry.sleep;
        let mut idle_rounds = 0;
        // Counted in the SEARCHING field (see SLEEP.md): from its first empty search until
        // it finds a job, sleeps, or exits.
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
                        return false;
                    }
                }
                continue;
            }
            if idle_rounds < SPIN_ROUNDS {
                idle_rounds += 1;
                yield_now();
                continue;
            }
            let keep_alive = self.registry.config.keep_alive;
            match sleep.sleep_idle(&self.sleeper, || self.registry.has_work(), keep_alive) {
                // Woken for work (searching again): search, and spin a little if it was
                // taken meanwhile.
                IdleWake::Search => idle_rounds = SPIN_ROUNDS / 2,
                // Shutting down while submits finish their pushes: look again soon.
                IdleWake::Shutdown => yield_now(),
                // Counted out, not searching.
                IdleWake::Retire => return true,
            }
        }
    }

    /// Gives back the tokens kept by `Sleep::task_done`.
    fn give_back_tokens(&self) {
        self.registry.sleep.give_back(self.owed_tokens.take());
    }

    /// Takes a job: own deque first (newest), then the injector (oldest), then steals
    /// the oldest of another worker's deque.
    fn find_job(&self) -> Option<JobBox> {
        let job = self.local.pop().or_else(|| self.steal());
        if job.is_some() {
            self.registry.job_taken();
        }
        job
    }

    fn steal(&self) -> Option<JobBox> {
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
    /// wait. A broken pool fails it instead.
    fn run_job(&self, job: JobBox, nested: bool) {
        if nested {
            // One fewer job waits, and this thread stays busy.
            self.registry.sleep.add_token();
        }
        if let Some(error) = self.registry.broken_error() {
            job.fail(error);
            return;
        }
        if nested {
            job.run(&TaskEnd::nested());
        } else {
            let end = TaskEnd::top_level(&self.registry.sleep, &self.owed_tokens);
            job.run(&end);
            end.finish();
        }
    }
}

impl WaitHook for WorkerCtx {
    /// Runs queued jobs of this pool until `poll` says the awaited futures are done;
    /// sleeps only when there is nothing to run, woken by the futures' waker or by new
    /// work. So a task that waits on tasks it submitted cannot deadlock the pool, even
    /// with one thread.
    fn block_on(&self, poll: &mut dyn FnMut(&Waker) -> bool, deadline: Option<Instant>) -> bool {
        let mut search = false;
        loop {
            if search {
                // Notified of new work: act on it before anything else (see SLEEP.md).
                search = false;
                if let Some(job) = self.find_job() {
                    self.run_job(job, true);
                }
            }
            if poll(&self.waker) {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            if let Some(job) = self.find_job() {
                self.run_job(job, true);
                continue;
            }
            // It may sleep long: no token stays kept back meanwhile.
            self.give_back_tokens();
            search = self.registry.sleep.sleep_blocked(
                &self.sleeper,
                || self.registry.has_work(),
                deadline,
            );
        }
    }
}
