//! The receiving end: a frame reassembly buffer over non-blocking reads, plus spin-then-block.
//!
//! State kept between calls (so that a timeout in the middle of a frame loses nothing):
//! `buf[start..]` holds received bytes not yet consumed, beginning at a frame boundary unless
//! `skip > 0`, in which case the next `skip` bytes belong to an oversize frame being discarded.

use std::{
    fmt,
    marker::PhantomData,
    ops::{Deref, Range},
    os::{fd::OwnedFd, unix::net::UnixStream},
    sync::Arc,
    time::{Duration, Instant},
};

use rustix::event::PollFlags;
use serde::de::DeserializeOwned;

use crate::{
    error::RecvError,
    frame::{self, DEFAULT_MAX_FRAME, HEADER_LEN},
    sys::{self, Read},
};

/// Read granularity, and the buffer capacity always kept between messages.
const CHUNK: usize = 64 * 1024;
/// A buffer that grew past `CHUNK` for a large frame is kept (a stream of large messages
/// reuses it, instead of paying for a fresh allocation and its page faults every time) until
/// this many frames in a row have fitted in `CHUNK`; then it is freed.
const SHRINK_AFTER: u32 = 16;

/// How long a receive may wait.
#[derive(Clone, Copy, Debug)]
enum Wait {
    /// `try_recv`: never block.
    Never,
    /// `recv_deadline`.
    Until(Instant),
    /// `recv`.
    Forever,
}

/// The receiving end of a channel: reads frames and decodes messages of type `T`.
///
/// Made by [`channel`](crate::channel), [`Duplex::split`](crate::Duplex::split),
/// [`Receiver::from_env`] (in a child process) or [`Receiver::from_fd`]. Receiving takes
/// `&mut self`; move the receiver to the thread that reads. To wait on many receivers at once
/// use a [`Selector`](crate::Selector).
///
/// **Partial frames.** A receiver keeps what it has read of an incomplete frame, so
/// [`recv_timeout`](Self::recv_timeout) and [`try_recv`](Self::try_recv) may return in the
/// middle of a frame and the next call completes it: the stream always stays aligned. They
/// return in time even while a peer keeps sending bytes of a frame it never finishes.
///
/// **Spinning.** With [`with_spin`](Self::with_spin) set, a receive first polls the socket
/// with non-blocking reads for up to that long before it blocks in the kernel. On virtual
/// machines a blocking cross-core wake-up can cost tens of microseconds, so a short spin (say
/// 20–50 µs) cuts the round-trip latency of a request/response exchange. The spin is bounded per
/// call, so an idle receiver blocked in `recv` uses no CPU. Between attempts it yields the core
/// (`sched_yield`), so that on a machine with more runnable threads than cores the peer that
/// must produce the reply still gets to run. Default: no spin.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// let (tx, rx) = ipc_queue::channel::<u64>()?;
/// let mut rx = rx.with_spin(Duration::from_micros(30));
/// tx.send(&42)?;
/// assert_eq!(rx.recv_timeout(Duration::from_secs(5))?, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Receiver<T> {
    sock: Arc<UnixStream>,
    /// Received bytes; `buf[start..]` is not consumed yet.
    buf: Vec<u8>,
    start: usize,
    /// Bytes of an oversize frame still to be discarded.
    skip: usize,
    /// The peer closed its end: sticky.
    eof: bool,
    /// Frames in a row that fitted in `CHUNK` (see `SHRINK_AFTER`).
    small_streak: u32,
    max_frame: usize,
    spin: Duration,
    _marker: PhantomData<fn() -> T>,
}

impl<T> Receiver<T> {
    pub(crate) fn new(sock: Arc<UnixStream>) -> Self {
        Self {
            sock,
            buf: Vec::new(),
            start: 0,
            skip: 0,
            eof: false,
            small_streak: 0,
            max_frame: DEFAULT_MAX_FRAME,
            spin: Duration::ZERO,
            _marker: PhantomData,
        }
    }

    pub(crate) fn socket(&self) -> &Arc<UnixStream> {
        &self.sock
    }

