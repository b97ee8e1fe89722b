//! The MPI session of a process: [`init`], which every rank calls first in `main`, the MPI
//! thread it starts, and [`MpiSession`], the guard whose drop ends the session.
//!
//! One thread per process owns every MPI object: it initializes MPI
//! (`Threading::Serialized`), makes the MPI calls (on a worker, its replies' watchdog takes
//! turns with it, see `worker.rs`) and finalizes MPI. On a worker rank that is
//! the whole life of the process: `init` serves there and exits. On rank 0 (the program) it
//! is the MPI thread of the pools (`rank0/mpi_thread/`). A program started without `mpirun` starts
//! MPI (as a singleton) only when a pool first spawns workers.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, mpsc};
use std::thread::JoinHandle;

use crate::comm::Comm;
use crate::membership::{Membership, membership};
use crate::rank0::builder::MpiPoolBuildError;
use crate::rank0::mpi_thread::{self, Command, MpiThread};

/// This process's membership, decided by the first `init`.
static MEMBERSHIP: OnceLock<Membership> = OnceLock::new();

/// The MPI thread of this process, once started (it lives until the session ends).
static ENGINE: Mutex<Option<Running>> = Mutex::new(None);

struct Running {
    mpi_thread: Arc<MpiThread>,
    thread: Option<JoinHandle<()>>,
}

/// What the MPI thread found itself to be.
enum Role {
    Program(Arc<MpiThread>),
    Worker,
    Failed(String),
}

/// The stack size of the MPI thread, which runs the tasks on a worker rank: a main thread's.
const STACK: usize = 8 << 20;

/// Joins the MPI job if `mpirun` (or `MPI_Comm_spawn`) started this process: call it first
/// thing in `main`, on every rank, and keep the guard it returns until the end of `main`.
///
/// - On a **worker** (ranks 1..N-1 under `mpirun -n N`, or a process spawned by
///   [`MpiPoolBuilder::spawn_workers`](crate::MpiPoolBuilder::spawn_workers)) it never returns: it serves
///   the pools of rank 0 until the session ends, finalizes MPI and exits the process with
///   status 0. **Everything `main` does before this call runs on every rank.**
/// - On **rank 0** it starts the process's MPI thread and returns the [`MpiSession`] guard;
///   dropping it (at the end of `main`) stops the workers and finalizes MPI.
/// - In a program started **without** `mpirun` it returns at once; MPI starts (as a
///   singleton) when a pool first spawns workers.
/// - In a process that an MPI rank started (a process pool's worker, the program run again
///   as a subprocess: it inherits the rank's environment), it never touches MPI.
///
/// ```no_run
/// fn square(x: u64) -> u64 { x * x }
///
/// fn main() {
///     let _mpi = pool_mpi::init(); // worker ranks serve here and never return
///     let pool = pool_mpi::MpiPool::from_world().unwrap(); // mpirun -n 3: 2 workers
///     assert_eq!(pool.submit(square, 12).unwrap().result(), Ok(144));
/// }
/// ```
#[must_use = "dropping the guard ends the MPI session: keep it until the end of main"]
pub fn init() -> MpiSession {
    let membership = *MEMBERSHIP.get_or_init(membership);
    if membership == Membership::Launched {
        if let Err(why) = start() {
            eprintln!("pool-mpi: cannot start MPI: {why}");
        }
    }
    MpiSession { _private: () }
}

/// The MPI thread's inbox, starting the thread (and MPI, as a singleton) if it is not
/// running yet.
pub(crate) fn started_mpi_thread() -> Result<Arc<MpiThread>, MpiPoolBuildError> {
    match MEMBERSHIP.get() {
        None => return Err(MpiPoolBuildError::NotInitialized),
        Some(Membership::ChildOfRank) => return Err(MpiPoolBuildError::NotInMpiJob),
        Some(_) => {}
    }
    if let Some(running) = lock().as_ref() {
        return Ok(running.mpi_thread.clone());
    }
    start().map_err(MpiPoolBuildError::Mpi)?;
    lock()
        .as_ref()
        .map(|running| running.mpi_thread.clone())
        .ok_or_else(|| MpiPoolBuildError::Mpi("the MPI thread did not start".to_owned()))
}

/// True when this process was started by `mpirun` (as a rank), as `init` found.
pub(crate) fn launched() -> bool {
    MEMBERSHIP.get() == Some(&Membership::Launched)
}

fn lock() -> std::sync::MutexGuard<'static, Option<Running>> {
    ENGINE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts the MPI thread: it initializes MPI and, on a worker, serves and exits the
