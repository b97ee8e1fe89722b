//! The messages on a worker's socket, in both directions.
//!
//! One `AF_UNIX` stream socketpair per worker (an `ipc_queue::Duplex`): the parent sends
//! [`ToWorker`], the worker sends [`FromWorker`]. The conversation is
//!
//! ```text
//! worker: Hello{pid, nonce, fingerprint}
//! parent:                          Init{initializer, max_tasks, spin, max_frame}   (only if the fingerprints match)
//! worker: Ready | InitFailed(msg)
//! parent:                          Task{id, trampoline, func, payload} ...
//! worker: Reply{id, payload} ...   (one per task, in the order the tasks were sent)
//! parent:                          (closes the socket: the worker exits 0)
//! ```
//!
//! Task payloads are postcard bytes of a `Vec<A>` (one element for `submit`, a chunk for
//! `map`); reply payloads are postcard bytes of a `Vec<Result<R, TaskError>>`. They are
//! nested byte strings because the worker's message loop does not know `A` and `R`: only
//! the monomorphized trampoline named in the task does.

use serde::{Deserialize, Serialize};

use crate::fingerprint::Fingerprint;

/// Parent to worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToWorker {
    /// The answer to a good `Hello`: how to run.
    Init(Init),
    /// Run `func` on the arguments in `payload` through `trampoline`.
    Task(TaskMsg),
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
}

/// One task (or one `map` chunk).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TaskMsg {
    pub(crate) id: u64,
    /// Offset of the `fn(usize, &[u8]) -> Vec<u8>` trampoline from the anchor.
    pub(crate) trampoline: isize,
    /// Offset of the user's `fn(A) -> R` from the anchor.
    pub(crate) func: isize,
    #[serde(with = "serde_bytes")]
    pub(crate) payload: Vec<u8>,
}

/// The encoded `ToWorker::Task` message of a task: what the pool writes to the worker's
/// socket as is (`ipc_queue::Sender::send_encoded`), and again to another worker if this one
/// dies before it starts the task. Encoded outside the pool's lock.
pub(crate) fn encode_task(id: u64, trampoline: isize, func: isize, payload: Vec<u8>) -> Vec<u8> {
    let msg = ToWorker::Task(TaskMsg {
        id,
        trampoline,
        func,
        payload,
    });
    // A message of integers and bytes always encodes.
    postcard::to_stdvec(&msg).unwrap_or_default()
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
    /// The encoded results of task `id`.
    Reply {
        id: u64,
        #[serde(with = "serde_bytes")]
        payload: Vec<u8>,
    },
    /// Never sent by a worker: the manager's own wake-up, on its wake channel, which
    /// shares the receiver type so one `Selector` waits on everything.
    Wake,
}
