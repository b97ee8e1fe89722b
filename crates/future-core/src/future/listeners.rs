//! [`Listeners`]: what a pending future tells when it becomes done, kept in a slab so that a
//! waiter that gives up removes itself in constant time (many timed waiters on one future
//! cost `O(n)`, not `O(n²)`), and handed out in registration order.

use std::num::NonZeroU64;
use std::task::Waker;

/// A done-callback of the public API, or an internal one (a `wait` done_queue, ...). It gets the
/// future it was registered on.
pub(crate) type Callback<T> = Box<dyn FnOnce(&crate::TaskFuture<T>) + Send>;

/// What to do when the future becomes done.
pub(crate) enum Action<T> {
    Callback(Callback<T>),
    Wake(Waker),
    /// Record the future's index in a done queue (`wait`, `as_completed`, the unordered map):
    /// a callback without a box.
    DoneQueue(
        crate::sync::Arc<crate::waiting::done_queue::DoneQueue>,
        usize,
    ),
}

/// Names one registration in one word: its slot (low half) and a nonzero tag (high half)
/// that tells a reused slot from the one the key was made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key(NonZeroU64);

impl Key {
    fn new(slot: u32, tag: u32) -> Key {
        let word = u64::from(tag) << 32 | u64::from(slot);
        // `tag` is never zero (see `Listeners::insert`), so neither is the word.
        Key(NonZeroU64::new(word).unwrap_or(NonZeroU64::MIN))
    }

    fn slot(self) -> usize {
        (self.0.get() & u64::from(u32::MAX)) as usize
    }

    fn tag(self) -> u32 {
        (self.0.get() >> 32) as u32
    }
}

struct Entry<T> {
    /// Registration order (and the high half of its key): nonzero, wrapping after four
    /// billion registrations on one future.
    seq: u32,
    action: Action<T>,
}

/// A slot: a registered listener, a free slot with the next free one, or a slot never
/// used (only the inline one).
enum Slot<T> {
    Used(Entry<T>),
    Free { next: u32 },
    Unused,
}

/// No free slot.
const NO_FREE: u32 = u32::MAX;

/// The registered listeners of one future. The first slot is inline: a future usually has
/// at most one listener at a time (its waiter), which then costs no allocation, and the
/// others (rare) are boxed, so that every future stays small.
///
/// Freed slots, the inline one included, form one free list (most recently freed first),
/// and a registration takes its head before the table grows: the table never holds more
/// slots than the most listeners it ever held at once, however often they come and go.
pub(crate) struct Listeners<T> {
    /// Slot 0.
    first: Slot<T>,
    /// Slots 1 and up, once a second listener came.
    more: Option<Box<More<T>>>,
    /// The last registration's number.
    seq: u32,
    /// The head of the free list: a `Slot::Free`, or `NO_FREE`.
    free: u32,
}

/// Slots 1 and up.
struct More<T> {
    slots: Vec<Slot<T>>,
}

impl<T> Listeners<T> {
    pub(crate) const fn new() -> Self {
        Listeners {
            first: Slot::Unused,
            more: None,
            seq: 0,
            free: NO_FREE,
        }
    }

    fn slot(&self, index: usize) -> Option<&Slot<T>> {
        match index {
            0 => Some(&self.first),
            _ => self.more.as_ref()?.slots.get(index - 1),
        }
    }

