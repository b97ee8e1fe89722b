//! The sending end: encode under a lock, write the whole frame under the same lock.

use std::{
    fmt,
    marker::PhantomData,
    os::{fd::OwnedFd, unix::net::UnixStream},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use serde::Serialize;

use crate::{
    error::SendError,
    frame::{self, DEFAULT_MAX_FRAME},
    sys,
};

/// Encode buffer capacity always kept between sends.
const KEEP_BUF_CAPACITY: usize = 64 * 1024;
/// A buffer that grew past `KEEP_BUF_CAPACITY` is kept (so a stream of large messages does
/// not pay for a fresh allocation and its page faults every time) until this many frames in
/// a row have fitted in `KEEP_BUF_CAPACITY`; then it is freed.
const SHRINK_AFTER: u32 = 16;

/// The sending end of a channel: writes messages of type `T` as frames.
///
/// Made by [`channel`](crate::channel), [`Duplex::split`](crate::Duplex::split),
/// [`Sender::from_env`] (in a child process) or [`Sender::from_fd`]. Clone it to send from
/// several threads: all clones share one lock that is held for a whole frame's write, so frames
/// never interleave. `send` blocks while the socket buffer is full (the peer is slow): that is
/// the channel's backpressure. It never blocks on a dead peer: that is
/// [`SendError::Disconnected`].
///
/// The socket closes when the last clone (and, for a split duplex, the receiving half) is
/// dropped; the peer then sees [`RecvError::Disconnected`](crate::RecvError::Disconnected).
///
/// # Example
///
/// ```
/// let (tx, mut rx) = ipc_queue::channel::<String>()?;
/// let tx2 = tx.clone();
/// std::thread::spawn(move || tx2.send(&"from a thread".to_string())).join().unwrap()?;
/// assert_eq!(rx.recv()?, "from a thread");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Sender<T> {
    shared: Arc<Shared>,
    max_frame: usize,
    _marker: PhantomData<fn(T)>,
}

/// What all clones of one sender share.
struct Shared {
    sock: Arc<UnixStream>,
    /// The write lock. Held from encoding to the last byte of the frame.
    state: Mutex<WriteState>,
}

struct WriteState {
    /// Reused encode buffer: header + payload of the frame being written.
    buf: Vec<u8>,
    /// An earlier write stopped in the middle of a frame: the stream is misaligned for good.
    broken: bool,
    /// Frames in a row that fitted in `KEEP_BUF_CAPACITY` (see `SHRINK_AFTER`).
    small_streak: u32,
}

impl<T> Sender<T> {
    pub(crate) fn new(sock: Arc<UnixStream>) -> Self {
        Self {
            shared: Arc::new(Shared {
                sock,
                state: Mutex::new(WriteState {
                    buf: Vec::new(),
                    broken: false,
                    small_streak: 0,
                }),
            }),
            max_frame: DEFAULT_MAX_FRAME,
            _marker: PhantomData,
        }
    }

    pub(crate) fn socket(&self) -> &Arc<UnixStream> {
        &self.shared.sock
    }