    /// Wraps a socket that you made or received yourself.
    ///
    /// Fails with `InvalidInput` unless `fd` is an `AF_UNIX` `SOCK_STREAM` socket; puts it in
    /// blocking mode. The peer must speak this crate's frames.
    ///
    /// # Example
    ///
    /// ```
    /// use std::io::Write;
    /// let (mut a, b) = std::os::unix::net::UnixStream::pair()?;
    /// let mut rx = ipc_queue::Receiver::<u8>::from_fd(b.into())?;
    /// a.write_all(&[1, 0, 0, 0, 7])?; // one frame: length 1, postcard payload of 7u8
    /// assert_eq!(rx.recv()?, 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_fd(fd: OwnedFd) -> std::io::Result<Self> {
        Ok(Self::new(Arc::new(sys::validate_stream(fd)?)))
    }

    /// The child side of a hand-off: takes the socket named by environment variable `var`.
    ///
    /// See [`fd_from_env`](crate::fd_from_env) for the checks made, and
    /// [`spawn_with`](crate::spawn_with) for the parent side.
    ///
    /// # Safety
    /// As for [`fd_from_env`](crate::fd_from_env): `var` was set for this very process by
    /// its parent, which handed it the descriptor, and no other code here owns it.
    ///
    /// # Example
    ///
    /// ```no_run
    /// // In a child spawned with `ipc_queue::spawn_with(&mut cmd, "JOBS_FD", sender)`:
    /// // SAFETY: our parent set JOBS_FD for us when it started us, and we take it once.
    /// let mut rx = unsafe { ipc_queue::Receiver::<String>::from_env("JOBS_FD") }?;
    /// while let Ok(job) = rx.recv() {
    ///     println!("job {job}");
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub unsafe fn from_env(var: &str) -> std::io::Result<Self> {
        // SAFETY: this function's contract is `fd_from_env`'s.
        Self::from_fd(unsafe { crate::handoff::fd_from_env(var) }?)
    }

    /// Sets how long each receive spins (non-blocking reads) before it blocks.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// let (_tx, rx) = ipc_queue::channel::<u8>()?;
    /// let rx = rx.with_spin(Duration::from_micros(50));
    /// assert_eq!(rx.spin(), Duration::from_micros(50));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[must_use]
    pub fn with_spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// Sets how long each receive spins before it blocks (see [`with_spin`](Self::with_spin)).
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// let (_tx, mut rx) = ipc_queue::channel::<u8>()?;
    /// rx.set_spin(Duration::from_micros(20));
    /// assert_eq!(rx.spin(), Duration::from_micros(20));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_spin(&mut self, spin: Duration) {
        self.spin = spin;
    }

    /// How long each receive spins before it blocks.
    ///
    /// # Example
    ///
    /// ```
    /// let (_tx, rx) = ipc_queue::channel::<u8>()?;
    /// assert_eq!(rx.spin(), std::time::Duration::ZERO);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spin(&self) -> Duration {
        self.spin
    }

    /// Sets the maximum payload size of a frame this receiver accepts (clamped to
    /// [`MAX_FRAME_LIMIT`](crate::MAX_FRAME_LIMIT)); a header announcing more is
    /// [`RecvError::FrameTooLarge`] and nothing is allocated for it.
    ///
    /// # Example
    ///
    /// ```
    /// let (tx, rx) = ipc_queue::channel::<Vec<u8>>()?;
    /// let mut rx = rx.with_max_frame(100);
    /// tx.send(&vec![0u8; 1000])?;
    /// tx.send(&vec![1u8; 10])?;
    /// assert!(matches!(rx.recv(), Err(ipc_queue::RecvError::FrameTooLarge { max: 100, .. })));
    /// assert_eq!(rx.recv()?, vec![1u8; 10]); // the oversize frame was skipped
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_max_frame(mut self, max: usize) -> Self {
        self.max_frame = frame::clamp_max(max);
        self
    }

    /// The maximum payload size of a frame this receiver accepts.
    ///
    /// # Example
    ///
    /// ```
    /// let (_tx, rx) = ipc_queue::channel::<u8>()?;
    /// assert_eq!(rx.max_frame(), ipc_queue::DEFAULT_MAX_FRAME);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Whether a whole frame has been read already (or an error is to be reported): the next
    /// receive returns it without a system call. A peer that sends many small frames at once
    /// is read in one call, and this says whether more of them are at hand.
    ///
    /// # Example
    ///
    /// ```
    /// let (tx, mut rx) = ipc_queue::channel::<u8>()?;
    /// assert!(!rx.has_buffered());
    /// tx.send_batch(&[1, 2])?;
    /// assert_eq!(rx.recv()?, 1);
    /// assert!(rx.has_buffered(), "the second frame came with the first");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn has_buffered(&self) -> bool {
        let avail = self.buf.len() - self.start;
        if self.eof || (self.skip > 0 && avail > 0) {
            return true;
        }
        if self.skip > 0 || avail < HEADER_LEN {
            return false;
        }
        let len = self.frame_len_at_start();
        len > self.max_frame || avail >= HEADER_LEN + len
    }

    /// Drops the first `skip` unconsumed bytes that belong to an oversize frame.
    fn discard_skipped(&mut self) {
        let n = self.skip.min(self.buf.len() - self.start);
        self.start += n;
        self.skip -= n;
        if self.start == self.buf.len() {
            self.reset_buffer();
        }
    }

    /// Everything is consumed: rewind, and free a buffer that grew for large frames once
    /// they have stopped coming (see `SHRINK_AFTER`).
    fn reset_buffer(&mut self) {
        self.start = 0;
        self.buf.clear();
        if self.buf.capacity() > CHUNK && self.small_streak >= SHRINK_AFTER {
            self.buf = Vec::new();
        }
    }

    /// Makes room for the next read: enough capacity for the frame being assembled (its header
    /// was validated against `max_frame` already), never more than `max(CHUNK, header + max)`.
    fn reserve_for_read(&mut self) {
        let avail = self.buf.len() - self.start;
        let want = if self.skip == 0 && avail >= HEADER_LEN {
            HEADER_LEN + self.frame_len_at_start()
        } else {
            HEADER_LEN
        };
        if self.start > 0
            && (self.buf.len() == self.buf.capacity() || self.start + want > self.buf.capacity())
        {
            self.buf.copy_within(self.start.., 0);
            self.buf.truncate(avail);
            self.start = 0;
        }
        let cap = want.max(CHUNK);
        if self.buf.capacity() < cap {
            self.buf.reserve_exact(cap - self.buf.len());
        }
    }

    fn frame_len_at_start(&self) -> usize {
        let mut h = [0u8; HEADER_LEN];
        h.copy_from_slice(&self.buf[self.start..self.start + HEADER_LEN]);
        frame::header_len(h)
    }

    /// One read into the buffer.
    fn fill(&mut self, nonblocking: bool) -> Result<Fill, RecvError> {
        self.reserve_for_read();
        let (before, room) = (self.buf.len(), self.buf.capacity() - self.buf.len());
        let read = sys::recv_into(sys::bfd(&self.sock), &mut self.buf, nonblocking)
            .map_err(RecvError::Io)?;
        Ok(match read {
            // A read takes all the socket holds, up to the room it has: a short one means
            // the socket was empty after it. The room always covers the rest of the frame
            // being assembled (or of its header), so a full read completes one of them: a
            // run of full reads ends with a whole frame. Bytes of an oversize frame being
            // discarded complete nothing: those reads count as caught up.
            Read::Got if self.buf.len() - before == room && self.skip == 0 => Fill::More,
            Read::Got => Fill::CaughtUp,
            Read::WouldBlock => Fill::Nothing,
            Read::Eof => {
                self.eof = true;
                Fill::Eof
            }
        })
    }
}

