//! [`Map`]: the lazy, ordered, bounded `map` that every executor returns.
//!
//! Python's `Executor.map` submits the whole input at once, which runs a long (or endless)
//! input out of memory. This one submits the input in chunks, keeps at most `buffersize`
//! chunks in flight (Python 3.14's `buffersize`), submits the next chunk as results are
//! consumed, and cancels what has not started when it is dropped.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crate::block::deadline_after;
use crate::chunk::{ChunkResults, Cursor};
use crate::error::{FutureError, SubmitError};
use crate::future::TaskFuture;

/// The future of one chunk of a map: each element's own result, in input order.
pub type ChunkFuture<R> = TaskFuture<ChunkResults<R>>;

/// The settings of an executor's `map`: total timeout, chunk size and how many chunks may
/// be in flight.
///
/// ```
/// use future_core::MapOptions;
/// use std::time::Duration;
///
/// let options = MapOptions::new().chunksize(64).buffersize(8).timeout(Duration::from_secs(30));
/// assert_eq!(options.get_chunksize(), 64);
/// assert_eq!(options.get_buffersize(), Some(8));
/// assert_eq!(options.get_timeout(), Some(Duration::from_secs(30)));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MapOptions {
    timeout: Option<Duration>,
    /// `None`: not set (1 for `map`; an executor's eager forms may size it themselves).
    chunksize: Option<usize>,
    buffersize: Option<usize>,
}

impl MapOptions {
    /// No timeout, chunks of one element, the executor's default number in flight.
    pub fn new() -> Self {
        Self::default()
    }

    /// A total time limit measured from the `map` call (Python's `timeout`): once it
    /// passes, the next result not yet available is a [`FutureError::Timeout`], the
    /// unstarted rest is cancelled, and the iterator ends.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How many elements go into one task (Python's `chunksize`); larger chunks cut the
    /// per-task cost for small elements. Default 1.
    ///
    /// # Panics
    /// When `chunksize` is 0, like [`slice::chunks`].
    pub fn chunksize(mut self, chunksize: usize) -> Self {
        assert!(chunksize > 0, "MapOptions::chunksize must be at least 1");
        self.chunksize = Some(chunksize);
        self
    }

    /// How many chunks may be submitted and not yet consumed (Python 3.14's `buffersize`);
    /// bounds the memory a long input needs. Default: the executor's (a small multiple of
    /// its workers).
    ///
    /// # Panics
    /// When `buffersize` is 0.
    pub fn buffersize(mut self, buffersize: usize) -> Self {
        assert!(buffersize > 0, "MapOptions::buffersize must be at least 1");
        self.buffersize = Some(buffersize);
        self
    }

    /// The total timeout, if any.
    pub fn get_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Elements per task (1 unless set).
    pub fn get_chunksize(&self) -> usize {
        self.chunksize.unwrap_or(1)
    }

    /// Elements per task, when set with [`chunksize`](Self::chunksize): for executors
    /// that pick their own size otherwise.
    ///
    /// ```
    /// use future_core::MapOptions;
    /// assert_eq!(MapOptions::new().get_explicit_chunksize(), None);
    /// assert_eq!(MapOptions::new().chunksize(1).get_explicit_chunksize(), Some(1));
    /// ```
    pub fn get_explicit_chunksize(&self) -> Option<usize> {
        self.chunksize
    }

    /// Chunks in flight, when set.
    pub fn get_buffersize(&self) -> Option<usize> {
        self.buffersize
    }
}

type SubmitNext<'a, R> =
    Box<dyn FnMut() -> Option<Result<(usize, ChunkFuture<R>), SubmitError>> + 'a>;

