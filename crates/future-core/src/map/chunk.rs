//! [`ChunkResults`]: the results of one chunk of a `map`, dense, and the cursor that
//! [`Map`](crate::Map) reads them with.
//!
//! A chunk usually succeeds whole, so its results are stored as a plain `Vec<R>` of the
//! values plus a (usually empty) list of the elements that failed, by position: the
//! consumer then moves values out without a `Result` per element, and
//! [`Map::collect_values`](crate::Map::collect_values) appends whole chunks at once.
//!
//! A chunk's input ([`ChunkInput`]), its results and the cursor over them hold user values
//! that may be dropped unused (a cancelled chunk, results nobody reads): each of them
//! drops its elements one by one with [`drop_each`], never as one `Vec` (whose drop, at a
//! second `Drop` panic, would abort the process).

use std::mem::MaybeUninit;

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{FutureError, TaskError, TaskErrorKind};
use crate::map::elements::{deserialize_elements, serialize_elements};
use crate::unwind::{catch_panic, drop_each};

/// One chunk of a map's input on its way to the task that maps it: a `Vec` that, dropped
/// unmapped (the task was cancelled or refused, or the input panicked while the chunk was
/// pulled), drops each element in a panic boundary of its own ([`drop_each`]). Dropped as
/// a plain `Vec` inside one boundary, two elements whose `Drop` panics would abort the
/// process. An executor moves it into the chunk's task and takes the `Vec` back there
/// with [`into_vec`](Self::into_vec).
///
/// ```
/// use rustures::executor::{ChunkInput, ChunkResults};
///
/// struct Loud;
/// impl Drop for Loud {
///     fn drop(&mut self) { panic!("dropped") }
/// }
/// let task = |chunk: ChunkInput<u32>| ChunkResults::run(chunk.into_vec(), |x| x + 1);
/// assert_eq!(task(ChunkInput::new(vec![1, 2])).len(), 2);
/// drop(ChunkInput::new(vec![Loud, Loud])); // cancelled: no abort, no panic
/// ```
#[derive(Debug)]
pub struct ChunkInput<A> {
    items: Vec<A>,
}

impl<A> ChunkInput<A> {
    /// Holds `items` until [`into_vec`](Self::into_vec), or drops them one by one.
    pub fn new(items: Vec<A>) -> Self {
        ChunkInput { items }
    }

    /// Appends the items of `items`, one at a time: if `items` panics, the ones taken
    /// before stay here, to be dropped one by one.
    pub(crate) fn extend(&mut self, items: impl Iterator<Item = A>) {
        self.items.extend(items);
    }

    /// Appends one element.
    pub(crate) fn push(&mut self, item: A) {
        self.items.push(item);
    }

    /// The elements, to map (their drop is the caller's again).
    pub fn into_vec(mut self) -> Vec<A> {
        std::mem::take(&mut self.items)
    }
}

impl<A> Drop for ChunkInput<A> {
    fn drop(&mut self) {
        drop_each(std::mem::take(&mut self.items));
    }
}

/// Reads what [`Elements`](crate::executor::Elements) wrote: a block of bytes for a plain
/// number type, else a sequence, read element by element. If an element does not decode
/// (or its `Deserialize` panics), the ones decoded before it are dropped one by one. serde's
/// own `Vec` drops them as one `Vec`, which aborts the process at the second whose `Drop`
/// panics. A process worker decodes a chunk's arguments this way, and a chunk's results are
/// decoded the same way.
///
/// ```
/// use rustures::executor::ChunkInput;
/// use serde::Deserialize;
/// use serde::de::value::{Error, SeqDeserializer};
///
/// let elements = SeqDeserializer::<_, Error>::new([1u8, 2, 3].into_iter());
/// let chunk = ChunkInput::<u8>::deserialize(elements).unwrap();
/// assert_eq!(chunk.into_vec(), vec![1, 2, 3]);
/// ```
impl<'de, A: Deserialize<'de> + 'static> Deserialize<'de> for ChunkInput<A> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_elements(deserializer)
    }
}

