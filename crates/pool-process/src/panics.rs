//! Keeping panics of user code out of the pool's own code paths.
//!
//! User code runs at the pool's edges: `Serialize` and `Deserialize` impls of arguments and
//! results (in the parent and in the workers), `Drop` impls, done callbacks. A panic there must
//! fail the one task it concerns, never unwind through the pool's machinery (the manager
//! thread, a worker's message loop) or a submitter's call.
//!
//! Every catch goes through `future_core`'s panic boundary, so the panic hook does not print
//! the panics caught here (their message travels in the task's error) unless the thread asked
//! for it with `future_core::executor::print_panics`: the workers and the pool's own threads
//! do when the pool was built with `print_task_panics(true)`.

pub(crate) use task_wire::catch;

/// [`task_wire::contain`], its reports signed by this crate: for a done callback, a value's
/// `Drop`, whose panic only needs reporting.
pub(crate) fn contain<R>(what: &str, f: impl FnOnce() -> R) -> Option<R> {
    task_wire::contain("pool-process", what, f)
}
