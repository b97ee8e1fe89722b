//! [`Map`]: the lazy, ordered, bounded `map` that every executor returns.
//!
//! Python's `Executor.map` submits the whole input at once, which runs a long (or endless)
//! input out of memory. This one submits the input in chunks, keeps at most `buffersize`
//! chunks in flight (Python 3.14's `buffersize`), submits the next chunk as results are
//! consumed, and cancels what has not started when it is dropped.

pub(crate) mod chunk;
pub(crate) mod elements;
pub(crate) mod map_unordered;

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crate::error::{FutureError, SubmitError};
use crate::future::TaskFuture;
use crate::map::chunk::{ChunkInput, ChunkResults, Cursor};
use crate::waiting::block::deadline_after;

/// The future of one chunk of a map: each element's own result, in input order.
pub type ChunkFuture<R> = TaskFuture<ChunkResults<R>>;

/// The settings of an executor's `map`, named as Python names its arguments: a total
/// `timeout`, the `chunksize` and how many chunks may be in flight (`buffersize`).
///
/// Build it with the chaining setters, or as a struct, like Python's keyword arguments;
/// read the fields directly:
///
/// ```
/// use rustures::MapOptions;
/// use std::time::Duration;
///
/// let options = MapOptions::new().chunksize(64).buffersize(8).timeout(Duration::from_secs(30));
/// assert_eq!(options, MapOptions {
///     chunksize: Some(64),
///     buffersize: Some(8),
///     timeout: Some(Duration::from_secs(30)),
/// });
/// assert_eq!(options.chunksize, Some(64));
/// assert_eq!(MapOptions { chunksize: Some(8), ..Default::default() }.buffersize, None);
/// ```
///
/// A setter returns a new value (the type is `Copy`), so its result must be used:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// let options = rustures::MapOptions::new();
/// options.chunksize(8); // error: the new options are dropped
/// ```
///
/// No setting panics: a `chunksize` or `buffersize` of 0 makes the executor's `map` refuse
/// with [`SubmitError::Invalid`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MapOptions {
    /// A total time limit measured from the `map` call (Python's `timeout`): once it
    /// passes, the next result not yet available is a [`FutureError::Timeout`], the
    /// unstarted rest is cancelled, and the iterator ends. `None`: no limit.
    pub timeout: Option<Duration>,
    /// How many elements go into one task (Python's `chunksize`); larger chunks cut the
    /// per-task cost for small elements. `None`: 1 for the lazy `map`; an executor's eager
    /// forms may size it themselves.
    pub chunksize: Option<usize>,
    /// How many chunks may be submitted and not yet consumed (Python 3.14's
    /// `buffersize`); bounds the memory a long input needs. `None`: the executor's default
    /// (a small multiple of its workers).
    pub buffersize: Option<usize>,
}

impl MapOptions {
    /// No timeout, chunks of one element, the executor's default number in flight.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`timeout`](Self::timeout).
    #[must_use = "this returns new options; the ones it was called on are unchanged"]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets [`chunksize`](Self::chunksize).
    #[must_use = "this returns new options; the ones it was called on are unchanged"]
    pub fn chunksize(mut self, chunksize: usize) -> Self {
        self.chunksize = Some(chunksize);
        self
    }

    /// Sets [`buffersize`](Self::buffersize).
    #[must_use = "this returns new options; the ones it was called on are unchanged"]
    pub fn buffersize(mut self, buffersize: usize) -> Self {
        self.buffersize = Some(buffersize);
        self
    }

