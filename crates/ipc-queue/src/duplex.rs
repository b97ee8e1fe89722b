//! Making channels: the one-way [`channel`] and the two-way [`duplex`].

use std::{
    fmt, io,
    os::{fd::OwnedFd, unix::net::UnixStream},
    sync::Arc,
    time::{Duration, Instant},
};

use serde::{Serialize, de::DeserializeOwned};

use crate::{Receiver, RecvError, SendError, Sender, sys};

/// Creates a one-way channel for messages of type `T` over a new socketpair.
///
/// Both sockets are `SOCK_CLOEXEC`: a spawned process inherits neither unless you hand one
/// over with [`spawn_with`](crate::spawn_with).
///
/// # Example
///
/// ```
/// let (tx, mut rx) = ipc_queue::channel::<Vec<u32>>()?;
/// tx.send(&vec![1, 2, 3])?;
/// assert_eq!(rx.recv()?, vec![1, 2, 3]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn channel<T: Serialize + DeserializeOwned>() -> io::Result<(Sender<T>, Receiver<T>)> {
    let (a, b) = UnixStream::pair()?;
    Ok((Sender::new(Arc::new(a)), Receiver::new(Arc::new(b))))
}

/// Creates a two-way channel: the first end sends `A` and receives `B`, the second the reverse.
///
/// This is the request/response shape a process pool needs: keep one end, hand the other to a
/// worker process with [`spawn_with`](crate::spawn_with), and [`split`](Duplex::split) yours to
/// write requests from one thread and read responses on another.
///
/// # Example
///
/// ```
/// let (mut parent, mut child) = ipc_queue::duplex::<String, usize>()?;
/// let worker = std::thread::spawn(move || -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
///     while let Ok(s) = child.recv() {
///         child.send(&s.len())?;
///     }
///     Ok(())
/// });
/// parent.send(&"four".to_string())?;
/// assert_eq!(parent.recv()?, 4);
/// drop(parent); // the worker's recv sees Disconnected and it returns
/// worker.join().unwrap().unwrap();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn duplex<A, B>() -> io::Result<(Duplex<A, B>, Duplex<B, A>)>
where
    A: Serialize + DeserializeOwned,
    B: Serialize + DeserializeOwned,
{
    let (a, b) = UnixStream::pair()?;
    Ok((Duplex::new(Arc::new(a)), Duplex::new(Arc::new(b))))
}

/// One end of a two-way channel: sends `S`, receives `R`, over one socket.
///
/// Made by [`duplex`], or in a child process by [`Duplex::from_env`]. Use it whole from one
/// thread, or [`split`](Self::split) it into a [`Sender`] and a [`Receiver`] for two threads.
///
/// # Example
///
/// ```
/// let (a, mut b) = ipc_queue::duplex::<u8, String>()?;
/// let (tx, mut rx) = a.split();
/// tx.send(&7)?;
/// assert_eq!(b.recv()?, 7);
/// b.send(&"seven".to_string())?;
/// assert_eq!(rx.recv()?, "seven");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Duplex<S, R> {
    tx: Sender<S>,
    rx: Receiver<R>,
}

impl<S, R> Duplex<S, R> {
    fn new(sock: Arc<UnixStream>) -> Self {
        Self {
            tx: Sender::new(Arc::clone(&sock)),
            rx: Receiver::new(sock),
        }
    }

    /// Wraps a socket that you made or received yourself (see [`Sender::from_fd`]).
    ///
    /// # Example
    ///
    /// ```
    /// let (a, b) = std::os::unix::net::UnixStream::pair()?;
    /// let x = ipc_queue::Duplex::<u8, u16>::from_fd(a.into())?;
    /// let mut y = ipc_queue::Duplex::<u16, u8>::from_fd(b.into())?;
    /// x.send(&1)?;
    /// assert_eq!(y.recv()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_fd(fd: OwnedFd) -> io::Result<Self> {
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
    /// // A worker process: the parent kept a Duplex<Task, Reply> and spawned us with
    /// // `ipc_queue::spawn_with(&mut cmd, "WORKER_FD", child_end)`.
    /// type Task = u64;
    /// type Reply = u64;
    /// // SAFETY: our parent set WORKER_FD for us when it started us, and we take it once.
    /// let mut end = unsafe { ipc_queue::Duplex::<Reply, Task>::from_env("WORKER_FD") }?;
    /// while let Ok(task) = end.recv() {
    ///     end.send(&(task * 2))?;
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub unsafe fn from_env(var: &str) -> io::Result<Self> {
        // SAFETY: this function's contract is `fd_from_env`'s.
        Self::from_fd(unsafe { crate::handoff::fd_from_env(var) }?)
    }

