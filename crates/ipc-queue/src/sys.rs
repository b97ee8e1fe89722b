//! Thin wrappers over the few socket syscalls the crate makes (through `rustix`, no `unsafe`).

use std::{
    io::{self, IoSlice},
    os::{
        fd::{AsFd, BorrowedFd, OwnedFd},
        unix::net::UnixStream,
    },
    time::{Duration, Instant},
};

use rustix::{
    event::{PollFd, PollFlags, Timespec, poll},
    io::Errno,
    net::{AddressFamily, RecvFlags, SendAncillaryBuffer, SendFlags, SocketType, recv, sendmsg},
};

/// Outcome of one read attempt.
#[derive(Debug)]
pub(crate) enum Read {
    /// Some bytes were appended to the buffer.
    Got,
    /// Non-blocking read found nothing.
    WouldBlock,
    /// The peer closed its end (read returned 0, or the connection was reset).
    Eof,
}

/// Appends what one `recv(2)` returns to the spare capacity of `buf` (which must have some).
///
/// `nonblocking` uses `MSG_DONTWAIT` for this call only, so the socket itself stays in blocking
/// mode for the sending half that may share it. `EINTR` is retried.
pub(crate) fn recv_into(
    fd: BorrowedFd<'_>,
    buf: &mut Vec<u8>,
    nonblocking: bool,
) -> io::Result<Read> {
    debug_assert!(buf.capacity() > buf.len());
    let flags = if nonblocking {
        RecvFlags::DONTWAIT
    } else {
        RecvFlags::empty()
    };
    loop {
        match recv(fd, rustix::buffer::spare_capacity(buf), flags) {
            Ok((0, _)) => return Ok(Read::Eof),
            Ok(_) => return Ok(Read::Got),
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => return Ok(Read::WouldBlock),
            Err(Errno::CONNRESET) => return Ok(Read::Eof),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Why [`send_all`] stopped.
#[derive(Debug)]
pub(crate) enum SendFail {
    /// `EPIPE` / `ECONNRESET`: the peer is gone.
    Disconnected,
    /// Anything else.
    Io(io::Error),
}

/// Writes all of `parts`, in order, with `sendmsg(2, MSG_NOSIGNAL)` (one syscall for all the
/// parts that fit, no copy to join them): a dead peer is `EPIPE`, never `SIGPIPE`.
///
/// Returns how many bytes were written before a failure together with the failure, so the
/// caller knows whether it left a partial frame behind.
pub(crate) fn send_all(fd: BorrowedFd<'_>, parts: &[&[u8]]) -> Result<(), (usize, SendFail)> {
    let total: usize = parts.iter().map(|part| part.len()).sum();
    let mut off = 0;
    let mut slices = Vec::with_capacity(parts.len());
    while off < total {
        // The parts not written yet, the first of them cut where the last write stopped.
        slices.clear();
        let mut skip = off;
        for part in parts {
            if skip >= part.len() {
                skip -= part.len();
            } else {
                slices.push(IoSlice::new(&part[skip..]));
                skip = 0;
            }
        }
        let sent = sendmsg(
            fd,
            &slices,
            &mut SendAncillaryBuffer::default(),
            SendFlags::NOSIGNAL,
        );
        match sent {
            Ok(n) => off += n,
            Err(Errno::INTR) => {}
            // Only if someone made the socket non-blocking behind our back: wait, then retry.
            Err(Errno::AGAIN) => {
                if let Err(e) = wait_fd(fd, PollFlags::OUT, None) {
                    return Err((off, SendFail::Io(e)));
                }
            }
            Err(Errno::PIPE | Errno::CONNRESET | Errno::NOTCONN) => {
                return Err((off, SendFail::Disconnected));
            }
            Err(e) => return Err((off, SendFail::Io(e.into()))),
        }
    }
    Ok(())
}

/// Converts a timeout for `poll(2)`: `None` blocks; a duration too large for a `timespec` too.
pub(crate) fn timespec(d: Option<Duration>) -> Option<Timespec> {
    d.and_then(|d| Timespec::try_from(d).ok())
}

/// Time left until `deadline`, zero if it has passed.
pub(crate) fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// Waits until `fd` has one of `events` (or a hang-up/error) or `timeout` passes.
/// Returns whether it became ready. `EINTR` counts as "not ready yet" (callers loop).
pub(crate) fn wait_fd(
    fd: BorrowedFd<'_>,
    events: PollFlags,
    timeout: Option<Duration>,
) -> io::Result<bool> {
    let mut fds = [PollFd::from_borrowed_fd(fd, events)];
    let ts = timespec(timeout);
    match poll(&mut fds, ts.as_ref()) {
        Ok(n) => Ok(n > 0),
        Err(Errno::INTR) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Checks that `fd` is an `AF_UNIX` `SOCK_STREAM` socket (`InvalidInput` otherwise).
pub(crate) fn check_unix_stream(fd: BorrowedFd<'_>) -> io::Result<()> {
    let invalid = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("ipc-queue: fd is not {what}"),
        )
    };
    let ty = rustix::net::sockopt::socket_type(fd).map_err(|e| {
        if e == Errno::NOTSOCK {
            invalid("a socket")
        } else {
            io::Error::from(e)
        }
    })?;
    if ty != SocketType::STREAM {
        return Err(invalid("a SOCK_STREAM socket"));
    }
    if rustix::net::getsockname(fd)?.address_family() != AddressFamily::UNIX {
        return Err(invalid("an AF_UNIX socket"));
    }
    Ok(())
}

/// Checks `fd` with [`check_unix_stream`], puts it in blocking mode and makes it a `UnixStream`.
pub(crate) fn validate_stream(fd: OwnedFd) -> io::Result<UnixStream> {
    check_unix_stream(fd.as_fd())?;
    let stream = UnixStream::from(fd);
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// Shorthand: the borrowed fd of a stream.
pub(crate) fn bfd(s: &UnixStream) -> BorrowedFd<'_> {
    s.as_fd()
}
