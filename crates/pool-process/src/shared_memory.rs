//! Memory that a pool and one of its workers both map: a memfd sealed at its size, mapped
//! shared, read and written only through atomics (the other process may write at any time).
//! The cancel set (`cancels.rs`) and the copies of held replies (`reply_copies.rs`) live in
//! such memory; the pool makes it when it starts the worker and sends the descriptor through
//! the worker's socket.

use std::ffi::CStr;
use std::os::fd::{AsFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, AtomicU64};

/// The seals of the memfd: its size is fixed.
const SEALS: rustix::fs::SealFlags = rustix::fs::SealFlags::SHRINK
    .union(rustix::fs::SealFlags::GROW)
    .union(rustix::fs::SealFlags::SEAL);

/// A shared mapping of a whole sealed memfd, of a whole number of words.
#[derive(Debug)]
pub(crate) struct SharedMemory {
    address: NonNull<AtomicU64>,
    words: usize,
}

// SAFETY: the mapping is only reached through shared references to atomics, which any thread
// may use at once, and it lives until the value is dropped (see `Drop`).
unsafe impl Send for SharedMemory {}
// SAFETY: as above: every access goes through the atomics.
unsafe impl Sync for SharedMemory {}

impl SharedMemory {
    /// New memory of `words` words (at least one), zeroed, named `name`, and the descriptor
    /// to hand to the worker (`CLOEXEC`, numbered 3 or above).
    pub(crate) fn create(name: &CStr, words: usize) -> std::io::Result<(SharedMemory, OwnedFd)> {
        use rustix::fs::MemfdFlags;
        let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
        let fd = rustix::fs::memfd_create(name, flags)?;
        let fd = rustix::io::fcntl_dupfd_cloexec(&fd, 3)?;
        let bytes = words.max(1) * size_of::<AtomicU64>();
        rustix::fs::ftruncate(&fd, bytes as u64)?;
        // Sealed at its size: the worker checks the seals, which only a memfd can have.
        rustix::fs::fcntl_add_seals(&fd, SEALS)?;
        let memory = SharedMemory::map(&fd, bytes)?;
        Ok((memory, fd))
    }

    /// The memory whose descriptor the pool sent to this worker, after checking that it is a
    /// memfd sealed at a size of whole words; `what` names it in errors.
    pub(crate) fn from_fd(fd: OwnedFd, what: &str) -> std::io::Result<SharedMemory> {
        if !rustix::fs::fcntl_get_seals(&fd).is_ok_and(|seals| seals.contains(SEALS)) {
            return Err(std::io::Error::other(format!(
                "the {what}'s descriptor is not the pool's sealed memfd"
            )));
        }
        let stat = rustix::fs::fstat(&fd)?;
        let bytes = usize::try_from(stat.st_size).unwrap_or(0);
        if bytes < size_of::<AtomicU64>() || bytes % size_of::<AtomicU64>() != 0 {
            return Err(std::io::Error::other(format!(
                "the {what}'s descriptor has {bytes} bytes"
            )));
        }
        SharedMemory::map(&fd, bytes)
    }

    fn map(fd: &OwnedFd, bytes: usize) -> std::io::Result<SharedMemory> {
        use rustix::mm::{MapFlags, ProtFlags};
        // SAFETY: a fresh shared mapping of the whole file, at an address the kernel picks: it
        // overlaps nothing of this process. It is unmapped in `Drop` only.
        let address = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                bytes,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd.as_fd(),
                0,
            )
        }?;
        let address = NonNull::new(address.cast::<AtomicU64>())
            .ok_or_else(|| std::io::Error::other("mmap returned a null address"))?;
        Ok(SharedMemory {
            address,
            words: bytes / size_of::<AtomicU64>(),
        })
    }

    /// The memory as words.
    pub(crate) fn words(&self) -> &[AtomicU64] {
        // SAFETY: `address` points to `words` words of a mapping that lives as long as `self`;
        // a page-aligned mapping is aligned for `AtomicU64`, whose every bit pattern is valid;
        // the other process writes them only through atomics as well.
        unsafe { std::slice::from_raw_parts(self.address.as_ptr(), self.words) }
    }

    /// The memory as its first `words` words and the bytes after them: two views that do not
    /// overlap. A memory is used either whole as words or split so (never both), so no
    /// byte is reached through atomics of two sizes, which Rust's memory model leaves
    /// undefined where such accesses race.
    pub(crate) fn split_at_word(&self, words: usize) -> (&[AtomicU64], &[AtomicU8]) {
        let words = words.min(self.words);
        let bytes = (self.words - words) * size_of::<AtomicU64>();
        // SAFETY: as in `words`, for the first `words` words; the bytes from there to the end
        // of the mapping are another part of it (in bounds: `words <= self.words`), seen as
        // `AtomicU8`s, which have no alignment requirement and accept every bit pattern. The
        // two slices do not overlap, and both borrow `self`.
        unsafe {
            let head = std::slice::from_raw_parts(self.address.as_ptr(), words);
            let tail = self.address.as_ptr().add(words).cast::<AtomicU8>();
            (head, std::slice::from_raw_parts(tail, bytes))
        }
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, of `words` words, unmapped once; no reference
        // into it outlives `self` (`words` and `bytes` borrow `self`).
        let _ = unsafe {
            rustix::mm::munmap(
                self.address.as_ptr().cast(),
                self.words * size_of::<AtomicU64>(),
            )
        };
    }
}