    /// Splits into the sending half and the receiving half (which share the socket; it closes
    /// when both are dropped).
    ///
    /// # Example
    ///
    /// ```
    /// let (a, _b) = ipc_queue::duplex::<u8, u8>()?;
    /// let (tx, rx) = a.split();
    /// std::thread::spawn(move || drop(rx));
    /// drop(tx);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn split(self) -> (Sender<S>, Receiver<R>) {
        (self.tx, self.rx)
    }

    /// The sending half, e.g. to clone it for another thread.
    ///
    /// # Example
    ///
    /// ```
    /// let (a, mut b) = ipc_queue::duplex::<u8, u8>()?;
    /// let tx = a.sender().clone();
    /// std::thread::spawn(move || tx.send(&1)).join().unwrap()?;
    /// assert_eq!(b.recv()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sender(&self) -> &Sender<S> {
        &self.tx
    }

    /// The receiving half, e.g. to change its spin.
    ///
    /// # Example
    ///
    /// ```
    /// let (mut a, _b) = ipc_queue::duplex::<u8, u8>()?;
    /// a.receiver().set_spin(std::time::Duration::from_micros(10));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn receiver(&mut self) -> &mut Receiver<R> {
        &mut self.rx
    }

    /// Sets the receiving half's spin (see [`Receiver::with_spin`]).
    ///
    /// # Example
    ///
    /// ```
    /// let (a, _b) = ipc_queue::duplex::<u8, u8>()?;
    /// let mut a = a.with_spin(std::time::Duration::from_micros(30));
    /// assert_eq!(a.receiver().spin(), std::time::Duration::from_micros(30));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[must_use]
    pub fn with_spin(mut self, spin: Duration) -> Self {
        self.rx.set_spin(spin);
        self
    }

    /// Sets the maximum frame payload size in both directions (see [`Sender::with_max_frame`]
    /// and [`Receiver::with_max_frame`]).
    ///
    /// # Example
    ///
    /// ```
    /// let (a, _b) = ipc_queue::duplex::<Vec<u8>, u8>()?;
    /// let a = a.with_max_frame(10);
    /// assert!(a.send(&vec![0u8; 11]).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[must_use]
    pub fn with_max_frame(self, max: usize) -> Self {
        Self {
            tx: self.tx.with_max_frame(max),
            rx: self.rx.with_max_frame(max),
        }
    }

    pub(crate) fn socket(&self) -> &Arc<UnixStream> {
        self.rx.socket()
    }
}

impl<S: Serialize, R> Duplex<S, R> {
    /// Sends one message (see [`Sender::send`]).
    ///
    /// # Example
    ///
    /// ```
    /// let (a, mut b) = ipc_queue::duplex::<u8, ()>()?;
    /// a.send(&1)?;
    /// assert_eq!(b.recv()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send(&self, msg: &S) -> Result<(), SendError> {
        self.tx.send(msg)
    }

    /// Sends several messages in as few writes as possible (see [`Sender::send_batch`]).
    ///
    /// # Example
    ///
    /// ```
    /// let (a, mut b) = ipc_queue::duplex::<u8, ()>()?;
    /// a.send_batch(&[1, 2])?;
    /// assert_eq!((b.recv()?, b.recv()?), (1, 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_batch<'a, I>(&self, msgs: I) -> Result<(), SendError>
    where
        I: IntoIterator<Item = &'a S>,
        S: 'a,
    {
        self.tx.send_batch(msgs)
    }
}

impl<S, R: DeserializeOwned> Duplex<S, R> {
    /// Receives the next message, blocking (see [`Receiver::recv`]).
    ///
    /// # Example
    ///
    /// ```
    /// let (a, mut b) = ipc_queue::duplex::<u8, ()>()?;
    /// a.send(&1)?;
    /// assert_eq!(b.recv()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv(&mut self) -> Result<R, RecvError> {
        self.rx.recv()
    }

    /// Receives the next message, waiting at most `timeout` (see [`Receiver::recv_timeout`]).
    ///
    /// # Example
    ///
    /// ```
    /// let (_a, mut b) = ipc_queue::duplex::<u8, ()>()?;
    /// let r = b.recv_timeout(std::time::Duration::from_millis(1));
    /// assert!(matches!(r, Err(ipc_queue::RecvError::Timeout)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<R, RecvError> {
        self.rx.recv_timeout(timeout)
    }

    /// Receives the next message, waiting until `deadline` at most.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let (a, mut b) = ipc_queue::duplex::<u8, ()>()?;
    /// a.send(&2)?;
    /// assert_eq!(b.recv_deadline(Instant::now() + Duration::from_secs(5))?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_deadline(&mut self, deadline: Instant) -> Result<R, RecvError> {
        self.rx.recv_deadline(deadline)
    }

    /// Receives a message if a whole one has arrived (see [`Receiver::try_recv`]).
    ///
    /// # Example
    ///
    /// ```
    /// let (_a, mut b) = ipc_queue::duplex::<u8, ()>()?;
    /// assert!(matches!(b.try_recv(), Err(ipc_queue::RecvError::Empty)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_recv(&mut self) -> Result<R, RecvError> {
        self.rx.try_recv()
    }
}

impl<S, R> fmt::Debug for Duplex<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Duplex")
            .field("tx", &self.tx)
            .field("rx", &self.rx)
            .finish()
    }
}