/// The iterator an executor's `map` returns: one `Result` per input element, in input
/// order.
///
/// Each element's result is its own: a panic on one element is an error for that element
/// only. A chunk that fails as a whole (its worker died) gives that error for each of its
/// elements. When the total timeout passes, the next unavailable result is a
/// [`FutureError::Timeout`] and the iterator ends; when the executor refuses a later chunk
/// (it was shut down), the results submitted before it come first, then one
/// [`FutureError::Rejected`], then the end. Dropping the iterator cancels every chunk that
/// has not started.
///
/// Executors build it with [`Map::new`]:
///
/// ```
/// use future_core::{ChunkResults, Map, MapOptions, Promise};
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
pub struct Map<'a, R> {
    submit_next: SubmitNext<'a, R>,
    /// Submitted chunks, oldest first, with their element counts.
    in_flight: VecDeque<(usize, ChunkFuture<R>)>,
    /// The results of the chunk being yielded.
    current: Cursor<R>,
    /// A refusal to yield after the chunks submitted before it.
    rejected: Option<SubmitError>,
    input_done: bool,
    /// The input's length as its `size_hint` put it (lower bound), to size the output of
    /// `collect_values`.
    input_hint: usize,
    /// Elements submitted so far.
    submitted: usize,
    ended: bool,
    deadline: Option<Instant>,
    buffersize: usize,
}

impl<'a, R> Map<'a, R> {
    /// Starts a map over `items`: cuts them into chunks of `options.get_chunksize()`,
    /// submits the first `buffersize` chunks now (the options' or else
    /// `default_buffersize`) with `submit_chunk`, and the others as results are consumed.
    ///
    /// `submit_chunk` must return a future holding one result per element of its chunk,
    /// in order (build it with [`ChunkResults::run`]); an element it lacks is reported as an
    /// error, never skipped. Errors: the first chunk's submit error (nothing was submitted).
    pub fn new<A, I, S>(
        items: I,
        options: MapOptions,
        default_buffersize: usize,
        mut submit_chunk: S,
    ) -> Result<Map<'a, R>, SubmitError>
    where
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
        S: FnMut(Vec<A>) -> Result<ChunkFuture<R>, SubmitError> + 'a,
    {
        let mut items = items.into_iter();
        let input_hint = items.size_hint().0;
        let chunksize = options.get_chunksize();
        let submit_next: SubmitNext<'a, R> = Box::new(move || {
            let chunk: Vec<A> = items.by_ref().take(chunksize).collect();
            if chunk.is_empty() {
                return None;
            }
            let len = chunk.len();
            Some(submit_chunk(chunk).map(|future| (len, future)))
        });
        let mut map = Map {
            submit_next,
            in_flight: VecDeque::new(),
            current: Cursor::empty(),
            rejected: None,
            input_done: false,
            input_hint,
            submitted: 0,
            ended: false,
            deadline: deadline_after(options.timeout),
            buffersize: options.buffersize.unwrap_or(default_buffersize).max(1),
        };
        map.top_up();
        if map.in_flight.is_empty() {
            if let Some(err) = map.rejected.take() {
                return Err(err);
            }
        }
        Ok(map)
    }

    /// Submits chunks until `buffersize` are in flight or the input ends or is refused.
    fn top_up(&mut self) {
        while !self.input_done && self.in_flight.len() < self.buffersize {
            match (self.submit_next)() {
                Some(Ok(chunk)) => {
                    self.submitted += chunk.0;
                    self.in_flight.push_back(chunk);
                }
                Some(Err(err)) => {
                    self.rejected = Some(err);
                    self.input_done = true;
                }
                None => self.input_done = true,
            }
        }
    }

    fn cancel_in_flight(&mut self) {
        for (_, future) in self.in_flight.drain(..) {
            future.cancel();
        }
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
                .rejected
                .take()
                .map(|err| Err(FutureError::Rejected(err)));
        };
        // Refill before blocking, so `buffersize` chunks keep working while this one
        // is awaited and consumed (Python 3.14 submits one more per result yielded).
        self.top_up();
        match future.take_until(self.deadline) {
            Ok(results) => self.current = Cursor::new(results, len),
            Err(FutureError::Timeout) => {
                future.cancel();
                self.cancel_in_flight();
                self.ended = true;
                self.rejected = None;
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
    /// use future_core::{ChunkResults, Map, MapOptions, Promise};
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
        let in_flight: usize = self.in_flight.iter().map(|(len, _)| len).sum();
        let unsubmitted = self.input_hint.saturating_sub(self.submitted);
        self.current
            .remaining()
            .saturating_add(in_flight)
            .saturating_add(unsubmitted)
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
            .field("buffersize", &self.buffersize)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}