/// The results of one chunk of a map, in element order: the values of the elements that
/// succeeded, and the errors of those that failed, by position in the chunk. Dropped, it
/// drops its values one by one, each in a panic boundary of its own ([`drop_each`]): the
/// panic of a value's `Drop` is contained (a chunk cancelled after it ran, a worker
/// dropping results it has sent).
///
/// Executors build it with [`ChunkResults::run`] on the worker; it is serializable, so a
/// process pool sends it back as one message.
///
/// ```
/// use rustures::executor::ChunkResults;
///
/// let chunk = ChunkResults::run(vec![1, 2, 0, 4], |x: u32| 12 / x);
/// assert_eq!(chunk.len(), 4);
/// let results = chunk.into_results();
/// assert_eq!(results[0], Ok(12));
/// assert!(results[2].as_ref().unwrap_err().message().contains("divide by zero"));
/// assert_eq!(results[3], Ok(3));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "DecodedResults<R>")]
#[serde(bound(
    serialize = "R: Serialize + 'static",
    deserialize = "R: Deserialize<'de> + 'static"
))]
pub struct ChunkResults<R> {
    /// Encoded as [`Elements`](crate::executor::Elements): one block for plain numbers.
    #[serde(serialize_with = "serialize_elements")]
    pub(crate) values: Vec<R>,
    /// `(position in the chunk, error)`, ascending by position.
    pub(crate) failures: Vec<(usize, TaskError)>,
}

/// [`ChunkResults`] as it is decoded (the same fields, so the same encoding): the values
/// go into a [`ChunkInput`], so a reply that does not decode drops the values decoded so
/// far one by one, even when the failures after them are what does not decode.
#[derive(Deserialize)]
#[serde(bound(deserialize = "R: Deserialize<'de> + 'static"))]
struct DecodedResults<R> {
    values: ChunkInput<R>,
    failures: Vec<(usize, TaskError)>,
}

impl<R> From<DecodedResults<R>> for ChunkResults<R> {
    fn from(decoded: DecodedResults<R>) -> Self {
        ChunkResults {
            values: decoded.values.into_vec(),
            failures: decoded.failures,
        }
    }
}

impl<R> ChunkResults<R> {
    /// Applies `f` to each item in order, catching a panic as that element's
    /// [`TaskErrorKind::Panicked`] error (the others still run). One `catch_unwind`
    /// covers the whole run of elements up to a panic, so the usual all-success chunk pays
    /// for one. The items not mapped yet stay here while a panic of `f` unwinds (see
    /// [`fill_slots`]): an item whose `Drop` panics cannot turn that panic into an abort.
    pub fn run<A>(items: Vec<A>, mut f: impl FnMut(A) -> R) -> Self {
        let mut values = Vec::with_capacity(items.len());
        let mut failures = Vec::new();
        let mut items = items.into_iter();
        loop {
            // There is room for every element left: the panicking ones take none.
            let start = values.len();
            let (written, run) = fill_slots(values.spare_capacity_mut(), &mut items, &mut f);
            // SAFETY: `fill_slots` initialized the first `written` slots after `start`.
            unsafe { values.set_len(start + written) };
            match run {
                Ok(()) => break,
                // The panicking element was taken from `items` and wrote nothing.
                Err(err) => failures.push((values.len() + failures.len(), err)),
            }
        }
        ChunkResults { values, failures }
    }

    /// A chunk of `len` elements that all failed with `error` (its input could not be
    /// decoded, say).
    ///
    /// ```
    /// use rustures::{TaskError, TaskErrorKind};
    /// use rustures::executor::ChunkResults;
    /// let err = TaskError::new(TaskErrorKind::Serialization, "bad input");
    /// let chunk = ChunkResults::<u8>::failed(3, err.clone());
    /// assert_eq!(chunk.into_results(), vec![Err(err.clone()), Err(err.clone()), Err(err)]);
    /// ```
    pub fn failed(len: usize, error: TaskError) -> Self {
        ChunkResults {
            values: Vec::new(),
            failures: (0..len).map(|i| (i, error.clone())).collect(),
        }
    }

    /// How many elements the chunk had.
    pub fn len(&self) -> usize {
        self.values.len() + self.failures.len()
    }

    /// True for a chunk of no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rewrites each failure's error (a process pool adds the worker's pid, say).
    ///
    /// ```
    /// use rustures::{TaskError};
    /// use rustures::executor::ChunkResults;
    /// let chunk = ChunkResults::run(vec![0u8], |_| -> u8 { panic!("no") })
    ///     .map_errors(|e| TaskError::new(e.kind(), format!("{} (in worker 7)", e.message())));
    /// assert_eq!(chunk.into_results()[0].as_ref().unwrap_err().message(), "no (in worker 7)");
    /// ```
    pub fn map_errors(mut self, mut f: impl FnMut(TaskError) -> TaskError) -> Self {
        self.failures = std::mem::take(&mut self.failures)
            .into_iter()
            .map(|(position, err)| (position, f(err)))
            .collect();
        self
    }

