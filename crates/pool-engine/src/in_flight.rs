//! [`InFlight`]: the tasks sent to one worker and not answered yet, and since when the
//! front one runs.

use std::collections::VecDeque;
use std::collections::vec_deque::{Drain, IterMut};
use std::ops::Deref;
use std::time::{Duration, Instant};

/// The tasks sent to one worker and not answered, in send order: the front one runs (or
/// is about to), the others were sent ahead behind it (see [`SendAhead`](crate::SendAhead)).
/// It keeps since when the front task has had the worker to itself: how long tasks take
/// ([`TaskTime`](crate::TaskTime)), and where a time limit counts from a task's start.
///
/// Read through `Deref` as the `VecDeque` it is; changed only through its own methods,
/// which keep that time.
///
/// ```
/// use std::time::{Duration, Instant};
/// let mut sent = pool_engine::InFlight::default();
/// let start = Instant::now();
/// sent.push("a", start);
/// sent.push("b", start + Duration::from_millis(1)); // behind "a": does not run yet
/// let later = start + Duration::from_millis(5);
/// assert_eq!(sent.take(0, later), Some(("a", Some(Duration::from_millis(5)))));
/// assert_eq!(sent.front_since(), Some(later), "\"b\" runs from now");
/// ```
#[derive(Debug)]
pub struct InFlight<T> {
    tasks: VecDeque<T>,
    /// Since when the front task has had the worker to itself.
    front_since: Option<Instant>,
}

impl<T> Default for InFlight<T> {
    fn default() -> Self {
        InFlight {
            tasks: VecDeque::new(),
            front_since: None,
        }
    }
}

impl<T> Deref for InFlight<T> {
    type Target = VecDeque<T>;

    fn deref(&self) -> &VecDeque<T> {
        &self.tasks
    }
}

impl<T> InFlight<T> {
    /// Records `task` as sent at `now`; it runs from then if the worker had nothing.
    pub fn push(&mut self, task: T, now: Instant) {
        if self.tasks.is_empty() {
            self.front_since = Some(now);
        }
        self.tasks.push_back(task);
    }

    /// Takes the task at `position` (answered, skipped, lost) at `now`. For the front task,
    /// also how long it had the worker to itself; the next one runs from `now`.
    pub fn take(&mut self, position: usize, now: Instant) -> Option<(T, Option<Duration>)> {
        let task = self.tasks.remove(position)?;
        if position > 0 {
            return Some((task, None));
        }
        let took = self
            .front_since
            .map(|since| now.saturating_duration_since(since));
        self.front_since = self.tasks.front().map(|_| now);
        Some((task, took))
    }

    /// Takes the front task, now.
    pub fn pop_front(&mut self) -> Option<T> {
        self.take(0, Instant::now()).map(|(task, _)| task)
    }

    /// Takes every task (the worker is gone), in send order.
    pub fn drain(&mut self) -> Drain<'_, T> {
        self.front_since = None;
        self.tasks.drain(..)
    }

    /// When the front task's time limit (`limit` of the task) runs out: a limit counts
    /// from the task's start, when it became the front one.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let mut sent = pool_engine::InFlight::default();
    /// let start = Instant::now();
    /// sent.push(Some(Duration::from_secs(1)), start);
    /// assert_eq!(sent.deadline(|limit| *limit), Some(start + Duration::from_secs(1)));
    /// ```
    pub fn deadline(&self, limit: impl FnOnce(&T) -> Option<Duration>) -> Option<Instant> {
        Some(self.front_since? + limit(self.tasks.front()?)?)
    }

    /// Since when the front task has had the worker to itself.
    pub fn front_since(&self) -> Option<Instant> {
        self.front_since
    }

    /// The front task, to change.
    pub fn front_mut(&mut self) -> Option<&mut T> {
        self.tasks.front_mut()
    }

    /// The tasks, to change, in send order.
    pub fn iter_mut(&mut self) -> IterMut<'_, T> {
        self.tasks.iter_mut()
    }
}
