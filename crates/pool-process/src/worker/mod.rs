//! The worker side: the crate's constructor, which turns a started copy of the program into a
//! worker before its `main` runs, [`init`], which does the same from `main`, the worker's
//! message loop, and [`test_worker!`](crate::test_worker).

use std::io::Write;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ipc_queue::{Duplex, RecvError, SendError};

use crate::cancels::{CANCEL_FD_ENV, CancelSet, Start};
use crate::marker;
use crate::messages::{self, FromWorker, Init, ToWorker};
use crate::reply_copies::{REPLY_COPIES_FD_ENV, ReplyCopies};
use pool_engine::replies::{Replies, Sink};

/// The first argument a pool starts its workers with by default (see
/// [`worker_args`](crate::ProcessPoolBuilder::worker_args)): a libtest filter that names no
/// test. A worker that serves before `main` (the default) never reads it; one that runs a
/// test binary's `main` (a pool built with
/// [`serve_before_main(false)`](crate::ProcessPoolBuilder::serve_before_main), or a platform
/// without constructors) runs no test and exits at once, and its pool reports the exit
/// (instead of a worker that runs the whole test suite).
///
/// ```
/// assert_eq!(pool_process::WORKER_TEST_NAME, "__pool_process_worker");
/// ```
pub const WORKER_TEST_NAME: &str = "__pool_process_worker";

/// The exit code of a worker whose `init` could not set it up (it says why on stderr).
pub(crate) const INIT_FAILED: i32 = 3;

/// The exit code of a copy of the program that a pool started as a worker and that builds a
/// pool before it called `init` (see [`end_uninitialized_copy`]).
pub(crate) const NOT_INITIALIZED: i32 = 4;

/// Set once `init` ran in this process (a worker, or a parent that called it).
static INIT_CALLED: AtomicBool = AtomicBool::new(false);

/// True when this process was started as a worker by a pool (its parent).
pub(crate) fn started_as_worker() -> bool {
    marker::bound_nonce().is_some()
}

/// Ends this process when a pool started it as a worker and it never called [`init`]: a copy
/// of the program that runs `main` (its pool was built with `serve_before_main(false)`, or
/// no constructor ran) and reaches a pool's `build` first forgot `init`. Were `build` to return
/// an error, a program that prints it and goes on with its own work (a server loop, a long
/// computation) would keep the pool waiting for a handshake that never comes (the whole
/// handshake timeout), and keep doing, in a copy nobody asked for, what the program does.
/// So the copy says why on its stderr and exits with [`NOT_INITIALIZED`]: its pool sees the
/// exit at once, and quotes what the copy said (see `src/parent/README.md`).
pub(crate) fn end_uninitialized_copy() {
    // Keeps the crate's constructor in every program that builds a pool (see `CONSTRUCTOR`).
    #[cfg(unix)]
    std::hint::black_box(&CONSTRUCTOR);
    if INIT_CALLED.load(Ordering::Relaxed) || !started_as_worker() {
        return;
    }
    eprintln!(
        "pool-process worker {}: {}",
        std::process::id(),
        crate::ProcessPoolBuildError::NotInitialized
    );
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(NOT_INITIALIZED);
}

/// Turns this process into a pool worker if a pool started it, and never returns then;
/// otherwise returns at once. A program needs no call to it where the crate's constructor
/// runs (Linux and the other ELF platforms, macOS): there a worker serves before `main`, and
/// `init` is harmless, as the explicit form.
///
/// It serves when the worker runs `main`: for a pool built with
/// [`serve_before_main(false)`](crate::ProcessPoolBuilder::serve_before_main), or on a
/// platform without constructor sections. Such a worker is the program's own executable
/// started again and runs `main` from the top: **everything `main` does before this call
/// runs again in every worker** (keep it to what is harmless and cheap, such as setting up
/// logging), so call it first thing in `main`. When the pool starts the worker, `init`
/// connects to the pool, checks that both run the same build, runs the pool's initializer,
/// serves tasks until the pool lets it go, and exits the process with status 0.
///
/// Only the process that a pool started is a worker: the marker in its environment names
/// its parent's pid. A process that a task starts (the program run again as a plain
/// subprocess, say) inherits the marker but not the socket, and its `init` returns at once:
/// it runs `main` as any other run of the program does.
///
/// ```
/// fn main() {
///     rustures::init(); // harmless; a worker that runs `main` never gets past it
///
///     let pool = rustures::ProcessPool::new().unwrap();
///     let pid = pool.submit(|()| std::process::id(), ()).unwrap().result().unwrap();
///     assert_ne!(pid, std::process::id());
/// }
/// ```
pub fn init() {
    INIT_CALLED.store(true, Ordering::Relaxed);
    let Some(nonce) = marker::bound_nonce() else {
        return;
    };
    let code = match serve(nonce) {
        // A closed socket on a send: the pool let this worker go (or went away).
        Ok(()) | Err(Fatal::Send(SendError::Disconnected)) => 0,
        Err(why) => {
            eprintln!("pool-process worker {}: {why}", std::process::id());
            INIT_FAILED
        }
    };
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(code);
}