/// What one read brought.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fill {
    /// Bytes, and the read filled its room: the socket may hold more of the same frame.
    More,
    /// Bytes, and the socket held no more: the receive has caught up with the peer. What
    /// comes after may be a peer that keeps sending; the wait's limit applies from here.
    CaughtUp,
    /// Nothing (a non-blocking read found the socket empty).
    Nothing,
    /// The peer closed its end.
    Eof,
}

impl<T> Receiver<T> {
    /// The payload of the next whole frame in the buffer, as a range of `buf` (not consumed
    /// yet: see [`consume`](Self::consume)); or the oversize-frame error; or the sticky
    /// disconnect once the buffer holds no complete frame; `None` when more bytes are needed.
    fn buffered_frame(&mut self) -> Option<Result<Range<usize>, RecvError>> {
        if self.skip > 0 {
            self.discard_skipped();
        }
        let avail = self.buf.len() - self.start;
        if self.skip == 0 && avail >= HEADER_LEN {
            let len = self.frame_len_at_start();
            if len > self.max_frame {
                // Refuse before allocating anything; discard the payload as it arrives.
                self.start += HEADER_LEN;
                self.skip = len;
                self.discard_skipped();
                return Some(Err(RecvError::FrameTooLarge {
                    announced: len,
                    max: self.max_frame,
                }));
            }
            if avail >= HEADER_LEN + len {
                let from = self.start + HEADER_LEN;
                return Some(Ok(from..from + len));
            }
        }
        if self.eof {
            return Some(Err(RecvError::Disconnected));
        }
        None
    }

