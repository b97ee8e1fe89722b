//! Tests with real child processes: this test binary re-executes itself (`child_entry`) in
//! the role named by `IPC_QUEUE_TEST_ROLE`, with one channel end handed over by `spawn_with`.
//!
//! Deadlines here only catch hangs; no assertion depends on timing.

use std::{
    io::{BufRead, BufReader, Read, Write},
    os::{
        fd::{AsFd, BorrowedFd},
        unix::{net::UnixStream, process::ExitStatusExt},
    },
    process::{Child, ChildStdout, Command, Stdio},
    sync::mpsc,
    thread,
    time::Duration,
};

use ipc_queue::{
    Duplex, Receiver, RecvError, SelectError, SendError, Sender, channel, duplex, fd_from_env,
    fd_from_stdin, recv_fds, send_fds, spawn_with, spawn_with_stdin,
};
use serde::{Deserialize, Serialize};

const ROLE: &str = "IPC_QUEUE_TEST_ROLE";
const FD_VAR: &str = "IPC_QUEUE_TEST_FD";
/// Generous bound that only a hang exceeds.
const HANG: Duration = Duration::from_secs(30);

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Msg {
    id: u64,
    data: Vec<u8>,
}

fn msg(id: u64, len: usize) -> Msg {
    Msg {
        id,
        data: (0..len)
            .map(|i| (i as u64).wrapping_mul(31).wrapping_add(id) as u8)
            .collect(),
    }
}

/// A command that re-executes this test binary as a child in `role`.
fn child_cmd(role: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    cmd.args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(ROLE, role);
    // The child's test harness reports on stdout: keep it out of this run's report unless a
    // test pipes it. Panics still reach stderr.
    cmd.stdout(Stdio::null());
    cmd
}

/// Runs a child to completion, capturing its output.
fn child_output(role: &str) -> std::process::Output {
    let mut cmd = child_cmd(role);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.output().expect("run child")
}

/// Reads the child's stdout until a line containing `marker` (the test harness may print
/// before it on the same line); returns the line from the marker on.
fn wait_for_line(out: &mut BufReader<ChildStdout>, marker: &str) -> String {
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = out.read_line(&mut line).expect("read child stdout");
        assert!(
            n > 0,
            "child stdout closed before {marker:?}; it printed:\n{seen}"
        );
        if let Some(at) = line.find(marker) {
            return line[at..].trim_end().to_string();
        }
        seen.push_str(&line);
    }
}

