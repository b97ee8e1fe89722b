//! The MPI thread of the program's process (rank 0, or a singleton that spawns workers): the
//! one thread that makes MPI calls there. Pools talk to it through
//! their state (tasks to send) and the [`MpiThread`]'s inbox (attach, detach, finalize); it
//! sends what their dispatch decides, receives the replies, completes the futures, enforces
//! time limits, and watches spawned workers.
//!
//! Waiting: with tasks in flight it polls with `MPI_Iprobe`, spinning briefly after each
//! message and then pausing on the inbox's condition variable (so a `submit` wakes it at
//! once); with nothing in flight it blocks on that condition variable and uses no CPU (in
//! spawn mode it wakes once a second to check that its workers live).
//!
//! Fail-stop: a worker process that dies ends the MPI job. Under `mpirun` the launcher kills
//! every rank within about a second; a spawned worker's death is seen here (its process
//! gone), and this thread ends the job with `MPI_Abort` and a message that says which
//! worker died. So does a session that ends with tasks in flight, and a panic of this
//! thread: never a silent hang. In a fault-tolerant job (`ulfm.rs`) a receive names the
//! world's ranks that died instead, and they leave their pool; idle, the thread looks for
//! deaths every 2 ms.

mod attach;

use std::cell::Cell;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use mpi::Rank;
use mpi::environment::Universe;
use mpi::traits::*;
use pool_engine::{Phase, Worker as _};

use crate::backoff::Backoff;
use crate::comm::{Comm, Received};
use crate::messages::{self, FromWorker, ToWorker};
use crate::rank0::builder::{MpiPoolBuildError, Source};
use crate::rank0::dispatch::Worker;
use crate::rank0::inbox::Inbox;
use crate::rank0::pool::Shared;
use crate::ulfm;
use attach::{Hello, keep_hello};

/// How often spawned workers are checked while tasks run (and once a second when idle).
const LIVENESS_EVERY: Duration = Duration::from_millis(200);

/// How often an idle MPI thread of a fault-tolerant job looks for dead ranks.
const IDLE_FAILURE_CHECK: Duration = Duration::from_millis(2);

thread_local! {
    /// True on the MPI thread, which completes every pool's futures (their done callbacks
    /// run there).
    static MPI_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Whether this is the MPI thread: a wait there for the pool's tasks (a done callback's
/// `shutdown()`, or its drop of the last handle) would wait on the thread that finishes them.
pub(crate) fn on_mpi_thread() -> bool {
    MPI_THREAD.with(Cell::get)
}

/// What pools ask of the MPI thread.
pub(crate) enum Command {
    /// Give this pool its workers; answer whether it worked.
    Attach {
        shared: Arc<Shared>,
        source: Source,
        max_workers: Option<usize>,
        reply: mpsc::SyncSender<Result<(), MpiPoolBuildError>>,
    },
    /// The pool is dropped: let its workers go once its tasks are done.
    Detach(Arc<Shared>),
    /// End the session: stop every worker, finalize MPI; answer when done.
    Finalize(mpsc::SyncSender<()>),
}

/// The MPI thread's inbox, shared with every pool.
#[derive(Debug, Default)]
pub(crate) struct MpiThread {
    inbox: Inbox<Command>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Attach { .. } => "Attach",
            Command::Detach(_) => "Detach",
            Command::Finalize(_) => "Finalize",
        })
    }
}

impl MpiThread {
    /// Tells the thread that a pool has tasks to send (cheap when it is not waiting).
    pub(crate) fn poke(&self) {
        self.inbox.poke();
    }

    /// Hands `command` to the thread; `Err` with the reason when it takes no more.
    pub(crate) fn send(&self, command: Command) -> Result<(), String> {
        self.inbox.send(command)
    }

    /// The thread ended (or never started) for `why`: no more commands; those not taken
    /// are answered.
    pub(crate) fn end(&self, why: String) {
        for command in self.inbox.end(why) {
            match command {
                Command::Attach { reply, .. } => {
                    let _ = reply.try_send(Err(MpiPoolBuildError::Mpi(
                        "the MPI session ended".to_owned(),
                    )));
                }
                Command::Finalize(done) => {
                    let _ = done.try_send(());
                }
                Command::Detach(_) => {}
            }
        }
    }
}

