//! The messages between a pool and its workers: one protocol for both process-based pools,
//! whatever carries it (a socket of `pool-process`, MPI messages of `pool-mpi`).
//!
//! ```text
//! worker: Hello{pid, host, nonce, fingerprint}
//! pool:                      Init{initializer, print_panics, max_held, max_tasks, spin_ns, max_frame}
//!                            (only if the fingerprint, and the nonce, match)
//! worker: Ready | InitFailed(msg)
//! pool:                      Task{id, task, timed} + arguments ...
//! worker: Reply{id} + results ...   (one per task, in the order the tasks were sent; several
//!                                    may travel together, see `pool_engine::replies`)
//!       | Skipped{id}               (a task sent ahead and cancelled before it started)
//! pool:                      Release (the pool is done: wait for the next Init)
//!                            Stop    (leave)
//! ```
//!
//! A task's frame is its `Task` message with the arguments (a `Vec<A>`) encoded straight after
//! it ([`encode_task`](crate::encode_task)); a reply's frame is its `Reply` message with the
//! results ([`run`] writes it). Each side reads the message with [`split`](crate::split) and
//! hands the rest of the frame, unread, on: no copy of a large payload.

use serde::{Deserialize, Serialize};

use future_core::{TaskError, TaskErrorKind};
use ipc_queue::Frame;

use crate::{Fingerprint, TaskName};

/// The version of these messages, in both pools' fingerprints: bumped whenever they change.
pub const VERSION: u32 = 7;

/// A pool to its worker.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToWorker {
    /// The answer to a good `Hello`: how to run. The worker runs the initializer, then tasks.
    Init(Init),
    /// Run a task on the arguments that follow in the frame.
    Task(TaskHead),
    /// The pool is done with this worker: wait for the next `Init` (an MPI rank, which
    /// serves one pool after another).
    Release,
    /// Leave. (A worker process also leaves when its socket closes.)
    Stop,
}

/// A worker's settings, sent once its `Hello` passed.
#[derive(Debug, Serialize, Deserialize)]
pub struct Init {
    /// The pool's initializer, as [`name_initializer`](crate::name_initializer) names it.
    pub initializer: Option<isize>,
    /// Print the panics of user code that the worker catches (`print_task_panics`).
    pub print_panics: bool,
    /// The most replies held together (`pool_engine::replies`): half the pool's
    /// `tasks_per_worker`, so that the pool can send more while the worker runs the rest.
    pub max_held: u32,
    /// Leave after this many tasks (`max_tasks_per_child`).
    pub max_tasks: Option<u64>,
    /// How long to spin for the next message before blocking, in nanoseconds.
    pub spin_ns: u64,
    /// The largest frame the worker may receive or send.
    pub max_frame: u64,
}

/// One task (or one `map` chunk); its arguments follow in the frame.
#[derive(Debug, Serialize, Deserialize)]
pub struct TaskHead {
    /// Unique in the pool.
    pub id: u64,
    /// The function and its trampoline, named for a worker of the same binary.
    pub task: TaskName,
    /// It has a time limit, counted by the pool from the reply before it: the worker sends
    /// that reply before it starts this task, and this one's as soon as it ends.
    pub timed: bool,
}

/// A worker to its pool.
#[derive(Debug, Serialize, Deserialize)]
pub enum FromWorker {
    /// The first message of a worker: who it is and which build it runs.
    Hello {
        /// Its process id.
        pid: u32,
        /// The machine it runs on.
        host: String,
        /// The nonce its pool started it with (`pool-process`'s marker); 0 where none.
        nonce: u64,
        /// Its build.
        fingerprint: Fingerprint,
    },
    /// The initializer ran (or there was none): send tasks.
    Ready,
    /// The initializer panicked with this message.
    InitFailed(String),
    /// The results of a task follow in the frame.
    Reply {
        /// The task's id.
        id: u64,
    },
    /// A task sent ahead was cancelled before it started: the worker did not run it.
    Skipped {
        /// The task's id.
        id: u64,
    },
    /// Never sent by a worker: a pool's wake-up of its own thread, on a channel that carries
    /// this type so that one wait covers it and the workers (`pool-process`'s manager).
    Wake,
}

impl FromWorker {
    /// This process's `Hello`.
    pub fn hello(nonce: u64, fingerprint: Fingerprint) -> FromWorker {
        FromWorker::Hello {
            pid: std::process::id(),
            host: host_name(),
            nonce,
            fingerprint,
        }
    }
}

/// This machine's name, for messages.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "unknown host".to_owned())
}

/// Runs the task of `head`, whose arguments are in `frame` from `at` on, and returns its
/// reply frame: `Reply{id}` and the results. Results that make the frame larger than
/// `max_frame` are replaced by a `Serialization` error that says so.
///
/// # Safety
/// `head.task` must come from [`name_task`](crate::name_task) in a process of the same
/// build: a pool sends tasks only to a worker whose fingerprint matched its own (see
/// [`run_task`](crate::run_task)).
pub unsafe fn run(head: TaskHead, frame: Frame, at: usize, max_frame: usize) -> Vec<u8> {
    let mut reply = crate::encode_message(&FromWorker::Reply { id: head.id });
    let results_at = reply.len();
    // SAFETY: by this function's contract.
    unsafe { crate::run_task(head.task, frame, at, &mut reply) };
    if reply.len() > max_frame {
        let err = TaskError::new(
            TaskErrorKind::Serialization,
            format!(
                "the result ({} bytes encoded) is larger than the frame limit of {max_frame} \
                 bytes ({})",
                reply.len(),
                crate::worker_label()
            ),
        );
        reply.truncate(results_at);
        reply.shrink_to_fit();
        reply.extend(crate::error_payload(1, err));
    }
    reply
}

/// A reply frame that fails task `id` with `err` (one error for its whole chunk).
pub fn failed(id: u64, err: TaskError) -> Vec<u8> {
    let mut reply = crate::encode_message(&FromWorker::Reply { id });
    reply.extend(crate::error_payload(1, err));
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_frame_splits_into_its_message_and_arguments() {
        fn f(x: u8) -> u8 {
            x
        }
        let head = TaskHead {
            id: 7,
            task: crate::name_task(f).unwrap(),
            timed: false,
        };
        let frame = crate::encode_task(&ToWorker::Task(head), &vec![5u8]).unwrap();
        let (back, at): (ToWorker, usize) = crate::split(&frame).unwrap();
        assert!(matches!(back, ToWorker::Task(TaskHead { id: 7, .. })));
        assert_eq!(crate::decode::<Vec<u8>>(&frame[at..]), Ok(vec![5]));
    }

    #[test]
    fn a_result_past_the_frame_limit_fails_its_task_with_a_serialization_error() {
        fn big(n: usize) -> Vec<u8> {
            vec![1; n]
        }
        let task = crate::name_task(big).unwrap();
        let args = Frame::from(crate::encode(&vec![100usize]).unwrap());
        let head = TaskHead {
            id: 3,
            task,
            timed: false,
        };
        // SAFETY: `task` comes from `name_task` in this very process.
        let reply = unsafe { run(head, args, 0, 50) };
        let (msg, at): (FromWorker, usize) = crate::split(&reply).unwrap();
        assert!(matches!(msg, FromWorker::Reply { id: 3 }));
        let err = crate::decode_single::<Vec<u8>>(&reply[at..]).unwrap_err();
        assert_eq!(err.kind(), TaskErrorKind::Serialization);
        assert!(err.message().contains("frame limit of 50 bytes"), "{err}");
    }
}
