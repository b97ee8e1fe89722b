//! A worker's stderr until its handshake, so that the pool can say what a worker that failed
//! to start printed.
//!
//! A worker starts with a memory file (a `memfd`) as its stderr, and receives a copy of the
//! pool's own stderr through its socket (`ipc_queue::send_fds`, sent before the spawn), which
//! [`POOL_STDERR_FD_ENV`] announces. When the worker reaches
//! the pool (in `init`, before its `Hello`), [`hand_back`] copies what it wrote so far to the
//! pool's stderr, empties the memory file and makes the pool's stderr its fd 2 again: from
//! then on it writes there directly, as a child that inherited it. A worker that ends before
//! that (it exits, is killed, misses the handshake timeout) leaves its words in the file: the
//! pool reads them once the worker is reaped ([`StartupStderr::settle`]), shows them on its
//! own stderr (nothing the worker printed is lost, only shown when it ended) and quotes their
//! last lines in the startup failure's message.
//!
//! What a worker writes before it serves is delayed until it serves; with the crate's
//! constructor that is only what other constructors and the loader print. Where the memory
//! file or the copy cannot be made, the worker inherits the pool's stderr as before, and the
//! message quotes nothing.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::process::{Command, Stdio};

/// The environment variable that announces the worker's copy of the pool's stderr among the
/// descriptors sent through its socket, and names the memory file: `<device>:<inode>`.
pub(crate) const POOL_STDERR_FD_ENV: &str = "POOL_PROCESS_STDERR_FD";

/// The most lines of a failed worker's stderr quoted in the pool's message.
const TAIL_LINES: usize = 6;

/// The most bytes of one quoted line (a longer one is cut, and says so).
const TAIL_LINE_BYTES: usize = 300;

/// The pool's side: the memory file that is a worker's stderr until its handshake.
#[derive(Debug, Default)]
pub(crate) struct StartupStderr {
    /// `None`: the worker inherited the pool's stderr.
    file: Option<OwnedFd>,
    /// The last lines it had written when it ended before the handshake (see `settle`).
    tail: Vec<String>,
    /// `settle` read the file: `tail` is all there is to say.
    settled: bool,
}

/// What [`capture`] gives the pool for one worker about to start.
pub(crate) struct Capture {
    pub(crate) stderr: StartupStderr,
    /// The worker's copy of the pool's stderr (`CLOEXEC`), to send through its socket; the
    /// pool's copy is closed once sent.
    pub(crate) pool_stderr: Option<OwnedFd>,
}

/// Sets up `cmd`'s stderr as a memory file and names the worker's copy of the pool's stderr
/// in its environment; on any failure, `cmd` inherits the pool's stderr (and captures nothing).
pub(crate) fn capture(cmd: &mut Command) -> Capture {
    match memory_file_and_copy() {
        Ok((file, for_worker, pool_stderr, value)) => {
            cmd.stderr(Stdio::from(for_worker))
                .env(POOL_STDERR_FD_ENV, value);
            Capture {
                stderr: StartupStderr {
                    file: Some(file),
                    tail: Vec::new(),
                    settled: false,
                },
                pool_stderr: Some(pool_stderr),
            }
        }
        Err(_) => {
            // Not one inherited from this process (a worker whose task builds a pool).
            cmd.stderr(Stdio::inherit()).env_remove(POOL_STDERR_FD_ENV);
            Capture {
                stderr: StartupStderr::default(),
                pool_stderr: None,
            }
        }
    }
}

/// The memory file (the pool's end and the worker's), and a copy of this process's stderr.
fn memory_file_and_copy() -> std::io::Result<(OwnedFd, OwnedFd, OwnedFd, String)> {
    let file = rustix::fs::memfd_create(c"pool-process-stderr", rustix::fs::MemfdFlags::CLOEXEC)?;
    let for_worker = file.try_clone()?;
    let pool_stderr = rustix::io::fcntl_dupfd_cloexec(std::io::stderr().as_fd(), 3)?;
    let value = env_value(&file).ok_or(std::io::ErrorKind::Other)?;
    Ok((file, for_worker, pool_stderr, value))
}

impl StartupStderr {
    /// Once the worker is reaped, before it had reached the pool: shows on this process's
    /// stderr what the worker wrote on its own (it was kept in the memory file), keeps its last
    /// lines for [`tail`](Self::tail), and empties the file. A worker that reached the pool
    /// emptied the file itself. Call it without holding a lock: it writes to stderr.
    pub(crate) fn settle(&mut self) {
        let Some(file) = self.file.take() else {
            return;
        };
        let text = read_all(file);
        self.settled = true;
        if text.is_empty() {
            return;
        }
        let _ = std::io::stderr().write_all(&text);
        self.tail = last_lines(&text);
    }

    /// The last lines of what the worker wrote on stderr before it ended before the
    /// handshake, quoted for the pool's message (after [`settle`](Self::settle)); empty when
    /// it was not captured.
    pub(crate) fn tail(&self) -> String {
        if !self.settled {
            return String::new();
        }
        if self.tail.is_empty() {
            return "; it wrote nothing on stderr".to_owned();
        }
        let mut said = String::from("; the last lines of its stderr:");
        for line in &self.tail {
            said.push_str("\n    | ");
            said.push_str(line);
        }
        said
    }
}