/// One pool and the communicator to its workers.
struct Link {
    shared: Arc<Shared>,
    /// `None`: the world's ranks (the thread's own world communicator).
    spawned: Option<Comm>,
    /// The pool was dropped: let the workers go once its tasks are done.
    detaching: bool,
}

/// The MPI thread's state.
struct Runner {
    mpi_thread: Arc<MpiThread>,
    world: Comm,
    world_size: Rank,
    /// Hellos of the world's worker ranks (index: rank).
    hellos: Vec<Option<Hello>>,
    /// The world's ranks known dead (index: rank; a fault-tolerant job, see `ulfm.rs`).
    dead: Vec<bool>,
    /// The job is fault tolerant: a dead worker rank leaves its pool.
    fault_tolerant: bool,
    links: Vec<Link>,
    host: String,
    next_liveness: Instant,
}

/// Runs the MPI thread of the program's process until the session ends. `universe` is
/// finalized when this returns (by the caller, which owns it).
pub(crate) fn run(mpi_thread: Arc<MpiThread>, universe: &Universe) {
    MPI_THREAD.with(|flag| flag.set(true));
    let world = universe.world();
    let world_size = world.size();
    let fault_tolerant = ulfm::fault_tolerant();
    if fault_tolerant {
        ulfm::return_errors(world.as_raw());
    }
    let ranks = usize::try_from(world_size).unwrap_or(1);
    let mut runner = Runner {
        mpi_thread,
        world: Comm::World(world),
        world_size,
        hellos: vec![None; ranks],
        dead: vec![false; ranks],
        fault_tolerant,
        links: Vec::new(),
        host: task_wire::messages::host_name(),
        next_liveness: Instant::now(),
    };
    let outcome = task_wire::catch(|| runner.serve());
    if let Err(panic) = outcome {
        eprintln!(
            "pool-mpi: the MPI thread panicked ({panic}); the pool cannot go on without it: \
             ending the MPI job"
        );
        runner.world.abort(70);
    }
}

impl Runner {
    fn serve(&mut self) {
        let mut backoff = Backoff::new();
        loop {
            let commands = self.mpi_thread.inbox.take();
            for command in commands {
                if !self.on_command(command) {
                    return;
                }
            }
            self.mpi_thread.inbox.clear_work();
            let mut active = self.receive();
            let now = Instant::now();
            let pools = self.visit_pools(now);
            active |= pools.sent;
            self.release_detached();
            if now >= self.next_liveness {
                self.check_liveness();
                self.next_liveness = now + LIVENESS_EVERY;
            }
            if active {
                backoff.reset();
                continue;
            }
            let commands = if !pools.in_flight {
                let spawned = self.links.iter().any(|l| l.spawned.is_some());
                let wake = if self.fault_tolerant {
                    Some(IDLE_FAILURE_CHECK)
                } else {
                    spawned.then_some(Duration::from_secs(1))
                };
                self.mpi_thread.inbox.take_or_wait(wake)
            } else {
                match backoff.next_pause() {
                    None => {
                        std::thread::yield_now();
                        Vec::new()
                    }
                    Some(pause) => {
                        let pause = match pools.next_deadline {
                            Some(at) => pause.min(at.saturating_duration_since(now)),
                            None => pause,
                        };
                        self.mpi_thread.inbox.take_or_wait(Some(pause))
                    }
                }
            };
            for command in commands {
                backoff.reset();
                if !self.on_command(command) {
                    return;
                }
            }
        }
    }

    /// Handles one command; false when the session ends.
    fn on_command(&mut self, command: Command) -> bool {
        match command {
            Command::Attach {
                shared,
                source,
                max_workers,
                reply,
            } => {
                let attached = match source {
                    Source::World => self.attach_world(&shared, max_workers),
                    Source::Spawn(n) => self.attach_spawned(&shared, n),
                };
                let _ = reply.try_send(attached);
                true
            }
            Command::Detach(shared) => {
                if let Some(link) = self
                    .links
                    .iter_mut()
                    .find(|l| Arc::ptr_eq(&l.shared, &shared))
                {
                    link.detaching = true;
                }
                self.release_detached();
                true
            }
            Command::Finalize(done) => {
                self.finalize();
                let _ = done.try_send(());
                false
            }
        }
    }

