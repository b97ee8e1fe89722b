//! Where the manager threads (`manager_threads.rs`) take their synchronization primitives and
//! threads from: `pool-engine`'s shim, std's normally and loom's under `RUSTFLAGS="--cfg
//! loom"`, so the loom models in `tests/loom.rs` explore every interleaving of the real
//! threads. Timeouts are not modelled by loom: a timed wait is an untimed one there, and the
//! models rely on notifications alone.

pub(crate) use pool_engine::sync::{
    Arc, Condvar, Mutex, MutexGuard, lock, spawn, wait, wait_timeout,
};