fn kill(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Takes the end handed to this child as `T` (`from_env` with `FD_VAR`).
fn take_end<T>(from_env: unsafe fn(&str) -> std::io::Result<T>) -> T {
    // SAFETY: every role runs in a child that this test binary started with `spawn_with(..,
    // FD_VAR, ..)`, which set the variable for that child alone with the descriptor it
    // handed over; each role takes it once, and nothing else in the child touches it.
    unsafe { from_env(FD_VAR) }.expect("take the handed-over end")
}

/// The descriptor numbers of this process's open sockets, in order.
fn sockets() -> Vec<String> {
    let mut sockets = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
        let entry = entry.unwrap();
        if let Ok(target) = std::fs::read_link(entry.path()) {
            if target.to_string_lossy().starts_with("socket:") {
                sockets.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    sockets.sort_by_key(|fd| fd.parse::<u32>().unwrap_or(u32::MAX));
    sockets
}

/// The child side of every test in this file. Returns at once in a normal test run.
#[test]
fn child_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    match role.as_str() {
        // Echo every message back until the parent goes away.
        "echo" => {
            let mut end = take_end(Duplex::<Msg, Msg>::from_env);
            loop {
                match end.recv() {
                    Ok(m) => end.send(&m).expect("echo send"),
                    Err(RecvError::Disconnected) => return,
                    Err(e) => panic!("echo child: {e}"),
                }
            }
        }
        // Write the first part of a 1 MB frame, say so, then wait to be killed.
        "partial" => {
            let mut raw = UnixStream::from(take_end(fd_from_env));
            raw.write_all(&1_000_000u32.to_le_bytes()).unwrap();
            raw.write_all(&[7u8; 1000]).unwrap();
            println!("PARTIAL_WRITTEN");
            std::io::stdout().flush().unwrap();
            thread::sleep(HANG); // killed long before
        }
        // Undecodable frame, good frame, oversize header, then exit.
        "garbage" => {
            let mut raw = UnixStream::from(take_end(fd_from_env));
            // A String of length 2 that is not UTF-8.
            raw.write_all(&[3, 0, 0, 0, 2, 0xff, 0xfe]).unwrap();
            // A good frame: "ok".
            raw.write_all(&[3, 0, 0, 0, 2, b'o', b'k']).unwrap();
            // Pure noise whose first four bytes announce ~4 GiB.
            raw.write_all(&[0xff, 0xff, 0xff, 0xfe, 1, 2, 3]).unwrap();
        }
        // Spawn a grandchild blocked in recv on a duplex whose other end we hold, then exit
        // without closing anything explicitly.
        "middle" => {
            let (_mine, theirs) = duplex::<Msg, Msg>().unwrap();
            let mut cmd = child_cmd("blocked");
            cmd.stdout(Stdio::inherit());
            spawn_with(&mut cmd, FD_VAR, theirs).expect("spawn grandchild");
            println!("MIDDLE_SPAWNED");
            std::io::stdout().flush().unwrap();
            std::process::exit(0);
        }
        "blocked" => {
            let mut end = take_end(Duplex::<Msg, Msg>::from_env);
            let outcome = match end.recv_timeout(HANG) {
                Err(RecvError::Disconnected) => "Disconnected".to_string(),
                other => format!("{other:?}"),
            };
            println!("BLOCKED_RESULT {outcome}");
        }
        // With SIGPIPE at its default action (which kills), write to a closed peer.
        "sigpipe" => {
            // SAFETY: `signal` with `SIG_DFL` installs no handler code; this single-threaded
            // child test has no other thread that could race on the disposition.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            }
            let (tx, rx) = channel::<Msg>().unwrap();
            drop(rx);
            let r = tx.send(&msg(1, 10));
            assert!(matches!(r, Err(SendError::Disconnected)), "{r:?}");
            println!("SIGPIPE_OK");
        }
        // Report which sockets this process inherited.
        "list_fds" => {
            let var = std::env::var(FD_VAR).unwrap_or_default();
            println!("SOCKETS [{}] var={var}", sockets().join(","));
        }
        "exit_now" => {}
        // Started by `spawn_with_stdin`: report the sockets inherited, take stdin, take the
        // descriptor sent through it (a pipe), write to it, report fd 0 and the sockets now,
        // then echo.
        "stdin" => {
            let before = sockets();
            // SAFETY: the tests that use this role start it with `spawn_with_stdin`, which
            // hands it its end as stdin; nothing else in this child reads stdin.
            let fd = unsafe { fd_from_stdin() }.expect("take stdin");
            let socket = UnixStream::from(fd);
            let mut fds = recv_fds(&socket, 2).expect("receive the descriptors");
            assert_eq!(fds.len(), 1);
            let mut pipe = std::fs::File::from(fds.remove(0));
            pipe.write_all(b"through the socket").unwrap();
            drop(pipe);
            // SAFETY: as above; stdin was taken already, so this must fail without taking.
            let again = unsafe { fd_from_stdin() }.map(drop).map_err(|e| e.kind());
            let stdin = std::fs::read_link("/proc/self/fd/0").unwrap();
            println!(
                "STDIN before [{}] after [{}] fd0={} again={again:?}",
                before.join(","),
                sockets().join(","),
                stdin.display()
            );
            std::io::stdout().flush().unwrap();
            let mut end = Duplex::<Msg, Msg>::from_fd(socket.into()).unwrap();
            while let Ok(m) = end.recv() {
                end.send(&m).expect("echo send");
            }
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn round_trip_of_mixed_sizes_through_a_child() {
    let (parent, child_end) = duplex::<Msg, Msg>().unwrap();
    let mut child = spawn_with(&mut child_cmd("echo"), FD_VAR, child_end).unwrap();
    let (tx, mut rx) = parent.split();
    let sizes: Vec<usize> = [
        0,
        1,
        100,
        4095,
        65_535,
        65_536,
        65_537,
        1 << 20,
        (3 << 20) + 5,
    ]
    .into_iter()
    .chain((0..300).map(|i| i % 200))
    .chain([5 << 20, 17, 300_000])
    .collect();
    let expected: Vec<Msg> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| msg(i as u64, n))
        .collect();
    // Write from one thread while reading on this one, as the process pool will.
    let writer = thread::spawn({
        let expected = expected.clone();
        move || expected.iter().try_for_each(|m| tx.send(m))
    });
    for want in &expected {
        let got = rx.recv_timeout(HANG).unwrap();
        assert_eq!(got.id, want.id);
        assert!(got == *want, "message {} corrupted", want.id);
    }
    writer.join().unwrap().unwrap();
    drop(rx);
    let status = child.wait().unwrap();
    assert!(status.success(), "echo child: {status:?}");
}

#[test]
fn child_killed_mid_frame_is_disconnected_not_a_hang() {
    let (tx_end, mut rx) = channel::<Vec<u8>>().unwrap();
    let mut cmd = child_cmd("partial");
    cmd.stdout(Stdio::piped());
    let mut child = spawn_with(&mut cmd, FD_VAR, tx_end).unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    wait_for_line(&mut out, "PARTIAL_WRITTEN");
    // The partial frame is read and kept; the receive gives up at its deadline.
    assert!(matches!(
        rx.recv_timeout(Duration::from_millis(20)),
        Err(RecvError::Timeout)
    ));
    // Kill the child while this thread is blocked in a plain `recv` on another thread.
    let (done_tx, done_rx) = mpsc::channel();
    let reader = thread::spawn(move || done_tx.send(rx.recv()));
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    let r = done_rx
        .recv_timeout(HANG)
        .expect("recv hung after the child died");
    assert!(matches!(r, Err(RecvError::Disconnected)), "{r:?}");
    let _ = reader.join().unwrap();
}

#[test]
fn child_writing_garbage_gives_errors_not_panics() {
    let (tx_end, rx) = channel::<String>().unwrap();
    let mut rx = rx.with_max_frame(1 << 20);
    let mut child = spawn_with(&mut child_cmd("garbage"), FD_VAR, tx_end).unwrap();
    let r = rx.recv_timeout(HANG);
    assert!(matches!(r, Err(RecvError::Decode(_))), "{r:?}");
    assert_eq!(rx.recv_timeout(HANG).unwrap(), "ok");
    let r = rx.recv_timeout(HANG);
    assert!(
        matches!(
            r,
            Err(RecvError::FrameTooLarge {
                announced: 0xfeff_ffff,
                max: 1_048_576
            })
        ),
        "{r:?}"
    );
    // The child exits in the middle of the announced frame.
    let r = rx.recv_timeout(HANG);
    assert!(matches!(r, Err(RecvError::Disconnected)), "{r:?}");
    assert!(child.wait().unwrap().success());
}

#[test]
fn parent_exit_wakes_a_child_blocked_in_recv() {
    let mut cmd = child_cmd("middle");
    cmd.stdout(Stdio::piped());
    let mut middle = cmd.spawn().unwrap();
    let mut out = BufReader::new(middle.stdout.take().unwrap());
    wait_for_line(&mut out, "MIDDLE_SPAWNED");
    assert!(middle.wait().unwrap().success());
    // The grandchild shares the pipe; its verdict comes once its recv returns.
    let line = wait_for_line(&mut out, "BLOCKED_RESULT");
    assert_eq!(line, "BLOCKED_RESULT Disconnected");
    // Let the grandchild's test harness finish its report (EOF: it has exited).
    let _ = out.read_to_end(&mut Vec::new());
}

#[test]
fn writing_to_a_dead_child_is_an_error() {
    let (tx, rx_end) = channel::<Msg>().unwrap();
    let mut child = spawn_with(&mut child_cmd("exit_now"), FD_VAR, rx_end).unwrap();
    assert!(child.wait().unwrap().success());
    let r = tx.send(&msg(0, 10));
    assert!(matches!(r, Err(SendError::Disconnected)), "{r:?}");
    // A large frame too (fails part-way through, or at once).
    assert!(matches!(
        tx.send(&msg(1, 1 << 20)),
        Err(SendError::Disconnected)
    ));
}

#[test]
fn writing_to_a_dead_peer_never_raises_sigpipe() {
    let out = child_output("sigpipe");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child: {:?}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("SIGPIPE_OK"), "{stdout}");
}

#[test]
fn exactly_the_handed_over_socket_is_inherited() {
    // Sockets of this process that a child must not inherit.
    let _keep: Vec<_> = (0..3).map(|_| duplex::<u8, u8>().unwrap()).collect();
    let plain = child_output("list_fds");
    let plain = String::from_utf8_lossy(&plain.stdout);
    assert!(plain.contains("SOCKETS [] var="), "{plain}");

    let (_mine, theirs) = duplex::<u8, u8>().unwrap();
    let mut cmd = child_cmd("list_fds");
    cmd.stdout(Stdio::piped());
    let mut child = spawn_with(&mut cmd, FD_VAR, theirs).unwrap();
    let mut text = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert!(child.wait().unwrap().success());
    let at = text.find("SOCKETS [").expect("SOCKETS line");
    let line = text[at..].lines().next().unwrap_or_default();
    let (fds, var) = line["SOCKETS [".len()..].split_once("] var=").unwrap();
    assert_eq!(
        fds, var,
        "the child must see exactly the handed-over socket: {line}"
    );
}

#[test]
fn selector_serves_many_workers_and_reports_the_dead_one() {
    let mut children = Vec::new();
    let mut senders: Vec<Sender<Msg>> = Vec::new();
    let mut receivers: Vec<Receiver<Msg>> = Vec::new();
    for _ in 0..3 {
        let (parent, child_end) = duplex::<Msg, Msg>().unwrap();
        children.push(spawn_with(&mut child_cmd("echo"), FD_VAR, child_end).unwrap());
        let (tx, rx) = parent.split();
        senders.push(tx);
        receivers.push(rx);
    }
    let mut sel = ipc_queue::Selector::new().with_spin(Duration::from_micros(20));
    for round in 0..20u64 {
        for (i, tx) in senders.iter().enumerate() {
            tx.send(&msg(i as u64 * 1000 + round, (round as usize * 97) % 5000))
                .unwrap();
        }
        let mut seen = [false; 3];
        for _ in 0..3 {
            let (i, m) = sel.recv_any(&mut receivers, Some(HANG)).unwrap();
            assert_eq!(
                m,
                msg(i as u64 * 1000 + round, (round as usize * 97) % 5000)
            );
            assert!(!seen[i]);
            seen[i] = true;
        }
    }
    // Kill worker 1: the selector names it.
    let dead = children.remove(1);
    kill(dead);
    match sel.recv_any(&mut receivers, Some(HANG)) {
        Err(SelectError::Recv {
            index: 1,
            error: RecvError::Disconnected,
        }) => {}
        other => panic!("expected worker 1 disconnected, got {other:?}"),
    }
    // Reported again until removed; the others keep working.
    assert!(matches!(
        sel.recv_any(&mut receivers, Some(HANG)),
        Err(SelectError::Recv { index: 1, .. })
    ));
    receivers.remove(1);
    senders.remove(1);
    for (i, tx) in senders.iter().enumerate() {
        tx.send(&msg(i as u64, 10)).unwrap();
    }
    let mut ids: Vec<u64> = (0..2)
        .map(|_| sel.recv_any(&mut receivers, Some(HANG)).unwrap().1.id)
        .collect();
    ids.sort();
    assert_eq!(ids, [0, 1]);
    drop((senders, receivers));
    for child in children {
        let mut child = child;
        assert!(child.wait().unwrap().success());
    }
}

#[test]
fn an_end_on_stdin_is_the_only_socket_inherited_and_carries_descriptors() {
    // Sockets of this process that the child must not inherit.
    let _keep: Vec<_> = (0..3).map(|_| duplex::<u8, u8>().unwrap()).collect();
    let (mine, theirs) = duplex::<Msg, Msg>().unwrap();
    let (mut pipe_rx, pipe_tx) = std::io::pipe().unwrap();
    // Sent before the spawn: it waits in the child's socket.
    send_fds(&mine, &[std::os::fd::AsFd::as_fd(&pipe_tx)]).unwrap();
    drop(pipe_tx);
    let mut cmd = child_cmd("stdin");
    cmd.stdout(Stdio::piped());
    let mut child = spawn_with_stdin(&mut cmd, theirs).unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let line = wait_for_line(&mut out, "STDIN");
    let mut said = String::new();
    pipe_rx.read_to_string(&mut said).unwrap();
    assert_eq!(said, "through the socket");
    let (before, after) = line["STDIN before [".len()..]
        .split_once("] after [")
        .unwrap();
    assert_eq!(
        before, "0",
        "exactly the handed-over socket, on stdin: {line}"
    );
    let (after, rest) = after.split_once("] ").unwrap();
    let moved: u32 = after.parse().expect("one socket after the move");
    assert!(moved >= 3, "{line}");
    assert_eq!(rest, "fd0=/dev/null again=Err(AlreadyExists)", "{line}");
    // The end works, and the parent's copy is gone: the child's exit is seen.
    let (tx, mut rx) = mine.split();
    tx.send(&msg(7, 1000)).unwrap();
    assert_eq!(rx.recv_timeout(HANG).unwrap(), msg(7, 1000));
    tx.shutdown().unwrap(); // the child sees EOF and exits
    assert!(child.wait().unwrap().success());
    assert!(matches!(
        rx.recv_timeout(HANG),
        Err(RecvError::Disconnected)
    ));
    let _ = out.read_to_end(&mut Vec::new());
}

thread_local! {
    /// The `fork`s that this thread made (counted by `count_fork`).
    static FORKS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// A `pthread_atfork` prepare handler: runs in the thread that calls `fork`, before it forks.
/// `posix_spawn` does not run it.
extern "C" fn count_fork() {
    FORKS.with(|forks| forks.set(forks.get() + 1));
}

#[test]
fn an_end_on_stdin_is_handed_over_without_fork() {
    // SAFETY: registers a handler that only bumps a thread-local counter (const-initialised,
    // no allocation): safe to run in the forking thread before any `fork`.
    assert_eq!(
        unsafe { libc::pthread_atfork(Some(count_fork), None, None) },
        0
    );
    let forks = || FORKS.with(std::cell::Cell::get);
    // The handler works: a `pre_exec` hook makes std fork.
    let (_mine, theirs) = duplex::<u8, u8>().unwrap();
    let mut child = spawn_with(&mut Command::new("true"), FD_VAR, theirs).unwrap();
    assert!(child.wait().unwrap().success());
    let with_hook = forks();
    assert!(with_hook >= 1, "the fork was not counted");
    // Without one, std uses `posix_spawn`: no fork.
    let (_mine, theirs) = duplex::<u8, u8>().unwrap();
    let mut child = spawn_with_stdin(&mut Command::new("true"), theirs).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(forks(), with_hook, "spawn_with_stdin went through fork");
}

#[test]
fn descriptors_sent_are_received_in_order_and_checked() {
    let (mine, theirs) = duplex::<u8, u8>().unwrap();
    let a = std::fs::File::open("/dev/null").unwrap();
    let (b, _b) = std::io::pipe().unwrap();
    send_fds(&mine, &[a.as_fd(), b.as_fd()]).unwrap();
    let got = recv_fds(&theirs, 2).unwrap();
    assert_eq!(got.len(), 2);
    let id = |fd: BorrowedFd<'_>| {
        let st = rustix::fs::fstat(fd).unwrap();
        (st.st_dev, st.st_ino)
    };
    assert_eq!(id(got[0].as_fd()), id(a.as_fd()));
    assert_eq!(id(got[1].as_fd()), id(b.as_fd()));
    for fd in &got {
        let flags = rustix::io::fcntl_getfd(fd).unwrap();
        assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
    }
    // More than the receiver takes: an error, and the descriptors are closed.
    send_fds(&mine, &[a.as_fd(), a.as_fd(), a.as_fd()]).unwrap();
    let err = recv_fds(&theirs, 2).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
    // A frame where descriptors were expected.
    mine.send(&5).unwrap();
    let err = recv_fds(&theirs, 2).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
}
