//! Handing one end of a channel to a child process across `exec`.
//!
//! Parent: [`Handoff::new`] makes a `CLOEXEC` duplicate of the end's socket numbered 3 or
//! higher, and [`Handoff::configure`] sets an environment variable to that number and installs a
//! `pre_exec` hook that clears `CLOEXEC` on exactly that descriptor, in the forked child only.
//! Dropping the `Handoff` after the spawn closes the parent's copy. [`spawn_with`] does all of
//! that in one call.
//!
//! Child: [`fd_from_env`] (behind `Sender/Receiver/Duplex::from_env`) parses the number,
//! checks that it is an `AF_UNIX` stream socket, claims it at most once per process, and sets
//! `CLOEXEC` again.
//!
//! Why a `pre_exec` hook rather than an inheritable descriptor, and why `fd_from_env` is
//! `unsafe`: `README.md` beside this file ("Handing an end to a child").

use std::{
    fmt, io,
    os::{
        fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd},
        unix::{net::UnixStream, process::CommandExt},
    },
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicI32, Ordering},
    },
};

use rustix::io::{FdFlags, fcntl_dupfd_cloexec, fcntl_getfd, fcntl_setfd};

use crate::{Duplex, Receiver, Sender};

mod sealed {
    use std::os::fd::BorrowedFd;

    /// Gives the socket of an end to [`Handoff::new`](super::Handoff::new).
    #[allow(unreachable_pub)] // Sealing: public trait in a private module.
    pub trait Sealed {
        fn endpoint_fd(&self) -> BorrowedFd<'_>;
    }
}

/// A channel end that can be handed to a child process: [`Sender`], [`Receiver`], [`Duplex`],
/// or a raw [`UnixStream`] (sealed: no other implementations).
///
/// # Example
///
/// ```
/// fn hand_over(end: impl ipc_queue::Endpoint) -> std::io::Result<ipc_queue::Handoff> {
///     ipc_queue::Handoff::new(end)
/// }
/// let (_mine, theirs) = ipc_queue::duplex::<u8, u8>()?;
/// let h = hand_over(theirs)?;
/// assert!(h.raw_fd() >= 3);
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait Endpoint: sealed::Sealed {}

impl<T> sealed::Sealed for Sender<T> {
    fn endpoint_fd(&self) -> BorrowedFd<'_> {
        self.socket().as_fd()
    }
}
impl<T> Endpoint for Sender<T> {}
impl<T> sealed::Sealed for Receiver<T> {
    fn endpoint_fd(&self) -> BorrowedFd<'_> {
        self.socket().as_fd()
    }
}
impl<T> Endpoint for Receiver<T> {}
impl<S, R> sealed::Sealed for Duplex<S, R> {
    fn endpoint_fd(&self) -> BorrowedFd<'_> {
        self.socket().as_fd()
    }
}
impl<S, R> Endpoint for Duplex<S, R> {}
impl sealed::Sealed for UnixStream {
    fn endpoint_fd(&self) -> BorrowedFd<'_> {
        self.as_fd()
    }
}
impl Endpoint for UnixStream {}

/// The parent's side of handing one channel end to a child process.
///
/// Holds a `CLOEXEC` duplicate of the end's socket (numbered 3 or higher) until it is dropped.
/// [`configure`](Self::configure) a [`Command`] with it, spawn, then drop it: that closes the
/// parent's copy, so the parent sees [`Disconnected`](crate::RecvError::Disconnected) as soon
/// as the child exits or dies. Dropping it also disarms its `pre_exec` hook, so a `Command`
/// spawned again later does not inherit a descriptor that now means something else (that
/// child's `from_env` then fails cleanly).
///
/// Use it directly to pass several ends to one child or to spawn with your own call;
/// [`spawn_with`] covers the one-end case.
///
/// # Example
///
/// ```
/// use std::process::Command;
/// let (_tasks_tx, tasks_rx) = ipc_queue::channel::<String>()?;
/// let (results_tx, _results_rx) = ipc_queue::channel::<String>()?;
/// let tasks = ipc_queue::Handoff::new(tasks_rx)?;
/// let results = ipc_queue::Handoff::new(results_tx)?;
/// let mut cmd = Command::new("sh");
/// cmd.args(["-c", r#"test -S /proc/self/fd/$TASKS_FD && test -S /proc/self/fd/$RESULTS_FD"#]);
/// tasks.configure(&mut cmd, "TASKS_FD");
/// results.configure(&mut cmd, "RESULTS_FD");
/// let status = cmd.status()?;
/// drop((tasks, results)); // close the parent's copies right after the spawn
/// assert!(status.success());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Handoff {
    fd: OwnedFd,
    /// The descriptor number the `pre_exec` hooks make inheritable, or -1 once dropped.
    armed: Arc<AtomicI32>,
}

