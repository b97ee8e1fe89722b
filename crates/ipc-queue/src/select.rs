//! Waiting on many receivers from one thread with `poll(2)`. Why `poll`, and not a reader
//! thread per endpoint or `epoll`: `README.md` beside this file ("Many receivers").

use std::{
    fmt,
    os::fd::AsFd,
    time::{Duration, Instant},
};

use rustix::{
    event::{PollFd, PollFlags, poll},
    io::Errno,
};
use serde::de::DeserializeOwned;

use crate::{Frame, Receiver, RecvError, SelectError, sys};

/// Receives from whichever of many receivers has a message first, on one thread.
///
/// Made for a process pool's result thread: keep the workers' receivers in a slice (or any
/// type that is `AsMut<Receiver<T>>`), call [`recv_any`](Self::recv_any) in a loop, and
/// replace a worker whose receiver reports [`RecvError::Disconnected`]. The selector keeps a
/// round-robin position so that one busy worker cannot starve the others, and an optional
/// spin (see [`with_spin`](Self::with_spin)) for low latency.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// let (tx0, rx0) = ipc_queue::channel::<String>()?;
/// let (tx1, rx1) = ipc_queue::channel::<String>()?;
/// let mut receivers = vec![rx0, rx1];
/// let mut sel = ipc_queue::Selector::new();
/// tx1.send(&"from one".to_string())?;
/// assert_eq!(sel.recv_any(&mut receivers, Some(Duration::from_secs(5)))?, (1, "from one".to_string()));
/// drop(tx0);
/// match sel.recv_any(&mut receivers, Some(Duration::from_secs(5))) {
///     Err(ipc_queue::SelectError::Recv { index: 0, error: ipc_queue::RecvError::Disconnected }) => {
///         receivers.swap_remove(0); // e.g. replace the dead worker
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Default)]
pub struct Selector {
    /// Where the next scan starts (round robin).
    next: usize,
    spin: Duration,
    /// Scratch: indices `poll` reported ready, in scan order.
    ready: Vec<usize>,
}

impl Selector {
    /// A selector with no spin.
    ///
    /// # Example
    ///
    /// ```
    /// let sel = ipc_queue::Selector::new();
    /// # drop(sel);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets how long each `recv_any` polls without blocking (`poll` with a zero timeout)
    /// before it blocks in the kernel. Bounded per call: an idle selector uses no CPU.
    ///
    /// # Example
    ///
    /// ```
    /// let sel = ipc_queue::Selector::new().with_spin(std::time::Duration::from_micros(30));
    /// # drop(sel);
    /// ```
    #[must_use]
    pub fn with_spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// Sets the spin (see [`with_spin`](Self::with_spin)).
    ///
    /// # Example
    ///
    /// ```
    /// let mut sel = ipc_queue::Selector::new();
    /// sel.set_spin(std::time::Duration::from_micros(10));
    /// ```
    pub fn set_spin(&mut self, spin: Duration) {
        self.spin = spin;
    }

