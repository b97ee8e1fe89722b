//! The error types: why a task failed ([`TaskError`]), why a future gave no value
//! ([`FutureError`]), why an executor refused a task ([`SubmitError`]), and why
//! [`as_completed`](crate::as_completed) stopped early ([`WaitTimeout`]).

use std::any::Any;
use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of failure a [`TaskError`] reports.
///
/// Executors choose the kind; the message says the details (the panic message, the pid and
/// exit status of a dead worker, ...).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskErrorKind {
    /// The task panicked; the message is the panic message.
    Panicked,
    /// The task can never finish: its producer was dropped, or its executor broke.
    Broken,
    /// The worker (thread or process) running the task died.
    WorkerDied,
    /// The task ran longer than its executor's per-task time limit and was stopped.
    TimedOut,
    /// The task's argument or result could not be encoded or decoded.
    Serialization,
    /// Any other failure an executor reports.
    Other,
}

impl TaskErrorKind {
    fn describe(self) -> &'static str {
        match self {
            TaskErrorKind::Panicked => "task panicked",
            TaskErrorKind::Broken => "task broken",
            TaskErrorKind::WorkerDied => "worker died",
            TaskErrorKind::TimedOut => "task timed out",
            TaskErrorKind::Serialization => "serialization failed",
            TaskErrorKind::Other => "task failed",
        }
    }
}

/// Why a task failed: Python's exception set on a future, as a value.
///
/// A task that panics never crashes its executor: the executor catches the panic and the
/// future holds a `TaskError` of kind [`TaskErrorKind::Panicked`] carrying the message.
///
/// ```
/// use rustures::{TaskError, TaskErrorKind};
///
/// let err = TaskError::from_panic(&*Box::new("boom") as &(dyn std::any::Any + Send));
/// assert_eq!(err.kind(), TaskErrorKind::Panicked);
/// assert_eq!(err.message(), "boom");
/// assert_eq!(err.to_string(), "task panicked: boom");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskError {
    kind: TaskErrorKind,
    message: String,
}

impl TaskError {
    /// A task error of `kind` with `message`.
    ///
    /// ```
    /// use rustures::{TaskError, TaskErrorKind};
    /// let err = TaskError::new(TaskErrorKind::WorkerDied, "worker 42 was killed by signal 9");
    /// assert_eq!(err.to_string(), "worker died: worker 42 was killed by signal 9");
    /// ```
    pub fn new(kind: TaskErrorKind, message: impl Into<String>) -> Self {
        TaskError {
            kind,
            message: message.into(),
        }
    }

    /// A [`TaskErrorKind::Panicked`] error carrying the message of a caught panic payload
    /// (as returned by [`std::panic::catch_unwind`]).
    ///
    /// ```
    /// use rustures::TaskError;
    /// let payload = std::panic::catch_unwind(|| panic!("bad {}", 7)).unwrap_err();
    /// assert_eq!(TaskError::from_panic(&*payload).message(), "bad 7");
    /// ```
    pub fn from_panic(payload: &(dyn Any + Send)) -> Self {
        TaskError::new(TaskErrorKind::Panicked, panic_message(payload))
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> TaskErrorKind {
        self.kind
    }

    /// The details: a panic message, a dead worker's pid and status, ...
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.describe(), self.message)
    }
}

impl std::error::Error for TaskError {}

/// The message of a panic payload: the `&str` or `String` given to `panic!`, or a
/// placeholder for other payload types.
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("oops")).unwrap_err();
/// assert_eq!(rustures::executor::panic_message(&*payload), "oops");
/// ```
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// Why an executor refused to take a task.
///
/// ```
/// use rustures::SubmitError;
/// assert_eq!(SubmitError::Shutdown.to_string(), "cannot submit: the executor is shut down");
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubmitError {
    /// `shutdown` was called; the executor takes no new tasks.
    Shutdown,
    /// The task queue is at its bound (only from non-blocking submits such as `try_submit`).
    Full,
    /// The executor is broken (a worker initializer panicked, or a worker died in a pool that
    /// breaks on worker death) and takes no new tasks; the text says why.
    Broken(String),
    /// This task or these options cannot be taken as given (a `chunksize` of 0, a function
    /// a worker process could not name, ...); the text says why. Nothing was submitted.
    Invalid(String),
}

