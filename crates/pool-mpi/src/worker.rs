//! A worker rank's life: it says hello to rank 0, runs the tasks of the pools that take it,
//! and leaves when the session ends. Its one thread (the one that initialized MPI) makes
//! the MPI calls and runs the tasks; a task with a time limit runs on a thread of its own,
//! so that the loop can still take a `Stop` if the task never returns. Replies go out
//! together while more tasks are at hand (`pool_engine::replies`), whose watchdog thread
//! sends them while a task runs long: it takes turns with the loop for MPI
//! (`Threading::Serialized`); where MPI does not allow that, replies are never held.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};

use future_core::{TaskError, TaskErrorKind};
use ipc_queue::Frame;
use pool_engine::replies::{Replies, Sink};

use crate::backoff::Backoff;
use crate::comm::Comm;
use crate::messages::{self, FromWorker, ToWorker};
use task_wire::messages::TaskHead;

/// The worker's communicator, shared by its loop and its replies' watchdog, one MPI call at
/// a time.
#[derive(Clone)]
struct SharedComm(Arc<Mutex<SerialComm>>);

/// A communicator that the mutex of a [`SharedComm`] hands from thread to thread.
struct SerialComm(Comm);

// SAFETY: a `Comm` holds MPI handles, which MPI lets any thread use under
// `Threading::Serialized` so long as no two calls overlap: a `SerialComm` is only reached
// through the mutex of its `SharedComm`. Another thread reaches it only where MPI granted
// that level: `serve` holds no reply otherwise, and so starts no watchdog.
unsafe impl Send for SerialComm {}

impl SharedComm {
    fn lock(&self) -> MutexGuard<'_, SerialComm> {
        // No user code runs under this lock: a poisoned one still holds the communicator.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Sink for SharedComm {
    fn send_all(&self, replies: &[Vec<u8>]) -> bool {
        self.lock().0.send_frames(0, replies);
        true
    }

    /// Nothing to keep: a worker rank that dies ends the MPI job (fail-stop), or, in a
    /// fault-tolerant job, rank 0 fails every task it had sent it, those whose replies it
    /// held too. A reply larger than `messages::SMALL` travels in a message of its own all
    /// the same, so holding it would only delay it: refused, it goes out at once.
    fn keep(&self, reply: &[u8]) -> bool {
        reply.len() <= messages::SMALL
    }

    fn forget(&self) {}
}

/// A task received and not run yet.
struct Queued {
    head: TaskHead,
    frame: Frame,
    at: usize,
}

/// A task with a time limit, running on its own thread.
struct Watched {
    reply: mpsc::Receiver<Vec<u8>>,
}