    /// Checks the settings, as every executor's `map` does first.
    ///
    /// ```
    /// use rustures::{MapOptions, SubmitError};
    /// assert!(MapOptions::new().chunksize(4).validate().is_ok());
    /// let err = MapOptions::new().chunksize(0).validate().unwrap_err();
    /// assert_eq!(err, SubmitError::Invalid("MapOptions::chunksize must be at least 1".into()));
    /// ```
    pub fn validate(&self) -> Result<(), SubmitError> {
        if self.chunksize == Some(0) {
            return Err(SubmitError::Invalid(
                "MapOptions::chunksize must be at least 1".into(),
            ));
        }
        if self.buffersize == Some(0) {
            return Err(SubmitError::Invalid(
                "MapOptions::buffersize must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

type SubmitNext<'a, R> =
    Box<dyn FnMut() -> Option<Result<(usize, ChunkFuture<R>), SubmitError>> + Send + 'a>;

/// Cuts a map's input into chunks and submits them, for [`Map`] and
/// [`MapUnordered`](crate::MapUnordered).
pub(crate) struct Feeder<'a, R> {
    submit_next: SubmitNext<'a, R>,
    /// A refusal to report once the chunks submitted before it are yielded.
    pub(crate) rejected: Option<SubmitError>,
    /// Set once the input ended or a submit was refused.
    pub(crate) input_done: bool,
    /// The input's length as its `size_hint` put it: the lower bound, and whether it was
    /// exact.
    input_hint: (usize, bool),
    /// Elements submitted so far (the next chunk's first position).
    pub(crate) submitted: usize,
    pub(crate) deadline: Option<Instant>,
    pub(crate) buffersize: usize,
}

impl<'a, R> Feeder<'a, R> {
    pub(crate) fn new<A, I, S>(
        items: I,
        options: MapOptions,
        default_buffersize: usize,
        mut submit_chunk: S,
    ) -> Result<Self, SubmitError>
    where
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'a,
        S: FnMut(Vec<A>) -> Result<ChunkFuture<R>, SubmitError> + Send + 'a,
    {
        options.validate()?;
        let mut items = items.into_iter();
        let (lower, upper) = items.size_hint();
        let chunksize = options.chunksize.unwrap_or(1);
        let submit_next: SubmitNext<'a, R> = Box::new(move || {
            // Pulled into a `ChunkInput`: if the input panics, the elements pulled before
            // are dropped one by one while its panic unwinds to the caller (a plain `Vec`
            // would abort the process at the first one whose `Drop` panics).
            let mut chunk = ChunkInput::new(Vec::new());
            chunk.extend(items.by_ref().take(chunksize));
            let chunk = chunk.into_vec();
            if chunk.is_empty() {
                return None;
            }
            let len = chunk.len();
            Some(submit_chunk(chunk).map(|future| (len, future)))
        });
        Ok(Feeder {
            submit_next,
            rejected: None,
            input_done: false,
            input_hint: (lower, upper == Some(lower)),
            submitted: 0,
            deadline: deadline_after(options.timeout),
            buffersize: options.buffersize.unwrap_or(default_buffersize).max(1),
        })
    }

    /// Submits the next chunk: its first position, length and future; `None` once the
    /// input ended or a submit was refused (kept in `rejected`).
    pub(crate) fn next_chunk(&mut self) -> Option<(usize, usize, ChunkFuture<R>)> {
        if self.input_done {
            return None;
        }
        match (self.submit_next)() {
            Some(Ok((len, future))) => {
                let start = self.submitted;
                self.submitted += len;
                Some((start, len, future))
            }
            Some(Err(err)) => {
                self.rejected = Some(err);
                self.input_done = true;
                None
            }
            None => {
                self.input_done = true;
                None
            }
        }
    }

    /// Elements of the input not submitted yet, as far as its `size_hint` told, and
    /// whether that is exact.
    pub(crate) fn unsubmitted(&self) -> (usize, bool) {
        if self.input_done {
            return (0, true);
        }
        let (lower, exact) = self.input_hint;
        (lower.saturating_sub(self.submitted), exact)
    }

    /// A map iterator's exact length, given `known`, the results it knows are coming,
    /// when the input told its exact length.
    pub(crate) fn len(&self, known: usize) -> Option<usize> {
        let (unsubmitted, exact) = self.unsubmitted();
        exact.then(|| known + unsubmitted)
    }

    /// A map iterator's `size_hint`, given `known`, the results it knows are coming (those
    /// of the chunks submitted and not yet read). Every element submitted gets a result,
    /// unless a timeout ends the map sooner (with one error); a refusal adds one error at
    /// the end.
    pub(crate) fn size_hint(&self, known: usize) -> (usize, Option<usize>) {
        let (unsubmitted, exact) = self.unsubmitted();
        let lower = if self.deadline.is_some() {
            known.min(1)
        } else {
            known
        };
        (lower, exact.then(|| known + unsubmitted + 1))
    }
}

/// The iterator an executor's `map` returns: one `Result` per input element, in input
/// order.
///
/// Each element's result is its own: a panic on one element is an error for that element
/// only. A chunk that fails as a whole (its worker died) gives that error for each of its
/// elements. When the total timeout passes, the next unavailable result is a
/// [`FutureError::Timeout`] and the iterator ends; when the executor refuses a later chunk
/// (it was shut down), the results submitted before it come first, then one
/// [`FutureError::Rejected`], then the end. Dropping the iterator cancels every chunk that
/// has not started. It is `Send` (the input iterator must be), so a thread may hand it to
/// another.
///
/// Executors build it with [`Map::new`]:
///
/// ```
/// use rustures::executor::{ChunkResults, Promise};
/// use rustures::{Map, MapOptions};
///
/// // A toy executor that runs each chunk at once on the calling thread.
/// let square = |x: u64| x * x;
/// let results: Vec<_> = Map::new(1..=5, MapOptions::new().chunksize(2), 4, |chunk: Vec<u64>| {
///     let (promise, future) = Promise::new();
///     promise.set_result(ChunkResults::run(chunk, square));
///     Ok(future)
/// })
/// .unwrap()
/// .collect();
/// assert_eq!(results, vec![Ok(1), Ok(4), Ok(9), Ok(16), Ok(25)]);
/// ```
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Map<'a, R> {
    feeder: Feeder<'a, R>,
    /// Submitted chunks, oldest first, with their element counts.
    in_flight: VecDeque<(usize, ChunkFuture<R>)>,
    /// The results of the chunk being yielded.
    current: Cursor<R>,
    ended: bool,
}

impl<'a, R> Map<'a, R> {
    /// Starts a map over `items`: cuts them into chunks of `options.chunksize` (1 unless
    /// set), submits the first `buffersize` chunks now (the options' or else
    /// `default_buffersize`) with `submit_chunk`, and the others as results are consumed.
    ///
    /// `submit_chunk` must return a future holding one result per element of its chunk,
    /// in order (build it with [`ChunkResults::run`](crate::executor::ChunkResults::run));
    /// an element it lacks is reported as an error, never skipped. Errors: invalid
    /// options, or the first chunk's submit error (nothing was submitted).
    pub fn new<A, I, S>(
        items: I,
        options: MapOptions,
        default_buffersize: usize,
        submit_chunk: S,
    ) -> Result<Map<'a, R>, SubmitError>
    where
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'a,
        S: FnMut(Vec<A>) -> Result<ChunkFuture<R>, SubmitError> + Send + 'a,
    {
        let mut map = Map {
            feeder: Feeder::new(items, options, default_buffersize, submit_chunk)?,
            in_flight: VecDeque::new(),
            current: Cursor::empty(),
            ended: false,
        };
        map.top_up();
        if map.in_flight.is_empty() {
            if let Some(err) = map.feeder.rejected.take() {
                return Err(err);
            }
        }
        Ok(map)
    }

