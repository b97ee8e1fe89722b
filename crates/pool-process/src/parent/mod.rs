//! The parent's side of the process pool: the pool and its settings, dispatch, the manager
//! that reads replies and handles deaths, the threads that take turns holding it, the
//! outboxes that write tasks, and how a worker process is started and reaped.

pub(crate) mod builder;
pub(crate) mod dispatch;
pub(crate) mod info;
pub(crate) mod manager;
#[cfg(loom)]
pub mod manager_threads;
#[cfg(not(loom))]
pub(crate) mod manager_threads;
pub(crate) mod outbox;
pub(crate) mod pool;
pub(crate) mod spawn;
pub(crate) mod status;