    /// Waits until one of `receivers` has a message, or fails, or `timeout` passes (`None`:
    /// no limit), and returns that receiver's index with its message.
    ///
    /// Messages already buffered in a receiver are returned first, without a syscall. The
    /// timeout holds while a peer keeps sending bytes of a frame it has not finished. A
    /// receiver that fails ([`RecvError::Disconnected`], [`RecvError::Decode`], ...) is reported
    /// as [`SelectError::Recv`] with its index; a disconnected one is reported again on every
    /// call, so remove or replace it. Errors: [`SelectError::Timeout`],
    /// [`SelectError::NoReceivers`] for an empty slice, [`SelectError::Io`] if `poll` fails.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// let (tx, rx) = ipc_queue::channel::<u8>()?;
    /// let mut rxs = [rx];
    /// tx.send(&1)?;
    /// tx.send(&2)?;
    /// let mut sel = ipc_queue::Selector::new();
    /// assert_eq!(sel.recv_any(&mut rxs, None)?, (0, 1));
    /// assert_eq!(sel.recv_any(&mut rxs, Some(Duration::ZERO))?, (0, 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_any<T, R>(
        &mut self,
        receivers: &mut [R],
        timeout: Option<Duration>,
    ) -> Result<(usize, T), SelectError>
    where
        T: DeserializeOwned,
        R: AsMut<Receiver<T>>,
    {
        self.recv_any_with(receivers, timeout, Receiver::try_recv)
    }

    /// Like [`recv_any`](Self::recv_any), but returns the frame undecoded (see
    /// [`Receiver::recv_frame`]): for messages whose parts the caller decodes itself.
    ///
    /// # Example
    ///
    /// ```
    /// let (tx, rx) = ipc_queue::channel::<u16>()?;
    /// let mut rxs = [rx];
    /// tx.send(&300)?;
    /// let (index, frame) = ipc_queue::Selector::new().recv_any_frame(&mut rxs, None)?;
    /// assert_eq!((index, postcard::from_bytes::<u16>(&frame)?), (0, 300));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_any_frame<T, R>(
        &mut self,
        receivers: &mut [R],
        timeout: Option<Duration>,
    ) -> Result<(usize, Frame), SelectError>
    where
        R: AsMut<Receiver<T>>,
    {
        self.recv_any_with(receivers, timeout, Receiver::try_recv_frame)
    }

    /// `recv_any` with `take` receiving from a ready receiver without blocking.
    fn recv_any_with<T, R, O>(
        &mut self,
        receivers: &mut [R],
        timeout: Option<Duration>,
        take: fn(&mut Receiver<T>) -> Result<O, RecvError>,
    ) -> Result<(usize, O), SelectError>
    where
        R: AsMut<Receiver<T>>,
    {
        let n = receivers.len();
        if n == 0 {
            return Err(SelectError::NoReceivers);
        }
        let first = self.next % n;
        let now = Instant::now();
        let deadline = timeout.and_then(|t| now.checked_add(t));
        let mut spin_end = (!self.spin.is_zero()).then(|| now + self.spin);
        if let (Some(s), Some(d)) = (spin_end, deadline) {
            spin_end = Some(s.min(d));
        }

        // Fast path: the receiver whose turn it is has a whole frame buffered already.
        if receivers[first].as_mut().has_buffered() {
            let result = take(receivers[first].as_mut());
            return self.deliver(first, result);
        }

        let mut ready = std::mem::take(&mut self.ready);
        let outcome = loop {
            ready.clear();
            if let Err(e) = wait_ready(receivers, first, spin_end, deadline, &mut ready) {
                break Err(e);
            }
            // Ready receivers in round-robin order. `Empty` means only part of a frame came in
            // (or a spurious wake-up): poll again.
            let mut got = None;
            for &i in &ready {
                match take(receivers[i].as_mut()) {
                    Err(RecvError::Empty) => {}
                    result => {
                        got = Some((i, result));
                        break;
                    }
                }
            }
            if let Some((i, result)) = got {
                break self.deliver(i, result);
            }
            // The deadline holds all the same. Without this check, a peer that keeps
            // sending bytes of a frame (so that every `poll` finds something) held the
            // selector past its deadline for as long as it kept sending, and with it the
            // process pool's per-task timeouts, which its manager waits for here.
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break Err(SelectError::Timeout);
            }
        };
        self.ready = ready;
        outcome
    }

    fn deliver<T>(
        &mut self,
        index: usize,
        result: Result<T, RecvError>,
    ) -> Result<(usize, T), SelectError> {
        self.next = index + 1;
        match result {
            Ok(msg) => Ok((index, msg)),
            Err(error) => Err(SelectError::Recv { index, error }),
        }
    }
}

/// Finds the receivers that can make progress: those with a whole frame (or an error) in
/// their buffer, and those whose socket `poll` reports readable or hung up. Whole frames
/// already in a buffer do not make the socket readable, so they are checked first, and when
/// there are any `poll` only looks (zero timeout) so that the round-robin order covers both
/// kinds. Otherwise spins with zero-timeout polls until `spin_end`, then blocks until
/// `deadline`. Fills `ready` with indices in round-robin order starting at `first`.
fn wait_ready<T, R: AsMut<Receiver<T>>>(
    receivers: &mut [R],
    first: usize,
    spin_end: Option<Instant>,
    deadline: Option<Instant>,
    ready: &mut Vec<usize>,
) -> Result<(), SelectError> {
    let n = receivers.len();
    let mut buffered = Vec::with_capacity(n);
    let mut fds: Vec<PollFd<'_>> = receivers
        .iter_mut()
        .map(|r| {
            let r = r.as_mut();
            buffered.push(r.has_buffered());
            PollFd::from_borrowed_fd(r.socket().as_fd(), PollFlags::IN)
        })
        .collect();
    let any_buffered = buffered.contains(&true);
    loop {
        let now = Instant::now();
        let spinning = spin_end.is_some_and(|s| now < s);
        let wait = if any_buffered || spinning {
            Some(Duration::ZERO)
        } else {
            deadline.map(|d| d.saturating_duration_since(now))
        };
        let ts = sys::timespec(wait);
        match poll(&mut fds, ts.as_ref()) {
            Ok(0) if !any_buffered => {
                if spinning {
                    std::thread::yield_now();
                } else if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(SelectError::Timeout);
                }
            }
            Ok(_) => {
                ready.extend(
                    (0..n)
                        .map(|k| (first + k) % n)
                        .filter(|&i| buffered[i] || !fds[i].revents().is_empty()),
                );
                return Ok(());
            }
            Err(Errno::INTR) => {}
            Err(e) => return Err(SelectError::Io(e.into())),
        }
    }
}

impl fmt::Debug for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Selector")
            .field("next", &self.next)
            .field("spin", &self.spin)
            .finish()
    }
}
