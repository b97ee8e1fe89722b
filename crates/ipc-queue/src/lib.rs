//! A typed cross-process channel over a Unix `socketpair` with postcard frames, that never hangs
//! on a dead peer.
//!
//! [`channel`] gives a [`Sender`] and a [`Receiver`]; [`duplex`] gives two [`Duplex`] ends for
//! request/response, each splittable into a sender and a receiver half. One end goes to a child
//! process with [`spawn_with`] and is rebuilt there with `from_env`, or, with no `pre_exec` hook
//! (so std can use `posix_spawn`), as its stdin with [`spawn_with_stdin`] and
//! [`fd_from_stdin`]; [`send_fds`] passes more descriptors through it. A [`Selector`] waits on many
//! receivers from one thread. The crate knows nothing of futures or pools; it is the wire under
//! the process pool.
//!
//! - A peer that closes its end or dies, at any point, is [`RecvError::Disconnected`] or
//!   [`SendError::Disconnected`]: never a hang, a panic or a `SIGPIPE`.
//! - Every endpoint has a maximum frame ([`DEFAULT_MAX_FRAME`]): a larger message is not sent,
//!   a larger header is refused before anything is allocated.
//! - A receive that times out mid-frame loses nothing; a frame that does not decode is
//!   consumed whole. Either way the next frame still reads.
//!
//! The design note, `src/README.md` in this crate, gives the argument behind each of these, and
//! why an end goes to a child through a `pre_exec` hook or as its stdin, and many receivers are served by `poll`
//! rather than reader threads.
//!
//! # Example: a worker process
//!
//! The program re-executes itself as a worker (as a process pool does), hands it one end of a
//! duplex, and exchanges requests and replies with it.
//!
//! ```rust,standalone_crate
//! use std::process::Command;
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     if std::env::var_os("DEMO_WORKER_FD").is_some() {
//!         // Worker: square numbers until the parent goes away.
//!         // SAFETY: only the parent below sets the variable, on the worker it starts with
//!         // the descriptor, and the worker starts no process of its own.
//!         let mut end = unsafe { ipc_queue::Duplex::<u64, u64>::from_env("DEMO_WORKER_FD") }?;
//!         while let Ok(n) = end.recv() {
//!             end.send(&(n * n))?;
//!         }
//!         return Ok(());
//!     }
//!     let (mut parent, child_end) = ipc_queue::duplex::<u64, u64>()?;
//!     let mut cmd = Command::new(std::env::current_exe()?);
//!     let mut child = ipc_queue::spawn_with(&mut cmd, "DEMO_WORKER_FD", child_end)?;
//!     for n in 1..=3 {
//!         parent.send(&n)?;
//!         assert_eq!(parent.recv()?, n * n);
//!     }
//!     drop(parent); // the worker's recv sees Disconnected, and it exits
//!     assert!(child.wait()?.success());
//!     Ok(())
//! }
//! ```
#![cfg_attr(not(test), warn(clippy::unwrap_used))]
#![deny(unsafe_op_in_unsafe_fn)]

mod duplex;
mod error;
mod frame;
mod handoff;
mod receiver;
mod select;
mod sender;
mod sys;

pub use duplex::{Duplex, channel, duplex};
pub use error::{RecvError, SelectError, SendError};
pub use frame::{DEFAULT_MAX_FRAME, HEADER_LEN, MAX_FRAME_LIMIT};
pub use handoff::{
    Endpoint, Handoff, fd_from_env, fd_from_stdin, recv_fds, send_fds, spawn_with, spawn_with_stdin,
};
pub use receiver::{Frame, Receiver};
pub use select::Selector;
pub use sender::Sender;
