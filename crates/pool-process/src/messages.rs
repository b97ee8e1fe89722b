//! The messages on a worker's socket, in both directions.
//!
//! One `AF_UNIX` stream socketpair per worker (an `ipc_queue::Duplex`): the parent sends
//! [`ToWorker`], the worker sends [`FromWorker`]. The conversation is
//!
//! ```text
//! worker: Hello{pid, nonce, fingerprint}
//! parent:                          Init{initializer, max_tasks, spin, max_frame, print_panics}   (only if nonce and fingerprint match)
//! worker: Ready | InitFailed(msg)
//! parent:                          Task{id, task: TaskName, timed} + arguments ...
//! worker: Reply{id} + results ...  (one per task, in the order the tasks were sent; several
//!                                   may come in one write, see `pool_engine::replies`)
//!         | Skipped{id}              (a task sent ahead that was cancelled before it started)
//! parent:                          (closes the socket: the worker exits 0)
//! ```
//!
//! A task's frame is its `Task` message followed, in the same frame, by the postcard bytes of
//! its `Vec<A>` (one element for `submit`, a chunk for `map`); a reply's frame is its `Reply`
//! message followed by the postcard bytes of a `ChunkResults<R>`. The message loops decode the
//! message with `take_from_bytes` and hand the rest of the frame, unread, to the trampoline
//! (which knows `A` and `R`) or to the task's completion (`task_wire::encode_task` builds a
//! task's frame, `task_wire::encode_message` the start of a reply's). Arguments and results are thus
//! encoded straight into the frame that is sent and decoded straight from the frame that was
//! received: no copy of a large payload on either side.

use serde::{Deserialize, Serialize};

use task_wire::{Fingerprint, TaskName};

/// What the fingerprint says of this pool's messages (see `task_wire::Fingerprint`).
const PROTOCOL: task_wire::Protocol = task_wire::Protocol {
    pool: "pool-process",
    version: env!("CARGO_PKG_VERSION"),
    protocol: 6,
    salt_env: "POOL_PROCESS_FINGERPRINT_SALT",
};

/// This process's build fingerprint, as pools and workers of this crate compare it.
pub(crate) fn fingerprint() -> Fingerprint {
    Fingerprint::current(&PROTOCOL, crate::init)
}

/// Parent to worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToWorker {
    /// The answer to a good `Hello`: how to run.
    Init(Init),
    /// Run `func` through `trampoline` on the arguments that follow in the frame.
    Task(TaskHead),
}

/// The worker's settings, sent after the fingerprint check.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Init {
    /// Offset of the `fn()` initializer from the anchor, if any.
    pub(crate) initializer: Option<isize>,
    /// Exit after this many tasks.
    pub(crate) max_tasks: Option<u64>,
    /// How long the worker spins for its next task before it blocks, in nanoseconds.
    pub(crate) spin_ns: u64,
    /// The largest frame the worker may receive or send.
    pub(crate) max_frame: u64,
    /// Whether the panic hook prints the panics of user code that the worker catches
    /// (the builder's `print_task_panics`).
    pub(crate) print_panics: bool,
}

/// One task (or one `map` chunk); its arguments follow in the frame.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TaskHead {
    pub(crate) id: u64,
    /// The function and its trampoline, named for a worker of the same binary.
    pub(crate) task: TaskName,
    /// It has a time limit, counted by the pool from the reply before it: the worker sends
    /// that reply before it starts this task, and this one's as soon as it ends (see
    /// `pool_engine::replies`).
    pub(crate) timed: bool,
}

/// Worker to parent.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum FromWorker {
    /// The first message of a worker: who it is and which build it runs.
    Hello {
        pid: u32,
        /// The nonce of the marker the pool gave this worker (see `marker.rs`).
        nonce: u64,
        fingerprint: Fingerprint,
    },
    /// The initializer ran (or there was none): send tasks.
    Ready,
    /// The initializer panicked with this message; the worker exits.
    InitFailed(String),
    /// The results of task `id` follow in the frame.
    Reply { id: u64 },
    /// Task `id`, sent ahead, was cancelled before it started: the worker did not run it
    /// (see `cancels.rs`).
    Skipped { id: u64 },
    /// Never sent by a worker: the manager's own wake-up, on its wake channel, which
    /// shares the receiver type so one `Selector` waits on everything.
    Wake,
}
