//! [`ThreadPool::map_collect`] and [`ThreadPool::map_slice`]: the eager ordered maps into a
//! `Vec`, in which the pool's threads and the caller claim the input themselves.
//!
//! The lazy [`ThreadPool::map`] cuts the input into chunks on the consumer's thread and
//! moves each chunk's results into place there, one chunk after the other: for tiny
//! elements that one thread is the bottleneck. Here each thread claims the next chunk
//! (an iterator's under a lock, into a buffer that stays in that thread's cache; a
//! slice's by one atomic operation, read where it is), computes it, and writes the
//! results straight into their place in the output `Vec`. The caller works too, so the
//! map finishes even when every pool thread is busy; helpers that start after it finished
//! do nothing.

use std::mem::MaybeUninit;
use std::time::Instant;

use future_core::executor::{drop_each, fill_slots};
use future_core::{FutureError, MapOptions, TaskError, TaskErrorKind};

use crate::pool::ThreadPool;
use crate::sync::{Arc, AtomicBool, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering, lock, wait};

/// Elements pulled at once when the options do not say, at most.
const MAX_AUTO_CHUNK: usize = 4096;

impl ThreadPool {
    /// Maps `f` over `items` on the pool's threads and the calling thread, and returns the
    /// results in input order: the eager, blocking form of [`map`](Self::map), for when
    /// the whole `Vec` is wanted (the pool's `par_iter().map().collect()`).
    ///
    /// Unlike `map`, each thread pulls its next chunk of input itself and writes the
    /// results straight into the output, so no one thread copies everything: many times
    /// faster for small elements. Since it returns only when done, `f` and the input may
    /// borrow from the caller's stack (like [`scope`](Self::scope)).
    ///
    /// - The first error in input order is returned: a panic of `f` (Python's exception)
    ///   or of the input iterator. Once an element failed, no more input is pulled; the
    ///   chunks already pulled finish. The rest of the failed element's chunk is dropped
    ///   unmapped, after the panic is caught, and so are the results computed so far:
    ///   a panic of their `Drop` is contained (the map's error is what is returned).
    /// - [`MapOptions::chunksize`]: elements pulled at once; by default sized from the
    ///   input's length hint (up to 4096; 1 for an input with no hint, such as a
    ///   `filter`: set it then for small elements). [`MapOptions::timeout`]: a total limit
    ///   from this call, checked before each chunk is pulled; once it passes, the map
    ///   returns [`FutureError::Timeout`] after the chunks already pulled. `buffersize` is
    ///   not used: at most one chunk per thread is in flight.
    /// - Pool threads busy with other work simply do not help; a full
    ///   [`queue_bound`](crate::ThreadPoolBuilder::queue_bound) means fewer helpers, not a wait.
    ///
    /// Errors: [`FutureError::Rejected`] when the pool is shut down or broken, or the
    /// options are invalid (nothing ran); [`FutureError::Failed`] for a panic; [`FutureError::Timeout`].
    ///
    /// ```
    /// use rustures::{FutureError, MapOptions};
    ///
    /// let pool = rustures::ThreadPool::builder().max_workers(2).build().unwrap();
    /// let words = vec!["apple".to_string(), "fig".into(), "banana".into()];
    /// let offset = 100; // borrowed, not moved
    /// let lengths = pool.map_collect(|w: &String| w.len() + offset, &words, MapOptions::new());
    /// assert_eq!(lengths, Ok(vec![105, 103, 106]));
    ///
    /// let squares = pool.map_collect(|x: u64| x * x, 0..1_000u64, MapOptions::new()).unwrap();
    /// assert_eq!(squares[999], 998_001);
    ///
    /// let err = pool
    ///     .map_collect(|x: u32| 10 / x, [5, 0, 2], MapOptions::new())
    ///     .unwrap_err();
    /// assert!(matches!(err, FutureError::Failed(_)));
    /// assert!(err.to_string().contains("divide by zero"));
    /// ```
    pub fn map_collect<A, R, F, I>(
        &self,
        f: F,
        items: I,
        options: MapOptions,
    ) -> Result<Vec<R>, FutureError>
    where
        F: Fn(A) -> R + Sync,
        A: Send,
        R: Send,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send,
    {
        options.validate().map_err(FutureError::Rejected)?;
        let items = items.into_iter();
        let hint = items.size_hint().0;
        let chunksize = self.chunksize(&options, hint);
        let input = Pulled {
            input: Mutex::new(Pull {
                items,
                next: 0,
                ended: false,
            }),
            chunksize,
        };
        self.collect(input, hint, chunksize, &f, &options)
    }

