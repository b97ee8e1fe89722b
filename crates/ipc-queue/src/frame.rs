//! The wire format: one frame per message, `[len: u32 LE][postcard payload of len bytes]`.

use serde::{Serialize, de::DeserializeOwned};

/// Bytes in a frame header: the payload length as a little-endian `u32`.
///
/// # Example
///
/// ```
/// // A frame for the postcard encoding of `7u8` (one byte, 0x07):
/// let frame = [1u8, 0, 0, 0, 7];
/// assert_eq!(frame.len(), ipc_queue::HEADER_LEN + 1);
/// ```
pub const HEADER_LEN: usize = 4;

/// Default maximum payload size of one frame: 64 MiB, for both sending and receiving.
///
/// A receiver never allocates more than this (plus the header) for one frame, whatever a header
/// announces; a sender refuses to send more. Change it per endpoint with `with_max_frame`.
///
/// # Example
///
/// ```
/// let (tx, rx) = ipc_queue::channel::<Vec<u8>>()?;
/// assert_eq!(tx.max_frame(), ipc_queue::DEFAULT_MAX_FRAME);
/// assert_eq!(rx.max_frame(), 64 * 1024 * 1024);
/// # Ok::<(), std::io::Error>(())
/// ```
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024 * 1024;

/// The largest maximum frame size that can be set: the `u32` header's range, 4 GiB − 1 (on
/// 32-bit targets, a little under 2 GiB: what one allocation can hold).
///
/// # Example
///
/// ```
/// let (tx, _rx) = ipc_queue::channel::<u8>()?;
/// assert_eq!(tx.with_max_frame(usize::MAX).max_frame(), ipc_queue::MAX_FRAME_LIMIT);
/// # Ok::<(), std::io::Error>(())
/// ```
pub const MAX_FRAME_LIMIT: usize = if usize::BITS > 32 {
    u32::MAX as usize
} else {
    // Header + payload must fit one allocation (at most `isize::MAX` bytes).
    isize::MAX as usize - 2 * HEADER_LEN
};

/// Clamps a requested maximum frame size to what the header can express.
pub(crate) fn clamp_max(max: usize) -> usize {
    max.min(MAX_FRAME_LIMIT)
}

/// A postcard output that stores at most `cap` bytes but counts all of them, so an oversize
/// message costs no memory beyond the limit and still reports its exact size.
struct Capped<'a> {
    buf: &'a mut Vec<u8>,
    cap: usize,
    total: usize,
}

impl postcard::ser_flavors::Flavor for Capped<'_> {
    type Output = usize;

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.total = self.total.saturating_add(data.len());
        if self.total <= self.cap {
            self.buf.extend_from_slice(data);
        }
        Ok(())
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.try_extend(&[data])
    }

    fn finalize(self) -> postcard::Result<usize> {
        Ok(self.total)
    }
}

/// Encodes `msg` as one whole frame into `buf` (cleared first); for tests that build frames.
#[cfg(test)]
pub(crate) fn encode<T: Serialize + ?Sized>(
    msg: &T,
    max: usize,
    buf: &mut Vec<u8>,
) -> postcard::Result<Result<(), usize>> {
    buf.clear();
    encode_after(msg, max, buf)
}

/// Appends `msg` as one whole frame to `buf`, after the frames already there.
///
/// Returns `Ok(Ok(()))` with the frame appended, `Ok(Err(size))` if the payload would be
/// `size` bytes, more than `max`, or the encoder's error; on an error `buf` is left as it was.
pub(crate) fn encode_after<T: Serialize + ?Sized>(
    msg: &T,
    max: usize,
    buf: &mut Vec<u8>,
) -> postcard::Result<Result<(), usize>> {
    let start = buf.len();
    buf.extend_from_slice(&[0; HEADER_LEN]);
    let flavor = Capped {
        buf,
        cap: start + HEADER_LEN + max,
        total: start + HEADER_LEN,
    };
    let total = match postcard::serialize_with_flavor(msg, flavor) {
        Ok(total) => total,
        Err(e) => {
            buf.truncate(start);
            return Err(e);
        }
    };
    let size = total - start - HEADER_LEN;
    match u32::try_from(size) {
        Ok(len) if size <= max => {
            buf[start..start + HEADER_LEN].copy_from_slice(&len.to_le_bytes());
            Ok(Ok(()))
        }
        _ => {
            buf.truncate(start);
            Ok(Err(size))
        }
    }
}

/// Reads the payload length of a header.
pub(crate) fn header_len(header: [u8; HEADER_LEN]) -> usize {
    u32::from_le_bytes(header) as usize
}

/// Decodes one whole payload; trailing bytes are an error (`DeserializeBadEncoding`).
pub(crate) fn decode<T: DeserializeOwned>(payload: &[u8]) -> postcard::Result<T> {
    let (value, rest) = postcard::take_from_bytes::<T>(payload)?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(postcard::Error::DeserializeBadEncoding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_writes_header_and_payload() {
        let mut buf = Vec::new();
        assert!(matches!(encode(&(1u8, "ab"), 100, &mut buf), Ok(Ok(()))));
        assert_eq!(buf, [4, 0, 0, 0, 1, 2, b'a', b'b']);
    }

    #[test]
    fn oversize_encode_reports_exact_size_without_storing_it() {
        let mut buf = Vec::new();
        let big = vec![7u8; 10_000];
        let r = encode(&big, 100, &mut buf);
        // 10_000 as a varint is 2 bytes.
        assert!(matches!(r, Ok(Err(10_002))), "{r:?}");
        assert!(buf.len() <= HEADER_LEN + 100);
    }

    #[test]
    fn decode_rejects_trailing_bytes() {
        assert_eq!(decode::<u8>(&[5]).ok(), Some(5));
        assert!(decode::<u8>(&[5, 6]).is_err());
    }
}