    /// Wraps a socket that you made or received yourself.
    ///
    /// Fails with `InvalidInput` unless `fd` is an `AF_UNIX` `SOCK_STREAM` socket; puts it in
    /// blocking mode. The peer must speak this crate's frames.
    ///
    /// # Example
    ///
    /// ```
    /// let (a, b) = std::os::unix::net::UnixStream::pair()?;
    /// let tx = ipc_queue::Sender::<u32>::from_fd(a.into())?;
    /// let mut rx = ipc_queue::Receiver::<u32>::from_fd(b.into())?;
    /// tx.send(&9)?;
    /// assert_eq!(rx.recv()?, 9);
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
    /// // In a child spawned with `ipc_queue::spawn_with(&mut cmd, "RESULTS_FD", receiver)`:
    /// // SAFETY: our parent set RESULTS_FD for us when it started us, and we take it once.
    /// let tx = unsafe { ipc_queue::Sender::<String>::from_env("RESULTS_FD") }?;
    /// tx.send(&"hello, parent".to_string())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub unsafe fn from_env(var: &str) -> std::io::Result<Self> {
        // SAFETY: this function's contract is `fd_from_env`'s.
        Self::from_fd(unsafe { crate::handoff::fd_from_env(var) }?)
    }

    /// Sets the maximum payload size of a frame this handle sends (clamped to
    /// [`MAX_FRAME_LIMIT`](crate::MAX_FRAME_LIMIT)). Per handle: clones made before keep theirs.
    ///
    /// # Example
    ///
    /// ```
    /// let (tx, _rx) = ipc_queue::channel::<Vec<u8>>()?;
    /// let tx = tx.with_max_frame(1024);
    /// assert!(tx.send(&vec![0u8; 2000]).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[must_use]
    pub fn with_max_frame(mut self, max: usize) -> Self {
        self.max_frame = frame::clamp_max(max);
        self
    }

    /// The maximum payload size of a frame this handle sends.
    ///
    /// # Example
    ///
    /// ```
    /// let (tx, _rx) = ipc_queue::channel::<u8>()?;
    /// assert_eq!(tx.max_frame(), ipc_queue::DEFAULT_MAX_FRAME);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }
}

impl<T: Serialize> Sender<T> {
    /// Sends one message, blocking while the socket buffer is full.
    ///
    /// The frame is written whole under the sender's lock. Errors: the peer is gone
    /// ([`SendError::Disconnected`], never `SIGPIPE`), the message is larger than
    /// [`max_frame`](Self::max_frame) ([`SendError::TooLarge`]; nothing is sent), or it cannot
    /// be encoded ([`SendError::Encode`]; nothing is sent).
    ///
    /// # Example
    ///
    /// ```
    /// let (tx, mut rx) = ipc_queue::channel::<(u32, String)>()?;
    /// tx.send(&(1, "one".to_string()))?;
    /// assert_eq!(rx.recv()?, (1, "one".to_string()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send(&self, msg: &T) -> Result<(), SendError> {
        self.send_batch(std::iter::once(msg))
    }

    /// Sends every message of `msgs`, in order, as one [`send`](Self::send) each would, but
    /// encoded back to back and written together, in as few writes as the socket allows:
    /// for many small messages the system call per message is what a send costs, and this
    /// pays it once per batch.
    ///
    /// All or nothing before the first byte: if a message cannot be encoded or is larger
    /// than [`max_frame`](Self::max_frame), nothing of the batch is sent and that error is
    /// returned. A dead peer is [`SendError::Disconnected`], as for `send` (the frames
    /// written before it count as sent). The whole batch is held encoded until it is
    /// written, and no other clone's frame comes between its frames: send a long stream in
    /// slices of a few hundred messages.
    ///
    /// # Example
    ///
    /// ```
    /// let (tx, mut rx) = ipc_queue::channel::<u32>()?;
    /// tx.send_batch(&[1, 2, 3])?;
    /// assert_eq!((rx.recv()?, rx.recv()?, rx.recv()?), (1, 2, 3));
    ///
    /// let small = tx.with_max_frame(1); // a `u32` of 128 or more takes 2 bytes
    /// assert!(small.send_batch(&[4, 500, 6]).is_err());
    /// small.send(&7)?;
    /// assert_eq!(rx.recv()?, 7, "nothing of the refused batch was sent");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_batch<'a, I>(&self, msgs: I) -> Result<(), SendError>
    where
        I: IntoIterator<Item = &'a T>,
        T: 'a,
    {
        let mut state = self.lock_writable()?;
        state.buf.clear();
        let encoded = msgs.into_iter().try_for_each(|msg| {
            match frame::encode_after(msg, self.max_frame, &mut state.buf) {
                Ok(Ok(())) => Ok(()),
                Ok(Err(size)) => Err(self.too_large(size)),
                Err(e) => Err(SendError::Encode(e)),
            }
        });
        let result = match encoded {
            Ok(()) if state.buf.is_empty() => Ok(()),
            Ok(()) => self.write_buffer(&mut state),
            Err(err) => Err(err),
        };
        Self::keep_or_shrink(&mut state);
        result
    }
}