    /// [`map_collect`](Self::map_collect) for a slice, by reference (the pool's
    /// `par_iter().map().collect()`): each thread claims the next chunk of positions with
    /// one atomic operation and reads the elements where they are, so nothing is copied
    /// and nothing is locked. Same options, errors and order as `map_collect`.
    ///
    /// ```
    /// use rustures::MapOptions;
    ///
    /// let pool = rustures::ThreadPool::builder().max_workers(2).build().unwrap();
    /// let prices = vec![3.5f64, 1.25, 10.0];
    /// let with_tax = pool.map_slice(|p: &f64| p * 1.2, &prices, MapOptions::new()).unwrap();
    /// assert_eq!(with_tax, [4.2, 1.5, 12.0]);
    /// ```
    pub fn map_slice<T, R, F>(
        &self,
        f: F,
        items: &[T],
        options: MapOptions,
    ) -> Result<Vec<R>, FutureError>
    where
        F: Fn(&T) -> R + Sync,
        T: Sync,
        R: Send,
    {
        options.validate().map_err(FutureError::Rejected)?;
        let chunksize = self.chunksize(&options, items.len());
        let input = Sliced {
            items,
            next: AtomicUsize::new(0),
            chunksize,
        };
        self.collect(input, items.len(), chunksize, &f, &options)
    }

    /// The options' chunk size, or one sized from the input's length hint.
    fn chunksize(&self, options: &MapOptions, hint: usize) -> usize {
        options
            .chunksize
            .unwrap_or_else(|| (hint / (4 * self.max_workers())).clamp(1, MAX_AUTO_CHUNK))
    }

    /// Runs an eager map over `input` on the caller and helpers, into a `Vec` with room for
    /// `hint` results.
    fn collect<S, F, R>(
        &self,
        input: S,
        hint: usize,
        chunksize: usize,
        f: &F,
        options: &MapOptions,
    ) -> Result<Vec<R>, FutureError>
    where
        S: Source,
        F: Fn(S::Item) -> R + Sync,
        R: Send,
    {
        if self.registry.sleep.is_shut_down() {
            return Err(FutureError::Rejected(self.registry.closed_error()));
        }
        let mut out: Vec<R> = Vec::new();
        // The output's room decides which chunks are written in place; a hint too large to
        // allocate just means every chunk is kept aside.
        let _ = out.try_reserve_exact(hint);
        let run = Run {
            input,
            f,
            out: OutPtr(out.spare_capacity_mut().as_mut_ptr()),
            capacity: out.capacity(),
            deadline: options
                .timeout
                .and_then(|timeout| Instant::now().checked_add(timeout)),
            stop: AtomicBool::new(false),
            pieces: Mutex::new(Vec::new()),
            failure: Mutex::new(None),
        };
        // The caller counts as one of the `max_workers` threads.
        let helpers = if hint > 0 {
            (self.max_workers() - 1).min(hint.div_ceil(chunksize) - 1)
        } else {
            self.max_workers() - 1
        };
        self.run_with_helpers(helpers, &|| run.work());
        // Every thread is done with `run` (and so with `out`'s buffer): it is ours again.
        run.finish(out)
    }

    /// Runs `work` on the calling thread and on up to `helpers` pool threads, and returns
    /// once every run of it returned. Helpers that start after the caller finished do not
    /// run it at all, so a busy pool never delays the caller.
    fn run_with_helpers(&self, helpers: usize, work: &(dyn Fn() + Sync)) {
        let work: *const (dyn Fn() + Sync + '_) = work;
        // SAFETY: this only erases the lifetime of the trait object pointer (same pointer,
        // same vtable), so that `'static` helper tasks can hold it. They call it only
        // through `Gate::help`, between taking and giving back a count in the gate, and
        // `CloseOnDrop` below (also when the caller's own run unwinds) empties the gate
        // and waits for every count to be back before this function returns: `work` is
        // never called after it. A helper that starts later finds the gate empty.
        let work: *const (dyn Fn() + Sync + 'static) = unsafe {
            std::mem::transmute::<*const (dyn Fn() + Sync + '_), *const (dyn Fn() + Sync + 'static)>(
                work,
            )
        };
        let gate = Arc::new(Gate {
            state: Mutex::new(GateState {
                work: Some(WorkPtr(work)),
                active: 0,
            }),
            idle: Condvar::new(),
        });
        let _close = CloseOnDrop(&gate);
        for _ in 0..helpers {
            let gate = gate.clone();
            // Full queue, shut down meanwhile: fewer helpers; the caller still works.
            if self.try_spawn(move || gate.help()).is_err() {
                break;
            }
        }
        // SAFETY: `work` is the caller's live reference, lent above.
        unsafe { (*work)() };
    }
}

/// Where an eager map's chunks come from.
trait Source: Sync {
    type Item;
    /// A thread's own state while it works (the buffer pulled input goes into).
    type Local: Default;
    /// A claimed chunk's elements.
    type Chunk<'a>: Iterator<Item = Self::Item>
    where
        Self: 'a;