/// Everything in `file` from its start (its size at the time: whoever may still write to it
/// is a process the worker started, whose words are not the worker's).
fn read_all(file: impl AsFd) -> Vec<u8> {
    let file = file.as_fd();
    let size = rustix::fs::fstat(file).map_or(0, |stat| stat.st_size.max(0) as u64);
    let mut text = vec![0; usize::try_from(size).unwrap_or(0)];
    let mut filled = 0;
    while filled < text.len() {
        match rustix::io::pread(file, &mut text[filled..], filled as u64) {
            Ok(0) | Err(_) => break,
            Ok(n) => filled += n,
        }
    }
    text.truncate(filled);
    text
}

/// The last [`TAIL_LINES`] non-empty lines of `text`, each cut to [`TAIL_LINE_BYTES`].
fn last_lines(text: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(text);
    let mut lines: Vec<String> = text
        .lines()
        .map(str::trim_end)
        .filter(|line| !line.is_empty())
        .rev()
        .take(TAIL_LINES)
        .map(|line| match line.char_indices().nth(TAIL_LINE_BYTES) {
            Some((cut, _)) => format!("{} (cut)", &line[..cut]),
            None => line.to_owned(),
        })
        .collect();
    lines.reverse();
    lines
}

/// In a worker that reached its pool: copies what it wrote on stderr so far (kept in the
/// memory file that is its fd 2) to the pool's stderr, empties the file, and makes the pool's
/// stderr its fd 2. `pool_stderr` is the copy of the pool's stderr received through the
/// socket (`None`: the pool could not capture). Does nothing without it, without
/// [`POOL_STDERR_FD_ENV`], or when fd 2 is no longer the file the pool gave (a `main` that
/// redirected its stderr before it called `init`: that file is left alone).
pub(crate) fn hand_back(pool_stderr: Option<OwnedFd>) {
    let Some(file_id) = std::env::var(POOL_STDERR_FD_ENV)
        .ok()
        .and_then(|value| parse_env(&value))
    else {
        return;
    };
    let Some(pool_stderr) = pool_stderr else {
        return;
    };
    // A copy of fd 2, taken with a plain `fcntl` on the number (no borrow of a descriptor
    // that `main` may have closed): -1 when fd 2 is not open.
    // SAFETY: `fcntl(F_DUPFD_CLOEXEC)` reads no memory of ours; any number may be passed.
    let copy = unsafe { libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 3) };
    if copy < 0 {
        return;
    }
    // SAFETY: `copy` is a descriptor that `fcntl` just opened for this function alone.
    let own = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(copy) };
    if id_of(&own) != Some(file_id) {
        return; // not the pool's file any more
    }
    let text = read_all(&own);
    let mut rest = &text[..];
    while !rest.is_empty() {
        match rustix::io::write(&pool_stderr, rest) {
            Ok(0) | Err(_) => break,
            Ok(n) => rest = &rest[n..],
        }
    }
    // Emptied, so that the pool does not show it a second time (see `settle`).
    let _ = rustix::fs::ftruncate(&own, 0);
    // SAFETY: `dup2` onto fd 2 only changes which file fd 2 names, in one step: std's stderr
    // writes to fd 2 without owning it, and no `BorrowedFd` of fd 2 exists.
    unsafe {
        libc::dup2(pool_stderr.as_raw_fd(), 2);
    }
}

/// The device and inode of the file `fd` names: which file it is.
fn id_of(fd: impl AsFd) -> Option<(u64, u64)> {
    let stat = rustix::fs::fstat(fd).ok()?;
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)] // their types vary by OS
    Some((stat.st_dev as u64, stat.st_ino as u64))
}

/// The value of [`POOL_STDERR_FD_ENV`] for the memory file `file`: `<device>:<inode>`.
fn env_value(file: &OwnedFd) -> Option<String> {
    let (dev, ino) = id_of(file)?;
    Some(format!("{dev}:{ino}"))
}

/// The memory file's identity in [`POOL_STDERR_FD_ENV`]'s `value`.
fn parse_env(value: &str) -> Option<(u64, u64)> {
    let (dev, ino) = value.split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_is_the_last_lines_cut_to_length() {
        let text = format!("a\n\nb\r\nc\nd\ne\nf\ng\n{}\n", "x".repeat(400));
        let tail = last_lines(text.as_bytes());
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail[0], "c");
        assert_eq!(tail[4], "g");
        assert_eq!(tail[5], format!("{} (cut)", "x".repeat(TAIL_LINE_BYTES)));
        assert!(last_lines(b"\n\n").is_empty());
    }

    #[test]
    fn the_environment_value_round_trips() {
        assert_eq!(parse_env("1:2"), Some((1, 2)));
        assert_eq!(parse_env("7"), None);
        assert_eq!(parse_env("x:2"), None);
    }
}