    fn slot_mut(&mut self, index: usize) -> Option<&mut Slot<T>> {
        match index {
            0 => Some(&mut self.first),
            _ => self.more.as_mut()?.slots.get_mut(index - 1),
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let more = self.more.iter().flat_map(|more| more.slots.iter());
        std::iter::once(&self.first)
            .chain(more)
            .filter(|slot| matches!(slot, Slot::Used(_)))
            .count()
    }

    /// How many slots the table holds, used or free (the inline one included).
    #[cfg(test)]
    fn slot_count(&self) -> usize {
        1 + self.more.as_ref().map_or(0, |more| more.slots.len())
    }

    /// Adds `action`; returns its key.
    pub(crate) fn insert(&mut self, action: Action<T>) -> Key {
        // Nonzero, and different for each registration of the last four billion.
        self.seq = self.seq.wrapping_add(1).max(1);
        let seq = self.seq;
        let entry = Slot::Used(Entry { seq, action });
        if matches!(self.first, Slot::Unused) {
            self.first = entry;
            return Key::new(0, seq);
        }
        let free = self.free;
        // `NO_FREE` names no slot (the table never gets that long), and the free list only
        // links free slots: this finds the head exactly when there is one.
        if let Some(place @ Slot::Free { .. }) = self.slot_mut(free as usize) {
            if let Slot::Free { next } = std::mem::replace(place, entry) {
                self.free = next;
            }
            return Key::new(free, seq);
        }
        let more = self
            .more
            .get_or_insert_with(|| Box::new(More { slots: Vec::new() }));
        more.slots.push(entry);
        // A future with four billion listeners at once is out of memory first.
        Key::new(more.slots.len() as u32, seq)
    }

    /// Takes out the listener `key`, if it is still registered; its slot heads the free
    /// list.
    pub(crate) fn remove(&mut self, key: Key) -> Option<Action<T>> {
        let next = self.free;
        let slot = self.slot_mut(key.slot())?;
        if !matches!(slot, Slot::Used(entry) if entry.seq == key.tag()) {
            return None;
        }
        let freed = std::mem::replace(slot, Slot::Free { next });
        self.free = key.slot() as u32;
        match freed {
            Slot::Used(entry) => Some(entry.action),
            Slot::Free { .. } | Slot::Unused => None,
        }
    }

    /// Points the waker listener `key` at `waker`; returns the waker it replaces (for the
    /// caller to drop outside the lock), or gives `waker` back when no listener `key` is
    /// left (it ran, or was removed).
    pub(crate) fn rewake(&mut self, key: Key, waker: Waker) -> Result<Waker, Waker> {
        match self.slot_mut(key.slot()) {
            Some(Slot::Used(Entry {
                seq,
                action: Action::Wake(old),
            })) if *seq == key.tag() => Ok(std::mem::replace(old, waker)),
            _ => Err(waker),
        }
    }

    /// True when the listener `key` is a waker that wakes the same task as `waker`
    /// (`Waker::will_wake` only compares pointers: no user code runs).
    pub(crate) fn is_waking(&self, key: Key, waker: &Waker) -> bool {
        matches!(
            self.slot(key.slot()),
            Some(Slot::Used(Entry { seq, action: Action::Wake(old) })) if *seq == key.tag() && old.will_wake(waker)
        )
    }

    /// Takes every listener, in registration order; the set is empty afterwards.
    pub(crate) fn take_all(&mut self) -> Taken<T> {
        let first = std::mem::replace(&mut self.first, Slot::Unused);
        self.free = NO_FREE;
        let Some(more) = self.more.take() else {
            // The usual case: at most the inline one, and no allocation.
            return Taken(
                match first {
                    Slot::Used(entry) => Some(entry.action),
                    Slot::Free { .. } | Slot::Unused => None,
                },
                Vec::new(),
            );
        };
        let mut entries: Vec<Entry<T>> = std::iter::once(first)
            .chain(more.slots)
            .filter_map(|slot| match slot {
                Slot::Used(entry) => Some(entry),
                Slot::Free { .. } | Slot::Unused => None,
            })
            .collect();
        // Slots are reused, so slot order is not registration order.
        entries.sort_unstable_by_key(|entry| entry.seq);
        Taken(
            None,
            entries.into_iter().map(|entry| entry.action).collect(),
        )
    }
}

/// The listeners taken from a future that became done, in registration order: one without
/// an allocation, or many.
pub(crate) struct Taken<T>(Option<Action<T>>, Vec<Action<T>>);

impl<T> IntoIterator for Taken<T> {
    type Item = Action<T>;
    type IntoIter =
        std::iter::Chain<std::option::IntoIter<Action<T>>, std::vec::IntoIter<Action<T>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter().chain(self.1)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn waker() -> Waker {
        Waker::noop().clone()
    }

