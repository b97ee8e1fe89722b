//! Starting a worker process, and reaping it once its socket closed.

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipc_queue::{Receiver, Sender};

use crate::cancels::{CANCEL_FD_ENV, CancelSet};
use crate::marker;
use crate::messages::{FromWorker, ToWorker};
use crate::reply_copies::{REPLY_COPIES_FD_ENV, ReplyCopies};
use crate::stderr::{self, Capture, StartupStderr};

/// How a worker process is started.
#[derive(Debug)]
pub(crate) struct Launch {
    pub(crate) program: OsString,
    pub(crate) arg0: OsString,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: Vec<(OsString, OsString)>,
    pub(crate) initializer: Option<isize>,
    pub(crate) max_tasks: Option<u64>,
    pub(crate) spin: Duration,
    pub(crate) max_frame: usize,
    /// The builder's `print_task_panics`.
    pub(crate) print_panics: bool,
}

/// A worker process just started, and the pool's ends of what it shares with it.
pub(crate) struct Spawned {
    pub(crate) child: Child,
    pub(crate) tx: Sender<ToWorker>,
    pub(crate) rx: Receiver<FromWorker>,
    /// Its cancel set of `slots` words (`None`: it could not be made; see `cancels.rs`).
    pub(crate) cancels: Option<Arc<CancelSet>>,
    /// The copies of the replies it holds (`None`: none; see `reply_copies.rs`).
    pub(crate) reply_copies: Option<ReplyCopies>,
    /// Its stderr until the handshake (see `stderr.rs`).
    pub(crate) stderr: StartupStderr,
}

/// Starts a worker: the program again, with the worker's end of a new socketpair as its
/// stdin and, sent through that socket, its cancel set and a copy of this process's stderr;
/// its stderr kept until the handshake (see `stderr.rs`). Its environment carries the marker
/// with `nonce` (see `marker.rs`).
///
/// No `pre_exec` hook: std starts the worker with `posix_spawn`, which does not copy this
/// process's memory (`fork` would, at a cost that grows with the heap). The socket is the one
/// descriptor it inherits (`posix_spawn` `dup2`s it onto fd 0); the others travel through the
/// socket; the worker asks to die with this process itself, first thing (`marker.rs`).
pub(crate) fn spawn(launch: &Launch, nonce: u64, slots: usize) -> std::io::Result<Spawned> {
    let (parent, child_end) = UnixStream::pair()?; // both `CLOEXEC`
    let marker = marker::value(nonce, child_end.as_fd())?;
    let parent = ipc_queue::Duplex::<ToWorker, FromWorker>::from_fd(parent.into())?;
    let mut cmd = Command::new(&launch.program);
    cmd.arg0(&launch.arg0)
        .args(&launch.args)
        // Not inherited from this process (a worker whose task builds a pool): set by the
        // builder's `serve_before_main(false)` alone.
        .env_remove(crate::worker::SERVE_IN_MAIN_ENV)
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .env(marker::MARKER_ENV, marker);
    // Without a set (memfd refused, say) the worker runs as before, never sent a task ahead;
    // without copies, it holds no reply (see `pool_engine::replies`).
    let (cancels, cancels_fd) = match CancelSet::create(slots) {
        Ok((set, fd)) => (Some(Arc::new(set)), Some(fd)),
        Err(_) => (None, None),
    };
    let (reply_copies, copies_fd) = match cancels.as_ref().map(|_| ReplyCopies::create()) {
        Some(Ok((copies, fd))) => (Some(copies), Some(fd)),
        _ => (None, None),
    };
    let Capture {
        stderr,
        pool_stderr,
    } = stderr::capture(&mut cmd);
    for (var, fd) in [
        (CANCEL_FD_ENV, &cancels_fd),
        (REPLY_COPIES_FD_ENV, &copies_fd),
    ] {
        match fd {
            Some(_) => cmd.env(var, "1"),
            // Not one inherited from this process (a worker whose task builds a pool).
            None => cmd.env_remove(var),
        };
    }
    // Sent before the spawn, so they are the first thing in the worker's socket, in the order
    // the worker expects (`worker::serve`): the worker owns its copies once it receives them,
    // and if it never does, they close with the socket.
    let fds: Vec<_> = cancels_fd
        .iter()
        .chain(&copies_fd)
        .chain(&pool_stderr)
        .map(AsFd::as_fd)
        .collect();
    ipc_queue::send_fds(&parent, &fds)?;
    drop(fds);
    drop((cancels_fd, copies_fd)); // the worker has its own copies; the pool keeps its mappings
    drop(pool_stderr); // the worker has its own copy
    let child = ipc_queue::spawn_with_stdin(&mut cmd, child_end)?;
    drop(cmd); // and its end of the memory file (see `stderr.rs`)
    let (tx, rx) = parent.split();
    Ok(Spawned {
        child,
        tx: tx.with_max_frame(launch.max_frame),
        rx: rx.with_max_frame(launch.max_frame),
        cancels,
        reply_copies,
        stderr,
    })
}

/// Waits for a child whose socket closed. It is normally exiting already; one that closed
/// its socket and lives on is killed after a grace period, so reaping never hangs.
pub(crate) fn reap(child: &mut Child) -> Option<ExitStatus> {
    const GRACE: Duration = Duration::from_secs(5);
    let deadline = Instant::now() + GRACE;
    match child.try_wait() {
        Ok(Some(status)) => return Some(status),
        Ok(None) => {}
        Err(_) => return None,
    }
    // Woken by its exit (a pidfd turns readable then), rather than by polling: an exit takes
    // a millisecond or so, and a poll that doubles its pause overshoots it by as much.
    let pid = rustix::process::Pid::from_child(child);
    let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok();
    let mut pause = Duration::from_micros(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let _ = child.kill();
            return child.wait().ok();
        }
        match &pidfd {
            Some(fd) => {
                let mut fds = [rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN)];
                let timeout = rustix::event::Timespec::try_from(left).ok();
                let _ = rustix::event::poll(&mut fds, timeout.as_ref()); // EINTR: look again
            }
            None => {
                std::thread::sleep(pause.min(left));
                pause = (pause * 2).min(Duration::from_millis(10));
            }
        }
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => {}
            Err(_) => return None,
        }
    }
}
