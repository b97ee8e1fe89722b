//! [`Listeners`]: what a pending future tells when it becomes done, kept in a slab so that a
//! waiter that gives up removes itself in constant time (many timed waiters on one future
//! cost `O(n)`, not `O(n²)`), and handed out in registration order.

use std::num::NonZeroU64;
use std::task::Waker;

/// A done-callback of the public API, or an internal one (a `wait` tally, ...). It gets the
/// future it was registered on.
pub(crate) type Callback<T> = Box<dyn FnOnce(&crate::TaskFuture<T>) + Send>;

/// What to do when the future becomes done.
pub(crate) enum Action<T> {
    Callback(Callback<T>),
    Wake(Waker),
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
    /// Registration order.
    seq: u64,
    /// The high half of its key.
    tag: u32,
    action: Action<T>,
}

/// A slot: a registered listener, or a free slot with the next free one.
enum Slot<T> {
    Used(Entry<T>),
    Free { next: u32 },
}

/// No free slot.
const NO_FREE: u32 = u32::MAX;

/// The registered listeners of one future.
pub(crate) struct Listeners<T> {
    slots: Vec<Slot<T>>,
    /// The first free slot, reused before the vector grows (a list through the slots).
    free: u32,
    next_seq: u64,
}

impl<T> Listeners<T> {
    pub(crate) const fn new() -> Self {
        Listeners {
            slots: Vec::new(),
            free: NO_FREE,
            next_seq: 0,
        }
    }

    /// True when no listener was ever registered (or all were taken).
    pub(crate) fn is_untouched(&self) -> bool {
        self.slots.is_empty()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots
            .iter()
            .filter(|slot| matches!(slot, Slot::Used(_)))
            .count()
    }

    /// Adds `action`; returns its key.
    pub(crate) fn insert(&mut self, action: Action<T>) -> Key {
        let seq = self.next_seq;
        self.next_seq += 1;
        // Nonzero, and different for each registration of the last four billion.
        let tag = (seq as u32).wrapping_add(1).max(1);
        let entry = Slot::Used(Entry { seq, tag, action });
        let slot = if self.free == NO_FREE {
            self.slots.push(entry);
            // A future with four billion listeners at once is out of memory first.
            (self.slots.len() - 1) as u32
        } else {
            let slot = self.free;
            if let Some(Slot::Free { next }) = self.slots.get(slot as usize) {
                self.free = *next;
            }
            self.slots[slot as usize] = entry;
            slot
        };
        Key::new(slot, tag)
    }

    /// Takes out the listener `key`, if it is still registered.
    pub(crate) fn remove(&mut self, key: Key) -> Option<Action<T>> {
        let slot = self.slots.get_mut(key.slot())?;
        if !matches!(slot, Slot::Used(entry) if entry.tag == key.tag()) {
            return None;
        }
        let freed = std::mem::replace(slot, Slot::Free { next: self.free });
        self.free = key.slot() as u32;
        match freed {
            Slot::Used(entry) => Some(entry.action),
            Slot::Free { .. } => None,
        }
    }

    /// Points the waker listener `key` at `waker`; returns the waker it replaces (for the
    /// caller to drop outside the lock), or gives `waker` back when no listener `key` is
    /// left (it ran, or was removed).
    pub(crate) fn rewake(&mut self, key: Key, waker: Waker) -> Result<Waker, Waker> {
        match self.slots.get_mut(key.slot()) {
            Some(Slot::Used(Entry {
                tag,
                action: Action::Wake(old),
                ..
            })) if *tag == key.tag() => Ok(std::mem::replace(old, waker)),
            _ => Err(waker),
        }
    }

    /// True when the listener `key` is a waker that wakes the same task as `waker`
    /// (`Waker::will_wake` only compares pointers: no user code runs).
    pub(crate) fn is_waking(&self, key: Key, waker: &Waker) -> bool {
        matches!(
            self.slots.get(key.slot()),
            Some(Slot::Used(Entry { tag, action: Action::Wake(old), .. })) if *tag == key.tag() && old.will_wake(waker)
        )
    }

    /// Takes every listener, in registration order; the set is empty afterwards.
    pub(crate) fn take_all(&mut self) -> Vec<Action<T>> {
        if self.slots.is_empty() {
            // The usual case: nobody registered.
            return Vec::new();
        }
        self.free = NO_FREE;
        let mut entries: Vec<Entry<T>> = std::mem::take(&mut self.slots)
            .into_iter()
            .filter_map(|slot| match slot {
                Slot::Used(entry) => Some(entry),
                Slot::Free { .. } => None,
            })
            .collect();
        // Slots are reused, so slot order is not registration order.
        entries.sort_unstable_by_key(|entry| entry.seq);
        entries.into_iter().map(|entry| entry.action).collect()
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
                Action::Callback(_) => 0,
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
