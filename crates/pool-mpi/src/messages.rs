//! The messages between the pool's MPI thread (on rank 0) and its workers
//! (`task_wire::messages`: a worker's `Hello` once, after `MPI_Init`; `Release` when a pool
//! is done with it, `Stop` when the session ends), and how several small ones travel as one
//! MPI message. Every message is a byte buffer (`MPI_BYTE`): one frame ([`TAG_MESSAGE`]), or
//! several, each length-prefixed ([`TAG_BATCH`]).
//!
//! A task's frame is encoded once, in `submit`, straight into the buffer that is sent; a
//! worker hands the arguments, unread, to the trampoline, which appends the results straight
//! after the reply's head. Only frames up to [`SMALL`] bytes are copied, into a batch; a
//! larger one always travels alone, as the buffer it was encoded in.

use task_wire::Fingerprint;
#[cfg(feature = "mpi")]
pub(crate) use task_wire::messages::{FromWorker, ToWorker};

/// What the fingerprint says of this pool's messages (see `task_wire::Fingerprint`).
const PROTOCOL: task_wire::Protocol = task_wire::Protocol {
    pool: "pool-mpi",
    version: env!("CARGO_PKG_VERSION"),
    protocol: task_wire::messages::VERSION,
    salt_env: "POOL_MPI_FINGERPRINT_SALT",
};

/// The code-layout probe of the fingerprint: a function of this crate.
#[inline(never)]
fn code_probe() {
    std::hint::black_box(());
}

/// This process's build fingerprint, as rank 0 and its workers compare it.
pub(crate) fn fingerprint() -> Fingerprint {
    Fingerprint::current(&PROTOCOL, code_probe)
}

/// One frame, either way.
pub(crate) const TAG_MESSAGE: i32 = 1;
/// Several frames, either way, each length-prefixed.
pub(crate) const TAG_BATCH: i32 = 4;
/// Rank 0 to a worker, empty, before `Stop`: a process of the job died, so the worker leaves
/// without `MPI_Finalize`, which may wait for it for ever (see `ulfm.rs`).
pub(crate) const TAG_SKIP_FINALIZE: i32 = 5;

/// Frames up to this size may be batched (and queued behind a running task); larger ones
/// travel alone, and only to an idle worker.
pub(crate) const SMALL: usize = 1024;

/// A batch (with its length prefixes) is at most this large: under Open MPI's smallest eager
/// limit (4 KiB over shared memory, with the message header), so that a standard send of a
/// batch, or of a small frame, returns without waiting for the receiver to match it. That is
/// what keeps rank 0 and a worker from waiting on each other: rank 0 sends a busy worker
/// only such messages, so it never waits on a worker that is itself sending it a large
/// reply; a message that may wait (a large task) goes only to an idle worker, which has
/// nothing left to send.
pub(crate) const BATCH_BYTES: usize = 3 * 1024;

/// Appends `frame` to `batch`, length-prefixed.
pub(crate) fn push_framed(batch: &mut Vec<u8>, frame: &[u8]) {
    let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
    batch.extend_from_slice(&len.to_le_bytes());
    batch.extend_from_slice(frame);
}

/// The frames of a message received with `tag` (none for an unknown tag); a malformed
/// batch's frames end where it breaks.
pub(crate) fn frames_of(tag: i32, bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let single = (tag == TAG_MESSAGE).then_some(bytes);
    let batch = if tag == TAG_BATCH { bytes } else { &[] };
    single
        .into_iter()
        .chain(frames(batch).map_while(Result::ok))
}

/// The frames of a batch, in order; `Err` for a malformed batch.
pub(crate) fn frames(mut batch: &[u8]) -> impl Iterator<Item = Result<&[u8], String>> {
    std::iter::from_fn(move || {
        if batch.is_empty() {
            return None;
        }
        let Some((len, rest)) = batch.split_first_chunk::<4>() else {
            batch = &[];
            return Some(Err("a batch ends inside a length".to_owned()));
        };
        let len = u32::from_le_bytes(*len) as usize;
        let Some((frame, rest)) = rest.split_at_checked(len) else {
            batch = &[];
            return Some(Err(format!("a batch's frame of {len} bytes is cut short")));
        };
        batch = rest;
        Some(Ok(frame))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_gives_back_its_frames() {
        let mut batch = Vec::new();
        for frame in [&b"one"[..], b"", b"three"] {
            push_framed(&mut batch, frame);
        }
        let back: Vec<&[u8]> = frames(&batch).map(Result::unwrap).collect();
        assert_eq!(back, vec![&b"one"[..], b"", b"three"]);
        let cut: Vec<_> = frames(&batch[..batch.len() - 1]).collect();
        assert!(cut.last().unwrap().is_err());
        let batched: Vec<&[u8]> = frames_of(TAG_BATCH, &batch[..batch.len() - 1]).collect();
        assert_eq!(
            batched,
            vec![&b"one"[..], b""],
            "a broken batch's frames end there"
        );
        let single: Vec<&[u8]> = frames_of(TAG_MESSAGE, &batch).collect();
        assert_eq!(
            single,
            vec![&batch[..]],
            "one message is one frame, as it came"
        );
        assert_eq!(frames_of(99, &batch).count(), 0, "an unknown tag has none");
    }
}
