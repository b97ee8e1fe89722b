//! [`MapUnordered`]: an executor's `map` that yields each result as soon as its chunk is
//! done, with the element's position in the input (mpi4py's `map(unordered=True)`,
//! Python's `imap_unordered`), bounded in flight like [`Map`](crate::Map).

use std::fmt;

use crate::error::{FutureError, SubmitError};
use crate::future::listeners::Action;
use crate::future::state::Key;
use crate::map::chunk::Cursor;
use crate::map::{ChunkFuture, Feeder, MapOptions};
use crate::sync::{Arc, lock};
use crate::waiting::done_queue::DoneQueue;

/// One chunk in flight: its first position, its length, its future, and the registration
/// of the callback that records its completion.
struct InFlight<R> {
    start: usize,
    len: usize,
    future: ChunkFuture<R>,
    key: Option<Key>,
}

/// The iterator an executor's `map_unordered` returns: `(position in the input, result)`
/// for every element, in the order the chunks finish.
///
/// As with [`Map`](crate::Map), each element's result is its own, at most `buffersize`
/// chunks are in flight (the next ones are submitted as results are consumed), and
/// dropping the iterator cancels every chunk that has not started. When the total timeout
/// passes, it yields one [`FutureError::Timeout`] (at the first position still unfinished)
/// and ends, cancelling what has not started; when the executor refuses a chunk, the
/// results submitted before it come first, then one [`FutureError::Rejected`] at the first
/// position not submitted.
///
/// ```
/// use rustures::executor::{ChunkResults, Promise};
/// use rustures::{MapOptions, MapUnordered};
///
/// // A toy executor that runs each chunk at once.
/// let run = |chunk: Vec<u32>| {
///     let (promise, future) = Promise::new();
///     promise.set_result(ChunkResults::run(chunk, |x| x * 10));
///     Ok(future)
/// };
/// let mut results: Vec<(usize, u32)> = MapUnordered::new(0..5u32, MapOptions::new().chunksize(2), 2, run)
///     .unwrap()
///     .map(|(position, result)| (position, result.unwrap()))
///     .collect();
/// results.sort_unstable();
/// assert_eq!(results, [(0, 0), (1, 10), (2, 20), (3, 30), (4, 40)]);
/// ```
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct MapUnordered<'a, R> {
    feeder: Feeder<'a, R>,
    /// Chunks in flight, by slot (the index their callback records).
    in_flight: Vec<Option<InFlight<R>>>,
    free: Vec<usize>,
    live: usize,
    done_queue: Arc<DoneQueue>,
    /// The finished chunk being yielded: the next element's position, and the results.
    current: Option<(usize, Cursor<R>)>,
    ended: bool,
}

impl<'a, R> MapUnordered<'a, R> {
    /// Starts an unordered map over `items`, as [`Map::new`](crate::Map::new) starts an
    /// ordered one (same arguments, same contract for `submit_chunk`).
    pub fn new<A, I, S>(
        items: I,
        options: MapOptions,
        default_buffersize: usize,
        submit_chunk: S,
    ) -> Result<MapUnordered<'a, R>, SubmitError>
    where
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'a,
        S: FnMut(Vec<A>) -> Result<ChunkFuture<R>, SubmitError> + Send + 'a,
    {
        let mut map = MapUnordered {
            feeder: Feeder::new(items, options, default_buffersize, submit_chunk)?,
            in_flight: Vec::new(),
            free: Vec::new(),
            live: 0,
            done_queue: DoneQueue::new(0),
            current: None,
            ended: false,
        };
        map.top_up();
        if map.live == 0 {
            if let Some(err) = map.feeder.rejected.take() {
                return Err(err);
            }
        }
        Ok(map)
    }

    /// Submits chunks until `buffersize` are in flight or the input ends or is refused.
    fn top_up(&mut self) {
        while self.live < self.feeder.buffersize {
            let Some((start, len, future)) = self.feeder.next_chunk() else {
                break;
            };
            let slot = self.free.pop().unwrap_or(self.in_flight.len());
            // If the chunk is done already, it is recorded right here.
            let key = future.register(Action::DoneQueue(self.done_queue.clone(), slot));
            let chunk = Some(InFlight {
                start,
                len,
                future,
                key,
            });
            if slot == self.in_flight.len() {
                self.in_flight.push(chunk);
            } else {
                self.in_flight[slot] = chunk;
            }
            self.live += 1;
        }
    }

    /// Waits for the next finished chunk and makes it current; an error ends the map.
    fn advance(&mut self) -> Option<(usize, Result<R, FutureError>)> {
        self.top_up();
        if self.live == 0 {
            self.ended = true;
            let position = self.feeder.submitted;
            return self
                .feeder
                .rejected
                .take()
                .map(|err| (position, Err(FutureError::Rejected(err))));
        }
        if self.feeder.deadline.is_none() {
            // In a worker of the executor, run a chunk that no thread has started here.
            for chunk in self.in_flight.iter().flatten() {
                if chunk.future.run_here() {
                    break;
                }
            }
        }
        let mut slot = None;
        self.done_queue
            .block_until(self.feeder.deadline, |done_queue| {
                slot = done_queue.finished.front().copied();
                slot.is_some()
            });
        let Some(slot) = slot else {
            // Timed out: the first position still unfinished reports it.
            let first = self.in_flight.iter().flatten().map(|c| c.start).min();
            self.cancel_in_flight();
            self.ended = true;
            return Some((
                first.unwrap_or(self.feeder.submitted),
                Err(FutureError::Timeout),
            ));
        };
        lock(&self.done_queue.state).finished.pop_front();
        let chunk = self.in_flight.get_mut(slot).and_then(Option::take)?;
        self.free.push(slot);
        self.live -= 1;
        // Done (it was recorded): this does not block.
        let cursor = match chunk.future.take_until(None) {
            Ok(results) => Cursor::new(results, chunk.len),
            Err(err) => Cursor::failed(chunk.len, err),
        };
        self.current = Some((chunk.start, cursor));
        None
    }

    fn cancel_in_flight(&mut self) {
        for chunk in self.in_flight.drain(..).flatten() {
            chunk.future.cancel();
            if let Some(key) = chunk.key {
                chunk.future.inner.unregister(key);
            }
        }
        self.live = 0;
        self.free.clear();
    }

    /// How many results are left to yield, when the input told its exact length; see
    /// [`Map::len`](crate::Map::len).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> Option<usize> {
        self.feeder.len(self.remaining_known())
    }

    /// Results of the chunks submitted and not yet yielded.
    fn remaining_known(&self) -> usize {
        if self.ended {
            return 0;
        }
        let current = self.current.as_ref().map_or(0, |(_, c)| c.remaining());
        let in_flight: usize = self.in_flight.iter().flatten().map(|c| c.len).sum();
        current + in_flight
    }
}

impl<R> Iterator for MapUnordered<'_, R> {
    type Item = (usize, Result<R, FutureError>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((position, cursor)) = &mut self.current {
                if let Some(result) = cursor.next() {
                    let at = *position;
                    *position += 1;
                    return Some((at, result));
                }
                self.current = None;
            }
            if self.ended {
                return None;
            }
            if let Some(end) = self.advance() {
                return Some(end);
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.feeder.size_hint(self.remaining_known())
    }
}

impl<R> Drop for MapUnordered<'_, R> {
    fn drop(&mut self) {
        self.cancel_in_flight();
    }
}

impl<R> fmt::Debug for MapUnordered<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapUnordered")
            .field("chunks_in_flight", &self.live)
            .field("buffersize", &self.feeder.buffersize)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}