    /// Each element's result, in order.
    pub fn into_results(mut self) -> Vec<Result<R, TaskError>> {
        let mut results = Vec::with_capacity(self.len());
        let mut values = std::mem::take(&mut self.values).into_iter();
        let mut failures = std::mem::take(&mut self.failures).into_iter().peekable();
        loop {
            let position = results.len();
            let result = match failures.next_if(|(p, _)| *p == position) {
                Some((_, err)) => Err(err),
                None => match values.next() {
                    Some(value) => Ok(value),
                    // Only failures are left: none, normally; a corrupt reply's misplaced
                    // ones come out last, so every element still gets a result.
                    None => match failures.next() {
                        Some((_, err)) => Err(err),
                        None => return results,
                    },
                },
            };
            results.push(result);
        }
    }
}

impl<R> Drop for ChunkResults<R> {
    fn drop(&mut self) {
        drop_each(std::mem::take(&mut self.values));
    }
}

/// Writes `f(item)` into `slots`, in order, until the items or the slots run out or `f`
/// panics; returns how many slots it initialized (counted one by one, so a panic at any
/// element leaves exactly the ones before it written) and the panic as an error. The
/// initialized slots are the caller's to use or drop. The one loop behind
/// [`ChunkResults::run`] and a pool's in-place maps.
///
/// `items` is taken by reference: the items it did not take stay there, for the caller
/// to map on or to drop with [`drop_each`]. Dropping them inside the panic boundary, while
/// `f`'s panic unwinds, would abort the process at the first one whose `Drop` panics.
///
/// ```
/// use std::mem::MaybeUninit;
/// let mut slots = [const { MaybeUninit::<u32>::uninit() }; 4];
/// let mut items = [1u32, 2, 0, 4].into_iter();
/// let (written, run) = rustures::executor::fill_slots(&mut slots, &mut items, |x| 12 / x);
/// assert_eq!(written, 2);
/// assert!(run.is_err());
/// assert_eq!(items.next(), Some(4)); // the rest of the input, not taken
/// // SAFETY: the first two slots were written.
/// assert_eq!(unsafe { slots[1].assume_init() }, 6);
/// ```
pub fn fill_slots<A, R>(
    slots: &mut [MaybeUninit<R>],
    items: &mut impl Iterator<Item = A>,
    mut f: impl FnMut(A) -> R,
) -> (usize, Result<(), TaskError>) {
    let mut written = 0;
    let run = catch_panic(|| fill(slots, items, &mut f, &mut written));
    (written, run)
}

/// The loop of [`fill_slots`], a function of its own: its `&mut` parameters tell the
/// compiler that the slots, the iterator and the count do not overlap, so the iterator's
/// position stays in a register (reached through the closure's captures, it was stored to
/// memory at every element, and a slice's copy was not vectorized: three times slower for
/// small elements, unless the whole closure happened to be inlined).
#[inline]
fn fill<A, R>(
    slots: &mut [MaybeUninit<R>],
    items: &mut impl Iterator<Item = A>,
    f: &mut impl FnMut(A) -> R,
    written: &mut usize,
) {
    // The count lives in a local (a register in the loop) and is written out when it is
    // dropped, at the end or while a panic unwinds: counting through `written` itself
    // stored to memory at every element, twice as slow for small ones.
    let mut count = Count {
        count: 0,
        out: written,
    };
    // `zip` asks the slots first: no item is pulled once they are full. A panic of `f`
    // unwinds through the borrow only: the items left are not dropped on the way.
    for (slot, item) in slots.iter_mut().zip(items) {
        slot.write(f(item));
        count.count += 1;
    }
}

/// Writes the elements counted so far to `out` when dropped.
struct Count<'a> {
    count: usize,
    out: &'a mut usize,
}

impl Drop for Count<'_> {
    fn drop(&mut self) {
        *self.out = self.count;
    }
}

/// Gathers per-element results (an executor that ships them another way).
///
/// ```
/// use rustures::{TaskError, TaskErrorKind};
/// use rustures::executor::ChunkResults;
/// let err = TaskError::new(TaskErrorKind::Other, "x");
/// let chunk: ChunkResults<u8> = vec![Ok(1), Err(err.clone()), Ok(3)].into_iter().collect();
/// assert_eq!(chunk.into_results(), vec![Ok(1), Err(err), Ok(3)]);
/// ```
impl<R> FromIterator<Result<R, TaskError>> for ChunkResults<R> {
    fn from_iter<I: IntoIterator<Item = Result<R, TaskError>>>(results: I) -> Self {
        let mut chunk = ChunkResults {
            values: Vec::new(),
            failures: Vec::new(),
        };
        for (position, result) in results.into_iter().enumerate() {
            match result {
                Ok(value) => chunk.values.push(value),
                Err(err) => chunk.failures.push((position, err)),
            }
        }
        chunk
    }
}

