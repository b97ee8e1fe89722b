//! Naming a function across processes: offsets from an anchor, and typed trampolines.
//!
//! A task is a plain `fn(A) -> R`. A worker is the same executable started again, so the
//! function's machine code is in the worker too, at the same place *relative to the rest
//! of the binary*; only the base address differs, because of ASLR. So the parent sends
//! `f as usize - anchor as usize`, and the worker adds its own anchor's address back.
//!
//! The worker's message loop does not know `A` and `R`, so each task also names a
//! trampoline, [`run_chunk::<A, R>`], monomorphized in the parent where the types are
//! known and named the same way. It decodes the `Vec<A>`, calls `f` on each element
//! (catching panics one by one), and encodes the `Vec<Result<R, TaskError>>`.
//!
//! # Why this is sound
//! Calling an integer as a function is sound only if it is the address of a function of
//! exactly that type. Here:
//! 1. Both offsets are only ever produced by [`offset_of`] from a real `fn` item of the
//!    types used: `f: fn(A) -> R` from the user (the type system ties `A` and `R` of `f`
//!    to those of the trampoline, both taken in one generic call) and
//!    `run_chunk::<A, R> as Trampoline`. Nothing else builds a `TaskMsg`, and the message
//!    types are private to this crate.
//! 2. The worker is the same binary, mapped as one image, so an offset from the anchor
//!    names the same code in both processes. This is checked at the handshake by the build
//!    fingerprint (`fingerprint.rs`: same executable inode, size and mtime, same code
//!    layout probe, same crate version); a worker that fails it never receives a task.
//! 3. The offset is only meaningful when `f`, the trampoline and the anchor all lie in the
//!    main executable, as every Rust function does unless the program loads Rust code from
//!    a shared library (a `dylib`, `-C prefer-dynamic`, a plugin opened with `dlopen`). The
//!    type system cannot tell, so [`name_task`] and [`name_initializer`] check each address
//!    against the main program's executable segments (`segments.rs`) and refuse, in the
//!    parent and before anything is sent, a function that lies anywhere else.

use future_core::{ChunkResults, Portable, TaskError, TaskErrorKind};
use ipc_queue::Frame;

use crate::{codec, panics, segments};

/// The signature every trampoline has: the absolute address of the user's function, the
/// task's frame with the offset of its encoded arguments, and the reply to append the
/// encoded results to.
pub(crate) type Trampoline = fn(usize, Frame, usize, &mut Vec<u8>);

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

/// The offsets naming `f` and its trampoline, for a task message; or why they cannot name
/// them in a worker (a function outside the main executable).
pub(crate) fn name_task<A: Portable, R: Portable>(f: fn(A) -> R) -> Result<(isize, isize), String> {
    let trampoline: Trampoline = run_chunk::<A, R>;
    Ok((name(trampoline as usize)?, name(f as usize)?))
}

/// The offset naming an initializer, or why it cannot (see [`name_task`]).
pub(crate) fn name_initializer(f: fn()) -> Result<isize, String> {
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
/// `offset` must come from [`name_task`] in a process running the same binary (checked by
/// the fingerprint at the handshake, see the module docs).
pub(crate) unsafe fn resolve_trampoline(offset: isize) -> Trampoline {
    let address = address_of(offset) as *const ();
    // SAFETY: by this function's contract, `address` is where `name_task` found a
    // `run_chunk::<A, R>` coerced to `Trampoline` in the parent, and the same binary has the
    // same function at the same offset from the anchor here. Pointer and `fn` have the same
    // size and a function address is never null.
    unsafe { std::mem::transmute::<*const (), Trampoline>(address) }
}

/// Resolves an initializer offset received from the parent.
///
/// # Safety
/// `offset` must come from [`name_initializer`] in a process running the same binary.
pub(crate) unsafe fn resolve_initializer(offset: isize) -> fn() {
    let address = address_of(offset) as *const ();
    // SAFETY: by this function's contract, `address` is where a `fn()` item lies in this
    // binary (see `resolve_trampoline`).
    unsafe { std::mem::transmute::<*const (), fn()>(address) }
}

/// Runs `f` (at absolute address `func`) on each argument encoded in `frame` from `at` on,
/// and appends the encoded results to `reply`: the trampoline every task names. The frame is
/// dropped once the arguments are decoded, before `f` runs, so a large argument is not held
/// twice. A panic fails its own element only; arguments that do not decode (or whose
/// `Deserialize` panics) fail the chunk with one `Serialization` error; results that do not
/// encode (or whose `Serialize` panics) are replaced by `Serialization` errors. The results
/// are a [`ChunkResults`]: the values densely, and only the failed elements as errors.
fn run_chunk<A: Portable, R: Portable>(func: usize, frame: Frame, at: usize, reply: &mut Vec<u8>) {
    let pid = std::process::id();
    let decoded = codec::decode::<Vec<A>>(frame.get(at..).unwrap_or_default());
    drop(frame);
    let results: ChunkResults<R> = match decoded {
        Ok(args) => {
            // SAFETY: this trampoline is only ever named together with `f: fn(A) -> R` for
            // these very `A` and `R` (`name_task`), and `func` is `f`'s address in this
            // process (same binary, checked by the fingerprint: see the module docs).
            let f = unsafe { std::mem::transmute::<*const (), fn(A) -> R>(func as *const ()) };
            ChunkResults::run(args, f).map_errors(|err| {
                TaskError::new(
                    err.kind(),
                    format!("{} (in worker process {pid})", err.message()),
                )
            })
        }
        Err(err) => ChunkResults::failed(
            1,
            TaskError::new(
                TaskErrorKind::Serialization,
                format!("the worker {pid} could not decode the task's arguments: {err}"),
            ),
        ),
    };
    // When the results do not encode (a `Serialize` impl failed or panicked), a
    // `Serialization` error for each element instead, which always encodes.
    if let Err(err) = codec::encode_into(reply, &results) {
        let err = TaskError::new(
            TaskErrorKind::Serialization,
            format!("the worker {pid} could not encode the task's result: {err}"),
        );
        reply.extend(error_payload(results.len(), err));
    }
    panics::contain("dropping a task's results", move || drop(results));
}

/// Encodes a `Serialization` error for every element of a chunk of `len` elements, as the
/// reply payload of a task whose result could not be sent (too large a frame).
pub(crate) fn error_payload(len_hint: usize, err: TaskError) -> Vec<u8> {
    // A `ChunkResults` without values encodes the same for every `R` (an empty sequence of
    // values, then the failures), so the parent decodes this as a chunk of any type.
    postcard::to_stdvec(&ChunkResults::<()>::failed(len_hint.max(1), err)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(x: u32) -> u32 {
        x * 2
    }

    #[test]
    fn offsets_round_trip_in_one_process() {
        let (trampoline, func) = name_task(double as fn(u32) -> u32).unwrap();
        // SAFETY: produced by `name_task` in this very process.
        let run = unsafe { resolve_trampoline(trampoline) };
        let frame = Frame::from(postcard::to_stdvec(&vec![1u32, 2, 3]).unwrap());
        let mut out = Vec::new();
        run(address_of(func), frame, 0, &mut out);
        let results: ChunkResults<u32> = postcard::from_bytes(&out).unwrap();
        assert_eq!(results.into_results(), vec![Ok(2), Ok(4), Ok(6)]);
    }

    #[test]
    fn error_payload_decodes_as_any_result_type() {
        let err = TaskError::new(TaskErrorKind::Serialization, "too big");
        let bytes = error_payload(2, err.clone());
        let back: ChunkResults<String> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.into_results(), vec![Err(err.clone()), Err(err)]);
    }
}