impl Handoff {
    /// Takes `end` for a child process. `end` itself is dropped; only the `Handoff` keeps the
    /// socket open in this process (plus any clones of `end`, such as other [`Sender`] clones or
    /// the other half of a split [`Duplex`]: drop those too, or the peer of this socket will
    /// not see the child's death as `Disconnected`). Hand an end over before receiving on it:
    /// bytes a [`Receiver`] already buffered stay behind.
    ///
    /// # Example
    ///
    /// ```
    /// let (_mine, theirs) = ipc_queue::duplex::<u8, u8>()?;
    /// let handoff = ipc_queue::Handoff::new(theirs)?;
    /// assert!(handoff.raw_fd() >= 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(end: impl Endpoint) -> io::Result<Self> {
        // Numbered >= 3 so that the child's stdio setup (dup2 onto 0, 1, 2) cannot clobber it.
        let fd = fcntl_dupfd_cloexec(end.endpoint_fd(), 3)?;
        drop(end);
        let armed = Arc::new(AtomicI32::new(fd.as_raw_fd()));
        Ok(Self { fd, armed })
    }

    /// The descriptor number the child will find its end at.
    ///
    /// # Example
    ///
    /// ```
    /// let (_mine, theirs) = ipc_queue::channel::<u8>()?;
    /// let handoff = ipc_queue::Handoff::new(theirs)?;
    /// println!("the child gets fd {}", handoff.raw_fd());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Prepares `cmd` so that the child inherits this end and finds its number in the
    /// environment variable `var`.
    ///
    /// Sets `var` on `cmd` and adds a `pre_exec` hook (so `cmd` spawns with `fork` + `exec`
    /// rather than `posix_spawn`) that clears `FD_CLOEXEC` on this one descriptor in the child.
    /// Keep the `Handoff` alive until the spawn returns, then drop it.
    ///
    /// # Example
    ///
    /// ```
    /// use std::process::Command;
    /// let (_mine, theirs) = ipc_queue::duplex::<u8, u8>()?;
    /// let handoff = ipc_queue::Handoff::new(theirs)?;
    /// let mut cmd = Command::new("sh");
    /// cmd.args(["-c", "test -S /proc/self/fd/$MY_FD"]);
    /// handoff.configure(&mut cmd, "MY_FD");
    /// let mut child = cmd.spawn()?;
    /// drop(handoff);
    /// assert!(child.wait()?.success());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn configure(&self, cmd: &mut Command, var: &str) {
        cmd.env(var, self.raw_fd().to_string());
        let armed = Arc::clone(&self.armed);
        let hook = move || -> io::Result<()> {
            // Runs in the forked child before `exec`: only an atomic load and `fcntl(2)`, both
            // async-signal-safe; no allocation, no lock.
            let fd = armed.load(Ordering::SeqCst);
            if fd >= 0 {
                // SAFETY: `fd >= 0` means the `Handoff` had not been dropped when the parent
                // forked (its `Drop` stores -1 *before* closing the descriptor), so the child's
                // copy of the descriptor table has `fd` open, and nothing else in this
                // single-threaded child closes it during this call.
                let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
                fcntl_setfd(borrowed, FdFlags::empty())?;
            }
            Ok(())
        };
        // SAFETY: `pre_exec` requires the hook to be safe to run between `fork` and `exec` in
        // a copy of a possibly multi-threaded process: it must not allocate, take locks or
        // touch state other threads may have left inconsistent. The hook only reads an atomic
        // and makes one `fcntl` syscall (see above); it does not panic.
        unsafe {
            cmd.pre_exec(hook);
        }
    }
}

impl Drop for Handoff {
    fn drop(&mut self) {
        // Disarm first, then (when `self.fd` drops) close: a fork racing with this drop either
        // sees the descriptor open and armed, or disarmed.
        self.armed.store(-1, Ordering::SeqCst);
    }
}

impl fmt::Debug for Handoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handoff")
            .field("fd", &self.raw_fd())
            .finish()
    }
}

