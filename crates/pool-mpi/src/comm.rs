//! The communicators the MPI thread talks over, and sending and receiving byte messages on
//! them. Only the MPI thread of a process calls these, but for a worker's watchdog of its
//! held replies, which takes turns with it (`Threading::Serialized`, see `worker.rs`).

use mpi::Rank;
use mpi::point_to_point::MatchedReceiveVec;
use mpi::topology::{InterCommunicator, SimpleCommunicator};
use mpi::traits::*;

use crate::messages;

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

    /// The next message from anyone on the other side, if one has arrived: its sender, tag
    /// and bytes.
    pub(crate) fn try_receive(&self) -> Option<(Rank, i32, Vec<u8>)> {
        let probed = match self {
            Comm::World(comm) => comm.any_process().immediate_matched_probe()?,
            Comm::Inter(comm) => comm.any_process().immediate_matched_probe()?,
        };
        let (source, tag) = (probed.1.source_rank(), probed.1.tag());
        // A matched message must be received (dropping it unreceived panics): at once.
        let (bytes, _) = probed.matched_receive_vec::<u8>();
        Some((source, tag, bytes))
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
