//! The messages on a worker's socket: `task_wire::messages`, one frame each way over one
//! `AF_UNIX` stream socketpair per worker (an `ipc_queue::Duplex`). The parent closes the
//! socket to let a worker go: it exits 0.

pub(crate) use task_wire::messages::{FromWorker, Init, ToWorker};

/// What the fingerprint says of this pool's messages (see `task_wire::Fingerprint`).
const PROTOCOL: task_wire::Protocol = task_wire::Protocol {
    pool: "pool-process",
    version: env!("CARGO_PKG_VERSION"),
    protocol: task_wire::messages::VERSION,
    salt_env: "POOL_PROCESS_FINGERPRINT_SALT",
};

/// This process's build fingerprint, as pools and workers of this crate compare it.
pub(crate) fn fingerprint() -> task_wire::Fingerprint {
    task_wire::Fingerprint::current(&PROTOCOL, crate::init)
}
