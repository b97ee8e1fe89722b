//! The parent's side of the process pool: the pool and its settings, dispatch, the manager
//! that reads replies and handles deaths, the threads that take turns holding it, and the
//! outboxes that write tasks.

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
pub(crate) mod status;
