//! The worker's side of a task: the trampoline every task names ([`run_chunk`]), and
//! [`run_task`], which resolves a [`TaskName`] and runs it with every panic contained.

use std::sync::OnceLock;

use future_core::executor::{ChunkInput, ChunkResults};
use future_core::{Portable, TaskError, TaskErrorKind};
use ipc_queue::Frame;

use crate::naming::{self, TaskName};
use crate::reply::error_payload;
use crate::{codec, panics};

/// The signature every trampoline has: the absolute address of the user's function, the
/// task's frame with the offset of its encoded arguments, and the reply to append the
/// encoded results to.
pub(crate) type Trampoline = fn(usize, Frame, usize, &mut Vec<u8>);

/// How this process names itself in task errors (see [`set_worker_label`]).
static LABEL: OnceLock<String> = OnceLock::new();

/// Sets how this worker names itself in the errors of its tasks ("worker process 1234" by
/// default; an MPI worker says its rank and host). Only the first setting, made before any
/// task runs, counts.
///
/// ```
/// task_wire::set_worker_label("MPI rank 2 (process 77 on node-a)".to_owned());
/// assert_eq!(task_wire::worker_label(), "MPI rank 2 (process 77 on node-a)");
/// ```
pub fn set_worker_label(label: String) {
    let _ = LABEL.set(label);
}

/// How this worker names itself in its tasks' errors (see [`set_worker_label`]).
///
/// ```
/// assert_eq!(task_wire::worker_label(), format!("worker process {}", std::process::id()));
/// ```
pub fn worker_label() -> &'static str {
    LABEL.get_or_init(|| format!("worker process {}", std::process::id()))
}

/// Runs the task `name` on the arguments encoded in `frame` from `at` on, and appends its
/// encoded results (a `ChunkResults<R>`, which [`decode_results`](crate::decode_results)
/// reads) to `reply`. Never panics: a panic of the task, or of its values' `Serialize` and
/// `Deserialize`, fails its element (or the chunk) with an error that names this worker
/// ([`worker_label`]). The frame is dropped once the arguments are decoded, before the
/// function runs, so a large argument is not held twice.
///
/// # Safety
/// `name` must come from [`name_task`](crate::name_task) in a process running the same
/// binary as this one: a pool sends names only to a worker whose
/// [`Fingerprint`](crate::Fingerprint) matched its own. Any other value makes this call
/// an arbitrary address as a function.
///
/// ```
/// fn shout(s: String) -> String { s.to_uppercase() }
/// let name = task_wire::name_task(shout).unwrap();
/// let frame = ipc_queue::Frame::from(task_wire::encode(&vec!["hi".to_owned()]).unwrap());
/// let mut reply = b"header".to_vec();
/// // SAFETY: `name` comes from `name_task` in this very process.
/// unsafe { task_wire::run_task(name, frame, 0, &mut reply) };
/// let result = task_wire::decode_single::<String>(&reply[6..]);
/// assert_eq!(result, Ok("HI".to_owned()));
/// ```
pub unsafe fn run_task(name: TaskName, frame: Frame, at: usize, reply: &mut Vec<u8>) {
    // SAFETY: by this function's contract, `name` comes from `name_task` in this binary, so
    // its trampoline offset names a `Trampoline` here.
    let trampoline = unsafe { naming::resolve_trampoline(name.trampoline) };
    let results_at = reply.len();
    // The trampoline catches the panics of the task and of its values' impls; this catch is
    // the last line of defence of the worker's message loop.
    let ran = panics::catch(|| trampoline(naming::address_of(name.func), frame, at, reply));
    if let Err(panic) = ran {
        let err = TaskError::new(
            TaskErrorKind::Panicked,
            format!("{panic} (in {})", worker_label()),
        );
        reply.truncate(results_at);
        reply.extend(error_payload(1, err));
    }
}

