//! The state shared by a future's handles and its producer ([`Promise`](crate::Promise) or
//! [`Task`](crate::executor::Task)): one atomic word that says where the future is, who owns
//! each of its cells, and what a completion must tell; beside it the cells themselves (the
//! value, the error, one listener, the task's closure) and a mutex for the rare parts (more
//! listeners than one, an executor's cancel guard). See `src/README.md` for the argument.
//!
//! The common paths take no lock: completing a future nobody waits on is one
//! compare-and-swap, taking a completed future's value is one, one waiter or one callback
//! is a claim and a publish on the word (tokio's `oneshot` does the same with its
//! `RX_TASK_SET`, `VALUE_SENT` bits).
//!
//! No user code runs under the mutex, and none runs while this crate holds a cell in a
//! state another thread waits on: listeners run after the word says done, a value is cloned
//! by a counted reader, a closure, value, waker or cancel guard is dropped outside the lock.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::task::Waker;
use std::time::Duration;

use crate::error::{FutureError, TaskError};
use crate::future::listeners::{self, Action, Listeners, Taken};
use crate::future::task::TaskCell;
use crate::sync::{Arc, AtomicUsize, Mutex, UnsafeCell, lock, yield_now};
use crate::unwind::{contain, drop_contained};

// The state word. Every transition is one compare-and-swap (or fetch-op) on it; what each
// bit hands over, and to whom, is said at the bit.
//
// The stage, two bits: `PENDING -> RUNNING` (the producer starts the task, or a waiting
// worker runs it itself), `PENDING -> CANCELLED` (a consumer cancels),
// `PENDING | RUNNING -> FINISHED` (the producer completes, or is dropped). `CANCELLED` and
// `FINISHED` are final; both have `DONE` set. The one thread whose CAS moves the stage off
// `PENDING` owns the task's closure from then on.
const STAGE: usize = 0b11;
const PENDING: usize = 0b00;
const RUNNING: usize = 0b01;
const CANCELLED: usize = 0b10;
const FINISHED: usize = 0b11;
/// Set in both final stages.
const DONE: usize = 0b10;

/// With `FINISHED`: the task failed, and `Inner::error` holds why (written by the completer
/// before its CAS, which publishes it with `Release`; read-only from then on). Without it a
/// finished future's value is in `Inner::value`.
const FAILED: usize = 1 << 2;
/// The value was moved out (by the one `take` whose CAS set this while no reader was
/// counted). Never cleared.
const TAKEN: usize = 1 << 3;
/// The value was lent out by `result_ref`: it stays in place until the allocation is freed,
/// and `take` refuses. Never cleared.
const LENT: usize = 1 << 4;

/// A registrar owns `Inner::slot` and is writing (or, with `SLOT_SET` cleared by it again,
/// rewriting or emptying) it. Set only while neither `DONE` nor `MANY` is set; cleared only
/// by its owner. A completion that finds it without `SLOT_SET` leaves the slot alone: its
/// owner's publish then fails on `DONE` and the owner acts on the done future itself (that
/// failing CAS is what closes the race of a registration against a completion).
const SLOT_CLAIMED: usize = 1 << 5;
/// The slot holds a published listener (set with `Release` by its owner after writing it).
/// From the CAS that sets `DONE` with this bit seen, the slot belongs to that completion,
/// which takes the listener and runs it; before that, only the key's holder clears it (to
/// remove or replace its listener), with a CAS that fails once `DONE` is set.
const SLOT_SET: usize = 1 << 6;
/// The list in `Inner::rare` was used: a completion that sees this takes the rare lock and
/// every listener in it. Set by a registrar under that lock, with a CAS that fails once
/// `DONE` is set, before it inserts (so the completion, which locks after its CAS, finds the
/// insert); never cleared. Once set, no registration claims the slot: a slot listener is
/// always older than every listed one, so running the slot first keeps registration order.
const MANY: usize = 1 << 7;
/// The future has a cancel guard in `Inner::rare` (set under the rare lock while
/// `PENDING`). While it is set, every move off `PENDING` happens under the rare lock
/// (a thread that sees it locks first; one that read the word before it was set fails its
/// CAS), so a cancel can ask the guard and turn the future cancelled with no start in
/// between; the move clears it and takes the guard out, to drop outside the lock.
const GUARDED: usize = 1 << 8;
/// One thread cloning the value right now (the count is the word's top bits): the value is
/// not moved out while one is counted. Counted only on a finished future.
const READER: usize = 1 << 9;
/// More readers than this at once is a broken program: abort, as `Arc` does.
const MAX_READERS: usize = usize::MAX / READER / 2;

/// Where a future is in its life; see the stage bits above.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Pending,
    Running,
    Cancelled,
    Finished,
}

impl Status {
    pub(crate) fn is_done(self) -> bool {
        matches!(self, Status::Cancelled | Status::Finished)
    }

