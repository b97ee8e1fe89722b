//! A worker rank's life: it says hello to rank 0, runs the tasks of the pools that take it,
//! and leaves when the session ends. Its one thread (the one that initialized MPI) makes
//! every MPI call and runs the tasks; a task with a time limit runs on a thread of its own,
//! so that the loop can still take a `Stop` if the task never returns.

use std::collections::VecDeque;
use std::sync::mpsc;

use future_core::{TaskError, TaskErrorKind};
use ipc_queue::Frame;

use crate::backoff::Backoff;
use crate::comm::Comm;
use crate::messages::{self, FromWorker, TaskHead, ToWorker};

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

/// This machine's name, for messages.
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "unknown host".to_owned())
}

/// Serves rank 0 over `comm` as worker `rank`, until it says `Stop`.
pub(crate) fn serve(comm: &Comm, rank: i32) {
    let pid = std::process::id();
    let host = host_name();
    task_wire::set_worker_label(format!("MPI rank {rank} (process {pid} on {host})"));
    let hello = FromWorker::Hello {
        pid,
        host,
        fingerprint: messages::fingerprint(),
    };
    comm.send(0, messages::TAG_CONTROL, &task_wire::encode_message(&hello));

    let mut queue: VecDeque<Queued> = VecDeque::new();
    let mut replies: Vec<Vec<u8>> = Vec::new();
    let mut watched: Option<Watched> = None;
    let mut in_session = false;
    let mut print = false;
    let mut backoff = Backoff::new();
    loop {
        let mut active = false;
        while let Some((_, tag, bytes)) = comm.try_receive() {
            active = true;
            match tag {
                messages::TAG_CONTROL => match task_wire::decode::<ToWorker>(&bytes) {
                    Ok(ToWorker::Init {
                        initializer,
                        print_panics,
                    }) => {
                        print = print_panics;
                        future_core::executor::print_panics(print);
                        // SAFETY: rank 0 sends `Init` only to a worker whose fingerprint
                        // (in its `Hello`) matched its own, so the offset comes from
                        // `name_initializer` in the same build.
                        let answer = match unsafe { task_wire::run_initializer(initializer) } {
                            Ok(()) => FromWorker::Ready,
                            Err(panic) => FromWorker::InitFailed(panic),
                        };
                        in_session = matches!(answer, FromWorker::Ready);
                        comm.send(
                            0,
                            messages::TAG_CONTROL,
                            &task_wire::encode_message(&answer),
                        );
                    }
                    Ok(ToWorker::Release) => {
                        in_session = false;
                        queue.clear();
                        watched = None; // a timed-out task's thread runs on, unheard
                    }
                    Ok(ToWorker::Stop) | Err(_) => return,
                },
                messages::TAG_TASK if in_session => queue.extend(parse(Frame::from(bytes))),
                messages::TAG_BATCH if in_session => {
                    for frame in messages::frames(&bytes) {
                        let Ok(frame) = frame else { break };
                        queue.extend(parse(Frame::from(frame.to_vec())));
                    }
                }
                _ => {} // a task outside a session: its pool is gone
            }
        }
        if let Some(task) = &watched {
            match task.reply.try_recv() {
                Ok(reply) => {
                    replies.push(reply);
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
                if task.head.watched {
                    watched = start_watched(task, print);
                } else {
                    replies.push(run(task));
                }
            }
        }
        // Sent before the next task starts: held, a reply would wait for that task's whole
        // run, which may not end. (Only one MPI thread may call MPI here, so no other thread
        // could send it meanwhile, as the process pool's worker does.)
        if !replies.is_empty() {
            comm.send_frames(0, messages::TAG_REPLY, std::mem::take(&mut replies));
        }
        if active {
            backoff.reset();
        } else {
            backoff.wait();
        }
    }
}

/// A task message: its head, and where its arguments start.
fn parse(frame: Frame) -> Option<Queued> {
    let (head, at) = task_wire::split::<TaskHead>(&frame).ok()?;
    Some(Queued { head, frame, at })
}

/// Runs a task here and returns its reply frame.
fn run(task: Queued) -> Vec<u8> {
    let mut reply = task_wire::encode_message(&messages::ReplyHead { id: task.head.id });
    // SAFETY: rank 0 sends tasks only to a worker that took its `Init`, which it sends only
    // after this worker's fingerprint matched its own: the name comes from `name_task` in
    // the same build.
    unsafe { task_wire::run_task(task.head.task, task.frame, task.at, &mut reply) };
    reply
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
            let mut reply = task_wire::encode_message(&messages::ReplyHead { id });
            reply.extend(task_wire::error_payload(1, err));
            let (tx, rx) = mpsc::channel();
            let _ = tx.send(reply);
            Some(Watched { reply: rx })
        }
    }
}
