//! The copies of the replies a worker holds back (see `pool_engine::replies`), in memory that
//! its pool reads if the worker dies: a task that ended before its worker died keeps its
//! result, even if its reply was never sent.
//!
//! The worker appends a copy of each reply it holds, as a frame (a little-endian `u32`
//! length, then the reply), and then publishes the new length; it clears the copies once it
//! has sent the replies. The pool reads them only after the worker is dead, so nothing
//! changes them then; a copy of a reply the pool received all the same answers a task that
//! is no longer in flight, and is ignored.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use crate::shared_memory::SharedMemory;

/// The environment variable that announces the copies' descriptor among those sent through
/// the worker's socket (after the cancel set's): present only when the pool made them.
pub(crate) const REPLY_COPIES_FD_ENV: &str = "POOL_PROCESS_REPLY_COPIES_FD";

/// Room for the copies, in words: replies held together that do not fit are not held.
const WORDS: usize = 2048;

/// The memory of one worker's reply copies: word 0 holds the length in bytes of the copies,
/// which follow from byte 8 on (the two parts never overlap).
#[derive(Debug)]
pub(crate) struct ReplyCopies {
    memory: SharedMemory,
}

impl ReplyCopies {
    /// New, empty copies for a worker about to start, and the descriptor to hand to it.
    pub(crate) fn create() -> std::io::Result<(ReplyCopies, OwnedFd)> {
        let (memory, fd) = SharedMemory::create(c"pool-process-reply-copies", WORDS)?;
        Ok((ReplyCopies { memory }, fd))
    }

    /// The copies whose descriptor the pool sent to this worker.
    pub(crate) fn from_fd(fd: OwnedFd) -> std::io::Result<ReplyCopies> {
        let memory = SharedMemory::from_fd(fd, "reply copies")?;
        Ok(ReplyCopies { memory })
    }

    /// The length (word 0) and the room for the copies (the bytes after it).
    fn parts(&self) -> (Option<&AtomicU64>, &[AtomicU8]) {
        let (head, room) = self.memory.split_at_word(1);
        (head.first(), room)
    }

    /// In the worker: appends a copy of `reply`; false when it does not fit.
    pub(crate) fn keep(&self, reply: &[u8]) -> bool {
        let (Some(length), room) = self.parts() else {
            return false;
        };
        let Ok(size) = u32::try_from(reply.len()) else {
            return false;
        };
        let used = usize::try_from(length.load(Ordering::Relaxed)).unwrap_or(usize::MAX);
        let Some(slots) = used
            .checked_add(4 + reply.len())
            .and_then(|end| room.get(used..end))
        else {
            return false;
        };
        for (slot, &byte) in slots.iter().zip(size.to_le_bytes().iter().chain(reply)) {
            slot.store(byte, Ordering::Relaxed);
        }
        length.store((used + slots.len()) as u64, Ordering::Release);
        true
    }

    /// In the worker: the replies were sent; their copies go.
    pub(crate) fn clear(&self) {
        if let (Some(length), _) = self.parts() {
            length.store(0, Ordering::Release);
        }
    }

    /// In the pool, once the worker is dead: the replies it still held, in order. A length
    /// or frame that does not fit the memory ends the list (the worker wrote nothing
    /// such: that would take another writer).
    pub(crate) fn take(&self) -> Vec<Vec<u8>> {
        let (Some(length), room) = self.parts() else {
            return Vec::new();
        };
        let used = usize::try_from(length.swap(0, Ordering::Acquire)).unwrap_or(usize::MAX);
        let bytes: Vec<u8> = room
            .iter()
            .take(used)
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let mut replies = Vec::new();
        let mut rest = &bytes[..];
        while let Some((head, tail)) = rest.split_first_chunk::<4>() {
            let size = u32::from_le_bytes(*head) as usize;
            let Some((reply, tail)) = tail.split_at_checked(size) else {
                break;
            };
            replies.push(reply.to_vec());
            rest = tail;
        }
        replies
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_reads_what_the_worker_kept_and_did_not_clear() {
        let (pool, fd) = ReplyCopies::create().unwrap();
        let worker = ReplyCopies::from_fd(fd).unwrap(); // another mapping of the same memory
        assert!(worker.keep(b"one"));
        worker.clear();
        assert!(worker.keep(b"two"));
        assert!(worker.keep(b""));
        assert!(worker.keep(b"three"));
        assert_eq!(
            pool.take(),
            vec![b"two".to_vec(), Vec::new(), b"three".to_vec()]
        );
        assert!(pool.take().is_empty(), "taken once");
    }

    #[test]
    fn a_reply_that_does_not_fit_is_not_kept() {
        let (pool, fd) = ReplyCopies::create().unwrap();
        let worker = ReplyCopies::from_fd(fd).unwrap();
        let room = (WORDS - 1) * 8;
        assert!(!worker.keep(&vec![7; room - 3]), "4 bytes of length, too");
        assert!(worker.keep(&vec![7; room - 4]));
        assert!(!worker.keep(b""), "full");
        assert_eq!(pool.take(), vec![vec![7; room - 4]]);
    }

    #[test]
    fn a_torn_copy_ends_the_list() {
        let (pool, fd) = ReplyCopies::create().unwrap();
        let worker = ReplyCopies::from_fd(fd).unwrap();
        assert!(worker.keep(b"whole"));
        // A length that says more than was written (no worker does that).
        let (Some(length), room) = worker.parts() else {
            panic!("no length word");
        };
        length.store(length.load(Ordering::Relaxed) + 6, Ordering::Relaxed);
        room[9].store(200, Ordering::Relaxed);
        assert_eq!(pool.take(), vec![b"whole".to_vec()]);
    }
}