    fn of(state: usize) -> Status {
        match state & STAGE {
            PENDING => Status::Pending,
            RUNNING => Status::Running,
            CANCELLED => Status::Cancelled,
            _ => Status::Finished,
        }
    }
}

fn is_done(state: usize) -> bool {
    state & DONE != 0
}

fn is_pending(state: usize) -> bool {
    state & STAGE == PENDING
}

fn readers(state: usize) -> usize {
    state / READER
}

/// An executor's veto on cancelling a pending future, asked under the future's rare lock.
pub(crate) type CancelGuard = Box<dyn Fn() -> bool + Send + Sync>;

/// What a registration is: the one slot, or an entry of the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Key {
    Slot,
    List(listeners::Key),
}

/// The parts behind the mutex: rare.
struct Rare<T> {
    /// Listeners beyond the slot's one, once a second came while the slot was held (see
    /// `MANY`); boxed, so a future that never has two costs one word.
    listeners: Option<Box<Listeners<T>>>,
    /// The executor's say on a cancel of a pending future (see `GUARDED`).
    guard: Option<Box<CancelGuard>>,
}

/// The listeners a move to a final stage took: the slot's (older), then the list's.
pub(crate) struct Told<T> {
    first: Option<Action<T>>,
    rest: Option<Taken<T>>,
}

/// The shared allocation.
pub(crate) struct Inner<T> {
    /// The state word: see the constants above.
    state: AtomicUsize,
    /// One listener, owned as `SLOT_CLAIMED` and `SLOT_SET` say.
    slot: UnsafeCell<Option<Action<T>>>,
    rare: Mutex<Rare<T>>,
    /// The value: written once, before the completing CAS, by the one completer (the
    /// `Promise`, consumed by completing; or, for a `Task`'s future, the thread whose CAS
    /// moved the stage off `PENDING`), which no other thread reads before `FINISHED` is
    /// published; after it, read through shared references by counted readers and by
    /// lenders (`result` and `result_ref` require `T: Sync`), and moved out only by the one
    /// `take` that sets `TAKEN` while no reader is counted and `LENT` is not set.
    value: UnsafeCell<Option<T>>,
    /// Why the task failed: written like `value`, only read after `FINISHED | FAILED`.
    error: UnsafeCell<Option<Box<TaskError>>>,
    /// The task's closure, for a future made with `Task::new`; see [`TaskCell`]. (No
    /// `Drop` here: a `Task` consumes its closure before it lets go of the future, so the
    /// cell is empty when the last handle goes.)
    pub(crate) task: TaskCell<T>,
    /// How long, in microseconds, a thread blocked on this future alone spins before it
    /// parks (set by the producer: see `Promise::new_spinning`).
    spin_micros: u32,
}

// SAFETY: each cell is shared between threads only as the state word says: `value` and
// `error` are written by one completer before it publishes them, read through `&T` only by
// `result`/`result_ref` (which require `T: Sync`) and moved out by one `take` while no
// reference exists; `slot` is touched by its one owner at a time (its claimer, then the
// completion), and its `Action` is `Send`; `task`'s closure is touched by one thread at a
// time (see `TaskCell`) and is `Send`. The rest is atomic or behind the mutex.
unsafe impl<T: Send> Sync for Inner<T> {}

impl<T> Inner<T> {
    pub(crate) fn new(spin: Duration, task: TaskCell<T>) -> Self {
        let spin_micros = u32::try_from(spin.as_micros()).unwrap_or(u32::MAX);
        Inner {
            state: AtomicUsize::new(PENDING),
            slot: UnsafeCell::new(None),
            rare: Mutex::new(Rare {
                listeners: None,
                guard: None,
            }),
            value: UnsafeCell::new(None),
            error: UnsafeCell::new(None),
            task,
            spin_micros,
        }
    }

    /// How long a thread blocked on this future alone spins before it parks.
    pub(crate) fn spin(&self) -> Duration {
        Duration::from_micros(u64::from(self.spin_micros))
    }

    pub(crate) fn status(&self) -> Status {
        Status::of(self.word())
    }

    /// The state word, loaded with `Acquire`: a thread that sees a final stage then reads
    /// what its CAS published. For the `*_from` methods, which start from it.
    pub(crate) fn word(&self) -> usize {
        self.state.load(Acquire)
    }

    /// True when `word` (from [`word`](Self::word)) says done.
    pub(crate) fn word_is_done(word: usize) -> bool {
        is_done(word)
    }

    /// True when the future finished with an error.
    pub(crate) fn failed(&self) -> bool {
        self.state.load(Acquire) & (STAGE | FAILED) == FINISHED | FAILED
    }

    /// How many listeners wait on this future (for tests that check nothing is left behind).
    #[cfg(test)]
    pub(crate) fn listener_count(&self) -> usize {
        // After `DONE` the bit stays, but the completion took the listener.
        let state = self.state.load(Acquire);
        let in_slot = usize::from(state & (SLOT_SET | DONE) == SLOT_SET);
        in_slot + lock(&self.rare).listeners.as_ref().map_or(0, |l| l.len())
    }