/// Spawns `cmd` with `end` handed to the child, which finds its descriptor number in the
/// environment variable `var`; then closes the parent's copy.
///
/// The child rebuilds its typed end with [`Duplex::from_env`], [`Sender::from_env`] or
/// [`Receiver::from_env`] (`var`). Only this one descriptor is inherited: every descriptor the
/// crate creates is `CLOEXEC`. Once the child exits or dies, the end you kept reports
/// [`Disconnected`](crate::RecvError::Disconnected) instead of blocking (provided you did not
/// keep clones of `end`, see [`Handoff::new`]).
///
/// # Example
///
/// ```
/// use std::process::Command;
/// let (mut mine, theirs) = ipc_queue::duplex::<u8, u8>()?;
/// // A child that exits at once, without touching its end.
/// let mut cmd = Command::new("true");
/// let mut child = ipc_queue::spawn_with(&mut cmd, "MY_FD", theirs)?;
/// child.wait()?;
/// assert!(matches!(mine.recv(), Err(ipc_queue::RecvError::Disconnected)));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn spawn_with(cmd: &mut Command, var: &str, end: impl Endpoint) -> io::Result<Child> {
    let handoff = Handoff::new(end)?;
    handoff.configure(cmd, var);
    let child = cmd.spawn();
    drop(handoff);
    child
}

/// Descriptor numbers this process has claimed through [`fd_from_env`].
static CLAIMED: Mutex<Vec<RawFd>> = Mutex::new(Vec::new());

/// The child side of a hand-off: takes ownership of the socket whose descriptor number is in
/// the environment variable `var` (set by [`spawn_with`] or [`Handoff::configure`]).
///
/// Checks, each failing with an [`io::Error`] rather than a panic: `var` is set and holds a
/// number of at least 3 (`InvalidInput`/`NotFound`), this process has not claimed that number
/// before (`AlreadyExists`), the descriptor is open (`EBADF`) and is an `AF_UNIX` `SOCK_STREAM`
/// socket (`InvalidInput`). The descriptor is then made `CLOEXEC` again.
///
/// These checks turn the usual mistakes into errors, but they cannot prove that the descriptor
/// is this process's to take: an environment variable is inherited by every descendant, while
/// the descriptor is not (the child marks it `CLOEXEC` again once taken). In a grandchild the
/// same number may name a socket that other code of that process owns, and taking it would
/// give that descriptor two owners (a double close). Hence the `unsafe`.
///
/// # Safety
/// The variable must have been set for this very process by the process that started it, with
/// the descriptor it names left open for this process to own ([`spawn_with`] or
/// [`Handoff::configure`]): not inherited from a more distant ancestor. Check that before the
/// call when other processes may inherit the variable (a process pool binds its marker to the
/// parent's pid, say). And no other code in this process may own or close that descriptor
/// (nothing else takes it from the environment). Call it early in `main`, before other code
/// could close that number and open something else under it.
///
/// # Example
///
/// ```
/// use std::io::ErrorKind;
/// // SAFETY: the variable is not set, so nothing is taken.
/// let err = unsafe { ipc_queue::fd_from_env("IPC_QUEUE_DOC_UNSET_VAR") }.unwrap_err();
/// // Not started by `spawn_with`: a clean error, never a panic.
/// assert_eq!(err.kind(), ErrorKind::NotFound);
/// ```
///
/// Taking a descriptor is an ownership claim that only the caller can vouch for:
///
/// ```compile_fail
/// let fd = ipc_queue::fd_from_env("IPC_QUEUE_DOC_UNSET_VAR"); // error: unsafe
/// ```
pub unsafe fn fd_from_env(var: &str) -> io::Result<OwnedFd> {
    let value = std::env::var(var).map_err(|e| {
        let kind = match e {
            std::env::VarError::NotPresent => io::ErrorKind::NotFound,
            std::env::VarError::NotUnicode(_) => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, format!("ipc-queue: environment variable {var}: {e}"))
    })?;
    let fd: RawFd = value.trim().parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("ipc-queue: {var}={value:?} is not a descriptor number"),
        )
    })?;
    if fd < 3 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("ipc-queue: {var}={fd} names a standard stream, not a handed-over socket"),
        ));
    }
    let mut claimed = CLAIMED.lock().unwrap_or_else(PoisonError::into_inner);
    if claimed.contains(&fd) {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("ipc-queue: descriptor {fd} ({var}) was already claimed by this process"),
        ));
    }
    // SAFETY: only used for the probes below (`fcntl(F_GETFD)`, `getsockopt`, `getsockname`),
    // which fail with `EBADF` and touch nothing if `fd` is not open; `fd` is not closed
    // meanwhile because nothing in this process owns it (we checked it is unclaimed, and by the
    // hand-off contract the parent left it open for us alone). If a probe fails we walk away
    // without taking ownership, so a descriptor that is not ours is never closed.
    let probe = unsafe { BorrowedFd::borrow_raw(fd) };
    let context = |e: io::Error| io::Error::new(e.kind(), format!("ipc-queue: {var}={fd}: {e}"));
    fcntl_getfd(probe).map_err(|e| context(e.into()))?;
    crate::sys::check_unix_stream(probe).map_err(context)?;
    // SAFETY: `fd` is an open AF_UNIX stream socket (probed above). By this function's
    // contract the parent left exactly this descriptor open for this process to own and no
    // other code here owns it; `CLAIMED` ensures this crate creates at most one `OwnedFd` for
    // it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    claimed.push(fd);
    drop(claimed);
    // Not inherited by this process's own children.
    fcntl_setfd(&owned, FdFlags::CLOEXEC)?;
    Ok(owned)
}