    /// Claims the next chunk: its position, length and elements; `None` once nothing is
    /// left. A failure while claiming is recorded with `fail`.
    fn claim<'a>(
        &'a self,
        local: &'a mut Self::Local,
        fail: &dyn Fn(usize, FutureError),
    ) -> Option<(usize, usize, Self::Chunk<'a>)>;
}

/// Any iterator, pulled one chunk at a time under a lock.
struct Pulled<I> {
    input: Mutex<Pull<I>>,
    chunksize: usize,
}

struct Pull<I> {
    items: I,
    /// The position of the next element.
    next: usize,
    ended: bool,
}

impl<I> Source for Pulled<I>
where
    I: Iterator + Send,
{
    type Item = I::Item;
    type Local = Vec<I::Item>;
    type Chunk<'a>
        = std::vec::Drain<'a, I::Item>
    where
        Self: 'a;

    fn claim<'a>(
        &'a self,
        buffer: &'a mut Vec<I::Item>,
        fail: &dyn Fn(usize, FutureError),
    ) -> Option<(usize, usize, Self::Chunk<'a>)> {
        let mut pull = self.lock_input();
        if pull.ended {
            return None;
        }
        let offset = pull.next;
        let chunksize = self.chunksize;
        let Pull { items, .. } = &mut *pull;
        // Written straight into the buffer's spare room (a fifth faster than `extend`,
        // which checks the room at every element); if the input panics, the elements
        // pulled before it are the ones mapped, and the error's position counts them.
        buffer.clear();
        buffer.reserve(chunksize);
        let (written, pulled) = fill_slots(
            &mut buffer.spare_capacity_mut()[..chunksize],
            items,
            |item| item,
        );
        // SAFETY: `fill_slots` initialized the first `written` slots of the spare room,
        // and the buffer was empty.
        unsafe { buffer.set_len(written) };
        pull.next += buffer.len();
        match pulled {
            Ok(()) if buffer.len() == chunksize => {}
            Ok(()) => pull.ended = true,
            Err(err) => {
                pull.ended = true;
                let message = format!("the input iterator panicked: {}", err.message());
                let err = TaskError::new(TaskErrorKind::Panicked, message);
                fail(pull.next, FutureError::Failed(err));
            }
        }
        let len = buffer.len();
        (len > 0).then(|| (offset, len, buffer.drain(..)))
    }
}

impl<I> Pulled<I> {
    /// Locks the input, spinning a while first if another thread holds it. A pull holds
    /// the lock only while it copies one chunk (microseconds), less than a sleep in the
    /// kernel and the wake-up after it cost: blocking at once made every contended pull
    /// two context switches, and two threads taking turns this way ran slower than one.
    fn lock_input(&self) -> MutexGuard<'_, Pull<I>> {
        #[cfg(not(loom))]
        {
            let backoff = crossbeam_utils::Backoff::new();
            while !backoff.is_completed() {
                match self.input.try_lock() {
                    Ok(pull) => return pull,
                    Err(std::sync::TryLockError::Poisoned(poisoned)) => {
                        return poisoned.into_inner();
                    }
                    Err(std::sync::TryLockError::WouldBlock) => backoff.snooze(),
                }
            }
        }
        lock(&self.input)
    }
}

/// A slice, claimed one chunk of positions at a time.
struct Sliced<'s, T> {
    items: &'s [T],
    /// The first position not yet claimed.
    next: AtomicUsize,
    chunksize: usize,
}

impl<'s, T: Sync> Source for Sliced<'s, T> {
    type Item = &'s T;
    type Local = ();
    type Chunk<'a>
        = std::slice::Iter<'s, T>
    where
        Self: 'a;

