//! What rustures' process-based pools (`pool-process` on one machine, `pool-mpi` across
//! machines) share above their transports:
//!
//! - [`Front`]: `submit`, `try_submit`, `submit_with_timeout`, `map`, `map_unordered`, and
//!   their refusals, `shutdown_with`, `stats` and the pool's `Debug` form, over a pool's
//!   [`Dispatcher`] (its frame head, its queue, its lock, its part of a shutdown), and
//!   [`front_methods!`]: a pool's public methods that only forward to it, with what their
//!   docs say of every pool;
//! - [`SendAhead`] and [`TaskTime`]: when a small task is sent ahead to a busy worker;
//! - [`Table`]: the waiting tasks and the workers with the tasks sent to each, and what the
//!   pools decide about them alike (dispatch, replies, cancelling, breaking the pool), over a
//!   pool's record of a worker ([`Worker`]: what names it, how a task reaches it, when its
//!   running task's time limit runs out);
//! - [`Phase`]: where a worker is in its life with its pool;
//! - [`InFlight`]: the tasks a worker holds, and since when the front one runs (task times,
//!   time limits);
//! - [`Finish`] and [`complete`]: deferred completion, so that no future is completed
//!   under a pool's lock; [`broken`]: the error of a broken pool's tasks;
//! - [`check_settings`]: the checks of the settings both pools' builders have;
//! - [`replies`]: on a worker, the replies held while more tasks are at hand, so that several
//!   go out together, and the watchdog thread that bounds how long.
//!
//! Each pool keeps what differs: how its messages travel and how its workers start, stop
//! and die. The task encoding both use is `task-wire`'s. Users do not call this crate: they
//! use a pool.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod finish;
mod forward;
mod front;
mod in_flight;
mod phase;
pub mod replies;
mod rules;
mod settings;
#[doc(hidden)]
pub mod sync; // for `pool-process`'s manager threads, and loom
mod table;

#[doc(hidden)]
pub use future_core; // for `front_methods!`

pub use finish::{Finish, broken, complete};
pub use front::{Dispatcher, Front, NewTask, refusal};
pub use in_flight::InFlight;
pub use phase::Phase;
pub use rules::{QUEUE_BELOW, SendAhead, TaskTime};
pub use settings::{MAX_TASKS_PER_WORKER, SettingError, check_settings};
pub use table::{Table, Task, Worker};
