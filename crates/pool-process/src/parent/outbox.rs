//! A worker's outbox: the frames decided for one worker, in order, and who writes them.
//!
//! Dispatch decides under the pool's state lock which worker gets which task, and records the
//! task in that worker's `in_flight` deque. It must not write to the socket there: a write can
//! block for as long as the worker does not read, and a worker busy writing a large reply reads
//! nothing until the manager has read that reply, which the manager does only with the lock. So
//! dispatch pushes the task's frame (encoded beforehand, outside the lock) to the worker's
//! outbox, in the same order as `in_flight`, and the thread that dispatched writes it after
//! it released the lock ([`Outbox::flush`]).
//!
//! Whoever flushes writes every frame queued so far, in order and in one system call; a
//! thread that finds another one writing leaves its frames to it and returns at once, so no
//! submitter ever waits for another one's large write, and frames reach the socket in
//! `in_flight` order. The manager never writes what could block: it flushes itself only
//! while the worker's unanswered frames fit far within the socket buffer, and otherwise
//! hands the flush to the pool's flush thread
//! ([`FlushThread`]), so that it goes on reading replies.
//!
//! A write that fails (the worker died) leaves the frame and those queued behind it
//! *undelivered*: when the manager settles the worker's death, those tasks never reached the
//! worker, so they go back to the queue instead of failing, even the front one.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};

use ipc_queue::{SendError, Sender};

use crate::messages::ToWorker;

/// An encoded frame, shared by the outbox (until written) and the task (until the worker
/// started it, to send it again elsewhere if the worker dies first).
pub(crate) type Frame = Arc<Vec<u8>>;

/// At most this many bytes of unanswered frames let the manager write to a worker itself: far
/// below a socket buffer (Linux's default is about 200 KiB), so such a write cannot block.
const MANAGER_WRITES_UP_TO: usize = 32 * 1024;

/// The frames decided for one worker and not yet written.
pub(crate) struct Outbox {
    tx: Sender<ToWorker>,
    queue: Mutex<Queue>,
    /// A thread is writing this outbox's frames.
    writing: AtomicBool,
    /// How many unanswered bytes the manager may leave in this worker's socket (see
    /// `MANAGER_WRITES_UP_TO`; less when the socket's buffer is small).
    manager_budget: usize,
}

#[derive(Default)]
struct Queue {
    /// Frames to write, oldest first, with the id of their task (`None`: not a task).
    frames: VecDeque<(Option<u64>, Frame)>,
    /// Tasks whose frames were not written because a write failed.
    undelivered: Vec<(u64, Frame)>,
    /// A write failed: the worker is gone; nothing more is written.
    failed: bool,
}

impl Outbox {
    /// The outbox of a worker reached through `tx`; `send_buffer` is its socket's send
    /// buffer size, if known.
    pub(crate) fn new(tx: Sender<ToWorker>, send_buffer: Option<usize>) -> Outbox {
        Outbox {
            tx,
            queue: Mutex::new(Queue::default()),
            writing: AtomicBool::new(false),
            manager_budget: send_buffer.map_or(MANAGER_WRITES_UP_TO, |size| {
                MANAGER_WRITES_UP_TO.min(size / 4)
            }),
        }
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        // No user code runs under this lock: a poisoned lock still holds a consistent queue.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues the frame of task `task` (or a control message, `None`). No I/O: call it under
    /// the state lock, in `in_flight` order, and [`flush`](Self::flush) after the unlock.
    pub(crate) fn push(&self, task: Option<u64>, frame: Frame) {
        let mut queue = self.queue();
        if queue.failed {
            if let Some(id) = task {
                queue.undelivered.push((id, frame));
            }
        } else {
            queue.frames.push_back((task, frame));
        }
    }

    /// Whether the manager may flush this outbox itself: the worker's unanswered frames
    /// (`unanswered` bytes, the queued ones included) cannot fill its socket buffer.
    pub(crate) fn manager_may_write(&self, unanswered: usize) -> bool {
        unanswered <= self.manager_budget
    }

    /// Writes every queued frame in order, unless another thread is writing them already (it
    /// writes the ones queued now too). Never call it under the state lock: it blocks while
    /// the worker's socket buffer is full.
    pub(crate) fn flush(&self) {
        loop {
            if self.writing.swap(true, Ordering::SeqCst) {
                return; // the writer re-checks the queue after it stops (below)
            }
            self.write_queued();
            self.writing.store(false, Ordering::SeqCst);
            // A frame pushed after the writer's last look, by a thread that saw it writing,
            // would be stranded: look again.
            if self.queue().frames.is_empty() {
                return;
            }
        }
    }

    /// Writes the queued frames, all together (one system call for many small ones), until
    /// none is left.
    fn write_queued(&self) {
        loop {
            let batch: Vec<(Option<u64>, Frame)> = self.queue().frames.drain(..).collect();
            if batch.is_empty() {
                return;
            }
            let frames: Vec<&[u8]> = batch.iter().map(|(_, f)| f.as_slice()).collect();
            let Err((sent, err)) = self.tx.send_encoded_all(&frames) else {
                continue;
            };
            let mut queue = self.queue();
            queue.failed = true;
            // The frames from the one that failed on never reached the worker.
            let failed = batch.into_iter().skip(sent);
            let behind = std::mem::take(&mut queue.frames);
            let undelivered = failed.chain(behind).filter_map(|(t, f)| Some((t?, f)));
            queue.undelivered.extend(undelivered);
            if !matches!(err, SendError::Disconnected) {
                // The socket failed but the worker may live on: close our end, so the
                // worker sees EOF and exits, and the manager settles its death.
                let _ = self.tx.shutdown();
            }
            return;
        }
    }

    /// Lets the worker go: shuts the socket down, so that it sees EOF (and exits 0) even
    /// while another thread still holds this outbox.
    pub(crate) fn close(&self) {
        let _ = self.tx.shutdown();
    }

    /// The tasks that never reached the worker, once it is gone: those whose write failed and
    /// those still queued. Waits for a write in progress to end first (it fails at once on a
    /// dead worker's socket).
    pub(crate) fn take_undelivered(&self) -> Vec<(u64, Frame)> {
        while self.writing.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let mut queue = self.queue();
        queue.failed = true;
        let queued = std::mem::take(&mut queue.frames);
        let mut undelivered = std::mem::take(&mut queue.undelivered);
        undelivered.extend(queued.into_iter().filter_map(|(t, f)| Some((t?, f))));
        undelivered
    }
}

/// The pool's flush thread: writes the frames that the manager must not write itself (see
/// the module docs). It ends when the manager drops its [`FlushThread`].
pub(crate) struct FlushThread {
    requests: Option<mpsc::Sender<Arc<Outbox>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FlushThread {
    pub(crate) fn start() -> std::io::Result<FlushThread> {
        let (requests, inbox) = mpsc::channel::<Arc<Outbox>>();
        let thread = std::thread::Builder::new()
            .name("pool-process-flush".into())
            .spawn(move || inbox.iter().for_each(|outbox| outbox.flush()))?;
        Ok(FlushThread {
            requests: Some(requests),
            thread: Some(thread),
        })
    }

    /// Flushes `outbox` on the flush thread.
    pub(crate) fn flush(&self, outbox: Arc<Outbox>) {
        let Some(requests) = &self.requests else {
            return outbox.flush();
        };
        if let Err(mpsc::SendError(outbox)) = requests.send(outbox) {
            outbox.flush(); // the flush thread is gone (it cannot be while we live): write here
        }
    }
}

impl Drop for FlushThread {
    fn drop(&mut self) {
        self.requests = None; // the flush thread's `iter` ends
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