    fn claim<'a>(
        &'a self,
        _: &'a mut (),
        _: &dyn Fn(usize, FutureError),
    ) -> Option<(usize, usize, Self::Chunk<'a>)> {
        let total = self.items.len();
        let mut offset = self.next.load(Ordering::Relaxed);
        loop {
            if offset >= total {
                return None;
            }
            let len = self.chunksize.min(total - offset);
            match self.next.compare_exchange_weak(
                offset,
                offset + len,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some((offset, len, self.items[offset..offset + len].iter())),
                Err(now) => offset = now,
            }
        }
    }
}

/// The output's buffer, written by many threads, each at the positions it claimed.
struct OutPtr<R>(*mut MaybeUninit<R>);

// SAFETY: the pointer is only used to write results of type `R` (sent from the thread
// that computed them) into disjoint ranges, one per chunk, each written by the one
// thread that claimed that chunk; the caller reads them only after every thread is done.
unsafe impl<R: Send> Send for OutPtr<R> {}
// SAFETY: as above: shared access never touches the same element from two threads.
unsafe impl<R: Send> Sync for OutPtr<R> {}

/// One chunk's outcome.
struct Piece<R> {
    /// The position of its first element.
    offset: usize,
    /// Elements claimed.
    len: usize,
    /// Results written: in the output at `offset..offset + written`, or in `aside`.
    written: usize,
    /// The results, when the chunk did not fit in the output's room.
    aside: Option<Vec<R>>,
}

/// One eager map, shared by every thread working on it.
struct Run<'f, S, F, R> {
    input: S,
    f: &'f F,
    out: OutPtr<R>,
    /// Elements the output has room for.
    capacity: usize,
    deadline: Option<Instant>,
    /// Set at the first failure: claim no more chunks.
    stop: AtomicBool,
    pieces: Mutex<Vec<Piece<R>>>,
    /// The failure at the lowest position so far.
    failure: Mutex<Option<(usize, FutureError)>>,
}

impl<S, F, R> Run<'_, S, F, R>
where
    S: Source,
    F: Fn(S::Item) -> R,
{
    /// Claims and computes chunks until the input ends or a failure stops the map.
    fn work(&self) {
        let mut local = S::Local::default();
        let mut pieces = Vec::new();
        let fail = |position, error| self.fail(position, error);
        while !self.stop.load(Ordering::Relaxed) {
            if self
                .deadline
                .is_some_and(|deadline| Instant::now() >= deadline)
            {
                // After every position claimed so far: any other failure comes first.
                self.fail(usize::MAX, FutureError::Timeout);
                break;
            }
            let Some((offset, len, items)) = self.input.claim(&mut local, &fail) else {
                break;
            };
            pieces.push(self.compute(offset, len, items));
        }
        lock(&self.pieces).extend(pieces);
    }

    /// Computes the chunk of `len` `items` at position `offset`.
    fn compute(&self, offset: usize, len: usize, mut items: S::Chunk<'_>) -> Piece<R> {
        let (written, outcome, aside) = if offset
            .checked_add(len)
            .is_some_and(|end| end <= self.capacity)
        {
            // SAFETY: `offset..offset + len` is within the output's capacity, and no other
            // thread touches it: each position is claimed once. The buffer outlives every
            // thread's work (`collect` reads it after).
            let slots = unsafe { std::slice::from_raw_parts_mut(self.out.0.add(offset), len) };
            let (written, outcome) = fill_slots(slots, &mut items, self.f);
            (written, outcome, None)
        } else {
            let mut values = Vec::with_capacity(len);
            let (written, outcome) = fill_slots(values.spare_capacity_mut(), &mut items, self.f);
            // SAFETY: `fill_slots` initialized exactly the first `written` slots.
            unsafe { values.set_len(written) };
            (written, outcome, Some(values))
        };
        if let Err(err) = outcome {
            // `f`'s panic is caught: the rest of the chunk's input, which `fill_slots` left
            // in `items`, is dropped now, each element in a boundary of its own (dropped
            // while the panic unwound, the first `Drop` to panic would abort the process).
            drop_each(items);
            self.fail(offset + written, FutureError::Failed(err));
        }
        Piece {
            offset,
            len,
            written,
            aside,
        }
    }
}