    /// Submits chunks until `buffersize` are in flight or the input ends or is refused.
    fn top_up(&mut self) {
        while self.in_flight.len() < self.feeder.buffersize {
            match self.feeder.next_chunk() {
                Some((_, len, future)) => self.in_flight.push_back((len, future)),
                None => break,
            }
        }
    }

    fn cancel_in_flight(&mut self) {
        for (_, future) in self.in_flight.drain(..) {
            future.cancel();
        }
    }

    /// How many results are left to yield, when the input told its exact length (ranges,
    /// vectors, ...): for a progress bar (`indicatif`'s `progress_count`). `None` when the
    /// input's length was not known. A timeout or a refusal ends the map sooner.
    ///
    /// ```
    /// use rustures::executor::{ChunkResults, Promise};
    /// use rustures::{Map, MapOptions};
    /// let run = |chunk: Vec<u32>| {
    ///     let (promise, future) = Promise::new();
    ///     promise.set_result(ChunkResults::run(chunk, |x| x));
    ///     Ok(future)
    /// };
    /// let mut map = Map::new(0..10u32, MapOptions::new().chunksize(3), 2, run).unwrap();
    /// assert_eq!(map.len(), Some(10));
    /// map.next();
    /// assert_eq!(map.len(), Some(9));
    /// let filtered = Map::new((0..10u32).filter(|x| x % 2 == 0), MapOptions::new(), 2, run).unwrap();
    /// assert_eq!(filtered.len(), None);
    /// ```
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> Option<usize> {
        self.feeder.len(self.remaining_known())
    }

