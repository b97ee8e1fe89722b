//! [`Phase`]: where a worker is in its life with its pool.

/// Where a worker is in its life with its pool (see [`Worker::phase`](crate::Worker::phase)).
/// The pools differ here in two ways, each on purpose:
///
/// - the process pool starts its worker processes itself, and each says hello to the pool
///   first ([`Hello`](Phase::Hello)); an MPI worker said hello to the MPI thread before a
///   pool took it, so it starts at [`Initializing`](Phase::Initializing);
/// - the process pool kills a worker whose task ran past its time limit, and starts another;
///   an MPI rank cannot be stopped without ending the job, so it is
///   [`Retired`](Phase::Retired) instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Started; its `Hello` has not arrived.
    Hello,
    /// Sent `Init`: its initializer runs, and its `Ready` has not arrived.
    Initializing,
    /// Takes tasks.
    Ready,
    /// Gets no more tasks: a task of it ran past its time limit.
    Retired,
}

impl Phase {
    /// Past its start-up: ready, or retired (which never becomes a worker that could take a
    /// task sooner).
    pub fn started(self) -> bool {
        matches!(self, Phase::Ready | Phase::Retired)
    }
}