impl<S, F, R> Run<'_, S, F, R> {
    /// Records a failure at `position` (the lowest one wins) and stops the claiming.
    fn fail(&self, position: usize, error: FutureError) {
        self.stop.store(true, Ordering::Relaxed);
        let mut failure = lock(&self.failure);
        if failure.as_ref().is_none_or(|(first, _)| position < *first) {
            *failure = Some((position, error));
        }
    }

    /// Turns the pieces into the result, once every thread is done: `out` gets the
    /// results written in place, then the ones kept aside; on a failure, every result is
    /// dropped, each in a panic boundary of its own, and the first error returned.
    fn finish(self, mut out: Vec<R>) -> Result<Vec<R>, FutureError> {
        let mut pieces = std::mem::take(&mut *lock(&self.pieces));
        pieces.sort_unstable_by_key(|piece| piece.offset);
        let failure = lock(&self.failure).take();
        // The results in place form a prefix: chunks are handed out in order, and a chunk
        // is in place exactly when it ends within the capacity.
        let mut in_place = 0;
        let mut complete = failure.is_none();
        for piece in pieces.iter().filter(|piece| piece.aside.is_none()) {
            complete &= piece.offset == in_place && piece.written == piece.len;
            in_place = piece.offset + piece.len;
        }
        if !complete {
            // Each result is dropped in a boundary of its own (`drop_each`): the map's
            // error is what the caller gets, and a slice or `Vec` of results dropped whole
            // would abort the process at the second `Drop` that panics.
            for piece in pieces.iter().filter(|piece| piece.aside.is_none()) {
                // SAFETY: `offset..offset + written` is within the output's capacity (the
                // piece is in place).
                let start = unsafe { self.out.0.add(piece.offset) }.cast::<R>();
                // SAFETY: these `written` elements were initialized by `compute`, and each
                // is read out once here, to be dropped: `drop_each` takes every item (no
                // drop of theirs unwinds out of it), and `out`'s length stays 0, so it
                // will not drop them again.
                drop_each((0..piece.written).map(|i| unsafe { start.add(i).read() }));
            }
            drop_each(pieces.into_iter().filter_map(|piece| piece.aside).flatten());
            return Err(failure.map_or_else(
                || {
                    FutureError::Failed(TaskError::new(
                        TaskErrorKind::Other,
                        "map_collect lost a chunk of results (a bug in pool-thread)",
                    ))
                },
                |(_, err)| err,
            ));
        }
        // SAFETY: the pieces in place cover `0..in_place` without gaps, every element
        // written (checked above), within the capacity.
        unsafe { out.set_len(in_place) };
        for piece in pieces {
            if let Some(values) = piece.aside {
                out.extend(values);
            }
        }
        Ok(out)
    }
}

/// The work lent to helper tasks, by pointer.
struct WorkPtr(*const (dyn Fn() + Sync + 'static));

// SAFETY: it points at a `Sync` closure, so calling it from another thread is allowed;
// when that may happen is the gate's business (see `run_with_helpers`).
unsafe impl Send for WorkPtr {}

/// Lends the work to helper tasks until the caller takes it back.
struct Gate {
    state: Mutex<GateState>,
    /// Signalled when `active` drops to zero.
    idle: Condvar,
}

struct GateState {
    /// `None` once the caller took the work back.
    work: Option<WorkPtr>,
    /// Helpers running the work now.
    active: usize,
}

impl Gate {
    /// A helper task: runs the work if it is still lent.
    fn help(&self) {
        let work = {
            let mut state = lock(&self.state);
            let Some(work) = &state.work else {
                return;
            };
            let work = work.0;
            state.active += 1;
            work
        };
        let _leave = Leave(self);
        // SAFETY: the work is lent (checked above) and cannot be taken back while this
        // helper's count is in `active` (`close` waits for it); `Leave` gives the count
        // back after the call, also if it unwinds.
        unsafe { (*work)() };
    }

    /// Takes the work back: no helper starts it after this, and every helper running it
    /// has returned.
    fn close(&self) {
        let mut state = lock(&self.state);
        state.work = None;
        while state.active > 0 {
            state = wait(&self.idle, state);
        }
    }
}

/// A helper's count in the gate, given back on drop.
struct Leave<'a>(&'a Gate);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        let mut state = lock(&self.0.state);
        state.active -= 1;
        if state.active == 0 {
            self.0.idle.notify_all();
        }
    }
}

/// Closes the gate when the caller leaves `run_with_helpers`, however it leaves.
struct CloseOnDrop<'a>(&'a Arc<Gate>);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}
