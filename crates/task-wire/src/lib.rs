//! The task encoding that rustures' process-based pools share (`pool-process` on one
//! machine, `pool-mpi` across machines): how a plain function and its arguments cross to
//! another process of the same binary, how the worker runs them, and how the results come
//! back. It knows nothing of sockets, MPI or scheduling: a pool puts these bytes in its own
//! messages.
//!
//! - [`TaskName`]: a `fn(A) -> R` named by offsets from an anchor function (the function and
//!   a trampoline monomorphized for `A` and `R`), checked to lie in the program's own
//!   executable ([`name_task`], [`name_initializer`]);
//! - [`run_task`] (`unsafe`: the name must come from the same build) runs a named task on
//!   its encoded arguments in a worker and appends the encoded results to a reply;
//!   [`resolve_initializer`] the same for an initializer, and [`run_initializer`] runs it;
//! - [`decode_results`] and [`decode_single`]: the parent's side of a reply;
//!   [`error_payload`]: a reply that fails every element of a chunk; [`Completion`]
//!   ([`Single`], [`Chunk`]): a task's promise with its result type erased, completed from
//!   its reply;
//! - [`Counters`] and [`Settled`]: the statistics both pools keep;
//! - [`Fingerprint`]: proof that a worker runs the same build (GNU build-id, crate and
//!   protocol versions, a code-layout probe), equal across machines for the same binary;
//! - [`messages`]: what a pool and its workers say to each other, the same for both pools;
//! - [`encode`], [`encode_into`], [`decode`], [`split`]: postcard at the pool's edges, with
//!   errors in words (a user's `Serialize` or `Deserialize` that fails or panics fails only
//!   its task); [`encode_task`] and [`encode_message`]: a pool's task frame (its head, then
//!   the arguments) and its own messages.
//!
//! ```
//! use future_core::executor::Elements;
//! use task_wire::{decode_results, name_task, run_task};
//!
//! fn double(x: u32) -> u32 { x * 2 }
//!
//! // In the parent: name the function, encode the arguments.
//! let name = name_task(double).unwrap();
//! let args = task_wire::encode(&Elements(&[1u32, 2, 3])).unwrap();
//! // In a worker of the same binary (here: the same process): run it.
//! let mut reply = Vec::new();
//! // SAFETY: `name` comes from `name_task` in this very process.
//! unsafe { run_task(name, ipc_queue::Frame::from(args), 0, &mut reply) };
//! // Back in the parent: decode the results.
//! let results = decode_results::<u32>(&reply, 3).unwrap();
//! assert_eq!(results.into_results(), vec![Ok(2), Ok(4), Ok(6)]);
//! ```
#![cfg_attr(not(test), warn(clippy::unwrap_used))]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(not(unix))]
compile_error!("task-wire supports Unix (Linux) only: it reads the program's ELF image");

mod codec;
mod completion;
mod fingerprint;
pub mod messages;
mod naming;
mod panics;
mod reply;
mod runner;
mod segments;
mod stats;

pub use codec::{decode, encode, encode_into, encode_message, encode_task, split};
pub use completion::{CancelVeto, Chunk, Completion, Single};
pub use fingerprint::{Fingerprint, Protocol};
pub use naming::{TaskName, name_initializer, name_task, resolve_initializer, run_initializer};
pub use panics::{catch, contain};
pub use reply::{decode_results, decode_single, error_payload};
pub use runner::{run_task, set_worker_label, worker_label};
pub use stats::{Counters, Settled};