/// Spawns `cmd` with `end` as the child's standard input (fd 0), without a `pre_exec` hook.
///
/// Unlike [`spawn_with`], this adds no hook to `cmd`, so std may start the child with
/// `posix_spawn` (a `vfork`-like clone that shares the parent's memory until `exec`) instead of
/// `fork`, which copies the parent's page tables: a parent with a large heap starts children
/// much faster. Only this one descriptor is inherited: `posix_spawn` `dup2`s it onto fd 0,
/// which is the only copy without `CLOEXEC`, in the child only (see `README.md` beside this
/// file, "Handing an end to a child"). Pass the child any other descriptors through the socket
/// with [`send_fds`].
///
/// After the spawn, `cmd`'s stdin is set to [`Stdio::null`], which closes the parent's copy:
/// once the child exits or dies, the end you kept reports
/// [`Disconnected`](crate::RecvError::Disconnected). The child takes its end with
/// [`fd_from_stdin`].
///
/// # Example
///
/// ```
/// use std::process::Command;
/// let (mut mine, theirs) = ipc_queue::duplex::<u8, u8>()?;
/// let mut cmd = Command::new("sh");
/// cmd.args(["-c", "test -S /proc/self/fd/0"]);
/// let mut child = ipc_queue::spawn_with_stdin(&mut cmd, theirs)?;
/// assert!(child.wait()?.success());
/// assert!(matches!(mine.recv(), Err(ipc_queue::RecvError::Disconnected)));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn spawn_with_stdin(cmd: &mut Command, end: impl Endpoint) -> io::Result<Child> {
    // A `CLOEXEC` copy: std's `posix_spawn` file actions `dup2` it onto fd 0 in the child.
    let fd = fcntl_dupfd_cloexec(end.endpoint_fd(), 3)?;
    drop(end);
    cmd.stdin(Stdio::from(fd));
    let child = cmd.spawn();
    cmd.stdin(Stdio::null()); // drops the parent's copy
    child
}

/// Set once [`fd_from_stdin`] took fd 0.
static STDIN_CLAIMED: AtomicBool = AtomicBool::new(false);

/// The child side of [`spawn_with_stdin`]: takes the socket that is this process's standard
/// input, as a `CLOEXEC` descriptor numbered 3 or higher, and puts `/dev/null` on fd 0.
///
/// Checks, each failing with an [`io::Error`] rather than a panic: this process has not taken
/// its stdin before (`AlreadyExists`), fd 0 is open (`EBADF`) and is an `AF_UNIX`
/// `SOCK_STREAM` socket (`InvalidInput`). Then fd 0 is made `/dev/null` (opened read-only), so
/// that neither this process's reads of stdin nor its children see the socket.
///
/// # Safety
/// This process's parent must have started it with its end on stdin, for this process to own
/// ([`spawn_with_stdin`]); no other code in this process may use fd 0 as that socket (it now
/// names `/dev/null`). As with [`fd_from_env`], only the caller can vouch for that: a process
/// whose stdin is some other program's socket would take it over.
///
/// # Example
///
/// ```no_run
/// // In a child started with `ipc_queue::spawn_with_stdin(&mut cmd, child_end)`:
/// // SAFETY: this program is only ever started by its parent with `spawn_with_stdin`, and
/// // nothing else in it reads stdin.
/// let fd = unsafe { ipc_queue::fd_from_stdin() }?;
/// let mut end = ipc_queue::Duplex::<u8, u8>::from_fd(fd)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub unsafe fn fd_from_stdin() -> io::Result<OwnedFd> {
    let context = |e: io::Error| io::Error::new(e.kind(), format!("ipc-queue: stdin: {e}"));
    let taken = || {
        io::Error::new(
            io::ErrorKind::AlreadyExists,
            "ipc-queue: stdin was already taken by this process",
        )
    };
    if STDIN_CLAIMED.load(Ordering::SeqCst) {
        return Err(taken());
    }
    // SAFETY: only probed (`fcntl(F_GETFD)`, `getsockopt`, `getsockname`) and copied: fd 0 is
    // not closed here, and these calls fail with `EBADF`, touching nothing, if it is not open.
    let stdin = unsafe { BorrowedFd::borrow_raw(0) };
    fcntl_getfd(stdin).map_err(|e| context(e.into()))?;
    crate::sys::check_unix_stream(stdin).map_err(context)?;
    if STDIN_CLAIMED.swap(true, Ordering::SeqCst) {
        return Err(taken());
    }
    // The socket moves to a new `CLOEXEC` descriptor, not inherited by this process's children.
    let owned = fcntl_dupfd_cloexec(stdin, 3).map_err(|e| context(e.into()))?;
    let null = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| context(e.into()))?;
    // `dup2` replaces fd 0 in one step (the socket's other copy is `owned`); fd 0 is then
    // inheritable `/dev/null`, as a child started with `Stdio::null()` has.
    rustix::stdio::dup2_stdin(&null).map_err(|e| context(e.into()))?;
    Ok(owned)
}