    /// Receives every message that has arrived; true if there was one.
    fn receive(&mut self) -> bool {
        let mut any = self.world_size > 1 && self.receive_world();
        for index in 0..self.links.len() {
            let Some(comm) = &self.links[index].spawned else {
                continue;
            };
            while let Some(received) = comm.try_receive() {
                any = true;
                if let Received::Message(rank, tag, bytes) = received {
                    on_message(&self.links[index].shared, rank, tag, &bytes);
                }
            }
        }
        any
    }

    /// Receives the world's messages: hellos are kept, the rest goes to the world's pool;
    /// in a fault-tolerant job, learns which ranks died.
    fn receive_world(&mut self) -> bool {
        let mut any = false;
        while let Some(received) = self.world.try_receive() {
            any = true;
            let (rank, tag, bytes) = match received {
                Received::Message(rank, tag, bytes) => (rank, tag, bytes),
                Received::Died(ranks) => {
                    self.on_deaths(&ranks);
                    break; // the next turn receives again
                }
            };
            if tag == messages::TAG_MESSAGE && keep_hello(&mut self.hellos, rank, &bytes) {
                continue;
            }
            if let Some(link) = self.links.iter().find(|l| l.spawned.is_none()) {
                on_message(&link.shared, rank, tag, &bytes);
            }
        }
        any
    }

    /// The world's `ranks` are dead: those not known dead before leave the world's pool
    /// (see `State::worker_died`), and no pool takes them again.
    fn on_deaths(&mut self, ranks: &[Rank]) {
        for &rank in ranks {
            let Some(index) = usize::try_from(rank).ok().filter(|&r| r < self.dead.len()) else {
                continue;
            };
            if std::mem::replace(&mut self.dead[index], true) {
                continue;
            }
            self.hellos[index] = None;
            if let Some(link) = self.links.iter().find(|l| l.spawned.is_none()) {
                let mut finish = Vec::new();
                link.shared.lock().worker_died(rank, &mut finish);
                link.shared.settle(finish);
            }
        }
    }

    /// True when world rank `rank` is known dead.
    fn is_dead(&self, rank: Rank) -> bool {
        usize::try_from(rank)
            .ok()
            .and_then(|r| self.dead.get(r))
            .is_some_and(|&dead| dead)
    }

    /// Visits each pool once, under one lock: fails its tasks past their time limit (see
    /// `State::expire`), takes what its dispatch decides to send, and reads whether it has
    /// tasks in flight and its next deadline; then sends and settles after the unlock.
    fn visit_pools(&self, now: Instant) -> Visit {
        let mut visit = Visit::default();
        for link in &self.links {
            let mut finish = Vec::new();
            let outgoing = {
                let mut state = link.shared.lock();
                if state.next_task_deadline().is_some_and(|at| now >= at) {
                    state.expire(now, &mut finish);
                }
                let outgoing = state.dispatch(&link.shared.rules, &link.shared.counters);
                visit.in_flight |= !state.idle() || state.starting();
                visit.next_deadline = match (visit.next_deadline, state.next_task_deadline()) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                outgoing
            };
            let comm = link.spawned.as_ref().unwrap_or(&self.world);
            for out in outgoing {
                visit.sent = true;
                comm.send_frames(out.rank, &out.frames);
            }
            link.shared.settle(finish);
        }
        visit
    }

    /// Lets the workers of dropped pools go, once their tasks are done: the world's ranks
    /// wait for the next pool; spawned workers stop, and the communicator is disconnected.
    fn release_detached(&mut self) {
        let mut index = 0;
        while index < self.links.len() {
            let link = &self.links[index];
            let done = link.detaching && link.shared.lock().in_flight() == 0;
            if !done {
                index += 1;
                continue;
            }
            let link = self.links.remove(index);
            self.release(link, ToWorker::Release);
        }
    }

