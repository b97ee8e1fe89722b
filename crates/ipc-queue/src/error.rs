//! The error types of sending, receiving and selecting.

use std::{error::Error, fmt, io};

/// Why [`Sender::send`](crate::Sender::send) failed.
///
/// Whatever the variant, a failed `send` wrote either nothing or (only for
/// [`SendError::Disconnected`] and [`SendError::Io`]) a part of a frame to a peer that can no
/// longer read a whole one, so the stream is never left misaligned for a live peer.
///
/// # Example
///
/// ```
/// let (tx, rx) = ipc_queue::channel::<Vec<u8>>()?;
/// let tx = tx.with_max_frame(16);
/// match tx.send(&vec![0u8; 100]) {
///     Err(ipc_queue::SendError::TooLarge { size, max }) => assert!(size > max),
///     other => panic!("unexpected {other:?}"),
/// }
/// drop(rx);
/// assert!(matches!(tx.send(&vec![1]), Err(ipc_queue::SendError::Disconnected)));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum SendError {
    /// The peer closed its end or died (`EPIPE`, `ECONNRESET`). Also returned for every later
    /// `send` on a stream that an earlier failed write left with a partial frame.
    Disconnected,
    /// The encoded message is `size` bytes, more than this sender's maximum frame size `max`.
    /// Nothing was sent.
    TooLarge {
        /// Encoded payload size in bytes.
        size: usize,
        /// The sender's maximum payload size ([`Sender::max_frame`](crate::Sender::max_frame)).
        max: usize,
    },
    /// The message's `Serialize` implementation failed. Nothing was sent.
    Encode(postcard::Error),
    /// Another I/O error from the socket.
    Io(io::Error),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Disconnected => f.write_str("ipc send failed: the peer disconnected"),
            Self::TooLarge { size, max } => write!(
                f,
                "ipc send failed: the message encodes to {size} bytes, more than the maximum frame size of {max} bytes; nothing was sent"
            ),
            Self::Encode(e) => write!(f, "ipc send failed: cannot encode the message: {e}"),
            Self::Io(e) => write!(f, "ipc send failed: {e}"),
        }
    }
}

impl Error for SendError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Encode(e) => Some(e),
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a receive ([`Receiver::recv`](crate::Receiver::recv) and friends) returned no message.
///
/// After [`RecvError::Decode`] and [`RecvError::FrameTooLarge`] the receiver is still aligned on
/// frame boundaries and the next call reads the next frame. After [`RecvError::Timeout`] and
/// [`RecvError::Empty`] any partly received frame is kept and completed by the next call.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// let (tx, mut rx) = ipc_queue::channel::<u32>()?;
/// assert!(matches!(rx.try_recv(), Err(ipc_queue::RecvError::Empty)));
/// assert!(matches!(rx.recv_timeout(Duration::from_millis(1)), Err(ipc_queue::RecvError::Timeout)));
/// drop(tx);
/// assert!(matches!(rx.recv(), Err(ipc_queue::RecvError::Disconnected)));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum RecvError {
    /// The peer closed its end or died, possibly in the middle of a frame. Permanent: every later
    /// receive returns it too (after any complete frames that were already buffered).
    Disconnected,
    /// `recv_timeout`/`recv_deadline` ran out of time.
    Timeout,
    /// `try_recv` found no complete message.
    Empty,
    /// A frame header announced `announced` payload bytes, more than this receiver's maximum
    /// `max`. Nothing was allocated for it; its payload is discarded as it arrives, so the frame
    /// after it is still read.
    FrameTooLarge {
        /// Payload length announced by the header.
        announced: usize,
        /// The receiver's maximum payload size ([`Receiver::max_frame`](crate::Receiver::max_frame)).
        max: usize,
    },
    /// A complete frame did not decode as the receiver's message type (or left trailing bytes,
    /// reported as `DeserializeBadEncoding`). The frame is consumed; the next one still reads.
    Decode(postcard::Error),
    /// Another I/O error from the socket.
    Io(io::Error),
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Disconnected => f.write_str("ipc receive failed: the peer disconnected"),
            Self::Timeout => f.write_str("ipc receive timed out"),
            Self::Empty => f.write_str("ipc receive found no complete message"),
            Self::FrameTooLarge { announced, max } => write!(
                f,
                "ipc receive failed: a frame header announced {announced} bytes, more than the maximum frame size of {max} bytes"
            ),
            Self::Decode(e) => write!(f, "ipc receive failed: cannot decode the message: {e}"),
            Self::Io(e) => write!(f, "ipc receive failed: {e}"),
        }
    }
}

impl Error for RecvError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Decode(e) => Some(e),
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Why [`Selector::recv_any`](crate::Selector::recv_any) returned no message.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// let (_tx, rx) = ipc_queue::channel::<u8>()?;
/// let mut sel = ipc_queue::Selector::new();
/// let mut rxs = [rx];
/// let r = sel.recv_any(&mut rxs, Some(Duration::from_millis(1)));
/// assert!(matches!(r, Err(ipc_queue::SelectError::Timeout)));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum SelectError {
    /// No receiver had a message before the timeout.
    Timeout,
    /// The slice of receivers was empty.
    NoReceivers,
    /// Receiver number `index` failed: most often [`RecvError::Disconnected`] (the peer
    /// process died or closed its end). A disconnected receiver is reported again on every call
    /// until it is removed from the slice.
    Recv {
        /// Index of the failing receiver in the slice given to `recv_any`.
        index: usize,
        /// What went wrong with it.
        error: RecvError,
    },
    /// `poll(2)` itself failed.
    Io(io::Error),
}

impl fmt::Display for SelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("ipc select timed out"),
            Self::NoReceivers => f.write_str("ipc select was given no receivers"),
            Self::Recv { index, error } => write!(f, "receiver {index}: {error}"),
            Self::Io(e) => write!(f, "ipc select failed: {e}"),
        }
    }
}

impl Error for SelectError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Recv { error, .. } => Some(error),
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}
