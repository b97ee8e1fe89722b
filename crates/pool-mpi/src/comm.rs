//! The communicators the MPI thread talks over, and sending and receiving byte messages on
//! them. Only the MPI thread of a process calls these, but for a worker's watchdog of its
//! held replies, which takes turns with it (`Threading::Serialized`, see `worker.rs`).

use std::mem::MaybeUninit;
use std::os::raw::c_int;

use mpi::Rank;
use mpi::ffi;
use mpi::topology::{InterCommunicator, SimpleCommunicator};
use mpi::traits::*;

use crate::{messages, ulfm};

/// What a receive found.
pub(crate) enum Received {
    /// A message: its sender, tag and bytes.
    Message(Rank, i32, Vec<u8>),
    /// In a fault-tolerant job: the ranks of the other side known dead (all of them, each
    /// time).
    Died(Vec<Rank>),
}

/// A communicator to the other side: the world (static mode: rank 0 and the workers), or
/// the inter-communicator between a spawning process and its spawned workers.
pub(crate) enum Comm {
    World(SimpleCommunicator),
    Inter(InterCommunicator),
}

impl Comm {
    /// Sends `bytes` to `rank` (of the other side) with `tag`. A standard send: it returns
    /// once the buffer may be reused, which for a large message means once the receiver has
    /// matched it.
    pub(crate) fn send(&self, rank: Rank, tag: i32, bytes: &[u8]) {
        match self {
            Comm::World(comm) => comm.process_at_rank(rank).send_with_tag(bytes, tag),
            Comm::Inter(comm) => comm.process_at_rank(rank).send_with_tag(bytes, tag),
        }
    }

    /// What has arrived from anyone on the other side: the next message, or, in a
    /// fault-tolerant job (see `ulfm.rs`), the ranks known dead. `None`: nothing yet.
    pub(crate) fn try_receive(&self) -> Option<Received> {
        // SAFETY: `RSMPI_ANY_SOURCE` is MPI's predefined constant, read as initialized.
        let any = unsafe { ffi::RSMPI_ANY_SOURCE };
        match self.receive_from(any) {
            Ok(message) => message.map(|(rank, tag, bytes)| Received::Message(rank, tag, bytes)),
            Err(error) => match self {
                Comm::World(comm) => ulfm::dead_ranks(comm.as_raw(), error).map(Received::Died),
                Comm::Inter(_) => None, // spawned workers are fail-stop
            },
        }
    }

    /// The next message from `rank`, if one has arrived: its tag and bytes. A process that
    /// died elsewhere does not disturb it.
    pub(crate) fn try_receive_from(&self, rank: Rank) -> Option<(i32, Vec<u8>)> {
        let (_, tag, bytes) = self.receive_from(rank).ok()??;
        Some((tag, bytes))
    }

    /// A matched probe of `source` and, if a message is there, its receive; `Err` with a
    /// failed call's code (only where the communicator returns errors, see `ulfm.rs`).
    fn receive_from(&self, source: c_int) -> Result<Option<(Rank, i32, Vec<u8>)>, c_int> {
        let comm = match self {
            Comm::World(comm) => comm.as_raw(),
            Comm::Inter(comm) => comm.as_raw(),
        };
        let bytes_type = u8::equivalent_datatype().as_raw();
        let mut found: c_int = 0;
        let mut message = MaybeUninit::<ffi::MPI_Message>::uninit();
        let mut status = MaybeUninit::<ffi::MPI_Status>::uninit();
        // SAFETY: a valid communicator and tag, and places for the flag, message and status,
        // which are read only when the call succeeded and found a message.
        let error = unsafe {
            ffi::MPI_Improbe(
                source,
                ffi::RSMPI_ANY_TAG,
                comm,
                &mut found,
                message.as_mut_ptr(),
                status.as_mut_ptr(),
            )
        };
        if error != 0 {
            return Err(error);
        }
        if found == 0 {
            return Ok(None);
        }
        // SAFETY: written by the successful probe that found a message.
        let (mut message, mut status) = unsafe { (message.assume_init(), status.assume_init()) };
        let mut count: c_int = 0;
        // SAFETY: the probe's status, and the byte type the message was sent with.
        unsafe { ffi::MPI_Get_count(&status, bytes_type, &mut count) };
        let len = usize::try_from(count).unwrap_or(0);
        let mut bytes = Vec::<u8>::with_capacity(len);
        // A matched message must be received, at once: into `bytes`' `len` bytes.
        // SAFETY: `bytes` has room for `count` bytes, which the receive writes (all of them
        // when it succeeds: the count is the message's); `message` is the probe's handle,
        // received once.
        let error = unsafe {
            ffi::MPI_Mrecv(
                bytes.as_mut_ptr().cast(),
                count,
                bytes_type,
                &mut message,
                &mut status,
            )
        };
        if error != 0 {
            return Err(error);
        }
        // SAFETY: the successful receive wrote all `len` bytes.
        unsafe { bytes.set_len(len) };
        Ok(Some((status.MPI_SOURCE, status.MPI_TAG, bytes)))
    }

    /// Ends the MPI job: every process of it is killed, and `mpirun` exits non-zero.
    pub(crate) fn abort(&self, code: i32) -> ! {
        match self {
            Comm::World(comm) => comm.abort(code),
            Comm::Inter(comm) => comm.abort(code),
        }
    }

    /// Sends one message to `rank`.
    pub(crate) fn send_message<M: serde::Serialize>(&self, rank: Rank, message: &M) {
        let bytes = task_wire::encode_message(message);
        self.send(rank, messages::TAG_MESSAGE, &bytes);
    }

    /// Sends `frames` to `rank` in order: small ones together in batches (tag
    /// [`messages::TAG_BATCH`]), each large one alone, as it was encoded.
    pub(crate) fn send_frames(&self, rank: Rank, frames: &[Vec<u8>]) {
        let single_tag = messages::TAG_MESSAGE;
        let mut batch: Vec<u8> = Vec::new();
        let mut batched = 0;
        let flush = |batch: &mut Vec<u8>, batched: &mut usize| {
            if *batched == 1 {
                // One frame alone needs no batch: send it without its length.
                self.send(rank, single_tag, batch.get(4..).unwrap_or_default());
            } else if *batched > 1 {
                self.send(rank, messages::TAG_BATCH, batch);
            }
            batch.clear();
            *batched = 0;
        };
        for frame in frames {
            if frame.len() > messages::SMALL {
                flush(&mut batch, &mut batched);
                self.send(rank, single_tag, frame);
                continue;
            }
            if batch.len() + 4 + frame.len() > messages::BATCH_BYTES {
                flush(&mut batch, &mut batched);
            }
            messages::push_framed(&mut batch, frame);
            batched += 1;
        }
        flush(&mut batch, &mut batched);
    }
}
