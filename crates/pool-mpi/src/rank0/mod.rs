//! Rank 0's side of the MPI pool: the pool users hold and its settings, one pool's state and
//! dispatch decisions, and the MPI thread that sends tasks and receives replies, with the
//! inbox through which pools reach it.

pub(crate) mod builder;
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
pub(crate) mod dispatch;
#[cfg(loom)]
pub mod inbox;
#[cfg(not(loom))]
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
pub(crate) mod inbox;
#[cfg(feature = "mpi")]
pub(crate) mod mpi_thread;
#[cfg(feature = "mpi")]
pub(crate) mod pool;