impl<T> Sender<T> {
    /// Writes the frames encoded in `state.buf` (whole frames: a failed write part-way marks
    /// the stream broken).
    fn write_buffer(&self, state: &mut WriteState) -> Result<(), SendError> {
        let frames = std::mem::take(&mut state.buf);
        let sent = self.write_frame(state, &[&frames]);
        state.buf = frames;
        sent
    }

    /// Keeps the encode buffer for the next send, unless it grew large and has not been
    /// needed so for a while (see `SHRINK_AFTER`).
    fn keep_or_shrink(state: &mut WriteState) {
        state.small_streak = if state.buf.len() > KEEP_BUF_CAPACITY {
            0
        } else {
            state.small_streak.saturating_add(1)
        };
        if state.buf.capacity() > KEEP_BUF_CAPACITY && state.small_streak >= SHRINK_AFTER {
            state.buf = Vec::new();
        }
    }
}

impl<T> Sender<T> {
    /// Sends `payload`, which the caller encoded already (postcard's encoding of a `T`), as
    /// one frame: the sender writes the header and then `payload` straight from the caller's
    /// memory, with no copy into its own buffer. For large messages that the caller builds
    /// anyway, or sends again.
    ///
    /// The bytes are not checked: a receiver that cannot decode them as a `T` gets
    /// [`RecvError::Decode`](crate::RecvError::Decode) for this frame only (the stream stays
    /// aligned). Errors as [`send`](Self::send): [`SendError::TooLarge`] when `payload` is
    /// longer than [`max_frame`](Self::max_frame) (nothing is sent), a dead peer.
    ///
    /// # Example
    ///
    /// ```
    /// let (tx, mut rx) = ipc_queue::channel::<(u32, String)>()?;
    /// let payload = postcard::to_stdvec(&(2u32, "two"))?;
    /// tx.send_encoded(&payload)?;
    /// tx.send_encoded(&payload)?; // the same bytes again, still no copy
    /// assert_eq!(rx.recv()?, (2, "two".to_string()));
    /// assert_eq!(rx.recv()?, (2, "two".to_string()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_encoded(&self, payload: &[u8]) -> Result<(), SendError> {
        let Ok(len) = u32::try_from(payload.len()) else {
            return Err(self.too_large(payload.len()));
        };
        if payload.len() > self.max_frame {
            return Err(self.too_large(payload.len()));
        }
        let mut state = self.lock_writable()?;
        self.write_frame(&mut state, &[&len.to_le_bytes(), payload])
    }

    /// Sends `payloads`, each encoded already, as [`send_encoded`](Self::send_encoded) would
    /// one by one, but written together: one system call for many small frames, and no other
    /// clone's frame between them.
    ///
    /// All or nothing before the first byte when a payload is larger than
    /// [`max_frame`](Self::max_frame). A failed write gives, with its error, how many frames
    /// were written whole before it (for a peer that died: which of them it may have read).
    ///
    /// # Example
    ///
    /// ```
    /// let (tx, mut rx) = ipc_queue::channel::<u32>()?;
    /// let payloads = [postcard::to_stdvec(&1u32)?, postcard::to_stdvec(&2u32)?];
    /// tx.send_encoded_all(&payloads).map_err(|(_, err)| err)?;
    /// assert_eq!((rx.recv()?, rx.recv()?), (1, 2));
    /// drop(rx);
    /// let (sent, _) = tx.send_encoded_all(&payloads).unwrap_err();
    /// assert_eq!(sent, 0, "nothing reached a peer that is gone");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_encoded_all<P: AsRef<[u8]>>(
        &self,
        payloads: &[P],
    ) -> Result<(), (usize, SendError)> {
        /// Frames per `sendmsg`: two slices each, well below the system's `IOV_MAX` (1024).
        const FRAMES_PER_WRITE: usize = 256;
        if let [payload] = payloads {
            return self.send_encoded(payload.as_ref()).map_err(|err| (0, err));
        }
        let mut headers = Vec::with_capacity(payloads.len());
        for payload in payloads {
            let size = payload.as_ref().len();
            match u32::try_from(size) {
                Ok(len) if size <= self.max_frame => headers.push(len.to_le_bytes()),
                _ => return Err((0, self.too_large(size))),
            }
        }
        let mut state = self.lock_writable().map_err(|err| (0, err))?;
        let mut sent = 0;
        let mut parts: Vec<&[u8]> = Vec::with_capacity(2 * FRAMES_PER_WRITE.min(payloads.len()));
        for (heads, bodies) in headers
            .chunks(FRAMES_PER_WRITE)
            .zip(payloads.chunks(FRAMES_PER_WRITE))
        {
            parts.clear();
            for (head, body) in heads.iter().zip(bodies) {
                parts.extend([&head[..], body.as_ref()]);
            }
            if let Err((written, fail)) = sys::send_all(sys::bfd(&self.shared.sock), &parts) {
                // The frames written whole, and whether a part of the next one was.
                let mut left = written;
                for body in bodies {
                    let size = frame::HEADER_LEN + body.as_ref().len();
                    if left < size {
                        break;
                    }
                    left -= size;
                    sent += 1;
                }
                state.broken |= left > 0;
                return Err((sent, Self::send_error(fail)));
            }
            sent += heads.len();
        }
        Ok(())
    }

    /// Shuts the socket down in both directions: the peer's receives see
    /// [`Disconnected`](crate::RecvError::Disconnected) at once (after what was sent), and
    /// later sends on either side fail; a peer process blocked reading is woken. For letting
    /// a peer go whose stream can no longer be trusted.
    ///
    /// # Example
    ///
    /// ```
    /// let (tx, mut rx) = ipc_queue::channel::<u8>()?;
    /// let keep = tx.clone();
    /// tx.shutdown()?;
    /// assert!(matches!(rx.recv(), Err(ipc_queue::RecvError::Disconnected)));
    /// assert!(keep.send(&1).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown(&self) -> std::io::Result<()> {
        self.shared.sock.shutdown(std::net::Shutdown::Both)
    }

    /// The socket's send buffer size in bytes (`SO_SNDBUF`): how much this side may have
    /// written and the peer not yet read before a send blocks (roughly: the kernel counts its
    /// own overhead per write too).
    ///
    /// # Example
    ///
    /// ```
    /// let (tx, _rx) = ipc_queue::channel::<u8>()?;
    /// assert!(tx.send_buffer_size()? > 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_buffer_size(&self) -> std::io::Result<usize> {
        Ok(rustix::net::sockopt::socket_send_buffer_size(sys::bfd(
            &self.shared.sock,
        ))?)
    }

    /// Takes the write lock, unless an earlier write left the stream broken.
    fn lock_writable(&self) -> Result<MutexGuard<'_, WriteState>, SendError> {
        // A panic in a user's `Serialize` impl poisons the lock before any byte is written, so
        // the state is still consistent: recover it.
        let state = self
            .shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if state.broken {
            return Err(SendError::Disconnected);
        }
        Ok(state)
    }

    fn too_large(&self, size: usize) -> SendError {
        SendError::TooLarge {
            size,
            max: self.max_frame,
        }
    }

    /// Writes one whole frame made of `parts`, under the write lock (`state`); a write that
    /// stops part-way marks the stream broken.
    fn write_frame(&self, state: &mut WriteState, parts: &[&[u8]]) -> Result<(), SendError> {
        match sys::send_all(sys::bfd(&self.shared.sock), parts) {
            Ok(()) => Ok(()),
            Err((written, fail)) => {
                if written > 0 {
                    state.broken = true;
                }
                Err(Self::send_error(fail))
            }
        }
    }

    fn send_error(fail: sys::SendFail) -> SendError {
        match fail {
            sys::SendFail::Disconnected => SendError::Disconnected,
            sys::SendFail::Io(e) => SendError::Io(e),
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            max_frame: self.max_frame,
            _marker: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("fd", &std::os::fd::AsRawFd::as_raw_fd(&*self.shared.sock))
            .field("max_frame", &self.max_frame)
            .finish()
    }
}