impl fmt::Display for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::Shutdown => f.write_str("cannot submit: the executor is shut down"),
            SubmitError::Full => f.write_str("cannot submit: the task queue is full"),
            SubmitError::Broken(why) => write!(f, "cannot submit: the executor is broken: {why}"),
            SubmitError::Invalid(why) => write!(f, "cannot submit: {why}"),
        }
    }
}

impl std::error::Error for SubmitError {}

/// Why a [`TaskFuture`](crate::TaskFuture) gave no value.
///
/// Python raises `CancelledError`, `TimeoutError` or the task's exception from
/// `Future.result()`; here `result` returns them as this enum.
///
/// ```
/// use rustures::{FutureError};
/// use rustures::executor::Promise;
/// use std::time::Duration;
///
/// let (_promise, future) = Promise::<u32>::new();
/// assert_eq!(future.result_timeout(Duration::ZERO), Err(FutureError::Timeout));
/// assert!(future.cancel());
/// assert_eq!(future.result(), Err(FutureError::Cancelled));
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FutureError {
    /// The future was cancelled before its task started.
    Cancelled,
    /// The wait ran out of time before the future finished (the future itself goes on).
    Timeout,
    /// The task failed: it panicked, its worker died, its executor broke, ...
    Failed(TaskError),
    /// The value was already moved out by [`TaskFuture::take`](crate::TaskFuture::take) or an
    /// `.await` on another handle of the same future.
    Taken,
    /// [`TaskFuture::take`](crate::TaskFuture::take) (or an `.await`) found the value lent
    /// out by [`TaskFuture::result_ref`](crate::TaskFuture::result_ref): it stays in the
    /// future, where those references point, until the last handle is dropped.
    Lent,
    /// The executor refused the task (from a lazy `map` that submits as it goes).
    Rejected(SubmitError),
}

impl FutureError {
    /// The task error, when the task ran and failed.
    ///
    /// ```
    /// use rustures::{FutureError, TaskError, TaskErrorKind};
    /// let err = FutureError::Failed(TaskError::new(TaskErrorKind::Other, "x"));
    /// assert_eq!(err.task_error().map(|e| e.kind()), Some(TaskErrorKind::Other));
    /// assert_eq!(FutureError::Cancelled.task_error(), None);
    /// ```
    pub fn task_error(&self) -> Option<&TaskError> {
        match self {
            FutureError::Failed(err) => Some(err),
            _ => None,
        }
    }
}

impl fmt::Display for FutureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FutureError::Cancelled => f.write_str("the future was cancelled"),
            FutureError::Timeout => f.write_str("timed out waiting for the future"),
            FutureError::Failed(err) => err.fmt(f),
            FutureError::Taken => {
                f.write_str("the future's value was already taken through another handle")
            }
            FutureError::Lent => {
                f.write_str("the future's value was lent out by result_ref and cannot be moved out")
            }
            FutureError::Rejected(err) => err.fmt(f),
        }
    }
}

/// `Failed` and `Rejected` are transparent: their `Display` is the inner error's, and
/// their `source()` is the inner error's source, so an error report (anyhow, eyre) that
/// prints the chain prints the task's message once. The inner error itself is
/// [`task_error`](FutureError::task_error), or a `match`, away.
///
/// ```
/// use rustures::{FutureError, TaskError, TaskErrorKind};
/// use std::error::Error;
/// let err = FutureError::Failed(TaskError::new(TaskErrorKind::Panicked, "boom"));
/// assert_eq!(err.to_string(), "task panicked: boom");
/// assert!(err.source().is_none(), "the message is not repeated down the chain");
/// ```
impl std::error::Error for FutureError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FutureError::Failed(err) => err.source(),
            FutureError::Rejected(err) => err.source(),
            _ => None,
        }
    }
}

impl From<TaskError> for FutureError {
    fn from(err: TaskError) -> Self {
        FutureError::Failed(err)
    }
}

/// [`as_completed`](crate::as_completed) ran out of time with futures still unfinished.
///
/// ```
/// use rustures::WaitTimeout;
/// let t = WaitTimeout { unfinished: 3, total: 10 };
/// assert_eq!(t.to_string(), "3 (of 10) futures unfinished");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitTimeout {
    /// How many futures had not finished when the time ran out.
    pub unfinished: usize,
    /// How many distinct futures were given.
    pub total: usize,
}

impl fmt::Display for WaitTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (of {}) futures unfinished",
            self.unfinished, self.total
        )
    }
}

impl std::error::Error for WaitTimeout {}
