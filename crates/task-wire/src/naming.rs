//! Naming a function across processes: offsets from an anchor, and typed trampolines.
//!
//! A task is a plain `fn(A) -> R`. A worker runs the same executable (started again by a
//! process pool, or by `mpirun` on another machine), so the function's machine code is in
//! the worker too, at the same place *relative to the rest of the binary*; only the base
//! address differs, because of ASLR. So the parent sends `f as usize - anchor as usize`, and
//! the worker adds its own anchor's address back.
//!
//! The worker's message loop does not know `A` and `R`, so each task also names a
//! trampoline (`runner::run_chunk::<A, R>`), monomorphized in the parent where the types
//! are known and named the same way. It decodes the `Vec<A>`, calls `f` on each element
//! (catching panics one by one), and encodes the `Vec<Result<R, TaskError>>`.
//!
//! # Why this is sound
//! Calling an integer as a function is sound only if it is the address of a function of
//! exactly that type. Here:
//! 1. A [`TaskName`] that a worker may run is only ever produced by [`name_task`] from a
//!    real `fn` item of the types used: `f: fn(A) -> R` from the user (the type system ties
//!    `A` and `R` of `f` to those of the trampoline, both taken in one generic call) and
//!    `run_chunk::<A, R>`. Anything else (a name forged or decoded from elsewhere) is
//!    excluded by the contract of the `unsafe fn`s that resolve names ([`run_task`](crate::run_task),
//!    [`resolve_initializer`]), which the pools uphold by sending names only to workers
//!    that passed the fingerprint check.
//! 2. The worker is the same binary, mapped as one image, so an offset from the anchor
//!    names the same code in both processes. The pools check this at the handshake with
//!    the build fingerprint ([`Fingerprint`](crate::Fingerprint): the GNU build-id of the
//!    executable, the code-layout probe, the crate and protocol versions); a worker that
//!    fails it never receives a task.
//! 3. The offset is only meaningful when `f`, the trampoline and the anchor all lie in the
//!    main executable, as every Rust function does unless the program loads Rust code from
//!    a shared library (a `dylib`, `-C prefer-dynamic`, a plugin opened with `dlopen`). The
//!    type system cannot tell, so [`name_task`] and [`name_initializer`] check each address
//!    against the main program's executable segments (`segments.rs`) and refuse, in the
//!    parent and before anything is sent, a function that lies anywhere else.

use future_core::Portable;
use serde::{Deserialize, Serialize};

use crate::runner::{self, Trampoline};
use crate::segments;

/// A task's function as a worker of the same binary finds it: the offsets of the user's
/// `fn(A) -> R` and of its trampoline from the anchor. Made by [`name_task`]; run by
/// [`run_task`](crate::run_task). It encodes as two integers.
///
/// ```
/// fn square(x: u64) -> u64 { x * x }
/// let name = task_wire::name_task(square).unwrap();
/// assert_eq!(name, task_wire::name_task(square).unwrap());
/// assert_ne!(name.func, name.trampoline);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TaskName {
    /// Offset of the trampoline (`run_chunk::<A, R>`) from the anchor.
    pub trampoline: isize,
    /// Offset of the user's `fn(A) -> R` from the anchor.
    pub func: isize,
}

/// The fixed point that offsets are measured from. Never called; only its address
/// matters, and `#[inline(never)]` plus the body keep it a distinct function.
#[inline(never)]
fn anchor() -> usize {
    std::hint::black_box(0x5eed)
}

fn anchor_address() -> usize {
    anchor as fn() -> usize as usize
}

/// The offset of the code at `address` from the anchor.
pub(crate) fn offset_of(address: usize) -> isize {
    address.wrapping_sub(anchor_address()) as isize
}

/// The address, in this process, of the code at `offset` from the anchor.
pub(crate) fn address_of(offset: isize) -> usize {
    anchor_address().wrapping_add(offset as usize)
}

/// Names `f` and its trampoline for a worker of the same binary; or says why they cannot be
/// named there (a function outside the main executable, from a shared library: the text
/// says where it lies).
///
/// ```
/// fn square(x: u64) -> u64 { x * x }
/// let name = task_wire::name_task(square).unwrap();
/// assert_ne!(name.func, name.trampoline);
/// ```
pub fn name_task<A: Portable, R: Portable>(f: fn(A) -> R) -> Result<TaskName, String> {
    let trampoline: Trampoline = runner::run_chunk::<A, R>;
    Ok(TaskName {
        trampoline: name(trampoline as usize)?,
        func: name(f as usize)?,
    })
}

/// The offset naming an initializer (a `fn()` each worker runs once), or why it cannot
/// be named (see [`name_task`]).
///
/// ```
/// fn setup() {}
/// let offset = task_wire::name_initializer(setup).unwrap();
/// // SAFETY: the offset comes from `name_initializer` in this very process.
/// let again = unsafe { task_wire::resolve_initializer(offset) };
/// again();
/// ```
pub fn name_initializer(f: fn()) -> Result<isize, String> {
    name(f as usize)
}

/// The offset of the code at `address`, after checking that it and the anchor lie in the
/// main executable (the only image a worker is sure to have at the same layout).
fn name(address: usize) -> Result<isize, String> {
    for code in [address, anchor_address()] {
        if !segments::in_main_executable(code) {
            return Err(segments::describe_foreign(code));
        }
    }
    Ok(offset_of(address))
}

/// Resolves a trampoline offset received from the parent.
///
/// # Safety
/// `offset` must be the `trampoline` of a [`TaskName`] made by [`name_task`] in a process
/// running the same binary (see the module docs).
pub(crate) unsafe fn resolve_trampoline(offset: isize) -> Trampoline {
    let address = address_of(offset) as *const ();
    // SAFETY: by this function's contract, `address` is where `name_task` found a
    // `run_chunk::<A, R>` coerced to `Trampoline` in the parent, and the same binary has the
    // same function at the same offset from the anchor here. Pointer and `fn` have the same
    // size and a function address is never null.
    unsafe { std::mem::transmute::<*const (), Trampoline>(address) }
}

/// Resolves an initializer offset received from the parent into the `fn()` to call.
///
/// # Safety
/// `offset` must come from [`name_initializer`] in a process running the same binary
/// (checked by the pools with the [`Fingerprint`](crate::Fingerprint) before they send
/// it): anything else is an arbitrary address called as a function.
pub unsafe fn resolve_initializer(offset: isize) -> fn() {
    let address = address_of(offset) as *const ();
    // SAFETY: by this function's contract, `address` is where a `fn()` item lies in this
    // binary (see `resolve_trampoline`).
    unsafe { std::mem::transmute::<*const (), fn()>(address) }
}

/// Runs the pool's initializer, named by `offset` (if it has one), as a worker does before
/// its first task: `Err` with the message of its panic, which is caught.
///
/// # Safety
/// As for [`resolve_initializer`]: `offset` must come from [`name_initializer`] in a process
/// running the same binary.
pub unsafe fn run_initializer(offset: Option<isize>) -> Result<(), String> {
    let Some(offset) = offset else {
        return Ok(());
    };
    // SAFETY: by this function's contract.
    let initializer = unsafe { resolve_initializer(offset) };
    crate::catch(initializer)
}