/// Runs `f` (at absolute address `func`) on each argument encoded in `frame` from `at` on,
/// and appends the encoded results to `reply`: the trampoline every task names. The frame is
/// dropped once the arguments are decoded, before `f` runs, so a large argument is not held
/// twice. A panic fails its own element only; arguments that do not decode (or whose
/// `Deserialize` panics) fail the chunk with one `Serialization` error; results that do not
/// encode (or whose `Serialize` panics) are replaced by `Serialization` errors. The results
/// are a [`ChunkResults`]: the values densely, and only the failed elements as errors.
/// Once encoded, the results are dropped, each value in a panic boundary of its own: a
/// panic of a result's `Drop` is contained.
pub(crate) fn run_chunk<A: Portable, R: Portable>(
    func: usize,
    frame: Frame,
    at: usize,
    reply: &mut Vec<u8>,
) {
    // Decoded into a `ChunkInput`: arguments that fail part way drop the ones decoded
    // before one by one (a `Vec` would abort at the second whose `Drop` panics).
    let decoded = codec::decode::<ChunkInput<A>>(frame.get(at..).unwrap_or_default());
    drop(frame);
    let results: ChunkResults<R> = match decoded {
        Ok(args) => {
            let args = args.into_vec();
            // SAFETY: this trampoline is only ever named together with `f: fn(A) -> R` for
            // these very `A` and `R` (`name_task`), and `func` is `f`'s address in this
            // process (same binary, checked by the fingerprint: see `naming`).
            let f = unsafe { std::mem::transmute::<*const (), fn(A) -> R>(func as *const ()) };
            ChunkResults::run(args, f).map_errors(|err| {
                TaskError::new(
                    err.kind(),
                    format!("{} (in {})", err.message(), worker_label()),
                )
            })
        }
        Err(err) => ChunkResults::failed(
            1,
            TaskError::new(
                TaskErrorKind::Serialization,
                format!(
                    "the {} could not decode the task's arguments: {err}",
                    worker_label()
                ),
            ),
        ),
    };
    // When the results do not encode (a `Serialize` impl failed or panicked), a
    // `Serialization` error for each element instead, which always encodes.
    if let Err(err) = codec::encode_into(reply, &results) {
        let err = TaskError::new(
            TaskErrorKind::Serialization,
            format!(
                "the {} could not encode the task's result: {err}",
                worker_label()
            ),
        );
        reply.extend(error_payload(results.len(), err));
    }
    // A chunk's results drop their values one by one, each in a panic boundary of its
    // own (`ChunkResults`'s `Drop`): a value whose `Drop` panics is contained there, and
    // two of them cannot abort the worker (as dropping them as one `Vec` inside one
    // boundary did).
    drop(results);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::name_task;
    use future_core::executor::Elements;

    fn double(x: u32) -> u32 {
        x * 2
    }

    fn boom(x: u32) -> u32 {
        if x == 2 {
            panic!("two")
        }
        x
    }

    fn run(name: TaskName, args: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        // SAFETY: every name here comes from `name_task` in this very process.
        unsafe { run_task(name, Frame::from(args.to_vec()), 0, &mut out) };
        out
    }

    #[test]
    fn offsets_round_trip_in_one_process() {
        let name = name_task(double as fn(u32) -> u32).unwrap();
        let out = run(name, &crate::encode(&Elements(&[1u32, 2, 3])).unwrap());
        let results: ChunkResults<u32> = postcard::from_bytes(&out).unwrap();
        assert_eq!(results.into_results(), vec![Ok(2), Ok(4), Ok(6)]);
    }

    #[test]
    fn a_panic_fails_its_element_and_names_the_worker() {
        let name = name_task(boom as fn(u32) -> u32).unwrap();
        let out = run(name, &crate::encode(&Elements(&[1u32, 2, 3])).unwrap());
        let results = crate::decode_results::<u32>(&out, 3)
            .unwrap()
            .into_results();
        assert_eq!(results[0], Ok(1));
        let err = results[1].clone().unwrap_err();
        assert_eq!(err.kind(), TaskErrorKind::Panicked);
        assert!(err.message().contains(worker_label()), "{err}");
    }

    #[test]
    fn undecodable_arguments_fail_the_chunk() {
        let name = name_task(double as fn(u32) -> u32).unwrap();
        let out = run(name, &[0xff, 0xff]);
        let err = crate::decode_results::<u32>(&out, 4).unwrap_err();
        assert_eq!(err.kind(), TaskErrorKind::Serialization);
        assert!(err.message().contains("could not decode"), "{err}");
    }
}