/// Makes a test binary's workers serve before the harness's `main`: no longer needed where
/// the crate's own constructor runs (it does the same for every program, test binaries
/// included), and harmless there; kept for the form with an argument.
///
/// The macro registers a constructor, which the loader runs before any `main`: in a process
/// that a pool started as a worker it calls [`init`], which serves the pool and exits; in any
/// other run of the test binary it returns at once. A worker thus never reaches the test
/// harness: it prints nothing of libtest's (no `running 1 test`), and the macro adds no test
/// to the binary's list. (A worker serving before `main` lacks only what std's runtime sets
/// up there for the main thread: a task that overflows its stack kills its worker with
/// `SIGSEGV` instead of std's message.)
///
/// `test_worker!(worker_main)` runs the `fn()` `worker_main` in the workers of pools built
/// with [`serve_before_main(false)`](crate::ProcessPoolBuilder::serve_before_main) (in the
/// others the crate's constructor may serve first), as the `main` of a program that does
/// something before it calls [`init`]: it should call `init`, which never returns in a worker.
/// If it returns, the worker exits with status 0, as a program's `main` that returns; if it
/// panics, with status 101.
///
/// ```
/// // tests/my_test.rs: once, at the top level (optional where constructors run)
/// rustures::test_worker!();
///
/// // ... then any test may use a process pool:
/// fn runs_in_another_process() {
///     let pool = rustures::ProcessPool::new().unwrap();
///     let pid = pool.submit(|()| std::process::id(), ()).unwrap().result().unwrap();
///     assert_ne!(pid, std::process::id());
/// }
/// # fn main() { runs_in_another_process() }
/// ```
#[macro_export]
macro_rules! test_worker {
    () => {
        $crate::test_worker!($crate::init);
    };
    ($worker_main:expr) => {
        const _: () = {
            extern "C" fn pool_process_test_worker() {
                $crate::serve_before_main($worker_main);
            }

            // SAFETY: `.init_array` (ELF) and `__DATA,__mod_init_func` (Apple) hold the
            // functions that the C runtime calls before `main` (with no arguments, or with
            // `argc, argv, envp, ..`, which an `extern "C" fn()` ignores); this static is one
            // such function pointer, and `#[used]` keeps it.
            #[used]
            #[cfg_attr(
                target_vendor = "apple",
                unsafe(link_section = "__DATA,__mod_init_func")
            )]
            #[cfg_attr(not(target_vendor = "apple"), unsafe(link_section = ".init_array"))]
            static POOL_PROCESS_TEST_WORKER: extern "C" fn() = pool_process_test_worker;
        };
    };
}

/// The environment variable a pool sets for its workers when it was built with
/// [`serve_before_main(false)`](crate::ProcessPoolBuilder::serve_before_main): the crate's
/// constructor then lets the worker run `main`, which serves where it calls [`init`].
pub(crate) const SERVE_IN_MAIN_ENV: &str = "POOL_PROCESS_SERVE_IN_MAIN";

/// The crate's constructor: a function pointer in the executable's constructor section, which
/// the loader (or libc's start-up code) calls before `main`, so that a copy of the program
/// that a pool started serves there, whatever `main` does first (parse its arguments, build
/// an async runtime, or nothing: `init` forgotten). ELF platforms (Linux, the BSDs, illumos)
/// list constructors in `.init_array`; Apple's Mach-O in `__DATA,__mod_init_func`. Both call
/// each entry with `argc, argv, envp` (and more on Apple), which an `extern "C" fn()`
/// ignores.
///
/// `#[used]` keeps the static in the crate's object file, the linker keeps every constructor
/// section whole (its default scripts `KEEP` them), and [`end_uninitialized_copy`], on every
/// pool's build path, reads the static, so the object that holds it is linked into every
/// program that builds a pool.
///
/// What running before `main` relies on, and what it gives up, is in [`before_main`]'s docs.
#[cfg(unix)]
#[used]
#[cfg_attr(
    target_vendor = "apple",
    unsafe(link_section = "__DATA,__mod_init_func")
)]
#[cfg_attr(not(target_vendor = "apple"), unsafe(link_section = ".init_array"))]
static CONSTRUCTOR: extern "C" fn() = before_main;

