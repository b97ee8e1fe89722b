//! How an MPI loop waits when nothing happens: MPI cannot block without burning a core
//! (Open MPI's blocking calls poll), so the loops poll with `MPI_Iprobe`, first in a short
//! spin that keeps a busy pool's round trips fast, then with pauses that double up to
//! [`MAX_PAUSE`], so that an idle worker uses next to no CPU.

use std::time::{Duration, Instant};

/// How long a loop keeps polling without pause after its last message: long enough that a
/// round trip between tasks (tens of microseconds on a loaded machine) never falls into the
/// pauses, which would make the next round trip slower still.
pub(crate) const SPIN: Duration = Duration::from_millis(2);
/// The first pause after the spin.
const FIRST_PAUSE: Duration = Duration::from_micros(10);
/// The longest pause: the most a message waits for an idle loop to look.
pub(crate) const MAX_PAUSE: Duration = Duration::from_millis(1);

/// The state of one loop's waiting.
#[derive(Debug)]
pub(crate) struct Backoff {
    last_activity: Instant,
    pause: Duration,
}

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff {
            last_activity: Instant::now(),
            pause: FIRST_PAUSE,
        }
    }

    /// Something happened: spin again.
    pub(crate) fn reset(&mut self) {
        self.last_activity = Instant::now();
        self.pause = FIRST_PAUSE;
    }

    /// Nothing happened this turn: `None` to poll again at once (after a yield, so that the
    /// other processes on an oversubscribed machine run), or how long to pause first.
    pub(crate) fn next_pause(&mut self) -> Option<Duration> {
        if self.last_activity.elapsed() < SPIN {
            return None;
        }
        let pause = self.pause;
        self.pause = (self.pause * 2).min(MAX_PAUSE);
        Some(pause)
    }

    /// Waits as [`next_pause`](Self::next_pause) says, on this thread.
    pub(crate) fn wait(&mut self) {
        match self.next_pause() {
            None => std::thread::yield_now(),
            Some(pause) => std::thread::sleep(pause),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_maximum_and_reset() {
        let mut backoff = Backoff::new();
        backoff.last_activity = Instant::now()
            .checked_sub(SPIN)
            .expect("the clock is past SPIN");
        let pauses: Vec<_> = std::iter::from_fn(|| backoff.next_pause())
            .take(10)
            .collect();
        assert_eq!(pauses[0], FIRST_PAUSE);
        assert_eq!(pauses[1], FIRST_PAUSE * 2);
        assert_eq!(*pauses.last().unwrap(), MAX_PAUSE);
        backoff.reset();
        assert_eq!(backoff.next_pause(), None, "spinning again");
    }
}