/// The byte that carries [`send_fds`]'s descriptors.
const FDS_BYTE: u8 = 0xfd;

/// Sends `fds` to the process at the other end of `end`'s socket (`SCM_RIGHTS`), with one byte
/// of data that [`recv_fds`] takes. The receiver gets its own copies, numbered as its kernel
/// picks; this process keeps its own.
///
/// Call it before any frame goes through that socket, and have the other side call
/// [`recv_fds`] before it receives a frame: the byte is not a frame. A parent can send on its
/// end before it spawns the child: the byte and the descriptors wait in the child's socket.
/// Fails with `InvalidInput` for more than 253 descriptors (the kernel's limit per message).
///
/// # Example
///
/// ```
/// use std::os::fd::AsFd;
/// let (mine, theirs) = ipc_queue::duplex::<u8, u8>()?;
/// let file = std::fs::File::open("/dev/null")?;
/// ipc_queue::send_fds(&mine, &[file.as_fd()])?;
/// let fds = ipc_queue::recv_fds(&theirs, 4)?;
/// assert_eq!(fds.len(), 1);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn send_fds<E: Endpoint>(end: &E, fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};
    if fds.len() > 253 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "ipc-queue: at most 253 descriptors per message",
        ));
    }
    let mut space =
        vec![std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len()))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::other("ipc-queue: the descriptors do not fit"));
    }
    let byte = [FDS_BYTE];
    loop {
        match sendmsg(
            end.endpoint_fd(),
            &[io::IoSlice::new(&byte)],
            &mut control,
            SendFlags::NOSIGNAL,
        ) {
            Ok(1) => return Ok(()),
            Ok(_) => return Err(io::ErrorKind::WriteZero.into()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Receives what the other end sent with [`send_fds`]: up to `max` descriptors, each
/// `CLOEXEC`, owned by the caller. Blocks until the byte arrives.
///
/// Call it before any frame is received on `end`. Fails with `UnexpectedEof` when the peer
/// closed its end first, `InvalidData` when the next byte is not [`send_fds`]'s (a frame, say),
/// and `InvalidData` when more than `max` descriptors came (all of them are closed then).
///
/// # Example
///
/// ```
/// let (mine, theirs) = ipc_queue::duplex::<u8, u8>()?;
/// ipc_queue::send_fds(&mine, &[])?;
/// assert!(ipc_queue::recv_fds(&theirs, 2)?.is_empty());
/// drop(mine);
/// let err = ipc_queue::recv_fds(&theirs, 2).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn recv_fds<E: Endpoint>(end: &E, max: usize) -> io::Result<Vec<OwnedFd>> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, recvmsg};
    let max = max.min(253);
    let mut space =
        vec![std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(max.max(1)))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0u8];
    let got = loop {
        match recvmsg(
            end.endpoint_fd(),
            &mut [io::IoSliceMut::new(&mut byte)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Ok(got) => break got,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    // Owned at once, so that every received descriptor is closed on any error below.
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    if got.bytes == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "ipc-queue: the peer closed its end before it sent the descriptors",
        ));
    }
    if byte[0] != FDS_BYTE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "ipc-queue: expected descriptors, found other data",
        ));
    }
    if got.flags.contains(ReturnFlags::CTRUNC) || fds.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("ipc-queue: the peer sent more than {max} descriptors"),
        ));
    }
    Ok(fds)
}