    /// The error a done future without a value gives, read from `state` (which this thread
    /// loaded with `Acquire`, or got from a successful RMW); `None` for a value.
    fn error_of(&self, state: usize) -> Option<FutureError> {
        match state & STAGE {
            FINISHED if state & FAILED != 0 => Some(FutureError::Failed(self.read_error())),
            FINISHED if state & TAKEN != 0 => Some(FutureError::Taken),
            FINISHED => None,
            // Cancelled (a future not done yet has no result either).
            _ => Some(FutureError::Cancelled),
        }
    }

    /// A clone of the error of a future whose word said `FINISHED | FAILED`.
    fn read_error(&self) -> TaskError {
        // SAFETY: the caller saw `FINISHED | FAILED` with `Acquire`: the error was written
        // before the CAS that published it and is never written again.
        self.error.with(|slot| match unsafe { &*slot } {
            Some(err) => TaskError::clone(err),
            None => TaskError::new(crate::TaskErrorKind::Other, "the error went missing"),
        })
    }

    /// Moves the word from a state `from` accepts to `to(state)`, starting from `state`
    /// (the word as this thread last saw it, or a guess: a CAS that finds another word
    /// goes on from that one, loaded with `Acquire`; a guess must be one `from` accepts,
    /// since a word `from` refuses is taken as the answer), returning the state it moved from and, when that was a guarded pending one, the cancel guard (for the
    /// caller to drop outside any lock, inside a panic boundary). `None` when the word is
    /// not in a state `from` accepts, or (for a `cancel`) when the guard refuses.
    ///
    /// A guarded pending future is moved under the rare lock (see `GUARDED`): there the
    /// stage cannot change under us, so a guard that allowed a cancel (and, in a process
    /// pool, marked the task cancelled where it runs) is always followed by the move.
    fn transit(
        &self,
        mut state: usize,
        from: impl Fn(usize) -> bool,
        to: impl Fn(usize) -> usize,
        cancel: bool,
    ) -> Option<(usize, Option<Box<CancelGuard>>)> {
        loop {
            if !from(state) {
                return None;
            }
            if state & GUARDED != 0 {
                break;
            }
            // AcqRel: Release publishes what this thread wrote before (a value, an
            // error); Acquire takes what the slot's owner and the last stage published.
            match self
                .state
                .compare_exchange_weak(state, to(state), AcqRel, Acquire)
            {
                Ok(_) => return Some((state, None)),
                Err(now) => state = now,
            }
        }
        let mut rare = lock(&self.rare);
        let mut state = self.state.load(Acquire);
        // Asked once: while `GUARDED` is set and this thread holds the lock, no other
        // thread moves the stage, so the answer holds until the CAS below succeeds.
        if cancel
            && is_pending(state)
            && state & GUARDED != 0
            && rare.guard.as_ref().is_some_and(|allows| !allows())
        {
            return None;
        }
        loop {
            if !from(state) {
                return None;
            }
            match self
                .state
                .compare_exchange_weak(state, to(state) & !GUARDED, AcqRel, Acquire)
            {
                Ok(_) => {
                    let guard = if state & GUARDED != 0 {
                        rare.guard.take()
                    } else {
                        None
                    };
                    return Some((state, guard));
                }
                Err(now) => state = now,
            }
        }
    }

    /// Moves a pending future to `Running`: true when this call did (its caller then owns
    /// the task's closure). A cancel guard it takes out is dropped here, outside the lock.
    pub(crate) fn start(&self) -> bool {
        self.start_seen().is_some()
    }

    /// [`start`](Self::start), giving the word its move stored (for the caller's
    /// [`complete_from`](Self::complete_from)); `None` when the future was not pending.
    pub(crate) fn start_seen(&self) -> Option<usize> {
        // The CAS starts from a guess, not a load: a queued task nobody waits on yet is
        // plain `PENDING`, and moves with one CAS; any other word fails it, and the loop
        // goes on from the word the CAS found (loaded with `Acquire`).
        let state = PENDING;
        let running = |s| s & !STAGE | RUNNING;
        let (before, guard) = self.transit(state, is_pending, running, false)?;
        drop_contained(guard);
        Some(running(before) & !GUARDED)
    }

    /// Moves a pending future to `Cancelled` (unless its guard refuses): then drops the
    /// guard, and the task's closure, outside any lock and inside panic boundaries, and
    /// tells the listeners. True when this call cancelled it.
    pub(crate) fn cancel(this: &Arc<Self>) -> bool {
        let state = this.state.load(Acquire);
        let Some((before, guard)) =
            this.transit(state, is_pending, |s| s & !STAGE | CANCELLED, true)
        else {
            return false;
        };
        drop_contained(guard);
        // SAFETY: this thread's CAS moved the stage off `PENDING`: the closure is its own.
        if let Some(closure) = unsafe { this.task.take() } {
            drop_contained(closure);
        }
        let told = this.take_listeners(before);
        run_listeners(told, this, false);
        true
    }