/// Reads a chunk's results in element order, as `Result<R, FutureError>`; also stands for
/// a chunk whose future failed as a whole (every element gets that error).
pub(crate) struct Cursor<R> {
    values: std::vec::IntoIter<R>,
    failures: std::vec::IntoIter<(usize, TaskError)>,
    next_failure: Option<(usize, TaskError)>,
    /// The error of every element, when the chunk failed whole.
    whole: Option<FutureError>,
    position: usize,
    /// Elements expected: the chunk's length as submitted.
    len: usize,
}

impl<R> Cursor<R> {
    /// Reads `results`, of a chunk submitted with `len` elements.
    pub(crate) fn new(mut results: ChunkResults<R>, len: usize) -> Self {
        let mut failures = std::mem::take(&mut results.failures).into_iter();
        Cursor {
            values: std::mem::take(&mut results.values).into_iter(),
            next_failure: failures.next(),
            failures,
            whole: None,
            position: 0,
            len,
        }
    }

    /// A chunk of `len` elements whose future gave `error`.
    pub(crate) fn failed(len: usize, error: FutureError) -> Self {
        Cursor {
            values: Vec::new().into_iter(),
            failures: Vec::new().into_iter(),
            next_failure: None,
            whole: Some(error),
            position: 0,
            len,
        }
    }

    /// A cursor with nothing left to read.
    pub(crate) fn empty() -> Self {
        Cursor::new(
            ChunkResults {
                values: Vec::new(),
                failures: Vec::new(),
            },
            0,
        )
    }

    /// The error for an element the executor's results lack (an executor bug, reported
    /// rather than lost).
    fn missing(&self, position: usize) -> FutureError {
        FutureError::Failed(TaskError::new(
            TaskErrorKind::Other,
            format!(
                "the executor returned no result for element {position} of a chunk of {}",
                self.len
            ),
        ))
    }

    /// How many elements are left to read.
    pub(crate) fn remaining(&self) -> usize {
        self.len - self.position
    }

    /// Moves every remaining value into `out`, at once when no failure is left; stops at
    /// the first failed element with its error.
    pub(crate) fn drain_into(&mut self, out: &mut Vec<R>) -> Result<(), FutureError> {
        if self.whole.is_none() && self.next_failure.is_none() {
            let remaining = self.len - self.position;
            let available = self.values.len();
            if available <= remaining {
                // The usual case: move the whole rest. `extend` from a `vec::IntoIter` is one
                // `memcpy` (and `collect` into an empty `out` reuses the buffer), where a
                // `take` adapter would copy element by element.
                let values = std::mem::take(&mut self.values);
                if out.is_empty() && out.capacity() < values.len() {
                    *out = values.collect();
                } else {
                    out.extend(values);
                }
                self.position += available;
            } else {
                out.extend(self.values.by_ref().take(remaining));
                self.position += remaining;
            }
            if self.position < self.len {
                let err = self.missing(self.position);
                self.position = self.len;
                return Err(err);
            }
            return Ok(());
        }
        for result in self.by_ref() {
            out.push(result?);
        }
        Ok(())
    }
}

impl<R> Drop for Cursor<R> {
    /// The values not read (the map was dropped before them): one by one, as a chunk's
    /// results are.
    fn drop(&mut self) {
        drop_each(self.values.by_ref());
    }
}

impl<R> Iterator for Cursor<R> {
    type Item = Result<R, FutureError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.position >= self.len {
            return None;
        }
        let position = self.position;
        self.position += 1;
        if let Some(err) = &self.whole {
            return Some(Err(err.clone()));
        }
        if self
            .next_failure
            .as_ref()
            .is_some_and(|(p, _)| *p == position)
        {
            let failure = std::mem::replace(&mut self.next_failure, self.failures.next());
            return failure.map(|(_, err)| Err(FutureError::Failed(err)));
        }
        match self.values.next() {
            Some(value) => Some(Ok(value)),
            None => Some(Err(self.missing(position))),
        }
    }
}