    /// Consumes the frame whose payload ends at `end` of `buf`.
    fn consume(&mut self, end: usize) {
        self.small_streak = if end - self.start > CHUNK {
            0
        } else {
            self.small_streak.saturating_add(1)
        };
        self.start = end;
        if self.start == self.buf.len() {
            self.reset_buffer();
        }
    }

    /// Takes the next whole frame's payload out of the buffer, undecoded. A large one takes
    /// the buffer itself along (no copy; the bytes after it move to a new buffer), so nothing
    /// of it stays allocated here once the caller drops it.
    pub(crate) fn take_buffered_frame(&mut self) -> Option<Result<Frame, RecvError>> {
        let range = match self.buffered_frame()? {
            Ok(range) => range,
            Err(err) => return Some(Err(err)),
        };
        if range.len() <= CHUNK {
            let frame = Frame::from(self.buf[range.clone()].to_vec());
            self.consume(range.end);
            return Some(Ok(frame));
        }
        let mut rest = Vec::with_capacity(CHUNK.max(self.buf.len() - range.end));
        rest.extend_from_slice(&self.buf[range.end..]);
        let bytes = std::mem::replace(&mut self.buf, rest);
        self.start = 0;
        self.small_streak = 0;
        Some(Ok(Frame { bytes, range }))
    }

    /// The one receive loop behind every public receive: `take` takes a whole message from
    /// the buffer (decoded or not), or says that more bytes are needed.
    fn recv_with<O>(
        &mut self,
        wait: Wait,
        spin: Duration,
        take: fn(&mut Self) -> Option<Result<O, RecvError>>,
    ) -> Result<O, RecvError> {
        if let Some(r) = take(self) {
            return r;
        }
        // Spin phase: non-blocking reads for at most `spin` (and never past the deadline).
        if !spin.is_zero() && !matches!(wait, Wait::Never) {
            let mut spin_end = Instant::now() + spin;
            if let Wait::Until(d) = wait {
                spin_end = spin_end.min(d);
            }
            loop {
                let fill = self.fill(true)?;
                if fill != Fill::Nothing {
                    if let Some(r) = take(self) {
                        return r;
                    }
                }
                // Only a full read goes on without a look at the clock: a peer that keeps
                // sending bytes of a frame must not hold the spin past its end.
                if fill != Fill::More {
                    if Instant::now() >= spin_end {
                        break;
                    }
                    std::thread::yield_now();
                }
            }
        }
        loop {
            // Blocking read for `Forever`: one syscall, woken by the kernel when data arrives.
            let fill = self.fill(!matches!(wait, Wait::Forever))?;
            if fill != Fill::Nothing {
                if let Some(r) = take(self) {
                    return r;
                }
            }
            if fill == Fill::More {
                // The rest of the frame may be in the socket already: read it before the
                // limit is looked at (a past deadline still returns what has arrived).
                continue;
            }
            // Caught up with the peer, or nothing came: the wait's limit holds here, even
            // when the peer keeps sending bytes of a frame it never finishes (each read that
            // brought some used to put this check off).
            match wait {
                Wait::Never => return Err(RecvError::Empty),
                Wait::Until(deadline) => {
                    let left = sys::remaining(deadline);
                    if left.is_zero() {
                        return Err(RecvError::Timeout);
                    }
                    if fill == Fill::Nothing {
                        sys::wait_fd(sys::bfd(&self.sock), PollFlags::IN, Some(left))
                            .map_err(RecvError::Io)?;
                    }
                }
                // A blocking read found nothing only if someone made the socket
                // non-blocking behind our back.
                Wait::Forever => {
                    if fill == Fill::Nothing {
                        sys::wait_fd(sys::bfd(&self.sock), PollFlags::IN, None)
                            .map_err(RecvError::Io)?;
                    }
                }
            }
        }
    }