    /// Gives a pending future the executor's `guard` (see `Promise::set_cancel_guard`); a
    /// guard it replaces, or `guard` itself when the future left `Pending`, is dropped
    /// outside the lock.
    pub(crate) fn set_cancel_guard(&self, guard: CancelGuard) {
        let mut rare = lock(&self.rare);
        // Under the lock: a cancel that sees `GUARDED` waits here for the guard.
        let guarded = self
            .state
            .fetch_update(AcqRel, Acquire, |s| is_pending(s).then_some(s | GUARDED))
            .is_ok();
        let unused = if guarded {
            rare.guard.replace(Box::new(guard))
        } else {
            Some(Box::new(guard))
        };
        drop(rare);
        drop_contained(unused);
    }

    /// Completes the future with `result` and tells its listeners, unless it is done
    /// already (cancelled): then `result` is dropped, and false returned. The listeners
    /// run in this thread; no panic of theirs (nor of a value's drop, nor of a cancel
    /// guard's) gets out of here.
    ///
    /// Only the future's one completer calls this (see `Inner::value`).
    pub(crate) fn complete(this: &Arc<Self>, result: Result<T, TaskError>) -> bool {
        Self::complete_from(this, result, this.state.load(Acquire))
    }

    /// [`complete`](Self::complete), starting from a guess of `PENDING` (a promise's
    /// future nobody waits on yet): no load when that holds.
    pub(crate) fn complete_pending(this: &Arc<Self>, result: Result<T, TaskError>) -> bool {
        Self::complete_from(this, result, PENDING)
    }

    /// [`complete`](Self::complete), starting from `state`: the word as this thread last
    /// loaded or stored it (a task's runner passes what its `start_seen` stored, sparing a
    /// load; a CAS that finds the word changed since retries with what it found).
    pub(crate) fn complete_from(
        this: &Arc<Self>,
        result: Result<T, TaskError>,
        state: usize,
    ) -> bool {
        if is_done(state) {
            drop_contained(result);
            return false;
        }
        let failed = result.is_err();
        // Written before the CAS that publishes them: no other thread reads either cell
        // before it sees `FINISHED`.
        match result {
            // SAFETY: this thread is the one completer and the stage is not `FINISHED`:
            // no reader, lender or taker touches the cell (see its field doc).
            Ok(value) => this.value.with_mut(|slot| unsafe { *slot = Some(value) }),
            // SAFETY: as above, for the error cell.
            Err(err) => this
                .error
                .with_mut(|slot| unsafe { *slot = Some(Box::new(err)) }),
        }
        let flag = if failed { FAILED } else { 0 };
        // Starting from `state`: one CAS when nothing raced.
        match this.transit(
            state,
            |s| !is_done(s),
            |s| s & !STAGE | FINISHED | flag,
            false,
        ) {
            Some((before, guard)) => {
                if before & (SLOT_SET | MANY) == 0 && guard.is_none() {
                    // The usual case: nobody to tell, nothing to drop.
                    return true;
                }
                drop_contained(guard);
                let told = this.take_listeners(before);
                run_listeners(told, this, failed);
                true
            }
            None => {
                // Cancelled meanwhile: the cells were never published; empty them again.
                // SAFETY: as above: unpublished, and this thread is the one completer.
                let value = this.value.with_mut(|slot| unsafe { (*slot).take() });
                // SAFETY: as above.
                let error = this.error.with_mut(|slot| unsafe { (*slot).take() });
                drop_contained((value, error));
                false
            }
        }
    }

    /// The listeners of a future whose word this thread just moved to a final stage from
    /// `before`.
    fn take_listeners(&self, before: usize) -> Told<T> {
        let first = if before & SLOT_SET != 0 {
            // SAFETY: the final CAS saw `SLOT_SET`: the slot's listener is this thread's
            // now (its owner's CAS to clear `SLOT_SET` fails on `DONE`), and its write was
            // published by the `Release` of that owner's publish, taken by our `Acquire`.
            self.slot.with_mut(|slot| unsafe { (*slot).take() })
        } else {
            None
        };
        let rest = if before & MANY != 0 {
            // Locked after the final CAS: a registrar that set `MANY` before it has
            // inserted (under this lock) by the time we get it, and none inserts after.
            lock(&self.rare).listeners.as_mut().map(|l| l.take_all())
        } else {
            None
        };
        Told { first, rest }
    }

    /// Registers `action` while the future is not done (its key), or gives it back.
    pub(crate) fn register(&self, action: Action<T>) -> Result<Key, Action<T>> {
        self.register_from(self.state.load(Acquire), action)
    }