    fn order(listeners: &mut Listeners<u8>) -> Vec<usize> {
        listeners
            .take_all()
            .into_iter()
            .map(|action| match action {
                Action::Callback(_) | Action::DoneQueue(..) => 0,
                Action::Wake(_) => 1,
            })
            .collect()
    }

    #[test]
    fn removal_is_by_key_and_a_reused_slot_does_not_answer_an_old_key() {
        let mut listeners = Listeners::<u8>::new();
        let a = listeners.insert(Action::Wake(waker()));
        let b = listeners.insert(Action::Wake(waker()));
        assert!(listeners.remove(a).is_some());
        assert!(listeners.remove(a).is_none(), "removed once");
        let c = listeners.insert(Action::Wake(waker()));
        assert_eq!(c.slot(), a.slot(), "the free slot is reused");
        assert!(listeners.remove(a).is_none(), "the old key names nothing");
        assert!(listeners.rewake(a, waker()).is_err());
        assert!(listeners.rewake(c, waker()).is_ok());
        assert_eq!(listeners.len(), 2);
        assert!(listeners.remove(b).is_some());
        assert!(listeners.remove(c).is_some());
        assert_eq!(listeners.len(), 0);
    }

    /// Two waiters that register and give up over and over (two `result_timeout`s, a
    /// `select!` over two clones) with at most two listeners at a time keep two slots.
    #[test]
    fn two_waiters_that_come_and_go_keep_two_slots() {
        let mut listeners = Listeners::<u8>::new();
        for _ in 0..100 {
            let a = listeners.insert(Action::Wake(waker()));
            let b = listeners.insert(Action::Wake(waker()));
            assert!(listeners.remove(a).is_some());
            assert!(listeners.remove(b).is_some());
        }
        assert_eq!(listeners.slot_count(), 2);
        assert_eq!(listeners.len(), 0);
    }

    /// A slot is added only when every slot is used: whatever the order of registrations
    /// and removals, the table never holds more slots than the most listeners it ever held
    /// at once, and the listeners left come out in registration order.
    #[test]
    fn freed_slots_are_always_reused_whatever_the_order() {
        const MOST: usize = 5;
        let steps = if cfg!(miri) { 300 } else { 30_000 };
        let done_queue = crate::waiting::done_queue::DoneQueue::new(0);
        let mut listeners = Listeners::<u8>::new();
        // Live registrations (their number and key), in registration order.
        let mut live: Vec<(usize, Key)> = Vec::new();
        let mut peak = 1;
        let mut random = 0x2545_f491_4f6c_dd1d_u64;
        for number in 0..steps {
            // xorshift64: a fixed pseudo-random walk.
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            if live.is_empty() || (live.len() < MOST && random % 2 == 0) {
                let key = listeners.insert(Action::DoneQueue(done_queue.clone(), number));
                live.push((number, key));
                peak = peak.max(live.len());
            } else {
                let (_, key) = live.remove((random >> 8) as usize % live.len());
                assert!(listeners.remove(key).is_some(), "a live key answers");
                assert!(listeners.remove(key).is_none(), "and only once");
            }
            assert!(
                listeners.slot_count() <= peak,
                "{} slots for at most {peak} listeners at once",
                listeners.slot_count()
            );
            assert_eq!(listeners.len(), live.len());
        }
        let left: Vec<usize> = listeners
            .take_all()
            .into_iter()
            .map(|action| match action {
                Action::DoneQueue(_, number) => number,
                Action::Callback(_) | Action::Wake(_) => usize::MAX,
            })
            .collect();
        let expected: Vec<usize> = live.iter().map(|&(number, _)| number).collect();
        assert_eq!(left, expected);
    }

    #[test]
    fn take_all_gives_registration_order_even_across_reused_slots() {
        let mut listeners = Listeners::<u8>::new();
        let first = listeners.insert(Action::Wake(waker()));
        let _second = listeners.insert(Action::Callback(Box::new(|_| {})));
        assert!(listeners.remove(first).is_some());
        // Registered last, stored in the first slot.
        let _third = listeners.insert(Action::Wake(waker()));
        assert_eq!(order(&mut listeners), vec![0, 1]);
        assert_eq!(listeners.len(), 0);
    }
}
