//! A typed cross-process channel over a Unix `socketpair` with postcard frames, that never hangs
//! on a dead peer.
//!
//! [`channel`] gives a [`Sender`] and a [`Receiver`]; [`duplex`] gives two [`Duplex`] ends for
//! request/response, each splittable into a sender and a receiver half. One end goes to a child
//! process with [`spawn_with`] and is rebuilt there with `from_env`. A [`Selector`] waits on many
//! receivers from one thread. The crate knows nothing of futures or pools; it is the wire under
//! the process pool.
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
//!
//! # Design
//!
//! **Frames.** Each message is one frame: a 4-byte little-endian `u32` payload length
//! ([`HEADER_LEN`]) followed by the [postcard](https://docs.rs/postcard) encoding of the message.
//! The payload must decode to exactly one value of the receiver's type, with no trailing bytes.
//!
//! **Maximum frame size.** Each endpoint has one, [`DEFAULT_MAX_FRAME`] (64 MiB) unless set with
//! `with_max_frame` (up to [`MAX_FRAME_LIMIT`], 4 GiB − 1). Sending a larger message is
//! [`SendError::TooLarge`] and sends nothing (the encoder counts the oversize message without
//! storing it). A header announcing more is [`RecvError::FrameTooLarge`], raised before
//! anything is allocated; the receiver then discards that many bytes as they arrive, so the
//! stream stays aligned. A receiver's buffer never exceeds `max(64 KiB, 4 + max_frame)`. The
//! receive and encode buffers that grew for large messages are kept while large messages keep
//! coming (no allocation and page faults per message) and freed after 16 frames in a row that
//! fit in 64 KiB.
//!
//! **Partial frames.** A [`Receiver`] keeps a partly read frame between calls, so
//! [`Receiver::recv_timeout`] and [`Receiver::try_recv`] may give up in the middle of a frame
//! and the next call finishes it. A frame that does not decode is consumed whole
//! ([`RecvError::Decode`]): the next frame still reads.
//!
//! **Disconnects.** The peer closing its end or dying, at any point (also mid-frame), makes
//! receives return [`RecvError::Disconnected`] once the complete frames already received are
//! consumed, and sends return [`SendError::Disconnected`]; never a hang, never a panic. Sends use
//! `send(2)` with `MSG_NOSIGNAL`, so writing to a dead peer is `EPIPE`, not a `SIGPIPE` that
//! kills the process, whatever the process's signal disposition. A dead peer is detected by the
//! kernel closing its socket, so the parent must not keep a copy of the child's end:
//! [`spawn_with`] closes it right after the spawn, and every descriptor the crate creates is
//! `CLOEXEC`, so no other child inherits it either.
//!
//! **Threads.** A [`Sender`] is `Clone + Send + Sync`; its clones share one lock held from
//! encoding to the frame's last byte, so frames never interleave. A [`Receiver`] takes
//! `&mut self`. A split [`Duplex`] reads on one thread while it writes on another.
//!
//! **Handing an end to a child.** [`Handoff`] duplicates the socket as a `CLOEXEC` descriptor
//! numbered 3 or more and installs a `pre_exec` hook that clears `CLOEXEC` on that descriptor
//! only, in the forked child (an async-signal-safe `fcntl`); the number travels in an
//! environment variable. Unlike making the descriptor inheritable in the parent for the
//! duration of the spawn, this cannot leak it into a child that another thread spawns at the
//! same moment. In the child, [`fd_from_env`] validates the descriptor (open, `AF_UNIX`,
//! `SOCK_STREAM`, claimed at most once) before taking it; it is `unsafe` because the variable,
//! unlike the descriptor, is inherited by the child's own children, where the number may name
//! a descriptor that other code owns: the caller vouches that the variable is meant for it.
//!
//! **Many receivers: `poll`, not reader threads.** A reader thread per worker would add a
//! second cross-thread wake-up to every message, on top of the kernel's; on a virtual machine
//! each costs tens of microseconds, against the process pool's 15 µs round-trip target. With
//! [`Selector::recv_any`] the thread that wants the result is woken by the kernel and reads
//! the frame itself. Crash handling stays on that thread: a dead worker's socket polls readable,
//! its read returns EOF, and `recv_any` reports [`SelectError::Recv`] with the worker's index
//! and [`RecvError::Disconnected`]; there is no reader thread to stop or join.
//!
//! **Spin, then block.** [`Receiver::with_spin`] and [`Selector::with_spin`] make a receive
//! poll without blocking for a bounded time before it sleeps in the kernel, which saves the
//! wake-up cost when the reply comes back within a few microseconds. The spin is per call, so
//! an idle receiver never burns CPU, and it yields the core between attempts: a pure busy-wait
//! measured 150 µs round trips on a loaded 2-core machine (the spinner held the core the peer
//! needed), against 6 µs with yielding and 9–40 µs fully blocking.
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
pub use handoff::{Endpoint, Handoff, fd_from_env, spawn_with};
pub use receiver::{Frame, Receiver};
pub use select::Selector;
pub use sender::Sender;