    /// Results of the chunks submitted and not yet yielded.
    fn remaining_known(&self) -> usize {
        if self.ended {
            return 0;
        }
        let in_flight: usize = self.in_flight.iter().map(|(len, _)| len).sum();
        self.current.remaining() + in_flight
    }
}

impl<R> Map<'_, R> {
    /// Moves on to the next chunk (the current one is used up): waits for it and makes it
    /// current. `None` at the end; an error (a timeout, a refused submit) ends the map.
    fn advance(&mut self) -> Option<Result<(), FutureError>> {
        if self.ended {
            return None;
        }
        let Some((len, future)) = self.in_flight.pop_front() else {
            self.ended = true;
            return self
                .feeder
                .rejected
                .take()
                .map(|err| Err(FutureError::Rejected(err)));
        };
        // Refill before blocking, so `buffersize` chunks keep working while this one
        // is awaited and consumed (Python 3.14 submits one more per result yielded).
        self.top_up();
        match future.take_until(self.feeder.deadline) {
            Ok(results) => self.current = Cursor::new(results, len),
            Err(FutureError::Timeout) => {
                future.cancel();
                self.cancel_in_flight();
                self.ended = true;
                self.feeder.rejected = None;
                return Some(Err(FutureError::Timeout));
            }
            Err(err) => self.current = Cursor::failed(len, err),
        }
        Some(Ok(()))
    }

    /// Collects every value in input order, stopping at the first error: the same as
    /// `collect::<Result<Vec<R>, FutureError>>()`, but whole chunks are moved at once
    /// instead of element by element (much faster for many small elements).
    ///
    /// ```
    /// use rustures::executor::{ChunkResults, Promise};
    /// use rustures::{Map, MapOptions};
    ///
    /// let run = |chunk: Vec<u32>| {
    ///     let (promise, future) = Promise::new();
    ///     promise.set_result(ChunkResults::run(chunk, |x| x + 1));
    ///     Ok(future)
    /// };
    /// let map = Map::new(0..1000, MapOptions::new().chunksize(100), 4, run).unwrap();
    /// assert_eq!(map.collect_values().unwrap(), (1..=1000).collect::<Vec<u32>>());
    /// ```
    pub fn collect_values(mut self) -> Result<Vec<R>, FutureError> {
        let mut values = Vec::new();
        // One allocation of the expected size instead of doubling (each doubling copies
        // everything gathered so far). A hint too large to allocate is ignored.
        let _ = values.try_reserve(self.expected_remaining());
        loop {
            self.current.drain_into(&mut values)?;
            match self.advance() {
                None => return Ok(values),
                Some(Ok(())) => {}
                Some(Err(err)) => return Err(err),
            }
        }
    }

    /// How many results are left to yield, as far as the input's `size_hint` tells.
    fn expected_remaining(&self) -> usize {
        self.remaining_known()
            .saturating_add(self.feeder.unsubmitted().0)
    }
}

impl<R> Iterator for Map<'_, R> {
    type Item = Result<R, FutureError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(result) = self.current.next() {
                return Some(result);
            }
            if let Err(err) = self.advance()? {
                return Some(Err(err));
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.feeder.size_hint(self.remaining_known())
    }
}

impl<R> Drop for Map<'_, R> {
    fn drop(&mut self) {
        self.cancel_in_flight();
    }
}

impl<R> fmt::Debug for Map<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("chunks_in_flight", &self.in_flight.len())
            .field("buffersize", &self.feeder.buffersize)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}
