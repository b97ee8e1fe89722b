//! mpi4py.futures' `MPIPoolExecutor` for Rust: the rustures interface (`submit(f, arg)`,
//! `map`, `map_unordered`, `shutdown`, `stats`, the same [`TaskFuture`](future_core::TaskFuture)
//! that `wait` and `as_completed` take) on the ranks of an MPI job, across machines.
//!
//! **Enable the `mpi` feature** to get the pool: it links an MPI library (Open MPI) through
//! the `mpi` crate, which needs the library and libclang at build time (Debian:
//! `apt-get install libopenmpi-dev openmpi-bin libclang-dev`). Without it the crate builds
//! on any machine and offers only the settings ([`MpiPoolBuilder`], [`MpiPoolBuildError`]).
//!
//! ```toml
//! pool-mpi = { version = "0.1", features = ["mpi"] }
//! ```
//!
//! With it, [`init`] comes first in `main` on every rank (worker ranks serve inside it);
//! `MpiPool::from_world()` takes the world's ranks 1..N-1 as workers (`mpirun -n N`), and
//! `MpiPool::builder().spawn_workers(n)` starts `n` workers with `MPI_Comm_spawn`.
//!
//! The examples use the paths of `rustures` (with its `mpi` feature), which re-exports the
//! pool and its builder; with this crate alone, read `pool_mpi::` for `rustures::`, and
//! `let _mpi = pool_mpi::init();` (keep the guard) for `rustures::init();`.
//!
//! ```no_run
//! # #[cfg(feature = "mpi")]
//! # mod demo {
//! use rustures::{Executor, MapOptions};
//!
//! fn is_prime(n: u64) -> bool {
//!     n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
//! }
//!
//! // Written against the shared interface: the thread and process pools run it unchanged.
//! fn count_primes(pool: &impl Executor, below: u64) -> usize {
//!     pool.map(is_prime, 0..below, MapOptions::new().chunksize(1_000))
//!         .unwrap()
//!         .filter(|r| *r.as_ref().unwrap())
//!         .count()
//! }
//!
//! pub fn main() {
//!     rustures::init(); // mpirun -n 3 ./program: ranks 1 and 2 serve here
//!     let pool = rustures::MpiPool::from_world().unwrap();
//!     assert_eq!(count_primes(&pool, 10_000), 1229);
//! }
//! # }
//! # fn main() {}
//! ```
//!
//! One thread per process owns every MPI object: on rank 0 it sends the tasks that
//! submitting threads queued and completes the futures. A task is a plain `fn(A) -> R` named
//! by its offset in the executable (`task-wire`), checked by a build fingerprint when a pool
//! takes a worker; dispatch is `pool-engine`'s, shared with the process pool. A task's
//! panic, error or time limit fails only its future (a timed-out worker is retired). A
//! worker rank that dies fails only its tasks in a job started with `mpirun --with-ft ulfm`
//! (feature `ulfm`, Open MPI 5 with ULFM: [`MpiPool::fault_tolerant`]); elsewhere it ends the
//! whole MPI job, as MPI does, and the pool never hangs on it. `docs/MPI.md` in the
//! repository tells how to run across machines and what happens when a rank dies.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]
#![deny(unsafe_op_in_unsafe_fn)]
#![allow(clippy::needless_doctest_main)]
// Without the `mpi` feature only the builder and the settings are compiled: their docs name
// the pool and `init`, which exist with it (the documentation is meant to be read with it).
#![cfg_attr(not(feature = "mpi"), allow(rustdoc::broken_intra_doc_links))]

#[cfg(not(unix))]
compile_error!("pool-mpi supports Unix (Linux) only");

// The dispatch decisions and the wire format need no MPI: they are built and tested
// without the feature too.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
mod backoff;
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
mod membership;
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
mod messages;
/// Rank 0's side: the pool, its settings, its state and dispatch, the MPI thread.
mod rank0;
/// The MPI thread's inbox, public for the loom models of `tests/loom.rs` only.
#[cfg(loom)]
pub use rank0::inbox;

#[cfg(feature = "mpi")]
mod comm;
#[cfg(feature = "mpi")]
mod session;
/// Surviving a dead worker rank (Open MPI's ULFM).
#[cfg(feature = "mpi")]
mod ulfm;
/// A worker rank's side: serving the pools of rank 0.
#[cfg(feature = "mpi")]
mod worker;

pub use rank0::builder::{MpiPoolBuildError, MpiPoolBuilder};
#[cfg(feature = "mpi")]
pub use rank0::pool::MpiPool;
#[cfg(feature = "mpi")]
pub use session::{MpiSession, init};

/// What the `rustures` umbrella re-exports from this crate, under the umbrella's names: the
/// items exist exactly when this crate's `mpi` feature is on, however it was turned on. So
/// `rustures::MpiPool` exists wherever the pool does, and this crate's doc examples, written
/// with the umbrella's paths, compile against it (a dev-dependency on `rustures` cannot turn
/// on a feature of its own: that would need MPI for every test build).
#[doc(hidden)]
pub mod for_rustures {
    /// The umbrella's top level.
    pub mod root {
        #[cfg(feature = "mpi")]
        pub use crate::{MpiPool, MpiPoolBuilder};
    }
    /// The umbrella's `builders` module.
    pub mod builders {
        #[cfg(feature = "mpi")]
        pub use crate::{MpiPoolBuildError, MpiPoolBuilder};
    }
}