/// The crate's constructor ([`CONSTRUCTOR`]): in a process that a pool started as its worker
/// (the marker names this process's parent, see `marker.rs`), serves the pool and exits, as
/// [`init`] does; in any other process returns at once.
///
/// In a process that is not a worker it reads the marker's environment variable and, only
/// when it is set, the parent's pid (`getppid`) and, when that is not the marker's, what its
/// stdin is (`fstat`), and returns: it allocates at most the marker's text, takes no lock but
/// the environment's, and touches nothing that std sets up
/// for `main` (the main thread's handle, its stack guard), so the program's `main` starts as
/// it would without this crate. It does not panic: nothing it calls on that path can.
///
/// A worker serves here, before std's run-time set-up for `main` (`std::rt::init`). What it
/// relies on: the C runtime calls the executable's constructors after libc and the shared
/// libraries are initialised, on the main thread, and not under the dynamic
/// loader's lock (glibc and musl on Linux; the same holds of dyld on Apple, untested here),
/// so the environment, `malloc`, new threads and thread-locals work, and the program's
/// `main` has not run; std records `argv` on glibc in a constructor of its own at a higher
/// priority (`.init_array.00099`), which runs first, so `std::env::args` works too. This is
/// what [`test_worker!`](crate::test_worker) has relied on from the start. What a worker does
/// without: std ignores `SIGPIPE` in its set-up for `main`, so [`serve_before_main`] does the
/// same; std names the main thread and installs the handler that reports a stack overflow,
/// so a task that overflows its stack kills its worker with `SIGSEGV` (the pool reports the
/// signal) instead of printing std's message; and the worker never returns into the
/// runtime, so it flushes stdout itself before it exits. Nor do the constructors that come
/// after this one run in a worker (the linker orders them: those with a priority, std's
/// among them, first, then the others in link order): a task that needs what another constructor
/// sets up (a registry filled by `inventory` or `ctor`, say) runs on a pool built with
/// `serve_before_main(false)`, whose workers serve in `main`.
extern "C" fn before_main() {
    // First of all, even where the worker serves in `main`: a worker asks to die with its pool
    // here (see `marker::bound_nonce`), and one whose pool is already gone exits.
    if !started_as_worker() {
        return;
    }
    take_socket_early();
    if std::env::var_os(SERVE_IN_MAIN_ENV).is_some() {
        return; // the pool asked its workers to serve where `main` calls `init`
    }
    serve_before_main(init);
}

/// What the crate's constructor and [`test_worker!`]'s run before `main`: if a pool started
/// this process, runs `worker_main` (which calls [`init`]) and exits; else returns at once.
/// Not for direct use.
#[doc(hidden)]
pub fn serve_before_main(worker_main: fn()) {
    if !started_as_worker() {
        return;
    }
    take_socket_early();
    // std's runtime ignores SIGPIPE before it calls `main`, in every Rust program (a write to
    // a closed pipe is then an error, not a death); this worker serves before that point, so
    // it does the same for its tasks.
    // SAFETY: setting a signal's disposition to `SIG_IGN` installs no handler and touches no
    // memory of ours; the disposition is the process's, which std sets the same way.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    // A panic must not unwind out of the constructor (an `extern "C" fn`): it ends the
    // process as a panic in `main` does, after the panic hook printed it.
    let code = match std::panic::catch_unwind(worker_main) {
        Ok(()) => 0,
        Err(payload) => {
            std::mem::forget(payload); // its `Drop` is user code too
            101
        }
    };
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(code);
}

/// Why a worker stopped abnormally (printed to its stderr).
#[derive(Debug)]
enum Fatal {
    Connect(std::io::Error),
    Recv(RecvError),
    Send(SendError),
    Protocol(&'static str),
}

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fatal::Connect(err) => write!(f, "cannot take the pool's socket: {err}"),
            Fatal::Recv(err) => write!(f, "receive failed: {err}"),
            Fatal::Send(err) => write!(f, "send failed: {err}"),
            Fatal::Protocol(what) => write!(f, "protocol error: {what}"),
        }
    }
}

