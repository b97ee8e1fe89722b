//! Keeping panics of user code out of the pools' own code paths.
//!
//! User code runs at a pool's edges: `Serialize` and `Deserialize` impls of arguments and
//! results (in the parent and in the workers), `Drop` impls, done callbacks. A panic there
//! must fail the one task it concerns, never unwind through a pool's machinery (a manager
//! thread, a worker's message loop) or a submitter's call.
//!
//! Every catch goes through `future_core`'s panic boundary, so the panic hook does not print
//! the panics caught here (their message travels in the task's error) unless the thread
//! asked for it with `future_core::executor::print_panics`.

use future_core::executor::catch_panic;

/// Runs `f`; a panic becomes `Err` with its message. The panic's payload is dropped inside
/// the boundary, where a payload whose own `Drop` panics cannot escape either.
///
/// ```
/// assert_eq!(task_wire::catch(|| 1), Ok(1));
/// assert_eq!(task_wire::catch(|| -> u8 { panic!("no") }), Err("no".to_owned()));
/// ```
pub fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    catch_panic(f).map_err(|err| err.message().to_owned())
}

/// Runs `f`, a piece of work whose panic only needs reporting (the task's own failure is
/// reported elsewhere): a done callback, a value's `Drop`. A panic is printed to stderr as
/// "`who`: `what` panicked: ..."; the result is `None` then.
///
/// ```
/// assert_eq!(task_wire::contain("my-pool", "adding", || 1 + 1), Some(2));
/// assert_eq!(task_wire::contain("my-pool", "dropping a value", || panic!("no")), None::<()>);
/// ```
pub fn contain<R>(who: &str, what: &str, f: impl FnOnce() -> R) -> Option<R> {
    catch(f)
        .inspect_err(|message| eprintln!("{who}: {what} panicked: {message}"))
        .ok()
}
