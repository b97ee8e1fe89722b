//! Panic boundaries: the only way user code (a task, a closure's drop, a callback, a waker,
//! a value's drop) is called from this crate's machinery, and from the pools' (rayon's
//! `halt_unwinding` and `AbortIfPanic`).
//!
//! A caught panic's payload is itself user code: its `Drop` may panic again. So a payload
//! is dropped inside a second boundary, and a payload thrown by that drop is leaked, never
//! dropped: no panic can get past a boundary, however many times it is thrown.

use std::any::Any;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use crate::error::TaskError;

std::thread_local! {
    /// How many panic boundaries of this crate the thread is inside: a panic there is
    /// caught and becomes a value, so the panic hook does not print it (unless asked).
    static CATCHING: Cell<u32> = const { Cell::new(0) };
    /// Whether this thread prints the panics it catches anyway (see [`print_panics`]).
    static PRINT: Cell<bool> = const { Cell::new(false) };
}

/// Makes the process's panic hook skip the panics that this crate's boundaries catch (a
/// task's panic travels in its future's error, as Python prints nothing for a task's
/// exception); every other panic goes to the hook that was there before, as before.
/// Installed once, by the first boundary entered while the thread is not unwinding: std
/// panics if the hook is changed from a panicking thread, and a boundary entered from a
/// `Drop` during unwinding (see [`drop_each`]) would turn that into an abort. Until it is
/// installed, the caught panics are printed, nothing worse.
fn quiet_caught_panics() {
    static INSTALL: Once = Once::new();
    if std::thread::panicking() {
        return;
    }
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let caught = CATCHING.with(Cell::get) > 0 && !PRINT.with(Cell::get);
            if !caught {
                previous(info);
            }
        }));
    });
}

/// Whether the panics caught by this crate's boundaries on the calling thread are printed
/// by the panic hook too (default: no, the message travels in the task's error). A pool
/// sets it on its worker threads from its `print_task_panics` setting.
///
/// ```
/// rustures::executor::print_panics(true); // this thread prints caught panics again
/// let err = rustures::executor::catch_panic(|| -> u8 { panic!("shown") }).unwrap_err();
/// assert_eq!(err.message(), "shown");
/// rustures::executor::print_panics(false);
/// ```
pub fn print_panics(print: bool) {
    PRINT.with(|cell| cell.set(print));
}

/// Counts the thread inside a boundary until dropped (also when `f` unwinds).
struct Catching;

impl Catching {
    fn enter() -> Catching {
        CATCHING.with(|depth| depth.set(depth.get() + 1));
        Catching
    }
}

impl Drop for Catching {
    fn drop(&mut self) {
        CATCHING.with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

/// Runs `f`, catching a panic: `Err` holds its payload. The caller must get rid of the
/// payload with [`drop_payload`] (or hand it on), never with a plain drop.
pub(crate) fn halt_unwinding<R>(f: impl FnOnce() -> R) -> Result<R, Box<dyn Any + Send>> {
    quiet_caught_panics();
    let _catching = Catching::enter();
    catch_unwind(AssertUnwindSafe(f))
}

/// Drops a panic payload without letting a panic out of its `Drop`: a payload thrown by
/// that drop is leaked.
pub(crate) fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

/// Runs `f` and ignores a panic (its payload is dropped with [`drop_payload`]): for user
/// code whose failure has nowhere to go (a cancelled task's closure dropped unrun, a
/// waker). The panic hook has already reported it.
pub(crate) fn contain(f: impl FnOnce()) {
    if let Err(payload) = halt_unwinding(f) {
        drop_payload(payload);
    }
}

/// Drops `value` inside a boundary (see [`contain`]).
///
/// One value only: a collection of user values (a `Vec<T>`, a `Drain`, a struct that holds
/// one) goes on dropping its other elements while the first `Drop` panic unwinds, and a
/// second panic there aborts the process before this boundary can catch anything. Drop
/// those with [`drop_each`].
pub(crate) fn drop_contained<T>(value: T) {
    contain(move || drop(value));
}

/// Drops each of `items` inside a panic boundary of its own: the user values that pool
/// machinery drops as a collection (the rest of a chunk that will not be mapped, the
/// results nobody will read). A panic of one `Drop` is contained (its payload dropped
/// inside a second boundary) and the next element is dropped all the same.
///
/// One at a time because a `Vec`'s (or a `Drain`'s) own drop goes on dropping the other
/// elements while the first panic unwinds, and a second panic there aborts the process;
/// so a collection must never be dropped whole inside one boundary. Called while the
/// thread unwinds (from a guard's `Drop`), it is just as safe: each panic is caught before
/// it leaves its element's boundary. Elements without drop glue are dropped without a
/// boundary (nothing of theirs can panic).
///
/// ```
/// struct Loud;
/// impl Drop for Loud {
///     fn drop(&mut self) { panic!("dropped") }
/// }
/// rustures::executor::drop_each(vec![Loud, Loud, Loud]); // no abort, no panic
/// ```
pub fn drop_each<A>(items: impl IntoIterator<Item = A>) {
    let items = items.into_iter();
    if !std::mem::needs_drop::<A>() {
        // Nothing runs per element: only the iterator's own drop (a `Vec`'s buffer).
        items.for_each(drop);
        return;
    }
    for item in items {
        drop_contained(item);
    }
}

/// Runs `task`, turning a panic into a [`TaskErrorKind::Panicked`] error with its message.
/// No panic gets out: the payload is dropped inside a boundary too.
///
/// [`TaskErrorKind::Panicked`]: crate::TaskErrorKind::Panicked
///
/// ```
/// let err = rustures::executor::catch_panic(|| -> u8 { panic!("nope") }).unwrap_err();
/// assert_eq!(err.message(), "nope");
/// assert_eq!(rustures::executor::catch_panic(|| 1), Ok(1));
/// ```
pub fn catch_panic<R>(task: impl FnOnce() -> R) -> Result<R, TaskError> {
    halt_unwinding(task).map_err(|payload| {
        let error = TaskError::from_panic(&*payload);
        drop_payload(payload);
        error
    })
}

/// Aborts the process if dropped while its thread unwinds: placed where an unwinding would
/// break a safety argument that has no other way out (rayon's `AbortIfPanic`).
/// [`disarm`](Self::disarm) it once the critical section is over.
///
/// ```
/// let guard = rustures::executor::AbortIfPanic::new("a critical section");
/// // ... code that must not unwind ...
/// guard.disarm();
/// ```
#[derive(Debug)]
pub struct AbortIfPanic {
    what: &'static str,
}

impl AbortIfPanic {
    /// A guard for the critical section `what` (named in the message before the abort).
    pub fn new(what: &'static str) -> Self {
        AbortIfPanic { what }
    }

    /// Ends the critical section without aborting.
    pub fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for AbortIfPanic {
    fn drop(&mut self) {
        eprintln!(
            "future-core: a panic unwound through {}; aborting (continuing would be unsound)",
            self.what
        );
        std::process::abort();
    }
}