/// The worker's socket, and the copies of the replies it holds (`None`: the pool made none,
/// and the worker holds no reply).
struct Socket {
    tx: ipc_queue::Sender<FromWorker>,
    copies: Option<ReplyCopies>,
}

impl Sink for Socket {
    fn send_all(&self, replies: &[Vec<u8>]) -> bool {
        self.tx.send_encoded_all(replies).is_ok()
    }

    fn keep(&self, reply: &[u8]) -> bool {
        self.copies
            .as_ref()
            .is_some_and(|copies| copies.keep(reply))
    }

    fn forget(&self) {
        if let Some(copies) = &self.copies {
            copies.clear();
        }
    }
}

/// The worker's socket, when a constructor took it off stdin (`take_socket_early`).
static SOCKET: Mutex<Option<OwnedFd>> = Mutex::new(None);

/// In a worker, before anything else runs: takes its socket off its stdin, as `serve` would,
/// into [`SOCKET`]. So a worker whose `main` (or `test_worker!`'s function) runs first finds
/// `/dev/null` there, as a child started with `Stdio::null()`, never the pool's socket, and a
/// process it starts before `init` does not inherit the socket. A second call does nothing.
fn take_socket_early() {
    let mut socket = SOCKET.lock().unwrap_or_else(PoisonError::into_inner);
    if socket.is_some() {
        return;
    }
    // SAFETY: called only where `started_as_worker()` holds: the marker names this process's
    // parent, the pool that started it with its socket as stdin for this process to own;
    // `serve` takes it from `SOCKET`, and `fd_from_stdin` refuses a second take.
    if let Ok(fd) = unsafe { ipc_queue::fd_from_stdin() } {
        *socket = Some(fd);
    }
}

