//! Keeping panics of user code out of the pool's own code paths.
//!
//! User code runs at the pool's edges: `Serialize` and `Deserialize` impls of arguments and
//! results (in the parent and in the workers), `Drop` impls, done callbacks. A panic there must
//! fail the one task it concerns, never unwind through the pool's machinery (the manager
//! thread, a worker's message loop) or a submitter's call.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use future_core::panic_message;

/// Runs `f`; a panic becomes `Err` with its message. The panic's payload is dropped here,
/// where a payload whose own `Drop` panics cannot escape either (it is leaked instead).
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let message = panic_message(&*payload);
        discard(payload);
        message
    })
}

/// Runs `f`, a piece of work whose panic only needs reporting (the task's own failure is
/// reported to its future elsewhere): a done callback, a value's `Drop`.
pub(crate) fn contain(what: &str, f: impl FnOnce()) {
    if let Err(message) = catch(f) {
        eprintln!("pool-process: {what} panicked: {message}");
    }
}

/// Drops a panic payload; if its `Drop` panics in turn, that second payload is leaked.
fn discard(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}