/// Serves rank 0 over `comm` as worker `rank`, until it says `Stop`; `serialized`: MPI lets
/// another thread make calls, one at a time. False when the worker must leave without
/// `MPI_Finalize` (rank 0 said so: a process of the job died).
pub(crate) fn serve(comm: Comm, rank: i32, serialized: bool) -> bool {
    let (pid, host) = (std::process::id(), task_wire::messages::host_name());
    task_wire::set_worker_label(format!("MPI rank {rank} (process {pid} on {host})"));
    let hello = FromWorker::hello(0, messages::fingerprint());
    let comm = SharedComm(Arc::new(Mutex::new(SerialComm(comm))));
    let send = |message: &FromWorker| {
        let bytes = task_wire::encode_message(message); // before the lock: the watchdog waits on it
        comm.lock().0.send(0, messages::TAG_MESSAGE, &bytes)
    };
    send(&hello);

    let mut queue: VecDeque<Queued> = VecDeque::new();
    let mut replies: Option<Replies<SharedComm>> = None;
    let mut watched: Option<Watched> = None;
    let mut print = false;
    let mut backoff = Backoff::new();
    let mut finalize = true;
    loop {
        let mut active = false;
        loop {
            // Taken out first: the lock is not held while the message is handled.
            let received = comm.lock().0.try_receive_from(0);
            let Some((tag, bytes)) = received else {
                break;
            };
            active = true;
            if tag == messages::TAG_SKIP_FINALIZE {
                finalize = false;
                continue;
            }
            // A single message is taken as it came (a large task's arguments are not
            // copied); a batch's frames are copied out.
            let frames: Vec<Frame> = match tag {
                messages::TAG_MESSAGE => vec![Frame::from(bytes)],
                _ => messages::frames_of(tag, &bytes)
                    .map(|frame| Frame::from(frame.to_vec()))
                    .collect(),
            };
            for frame in frames {
                match task_wire::split::<ToWorker>(&frame) {
                    Ok((ToWorker::Task(head), at)) => {
                        if replies.is_some() {
                            queue.push_back(Queued { head, frame, at });
                        } // else a task outside a session: its pool is gone
                    }
                    Ok((ToWorker::Init(init), _)) => {
                        print = init.print_panics;
                        future_core::executor::print_panics(print);
                        // SAFETY: rank 0 sends `Init` only to a worker whose fingerprint
                        // (in its `Hello`) matched its own, so the offset comes from
                        // `name_initializer` in the same build.
                        let answer = match unsafe { task_wire::run_initializer(init.initializer) } {
                            Ok(()) => FromWorker::Ready,
                            Err(panic) => FromWorker::InitFailed(panic),
                        };
                        // Only where another thread may call MPI are replies held.
                        let max_held = if serialized {
                            init.max_held as usize
                        } else {
                            0
                        };
                        replies = matches!(answer, FromWorker::Ready)
                            .then(|| Replies::new(comm.clone(), max_held));
                        send(&answer);
                    }
                    Ok((ToWorker::Release, _)) => {
                        replies = None; // sends what it held
                        queue.clear();
                        watched = None; // a timed-out task's thread runs on, unheard
                    }
                    // A frame that does not decode is a bug of the protocol: leaving ends
                    // the MPI job, loudly, where ignoring it would leave its task unanswered.
                    Ok((ToWorker::Stop, _)) | Err(_) => return finalize,
                }
            }
        }
        let Some(replies) = &replies else {
            if active {
                backoff.reset();
            } else {
                backoff.wait();
            }
            continue;
        };
        if let Some(task) = &watched {
            match task.reply.try_recv() {
                Ok(reply) => {
                    replies.add(reply, false);
                    watched = None;
                    active = true;
                }
                Err(mpsc::TryRecvError::Empty) => {}
                Err(mpsc::TryRecvError::Disconnected) => watched = None,
            }
        }
        if watched.is_none() {
            if let Some(task) = queue.pop_front() {
                active = true;
                if task.head.timed {
                    replies.send_held();
                    watched = start_watched(task, print);
                } else {
                    // Held while the next task is at hand (its watchdog sends it if that
                    // one runs long).
                    replies.add(run(task), !queue.is_empty());
                }
            }
        }
        if queue.is_empty() && watched.is_none() {
            replies.send_held();
        }
        if active {
            backoff.reset();
        } else {
            backoff.wait();
        }
    }
}

/// Runs a task here and returns its reply frame.
fn run(task: Queued) -> Vec<u8> {
    // SAFETY: rank 0 sends tasks only to a worker that took its `Init`, which it sends only
    // after this worker's fingerprint matched its own: the name comes from `name_task` in
    // the same build.
    unsafe { task_wire::messages::run(task.head, task.frame, task.at, usize::MAX) }
}

/// Starts a task with a time limit on its own thread; its reply comes through the channel.
fn start_watched(task: Queued, print: bool) -> Option<Watched> {
    let (tx, rx) = mpsc::channel();
    let id = task.head.id;
    let started = std::thread::Builder::new()
        .name("pool-mpi-task".into())
        .stack_size(8 << 20)
        .spawn(move || {
            future_core::executor::print_panics(print);
            let _ = tx.send(run(task));
        });
    match started {
        Ok(_) => Some(Watched { reply: rx }),
        Err(err) => {
            let err = TaskError::new(
                TaskErrorKind::Broken,
                format!("the worker could not start a thread for the task: {err}"),
            );
            let (tx, rx) = mpsc::channel();
            let _ = tx.send(task_wire::messages::failed(id, err));
            Some(Watched { reply: rx })
        }
    }
}