/// The worker's life: its socket and descriptors, handshake, initializer, tasks, exit.
fn serve(nonce: u64) -> Result<(), Fatal> {
    let taken = SOCKET.lock().unwrap_or_else(PoisonError::into_inner).take();
    let socket = match taken {
        Some(fd) => fd, // taken by the crate's constructor
        // SAFETY: `init` calls this only when the marker names this process's parent
        // (`marker::bound_nonce`): the parent is the pool that started this process with its
        // socket as stdin (`ipc_queue::spawn_with_stdin`), for this process to own (a process
        // started by a worker inherits the marker but has another parent, and the worker's
        // stdin is `/dev/null` once taken). It is taken once (`fd_from_stdin` refuses a second
        // time): after `serve` the process exits, and nothing else in the crate reads stdin.
        None => unsafe { ipc_queue::fd_from_stdin() }.map_err(Fatal::Connect)?,
    };
    let socket = std::os::unix::net::UnixStream::from(socket);
    // What the pool sent through the socket before the spawn, in this order: the cancel set's
    // memfd, the reply copies' memfd, a copy of the pool's stderr, each only when its
    // variable announces it.
    let wants = [
        CANCEL_FD_ENV,
        REPLY_COPIES_FD_ENV,
        crate::stderr::POOL_STDERR_FD_ENV,
    ]
    .map(|var| std::env::var_os(var).is_some());
    let expected = wants.iter().filter(|&&wanted| wanted).count();
    let fds = ipc_queue::recv_fds(&socket, expected).map_err(Fatal::Connect)?;
    if fds.len() != expected {
        return Err(Fatal::Protocol("the pool sent too few descriptors"));
    }
    let mut fds = fds.into_iter();
    let [cancels_fd, copies_fd, stderr_fd] = wants.map(|wanted| fds.next().filter(|_| wanted));
    crate::stderr::hand_back(stderr_fd);
    let cancels = match cancels_fd {
        Some(fd) => Some(CancelSet::from_fd(fd).map_err(Fatal::Connect)?),
        None => None, // the pool could not make one: it sends this worker nothing ahead
    };
    let copies = match copies_fd {
        Some(fd) => Some(ReplyCopies::from_fd(fd).map_err(Fatal::Connect)?),
        None => None, // the pool could not make them: this worker holds no reply
    };
    let end = Duplex::<FromWorker, ToWorker>::from_fd(socket.into()).map_err(Fatal::Connect)?;
    let (tx, mut rx) = end.split();
    tx.send(&FromWorker::hello(nonce, messages::fingerprint()))
        .map_err(Fatal::Send)?;

    // The parent answers only a matching fingerprint; a mismatch closes the socket.
    let init = match rx.recv() {
        Ok(ToWorker::Init(init)) => init,
        Ok(ToWorker::Release | ToWorker::Stop) | Err(RecvError::Disconnected) => return Ok(()),
        Ok(ToWorker::Task(_)) => return Err(Fatal::Protocol("a task before Init")),
        Err(err) => return Err(Fatal::Recv(err)),
    };
    let Init {
        initializer,
        max_held,
        max_tasks,
        spin_ns,
        max_frame,
        print_panics,
    } = init;
    // Every piece of user code runs on this thread, inside `future_core`'s boundaries (the
    // initializer, the trampolines' decode, task and encode): their panics travel in the
    // errors sent back, and the panic hook prints them only if the pool asked.
    future_core::executor::print_panics(print_panics);
    let max_frame = usize::try_from(max_frame).unwrap_or(usize::MAX);
    let tx = tx.with_max_frame(max_frame);
    let mut rx = rx
        .with_max_frame(max_frame)
        .with_spin(Duration::from_nanos(spin_ns));

    // SAFETY: the offset comes from `name_initializer` in the parent, and this process
    // passed the fingerprint check (the parent sent `Init` only after it).
    if let Err(panic) = unsafe { task_wire::run_initializer(initializer) } {
        let _ = tx.send(&FromWorker::InitFailed(panic));
        return Ok(());
    }
    tx.send(&FromWorker::Ready).map_err(Fatal::Send)?;

    // Replies go out together while more tasks are at hand (`pool_engine::replies`); only a
    // worker with a cancel set is sent tasks ahead, and only it can tell which of them started.
    let max_held = if cancels.is_some() {
        max_held as usize
    } else {
        0
    };
    let replies = Replies::new(Socket { tx, copies }, max_held);
    let gone = || Fatal::Send(SendError::Disconnected);
    let mut done: u64 = 0;
    while max_tasks.is_none_or(|max| done < max) {
        if !rx.has_buffered() && !replies.send_held() {
            return Err(gone()); // about to wait: what is held goes first
        }
        let frame = match rx.recv_frame() {
            Ok(frame) => frame,
            // The pool let this worker go (shutdown, or it closed the socket).
            Err(RecvError::Disconnected) => return Ok(()),
            // A task frame that could not be read (too large): the parent uses the same
            // frame limit, so this is a protocol bug; exit, and the parent reports the death.
            Err(err) => return Err(Fatal::Recv(err)),
        };
        let (head, at) = match task_wire::split::<ToWorker>(&frame) {
            Ok((ToWorker::Task(head), at)) => (head, at),
            Ok((ToWorker::Release | ToWorker::Stop, _)) => return Ok(()),
            Ok((ToWorker::Init(_), _)) => return Err(Fatal::Protocol("a second Init")),
            Err(_) => return Err(Fatal::Protocol("an undecodable message")),
        };
        // A task sent ahead runs only if its cancel did not come first.
        let start = cancels
            .as_ref()
            .map_or(Start::Unlisted, |set| set.start(head.id));
        if (head.timed || start == Start::Unlisted) && !replies.send_held() {
            return Err(gone()); // the pool counts its time from the reply before it
        }
        let timed = head.timed;
        let reply = match start {
            Start::Cancelled => task_wire::encode_message(&FromWorker::Skipped { id: head.id }),
            // SAFETY: `head.task` comes from `name_task` in the parent, and this process
            // passed the fingerprint check before it received any task (the parent sends
            // `Init`, and then tasks, only after it).
            Start::Started | Start::Unlisted => unsafe {
                task_wire::messages::run(head, frame, at, max_frame)
            },
        };
        done += 1;
        let more = max_tasks.is_none_or(|max| done < max) && rx.has_buffered();
        if !replies.add(reply, more && !timed && cancels.is_some()) {
            return Err(gone());
        }
    }
    Ok(()) // dropping `replies` sends what it holds
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The crate's constructor runs in every program that links the crate, this test binary
    /// included (before its `main`): in a process that no pool started it returns at once,
    /// and leaves `main` to run (under Miri: without undefined behaviour, called again here).
    #[test]
    fn the_constructor_returns_at_once_in_a_process_that_no_pool_started() {
        assert!(std::env::var_os(marker::MARKER_ENV).is_none());
        let constructor = std::hint::black_box(CONSTRUCTOR);
        constructor();
        before_main();
        assert!(!INIT_CALLED.load(Ordering::Relaxed), "it never calls init");
    }
}