/// process; on the program's process it runs the pools' MPI thread.
fn start() -> Result<(), String> {
    let mut running = lock();
    if running.is_some() {
        return Ok(());
    }
    let (tx, rx) = mpsc::sync_channel::<Role>(1);
    let thread = std::thread::Builder::new()
        .name("pool-mpi".into())
        .stack_size(STACK)
        .spawn(move || mpi_thread(tx))
        .map_err(|e| format!("cannot start the MPI thread: {e}"))?;
    match rx.recv() {
        Ok(Role::Program(mpi_thread)) => {
            *running = Some(Running {
                mpi_thread,
                thread: Some(thread),
            });
            drop(running);
            register_at_exit();
            Ok(())
        }
        Ok(Role::Worker) => {
            drop(running);
            let served = thread.join();
            let _ = std::io::stdout().flush();
            let _ = std::io::stderr().flush();
            std::process::exit(if served.is_ok() { 0 } else { 70 });
        }
        Ok(Role::Failed(why)) => Err(why),
        Err(_) => Err("the MPI thread ended before it started MPI".to_owned()),
    }
}

/// The body of the MPI thread.
fn mpi_thread(role: mpsc::SyncSender<Role>) {
    use mpi::traits::*;
    // Serialized: a worker's watchdog of its held replies takes turns with its loop
    // (`worker.rs`); rank 0 makes every call on this thread all the same.
    let Some((universe, threading)) = mpi::initialize_with_threading(mpi::Threading::Serialized)
    else {
        let _ = role.send(Role::Failed("MPI was initialized already".to_owned()));
        return;
    };
    let serialized = matches!(
        threading,
        mpi::Threading::Serialized | mpi::Threading::Multiple
    );
    let world = universe.world();
    let mut finalize = true;
    if let Some(parent) = world.parent() {
        let _ = role.send(Role::Worker);
        finalize = crate::worker::serve(Comm::Inter(parent), world.rank(), serialized);
    } else if world.rank() != 0 {
        let _ = role.send(Role::Worker);
        let rank = world.rank();
        finalize = crate::worker::serve(Comm::World(world), rank, serialized);
    } else {
        let mpi_thread = Arc::new(MpiThread::default());
        let _ = role.send(Role::Program(mpi_thread.clone()));
        mpi_thread::run(mpi_thread.clone(), &universe);
        mpi_thread.end("the MPI session ended".to_owned());
    }
    if !finalize || crate::ulfm::any_died(universe.world().as_raw()) {
        // `MPI_Finalize` may wait for a dead process for ever: the process exits without it.
        std::mem::forget(universe);
        return;
    }
    drop(universe); // MPI_Finalize, on this thread
}

/// The MPI session of rank 0, from [`init`]: dropping it stops every worker (on every
/// rank) and finalizes MPI, so keep it until the end of `main`. A session that ends with
/// tasks still running on workers (a pool forgotten with tasks in flight) ends the MPI job
/// with a message instead: they could never finish. Pools built after the end refuse to
/// build ([`MpiPoolBuildError::Mpi`](crate::MpiPoolBuildError::Mpi)).
///
/// A program that returns from `main` without dropping it (it is forgotten with
/// [`keep_until_exit`](Self::keep_until_exit)) ends the session as the process exits.
///
/// ```no_run
/// let mpi = pool_mpi::init();
/// let pool = pool_mpi::MpiPool::from_world().unwrap();
/// drop(pool); // the pool first: its workers are let go
/// drop(mpi); // then the session: every worker stops, MPI is finalized
/// ```
#[derive(Debug)]
pub struct MpiSession {
    _private: (),
}

impl MpiSession {
    /// Keeps the session until the process exits (it ends then, as the guard's drop would),
    /// for programs that cannot hold a guard in `main`.
    ///
    /// ```no_run
    /// pool_mpi::init().keep_until_exit(); // as rustures::init() does
    /// let pool = pool_mpi::MpiPool::from_world().unwrap();
    /// # drop(pool);
    /// ```
    pub fn keep_until_exit(self) {
        std::mem::forget(self);
        register_at_exit();
    }
}

impl Drop for MpiSession {
    fn drop(&mut self) {
        finalize();
    }
}

/// Ends the session: the MPI thread stops the workers and finalizes MPI; waits for it.
fn finalize() {
    let Some(mut running) = lock().take() else {
        return;
    };
    let (done, finished) = mpsc::sync_channel(1);
    if running.mpi_thread.send(Command::Finalize(done)).is_ok() {
        let _ = finished.recv();
    }
    if let Some(thread) = running.thread.take() {
        let _ = thread.join();
    }
}

/// Registers (once) the exit hook that ends a session still running when the process exits.
fn register_at_exit() {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        extern "C" fn at_exit() {
            // A panic must not unwind out of an `extern "C"` function, nor its payload's
            // `Drop`: the payload is forgotten, not dropped.
            if let Err(payload) = std::panic::catch_unwind(finalize) {
                std::mem::forget(payload);
            }
        }
        // SAFETY: `atexit` stores a function pointer that the C library calls once, on the
        // thread that calls `exit`, with no arguments; `at_exit` is such a function and
        // catches every panic.
        unsafe {
            libc::atexit(at_exit);
        }
    });
}