    /// [`register`](Self::register), starting from `state`, the word as this thread last
    /// loaded it (a CAS that finds it changed retries with what it found).
    fn register_from(&self, mut state: usize, action: Action<T>) -> Result<Key, Action<T>> {
        loop {
            if is_done(state) {
                return Err(action);
            }
            if state & (SLOT_CLAIMED | MANY) != 0 {
                return self.register_listed(action);
            }
            match self
                .state
                .compare_exchange_weak(state, state | SLOT_CLAIMED, Acquire, Acquire)
            {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        // SAFETY: this thread's CAS set `SLOT_CLAIMED`: the slot is its own until it
        // publishes (nobody else claims it, and a completion leaves a claimed, unset slot
        // alone).
        self.slot.with_mut(|slot| unsafe { *slot = Some(action) });
        self.publish_slot(state | SLOT_CLAIMED).map(|()| Key::Slot)
    }

    /// Publishes the listener this thread (the slot's owner) wrote in the slot, unless the
    /// future became done meanwhile: then the completion left the slot alone and the
    /// listener is given back, for the caller to act on the done future. `state` is this
    /// thread's guess of the word (what its own last CAS on it stored): when the word has
    /// not moved since, the publish is one CAS.
    fn publish_slot(&self, mut state: usize) -> Result<(), Action<T>> {
        loop {
            if is_done(state) {
                // SAFETY: the completion saw `SLOT_CLAIMED` without `SLOT_SET`, so it did
                // not touch the slot: it is still this thread's.
                let action = self.slot.with_mut(|slot| unsafe { (*slot).take() });
                return match action {
                    Some(action) => Err(action),
                    // Not reachable: this thread wrote it.
                    None => Ok(()),
                };
            }
            // Release: the completion that takes the listener sees it written.
            match self
                .state
                .compare_exchange_weak(state, state | SLOT_SET, AcqRel, Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(now) => state = now,
            }
        }
    }

    /// Takes the slot's listener back from the word while the future is not done (the
    /// caller holds `Key::Slot`): `Some` with the listener, the slot still claimed by this
    /// thread (`SLOT_SET` cleared); `Err` with the word it saw (loaded `Relaxed`) when the
    /// future is done (the completion has it).
    fn unpublish_slot(&self) -> Result<Option<Action<T>>, usize> {
        let mut state = self.state.load(Relaxed);
        loop {
            if is_done(state) || state & SLOT_SET == 0 {
                return Err(state);
            }
            // Acquire: pairs with our own publish (the slot is read back below).
            match self
                .state
                .compare_exchange_weak(state, state & !SLOT_SET, Acquire, Relaxed)
            {
                // SAFETY: `SLOT_SET` cleared by this thread while not done: the slot is
                // its own again (a completion now leaves it alone).
                Ok(_) => return Ok(self.slot.with_mut(|slot| unsafe { (*slot).take() })),
                Err(now) => state = now,
            }
        }
    }

    /// Adds `action` to the list (the slot is taken, or the list already used).
    fn register_listed(&self, action: Action<T>) -> Result<Key, Action<T>> {
        let mut rare = lock(&self.rare);
        // `MANY` set under the lock by a CAS that fails once done: a completion either
        // comes before (we see `DONE`) or sees `MANY` and locks after our insert.
        let listed = self
            .state
            .fetch_update(AcqRel, Acquire, |s| (!is_done(s)).then_some(s | MANY));
        if listed.is_err() {
            return Err(action);
        }
        let list = rare
            .listeners
            .get_or_insert_with(|| Box::new(Listeners::new()));
        Ok(Key::List(list.insert(action)))
    }

    /// Removes the listener registered under `key`, if it has not been taken by the
    /// completion; it is dropped outside the lock.
    pub(crate) fn unregister(&self, key: Key) {
        let removed = match key {
            Key::Slot => {
                let removed = self.unpublish_slot().ok();
                if removed.is_some() {
                    // Release: the next owner's writes come after our take.
                    self.state.fetch_and(!SLOT_CLAIMED, Release);
                }
                removed.flatten()
            }
            Key::List(key) => lock(&self.rare)
                .listeners
                .as_mut()
                .and_then(|l| l.remove(key)),
        };
        drop_contained(removed);
    }

    /// Reads a done future's result: a clone of its value (by a counted reader, so the
    /// value stays in place meanwhile), or its error.
    pub(crate) fn clone_result(&self) -> Result<T, FutureError>
    where
        T: Clone + Sync,
    {
        // Counted first, then checked: a `take` either moved the value before (we see
        // `TAKEN`) or sees us counted and waits.
        let state = self.state.fetch_add(READER, Acquire);
        if readers(state) >= MAX_READERS {
            std::process::abort();
        }
        let _reading = Reading(self);
        if let Some(err) = self.error_of(state) {
            return Err(err);
        }
        // SAFETY: `FINISHED` without `FAILED` or `TAKEN`, seen with `Acquire`, and this
        // thread is counted: the value is in place and stays there, unchanged, until
        // `_reading` uncounts it; shared references from several threads are fine since
        // `T: Sync`.
        self.value.with(|slot| match unsafe { &*slot } {
            Some(value) => Ok(value.clone()),
            None => Err(FutureError::Taken),
        })
    }

    /// Lends a done future's value out for as long as `self` lives (`LENT` after, so
    /// nothing moves it again), or gives its error.
    pub(crate) fn lend_result(&self) -> Result<&T, FutureError>
    where
        T: Sync,
    {
        let mut state = self.state.load(Acquire);
        loop {
            if let Some(err) = self.error_of(state) {
                return Err(err);
            }
            if state & LENT != 0 {
                break;
            }
            match self
                .state
                .compare_exchange_weak(state, state | LENT, Acquire, Acquire)
            {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        // SAFETY: `LENT` is set on a finished future whose value was not taken: the value
        // is `Some` and never written or moved again (`complete` writes only before it is
        // finished, `take_result` refuses a lent value); it is dropped only with `self`,
        // which the returned reference cannot outlive. Shared references from several
        // threads are fine since `T: Sync`.
        self.value
            .with(|slot| unsafe { (*slot).as_ref() })
            .ok_or(FutureError::Taken)
    }

    /// [`take_result`](Self::take_result), first trying one CAS from `guess`, the word as
    /// this thread last saw it (loaded with any ordering): when it says finished with a
    /// value nobody reads, lent or took, and the word is still that, the CAS moves the
    /// value out with no load before it (its `Acquire` reads the word in the release
    /// sequence of the completion: every change of the word is an RMW). Anything else (an
    /// error, which must be read after an `Acquire` load; a word that moved) goes the
    /// usual way.
    pub(crate) fn take_result_from(&self, guess: usize) -> Result<T, FutureError> {
        if guess & (STAGE | FAILED | TAKEN | LENT) == FINISHED
            && readers(guess) == 0
            && self
                .state
                .compare_exchange(guess, guess | TAKEN, Acquire, Relaxed)
                .is_ok()
        {
            // SAFETY: as in `take_result`: this thread's CAS set `TAKEN` on a finished,
            // unlent future with no reader counted.
            return self
                .value
                .with_mut(|slot| unsafe { (*slot).take() })
                .ok_or(FutureError::Taken);
        }
        self.take_result()
    }

    /// Moves a done future's value out (`TAKEN` after), or gives its error (a lent value
    /// stays: `Lent`). Waits for threads still cloning the value.
    pub(crate) fn take_result(&self) -> Result<T, FutureError> {
        let mut state = self.state.load(Acquire);
        loop {
            if let Some(err) = self.error_of(state) {
                return Err(err);
            }
            if state & LENT != 0 {
                return Err(FutureError::Lent);
            }
            if readers(state) != 0 {
                // Another thread is cloning the value (user code): let it finish.
                yield_now();
                state = self.state.load(Acquire);
                continue;
            }
            // Acquire: the readers' last uses of the value (their `Release` uncount) come
            // before our move.
            match self
                .state
                .compare_exchange_weak(state, state | TAKEN, Acquire, Acquire)
            {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        // SAFETY: this thread's CAS set `TAKEN` on a finished, unlent future with no
        // reader counted: no reference to the value exists, and none is made again.
        self.value
            .with_mut(|slot| unsafe { (*slot).take() })
            .ok_or(FutureError::Taken)
    }

    /// The error of a failed future, `None` for one with a value (taken or not),
    /// `Cancelled` for a cancelled one (Python's `exception()`).
    pub(crate) fn exception(&self) -> Result<Option<TaskError>, FutureError> {
        let state = self.state.load(Acquire);
        match state & STAGE {
            FINISHED if state & FAILED != 0 => Ok(Some(self.read_error())),
            FINISHED => Ok(None),
            _ => Err(FutureError::Cancelled),
        }
    }

    /// A word for `Debug`.
    pub(crate) fn describe(&self) -> &'static str {
        let state = self.state.load(Acquire);
        match (state & STAGE, state & (FAILED | TAKEN | LENT)) {
            (PENDING, _) => "pending",
            (RUNNING, _) => "running",
            (CANCELLED, _) => "cancelled",
            (_, flags) if flags & FAILED != 0 => "failed",
            (_, flags) if flags & TAKEN != 0 => "finished (value taken)",
            (_, flags) if flags & LENT != 0 => "finished (value lent)",
            _ => "finished",
        }
    }

    /// True when done; else leaves `waker` registered under `*key`. The waker is cloned,
    /// and a replaced one dropped, while this thread holds no lock: both are user code.
    pub(crate) fn poll_done(&self, waker: &Waker, key: &mut Option<Key>) -> bool {
        self.poll_done_from(waker, key, &mut None)
    }

    /// [`poll_done`](Self::poll_done), trading words with the caller: a first poll (`*key`
    /// is `None`) starts from `*seen`, when given, the word as this thread just loaded it
    /// (with `Acquire`), sparing a load; a poll that finds the future done may leave in
    /// `*seen` the word it saw (for [`take_result_from`](Self::take_result_from)).
    pub(crate) fn poll_done_from(
        &self,
        waker: &Waker,
        key: &mut Option<Key>,
        seen: &mut Option<usize>,
    ) -> bool {
        match *key {
            None => {
                let state = seen.take().unwrap_or_else(|| self.state.load(Acquire));
                if is_done(state) {
                    *seen = Some(state);
                    return true;
                }
                match self.register_from(state, Action::Wake(waker.clone())) {
                    Ok(registered) => {
                        *key = Some(registered);
                        false
                    }
                    Err(unused) => {
                        drop_contained(unused);
                        true
                    }
                }
            }
            Some(Key::Slot) => self.repoll_slot(waker, key, seen),
            Some(Key::List(listed)) => self.repoll_listed(waker, listed, key),
        }
    }

    /// A poll of a handle whose waker is in the slot: keeps it when it wakes the same task,
    /// else swaps in a clone of `waker`.
    fn repoll_slot(&self, waker: &Waker, key: &mut Option<Key>, seen: &mut Option<usize>) -> bool {
        let old = match self.unpublish_slot() {
            Ok(old) => old,
            Err(word) => {
                // Done: the completion took the waker.
                *seen = Some(word);
                return true;
            }
        };
        let Some(old) = old else {
            // Not reachable (the slot's owner always leaves a listener in it): give the
            // slot up and register afresh.
            self.state.fetch_and(!SLOT_CLAIMED, Release);
            *key = None;
            return self.poll_done_from(waker, key, seen);
        };
        let same = matches!(&old, Action::Wake(w) if w.will_wake(waker));
        // Put back first even when it is to be replaced: the clone below is user code, and
        // if it panics the handle must still hold a registration its drop can remove.
        if let Some(unused) = self.put_back(old) {
            // Done meanwhile: the completion left the slot to us.
            drop_contained(unused);
            return true;
        }
        if same {
            return false;
        }
        let new = waker.clone();
        let Ok(old) = self.unpublish_slot() else {
            drop_contained(new);
            return true;
        };
        let given_back = self.put_back(Action::Wake(new));
        drop_contained(old);
        match given_back {
            Some(unused) => {
                drop_contained(unused);
                true
            }
            None => false,
        }
    }

    /// Writes `action` into the slot this thread owns (it cleared `SLOT_SET` itself) and
    /// publishes it; `Some` (the action, to drop) when the future became done meanwhile.
    fn put_back(&self, action: Action<T>) -> Option<Action<T>> {
        // SAFETY: this thread cleared `SLOT_SET` itself and has not published since: the
        // slot is its own.
        self.slot.with_mut(|slot| unsafe { *slot = Some(action) });
        self.publish_slot(self.state.load(Relaxed)).err()
    }

    /// A poll of a handle whose waker is in the list (as before the slot existed: the
    /// clone outside the lock, then a second look).
    fn repoll_listed(&self, waker: &Waker, listed: listeners::Key, key: &mut Option<Key>) -> bool {
        let mut clone: Option<Waker> = None;
        loop {
            let mut rare = lock(&self.rare);
            if is_done(self.state.load(Acquire)) {
                drop(rare);
                drop_contained(clone);
                return true;
            }
            let Some(list) = rare.listeners.as_mut() else {
                return true;
            };
            if list.is_waking(listed, waker) {
                drop(rare);
                drop_contained(clone);
                return false;
            }
            let Some(new) = clone.take() else {
                drop(rare);
                clone = Some(waker.clone());
                continue;
            };
            let replaced = match list.rewake(listed, new) {
                Ok(old) => Some(old),
                Err(new) => {
                    // Its listener is gone (not reachable while not done): list anew.
                    *key = Some(Key::List(list.insert(Action::Wake(new))));
                    None
                }
            };
            drop(rare);
            drop_contained(replaced);
            return false;
        }
    }
}

/// Uncounts a reader of the value, also when its `clone` panics.
struct Reading<'a, T>(&'a Inner<T>);

impl<T> Drop for Reading<'_, T> {
    fn drop(&mut self) {
        // Release: our reads of the value come before a `take`'s move (its Acquire).
        self.0.state.fetch_sub(READER, Release);
    }
}

/// Runs the listeners of a future that just became done, in registration order, outside
/// any lock. A panicking callback is caught and reported on stderr, a panicking waker is
/// caught; either way the others still run.
pub(crate) fn run_listeners<T>(told: Told<T>, inner: &Arc<Inner<T>>, failed: bool) {
    let mut future = None;
    for listener in told
        .first
        .into_iter()
        .chain(told.rest.into_iter().flatten())
    {
        match listener {
            Action::Wake(waker) => contain(move || waker.wake()),
            Action::DoneQueue(done_queue, index) => done_queue.record(index, failed),
            Action::Callback(callback) => {
                let future =
                    future.get_or_insert_with(|| crate::TaskFuture::from_inner(inner.clone()));
                run_callback(callback, future);
            }
        }
    }
    drop_contained(future);
}

/// Runs one callback, catching and reporting a panic (Python logs it and goes on).
pub(crate) fn run_callback<T>(
    callback: crate::future::listeners::Callback<T>,
    future: &crate::TaskFuture<T>,
) {
    if let Err(err) = crate::unwind::catch_panic(move || callback(future)) {
        eprintln!(
            "future-core: a done callback panicked (the other callbacks still ran): {}",
            err.message()
        );
    }
}

/// The state word's cells on every path, with real threads: small enough for Miri under
/// many schedules (`cargo xtask miri`), which checks each cell access against the others.
#[cfg(all(test, not(loom)))]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Wake, Waker};

    use crate::FutureError;
    use crate::executor::Promise;

    /// Counts its wake-ups.
    struct Counting(AtomicUsize);

    impl Wake for Counting {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting() -> (std::sync::Arc<Counting>, Waker) {
        let counter = std::sync::Arc::new(Counting(AtomicUsize::new(0)));
        (counter.clone(), Waker::from(counter))
    }

    /// A callback in the slot, one in the list, a waiter and a reader, against the
    /// completion on another thread: each callback once, the waiter and reader get the
    /// value, the take after them moves it.
    #[test]
    fn slot_list_waiter_and_reader_race_the_completion() {
        let (promise, future) = Promise::<String>::new();
        let calls = std::sync::Arc::new(AtomicUsize::new(0));
        for _ in 0..2 {
            let calls = calls.clone();
            future.add_done_callback(move |f| {
                assert_eq!(f.result().as_deref(), Ok("v"));
                calls.fetch_add(1, Ordering::SeqCst);
            });
        }
        let producer = std::thread::spawn(move || promise.set_result("v".to_owned()));
        let waiter = {
            let future = future.clone();
            std::thread::spawn(move || future.result())
        };
        assert_eq!(future.result().as_deref(), Ok("v"));
        assert_eq!(waiter.join().unwrap().as_deref(), Ok("v"));
        producer.join().unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(future.take().as_deref(), Ok("v"));
        assert_eq!(future.result(), Err(FutureError::Taken));
    }

    /// An `.await` that changes its waker, gives up in the slot and in the list, while
    /// another thread completes: no waker is left behind or woken after its handle went.
    #[test]
    fn polls_that_change_wakers_and_give_up_race_the_completion() {
        let (promise, future) = Promise::<Vec<u8>>::new();
        let (first, first_waker) = counting();
        let (second, second_waker) = counting();
        let mut slot_handle = future.clone();
        let mut list_handle = future.clone();
        let poll = |handle: &mut crate::TaskFuture<Vec<u8>>, waker: &Waker| {
            Pin::new(handle).poll(&mut Context::from_waker(waker))
        };
        assert!(poll(&mut slot_handle, &first_waker).is_pending());
        assert!(poll(&mut list_handle, &first_waker).is_pending());
        assert_eq!(future.inner.listener_count(), 2);
        let producer = std::thread::spawn(move || promise.set_result(vec![1, 2]));
        let slot_ready = poll(&mut slot_handle, &second_waker);
        drop(slot_handle);
        let list_ready = poll(&mut list_handle, &second_waker);
        drop(list_handle);
        producer.join().unwrap();
        // The value went to at most one handle.
        let took = [&slot_ready, &list_ready]
            .iter()
            .filter(|p| matches!(p, Poll::Ready(Ok(_))))
            .count();
        assert!(took <= 1);
        assert_eq!(future.inner.listener_count(), 0);
        assert!(first.0.load(Ordering::SeqCst) + second.0.load(Ordering::SeqCst) <= 2);
        if took == 0 {
            assert_eq!(future.take(), Ok(vec![1, 2]));
        }
    }

    /// A failed task's error is read by several threads at once, and a cancel after the
    /// completion changes nothing.
    #[test]
    fn an_error_is_read_by_many_threads() {
        let (promise, future) = Promise::<u8>::new();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let future = future.clone();
                std::thread::spawn(move || future.exception())
            })
            .collect();
        promise.set_error(crate::TaskError::new(crate::TaskErrorKind::Other, "bad"));
        assert!(!future.cancel());
        for reader in readers {
            let err = reader.join().unwrap().unwrap().expect("failed");
            assert_eq!(err.message(), "bad");
        }
        assert!(matches!(future.take(), Err(FutureError::Failed(_))));
    }

    /// A value completed into a future cancelled meanwhile is dropped, once.
    #[test]
    fn a_completion_after_a_cancel_drops_its_value() {
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        struct Counted(std::sync::Arc<AtomicUsize>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let (promise, future) = Promise::<Counted>::new();
        let kept = future.clone();
        let canceller = std::thread::spawn(move || future.cancel());
        promise.set_result(Counted(drops.clone()));
        let cancelled = canceller.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), usize::from(cancelled));
        drop(kept);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }
}
