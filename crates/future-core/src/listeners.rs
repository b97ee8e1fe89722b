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

/// The registered listeners of one future.
pub(crate) struct Listeners<T> {
    slots: Vec<Option<Entry<T>>>,
    /// Free slots, reused before the vector grows.
    free: Vec<u32>,
    next_seq: u64,
    live: usize,
}

impl<T> Listeners<T> {
    pub(crate) const fn new() -> Self {
        Listeners {
            slots: Vec::new(),
            free: Vec::new(),
            next_seq: 0,
            live: 0,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Adds `action`; returns its key.
    pub(crate) fn insert(&mut self, action: Action<T>) -> Key {
        let seq = self.next_seq;
        self.next_seq += 1;
        // Nonzero, and different for each registration of the last four billion.
        let tag = (seq as u32).wrapping_add(1).max(1);
        let entry = Some(Entry { seq, tag, action });
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = entry;
                slot
            }
            None => {
                self.slots.push(entry);
                // A future with four billion listeners at once is out of memory first.
                (self.slots.len() - 1) as u32
            }
        };
        self.live += 1;
        Key::new(slot, tag)
    }

    /// Takes out the listener `key`, if it is still registered.
    pub(crate) fn remove(&mut self, key: Key) -> Option<Action<T>> {
        let slot = self.slots.get_mut(key.slot())?;
        if slot.as_ref().is_none_or(|entry| entry.tag != key.tag()) {
            return None;
        }
        let entry = slot.take()?;
        self.free.push(key.slot() as u32);
        self.live -= 1;
        Some(entry.action)
    }

    /// Points the waker listener `key` at `waker`; returns the waker it replaces (for the
    /// caller to drop outside the lock), or gives `waker` back when no listener `key` is
    /// left (it ran, or was removed).
    pub(crate) fn rewake(&mut self, key: Key, waker: Waker) -> Result<Waker, Waker> {
        match self.slots.get_mut(key.slot()) {
            Some(Some(Entry {
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
            Some(Some(Entry { tag, action: Action::Wake(old), .. })) if *tag == key.tag() && old.will_wake(waker)
        )
    }

    /// Takes every listener, in registration order; the set is empty afterwards.
    pub(crate) fn take_all(&mut self) -> Vec<Action<T>> {
        if self.slots.is_empty() {
            // The usual case: nobody registered.
            return Vec::new();
        }
        self.free.clear();
        self.live = 0;
        let mut entries: Vec<Entry<T>> = std::mem::take(&mut self.slots)
            .into_iter()
            .flatten()
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