    /// Receives the next frame without decoding it, blocking (after the spin, if set): for
    /// a message whose parts the caller decodes itself, borrowing from the frame (postcard's
    /// `take_from_bytes` on its bytes, say). A large frame's bytes are the receive buffer
    /// itself, handed over without a copy and freed with the [`Frame`].
    ///
    /// # Example
    ///
    /// ```
    /// let (tx, mut rx) = ipc_queue::channel::<(u8, String)>()?;
    /// tx.send(&(1, "one".to_string()))?;
    /// let frame = rx.recv_frame()?;
    /// let (number, rest) = postcard::take_from_bytes::<u8>(&frame)?;
    /// assert_eq!((number, postcard::from_bytes::<&str>(rest)?), (1, "one"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_frame(&mut self) -> Result<Frame, RecvError> {
        self.recv_with(Wait::Forever, self.spin, Self::take_buffered_frame)
    }

    /// Like [`recv_frame`](Self::recv_frame), without blocking or spinning:
    /// [`RecvError::Empty`] when no whole frame has arrived.
    ///
    /// # Example
    ///
    /// ```
    /// let (tx, mut rx) = ipc_queue::channel::<u8>()?;
    /// assert!(matches!(rx.try_recv_frame(), Err(ipc_queue::RecvError::Empty)));
    /// tx.send(&5)?;
    /// assert_eq!(&*rx.try_recv_frame()?, &[5]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_recv_frame(&mut self) -> Result<Frame, RecvError> {
        self.recv_with(Wait::Never, Duration::ZERO, Self::take_buffered_frame)
    }
}

impl<T: DeserializeOwned> Receiver<T> {
    /// Returns the next message if a whole frame is buffered (no syscall), or the oversize-frame
    /// error, or the sticky disconnect once the buffer holds no complete frame.
    pub(crate) fn take_buffered(&mut self) -> Option<Result<T, RecvError>> {
        let range = match self.buffered_frame()? {
            Ok(range) => range,
            Err(err) => return Some(Err(err)),
        };
        let result = frame::decode::<T>(&self.buf[range.clone()]).map_err(RecvError::Decode);
        // Consumed whether or not it decoded: the next frame starts right after it.
        self.consume(range.end);
        Some(result)
    }

    /// Receives the next message, blocking until one arrives or the peer disconnects.
    ///
    /// Spins first if [`with_spin`](Self::with_spin) is set.
    ///
    /// # Example
    ///
    /// ```
    /// let (tx, mut rx) = ipc_queue::channel::<Vec<u8>>()?;
    /// std::thread::spawn(move || tx.send(&vec![1, 2, 3]));
    /// assert_eq!(rx.recv()?, vec![1, 2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv(&mut self) -> Result<T, RecvError> {
        self.recv_with(Wait::Forever, self.spin, Self::take_buffered)
    }

    /// Receives the next message, waiting at most `timeout`.
    ///
    /// On [`RecvError::Timeout`] a partly received frame is kept for the next call. The
    /// limit holds while the peer keeps sending bytes of a frame it has not finished; what
    /// the socket held already is read first, so a frame that had arrived whole is returned.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// let (tx, mut rx) = ipc_queue::channel::<u8>()?;
    /// assert!(matches!(rx.recv_timeout(Duration::from_millis(5)), Err(ipc_queue::RecvError::Timeout)));
    /// tx.send(&1)?;
    /// assert_eq!(rx.recv_timeout(Duration::from_secs(5))?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T, RecvError> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.recv_with(Wait::Until(deadline), self.spin, Self::take_buffered),
            None => self.recv(),
        }
    }

    /// Receives the next message, waiting until `deadline` at most.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let (tx, mut rx) = ipc_queue::channel::<u8>()?;
    /// tx.send(&3)?;
    /// assert_eq!(rx.recv_deadline(Instant::now() + Duration::from_secs(5))?, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_deadline(&mut self, deadline: Instant) -> Result<T, RecvError> {
        self.recv_with(Wait::Until(deadline), self.spin, Self::take_buffered)
    }

    /// Receives a message if a whole one has arrived, without blocking (and without spinning).
    ///
    /// Returns [`RecvError::Empty`] otherwise; a partly received frame is kept.
    ///
    /// # Example
    ///
    /// ```
    /// let (tx, mut rx) = ipc_queue::channel::<u8>()?;
    /// assert!(matches!(rx.try_recv(), Err(ipc_queue::RecvError::Empty)));
    /// tx.send(&5)?;
    /// assert_eq!(rx.try_recv()?, 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_recv(&mut self) -> Result<T, RecvError> {
        self.recv_with(Wait::Never, Duration::ZERO, Self::take_buffered)
    }
}

