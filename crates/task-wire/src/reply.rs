//! The parent's side of a reply: the encoded `ChunkResults<R>` a worker's
//! [`run_task`](crate::run_task) appended, decoded for the task's future.

use future_core::executor::ChunkResults;
use future_core::{Portable, TaskError, TaskErrorKind};

use crate::codec;

/// Decodes a reply payload of `len` elements. A payload of one error for a chunk of
/// several (the worker could not decode the arguments, or the pool could not send the
/// result: see [`error_payload`]) is that error for each element; anything else malformed
/// is a `Serialization` error.
///
/// ```
/// use future_core::{TaskError, TaskErrorKind};
/// let err = TaskError::new(TaskErrorKind::Serialization, "too big");
/// let payload = task_wire::error_payload(1, err.clone());
/// assert_eq!(task_wire::decode_results::<u8>(&payload, 3).unwrap_err(), err);
/// ```
pub fn decode_results<R: Portable>(
    payload: &[u8],
    len: usize,
) -> Result<ChunkResults<R>, TaskError> {
    match codec::decode::<ChunkResults<R>>(payload) {
        Ok(results) if results.len() == len => Ok(results),
        Ok(results) if results.len() == 1 => match results.into_results().pop() {
            Some(Err(err)) => Err(err),
            _ => Err(mismatch(len)),
        },
        Ok(_) => Err(mismatch(len)),
        Err(err) => Err(undecodable(err)),
    }
}

/// Decodes the reply payload of a single task (a `submit`): its one result.
///
/// ```
/// use future_core::{TaskError, TaskErrorKind};
/// let err = TaskError::new(TaskErrorKind::Panicked, "boom");
/// let payload = task_wire::error_payload(1, err.clone());
/// assert_eq!(task_wire::decode_single::<u8>(&payload), Err(err));
/// ```
pub fn decode_single<R: Portable>(payload: &[u8]) -> Result<R, TaskError> {
    decode_results::<R>(payload, 1).and_then(|results| {
        results
            .into_results()
            .pop()
            .unwrap_or_else(|| Err(mismatch(1)))
    })
}

/// Encodes `err` for every element of a chunk of `len_hint` elements (at least one), as the
/// reply payload of a task whose result could not be sent (too large a frame, say). A
/// `ChunkResults` without values encodes the same for every `R` (no values: a length of
/// zero, whether as a sequence or as a block of plain numbers; then the failures), so the
/// parent decodes this as a chunk of any type.
///
/// ```
/// use future_core::{TaskError, TaskErrorKind};
/// let err = TaskError::new(TaskErrorKind::Serialization, "too big");
/// let payload = task_wire::error_payload(2, err.clone());
/// let back = task_wire::decode_results::<String>(&payload, 2).unwrap();
/// assert_eq!(back.into_results(), vec![Err(err.clone()), Err(err.clone())]);
/// let back = task_wire::decode_results::<u64>(&payload, 2).unwrap(); // a block of numbers
/// assert_eq!(back.into_results(), vec![Err(err.clone()), Err(err)]);
/// ```
pub fn error_payload(len_hint: usize, err: TaskError) -> Vec<u8> {
    postcard::to_stdvec(&ChunkResults::<()>::failed(len_hint.max(1), err)).unwrap_or_default()
}

fn mismatch(len: usize) -> TaskError {
    TaskError::new(
        TaskErrorKind::Serialization,
        format!("the worker's reply does not hold {len} results"),
    )
}

fn undecodable(why: String) -> TaskError {
    TaskError::new(
        TaskErrorKind::Serialization,
        format!("the task's result could not be decoded in the parent: {why}"),
    )
}
