//! The job queues: crossbeam-deque's `Injector` and work-stealing `Worker`/`Stealer`, or,
//! under loom (crossbeam-deque is not loom-aware), a stand-in with the same interface built
//! on the `sync` shim, so the models run the pool's real code around it.
//!
//! The stand-in gives each operation a mutex's acquire/release, as crossbeam's push
//! (release) and steal (acquire) give theirs; the sleep/wake protocol adds its own ordering
//! through its state word on top (`sleep/README.md`, "The state word").

#[cfg(not(loom))]
pub(crate) use crossbeam_deque::{Injector, Steal, Stealer, Worker};

#[cfg(loom)]
pub(crate) use stand_in::{Injector, Steal, Stealer, Worker};

#[cfg(loom)]
mod stand_in {
    use std::collections::VecDeque;

    use crate::sync::{Arc, Mutex, lock};

    /// What a steal found.
    pub(crate) enum Steal<T> {
        Empty,
        Success(T),
        #[allow(dead_code)]
        Retry,
    }

    /// The shared FIFO queue.
    pub(crate) struct Injector<T>(Mutex<VecDeque<T>>);

    impl<T> Injector<T> {
        pub(crate) fn new() -> Self {
            Injector(Mutex::new(VecDeque::new()))
        }

        pub(crate) fn push(&self, job: T) {
            lock(&self.0).push_back(job);
        }

        pub(crate) fn steal(&self) -> Steal<T> {
            lock(&self.0)
                .pop_front()
                .map_or(Steal::Empty, Steal::Success)
        }

        pub(crate) fn is_empty(&self) -> bool {
            lock(&self.0).is_empty()
        }

        pub(crate) fn len(&self) -> usize {
            lock(&self.0).len()
        }
    }

    /// A worker's own deque: its owner pushes and pops the newest, others steal the oldest.
    pub(crate) struct Worker<T>(Arc<Mutex<VecDeque<T>>>);

    impl<T> Worker<T> {
        pub(crate) fn new_lifo() -> Self {
            Worker(Arc::new(Mutex::new(VecDeque::new())))
        }

        pub(crate) fn push(&self, job: T) {
            lock(&self.0).push_back(job);
        }

        pub(crate) fn pop(&self) -> Option<T> {
            lock(&self.0).pop_back()
        }

        pub(crate) fn stealer(&self) -> Stealer<T> {
            Stealer(self.0.clone())
        }
    }

    /// The steal end of a [`Worker`].
    pub(crate) struct Stealer<T>(Arc<Mutex<VecDeque<T>>>);

    impl<T> Clone for Stealer<T> {
        fn clone(&self) -> Self {
            Stealer(self.0.clone())
        }
    }

    impl<T> Stealer<T> {
        pub(crate) fn steal(&self) -> Steal<T> {
            lock(&self.0)
                .pop_front()
                .map_or(Steal::Empty, Steal::Success)
        }

        pub(crate) fn is_empty(&self) -> bool {
            lock(&self.0).is_empty()
        }

        pub(crate) fn len(&self) -> usize {
            lock(&self.0).len()
        }
    }
}