    /// Lets `link`'s workers go with `how` (spawned workers always get `Stop`).
    fn release(&self, link: Link, how: ToWorker) {
        let mut finish = Vec::new();
        let ranks: Vec<Rank> = {
            let mut state = link.shared.lock();
            // Broken from here on: nothing more is sent or received for it.
            state.break_pool("the pool's MPI workers were let go".to_owned(), &mut finish);
            state.workers.iter().map(|w| w.rank).collect()
        };
        link.shared.settle(finish);
        match &link.spawned {
            Some(comm) => ranks
                .iter()
                .for_each(|&rank| comm.send_message(rank, &ToWorker::Stop)),
            None => ranks
                .iter()
                .for_each(|&rank| self.world.send_message(rank, &how)),
        }
        // A spawned link's communicator is disconnected here (its workers disconnect as they
        // finalize).
        drop(link);
    }

    /// Checks that the spawned workers on this machine live; ends the job if one died.
    fn check_liveness(&self) {
        for link in &self.links {
            let Some(comm) = &link.spawned else { continue };
            let dead = {
                let state = link.shared.lock();
                state
                    .workers
                    .iter()
                    .find(|w| w.host == self.host && !alive(w.pid))
                    .map(Worker::describe)
            };
            if let Some(worker) = dead {
                eprintln!(
                    "pool-mpi: spawned worker {worker} died; an MPI job cannot go on without one \
                     of its processes (fail-stop): ending the MPI job"
                );
                comm.abort(72);
            }
        }
    }

    /// The session ends: with tasks in flight the job is aborted (they cannot finish);
    /// otherwise every worker stops and the pools' waiting tasks fail.
    fn finalize(&mut self) {
        let running: usize = self.links.iter().map(|l| l.shared.lock().in_flight()).sum();
        if running > 0 {
            eprintln!(
                "pool-mpi: the MPI session ended with {running} task(s) still running on the \
                 workers (was a pool forgotten, or shut down without waiting?); they cannot \
                 finish: ending the MPI job"
            );
            let comm = self
                .links
                .iter()
                .find_map(|l| l.spawned.as_ref())
                .unwrap_or(&self.world);
            comm.abort(73);
        }
        let live: Vec<Rank> = (1..self.world_size).filter(|&r| !self.is_dead(r)).collect();
        if self.dead.contains(&true) {
            for &rank in &live {
                self.world.send(rank, messages::TAG_SKIP_FINALIZE, &[]);
            }
        }
        for link in std::mem::take(&mut self.links) {
            self.release(link, ToWorker::Stop);
        }
        for &rank in &live {
            self.world.send_message(rank, &ToWorker::Stop);
        }
        self.mpi_thread.end("the MPI session ended".to_owned());
    }
}

/// What a turn's visit of the pools found.
#[derive(Default)]
struct Visit {
    /// Tasks were sent.
    sent: bool,
    /// A pool has tasks waiting or running, or workers starting.
    in_flight: bool,
    /// The earliest time limit of a running task.
    next_deadline: Option<Instant>,
}

/// True while process `pid` of this machine lives (not gone, not a zombie).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

/// Handles a message from worker `rank` of `shared`'s pool: takes what its frames answer
/// under the lock once, then settles and completes after the unlock (user code runs there).
fn on_message(shared: &Shared, rank: Rank, tag: i32, bytes: &[u8]) {
    let mut finish = Vec::new();
    let answered: Vec<_> = {
        let mut state = shared.lock();
        let mut answered = Vec::new();
        for frame in messages::frames_of(tag, bytes) {
            match task_wire::split::<FromWorker>(frame) {
                Ok((FromWorker::Reply { id }, at)) => {
                    answered.extend(state.take_answered(rank, id).map(|c| (frame, at, c)));
                }
                Ok((FromWorker::Ready, _)) => {
                    if let Some(w) = state.worker_mut(rank) {
                        if w.phase == Phase::Initializing {
                            w.phase = Phase::Ready;
                        }
                    }
                }
                Ok((FromWorker::InitFailed(message), _)) => {
                    state.initializer_failed(rank, &message, &mut finish);
                }
                _ => {}
            }
        }
        state.completing += answered.len();
        answered
    };
    shared.settle(finish);
    let count = answered.len();
    for (frame, at, completion) in answered {
        let results = frame.get(at..).unwrap_or_default();
        pool_engine::complete("pool-mpi", completion, results, &shared.counters);
    }
    if count > 0 {
        // Counted: `shutdown` and `stats` see these tasks finished only now.
        shared.completed(count);
    }
}