/// The payload of one received frame, undecoded: see [`Receiver::recv_frame`]. Dereferences
/// to its bytes.
pub struct Frame {
    bytes: Vec<u8>,
    range: Range<usize>,
}

impl From<Vec<u8>> for Frame {
    fn from(bytes: Vec<u8>) -> Self {
        let range = 0..bytes.len();
        Frame { bytes, range }
    }
}

impl Deref for Frame {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes[self.range.clone()]
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("len", &self.range.len())
            .finish()
    }
}

impl<T> AsMut<Self> for Receiver<T> {
    /// Lets [`Selector::recv_any`](crate::Selector::recv_any) take `&mut [Receiver<T>]`.
    fn as_mut(&mut self) -> &mut Self {
        self
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("fd", &std::os::fd::AsRawFd::as_raw_fd(&*self.sock))
            .field("buffered", &(self.buf.len() - self.start))
            .field("disconnected", &self.eof)
            .field("max_frame", &self.max_frame)
            .field("spin", &self.spin)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn pair() -> (UnixStream, Receiver<Vec<u8>>) {
        let (a, b) = UnixStream::pair().unwrap();
        (a, Receiver::new(Arc::new(b)))
    }

    #[test]
    fn oversize_header_allocates_nothing_and_is_skipped() {
        let (mut a, rx) = pair();
        let mut rx = rx.with_max_frame(1000);
        a.write_all(&(u32::MAX).to_le_bytes()).unwrap();
        assert!(
            matches!(rx.try_recv(), Err(RecvError::FrameTooLarge { announced, max: 1000 }) if announced == u32::MAX as usize)
        );
        assert!(rx.buf.capacity() <= CHUNK, "capacity {}", rx.buf.capacity());
        assert_eq!(rx.skip, u32::MAX as usize);
    }

    #[test]
    fn timeout_mid_frame_keeps_alignment() {
        let (mut a, mut rx) = pair();
        let mut frame = Vec::new();
        crate::frame::encode(&vec![9u8; 300_000], DEFAULT_MAX_FRAME, &mut frame)
            .unwrap()
            .unwrap();
        let (first, rest) = frame.split_at(1000);
        a.write_all(first).unwrap();
        assert!(matches!(
            rx.recv_timeout(Duration::from_millis(10)),
            Err(RecvError::Timeout)
        ));
        assert_eq!(rx.buf.len() - rx.start, 1000);
        let writer = std::thread::spawn({
            let rest = rest.to_vec();
            move || a.write_all(&rest).map(|()| a)
        });
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(20)).unwrap(),
            vec![9u8; 300_000]
        );
        let mut a = writer.join().unwrap().unwrap();
        // The buffer that grew for the big frame is kept for a while, then released.
        assert!(rx.buf.capacity() > CHUNK);
        for i in 0..SHRINK_AFTER {
            let mut small = Vec::new();
            crate::frame::encode(&vec![i as u8], DEFAULT_MAX_FRAME, &mut small)
                .unwrap()
                .unwrap();
            a.write_all(&small).unwrap();
            assert_eq!(rx.recv().unwrap(), vec![i as u8]);
        }
        assert!(rx.buf.capacity() <= CHUNK, "capacity {}", rx.buf.capacity());
        drop(a);
        assert!(matches!(rx.recv(), Err(RecvError::Disconnected)));
    }
}
