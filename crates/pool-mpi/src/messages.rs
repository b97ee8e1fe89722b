//! The messages between the pool's MPI thread (on rank 0) and its workers, and how several
//! small ones travel as one MPI message.
//!
//! Every message is a byte buffer (`MPI_BYTE`), told apart by its MPI tag:
//!
//! ```text
//! worker:  CONTROL Hello{pid, host, fingerprint}                 (once, after MPI_Init)
//! rank 0:  CONTROL Init{initializer, print_panics}               (a pool takes the worker; only if the fingerprint matched)
//! worker:  CONTROL Ready | InitFailed(msg)
//! rank 0:  TASK  TaskHead{id, task, watched} + arguments          (one task, sent as encoded: no copy)
//!          BATCH [len, TaskHead + arguments]...                   (several small tasks in one message)
//! worker:  REPLY ReplyHead{id} + results                          (one reply, sent as built)
//!          BATCH [len, ReplyHead + results]...                    (several small replies)
//! rank 0:  CONTROL Release                                        (the pool is done: wait for the next Init)
//!          CONTROL Stop                                           (the session ends: finalize and exit)
//! ```
//!
//! A task's frame is encoded once, in `submit`, straight into the buffer that is sent
//! (`task_wire::encode_task`); a worker hands the arguments, unread, to the trampoline
//! (`task_wire::run_task`), which appends the results straight after the reply's head. Only
//! frames up to [`SMALL`] bytes are copied, into a batch; a larger one always travels alone,
//! as the buffer it was encoded in.

use serde::{Deserialize, Serialize};
use task_wire::{Fingerprint, TaskName};

/// What the fingerprint says of this pool's messages (see `task_wire::Fingerprint`).
const PROTOCOL: task_wire::Protocol = task_wire::Protocol {
    pool: "pool-mpi",
    version: env!("CARGO_PKG_VERSION"),
    protocol: 2,
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

/// Control messages, both ways.
pub(crate) const TAG_CONTROL: i32 = 1;
/// One task frame.
pub(crate) const TAG_TASK: i32 = 2;
/// One reply frame.
pub(crate) const TAG_REPLY: i32 = 3;
/// Several task frames (to a worker) or reply frames (to rank 0), each length-prefixed.
pub(crate) const TAG_BATCH: i32 = 4;

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

/// Rank 0 to a worker, on [`TAG_CONTROL`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToWorker {
    /// A pool takes this worker: run the initializer (if any), then tasks.
    Init {
        /// The pool's initializer, named as `task_wire::name_initializer` names it.
        initializer: Option<isize>,
        /// Print the panics of user code that the worker catches.
        print_panics: bool,
        /// The most replies held together (`pool_engine::replies`): half the pool's
        /// `tasks_per_worker`, so that rank 0 can send more while the worker runs the rest.
        max_held: u32,
    },
    /// The pool is done with this worker: wait for the next `Init`.
    Release,
    /// The MPI session ends: leave the serve loop, finalize MPI and exit.
    Stop,
}

/// A worker to rank 0, on [`TAG_CONTROL`].
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum FromWorker {
    /// The first message of a worker: who it is and which build it runs.
    Hello {
        pid: u32,
        host: String,
        fingerprint: Fingerprint,
    },
    /// The initializer ran (or there was none): send tasks.
    Ready,
    /// The initializer panicked with this message.
    InitFailed(String),
}

/// The head of a task frame; the arguments (a `Vec<A>`) follow.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TaskHead {
    pub(crate) id: u64,
    pub(crate) task: TaskName,
    /// The task has a time limit: the worker runs it beside its MPI loop, which stays free
    /// to take a `Release` or `Stop` if the task never returns.
    pub(crate) watched: bool,
}

/// The head of a reply frame; the results (a `ChunkResults<R>`) follow.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ReplyHead {
    pub(crate) id: u64,
}

/// Appends `frame` to `batch`, length-prefixed.
pub(crate) fn push_framed(batch: &mut Vec<u8>, frame: &[u8]) {
    let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
    batch.extend_from_slice(&len.to_le_bytes());
    batch.extend_from_slice(frame);
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
    }

    #[test]
    fn a_task_frame_splits_into_head_and_arguments() {
        fn f(x: u8) -> u8 {
            x
        }
        let head = TaskHead {
            id: 7,
            task: task_wire::name_task(f).unwrap(),
            watched: false,
        };
        let frame = task_wire::encode_task(&head, &vec![5u8]).unwrap();
        let (back, at): (TaskHead, usize) = task_wire::split(&frame).unwrap();
        assert_eq!(back.id, 7);
        assert_eq!(task_wire::decode::<Vec<u8>>(&frame[at..]), Ok(vec![5]));
    }
}
