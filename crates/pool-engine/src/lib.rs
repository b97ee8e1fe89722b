//! What rustures' process-based pools (`pool-process` on one machine, `pool-mpi` across
//! machines) share above their transports: the front end that makes tasks and refuses them
//! ([`Front`], over a pool's [`Dispatcher`]) and the rules by which a task goes to a worker
//! ([`SendAhead`], [`TaskTime`]), the tasks a worker holds ([`InFlight`]), deferred completion ([`Finish`]: no future is completed
//! under a pool's lock), and a pool's [`Executor`](future_core::Executor) impl
//! ([`executor_by_methods!`]). Each pool keeps what differs: how its messages travel and
//! how its workers start, stop and die. The task encoding both use is `task-wire`'s.
//!
//! Users do not call it: they use a pool.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod executor;
mod finish;
mod front;
mod in_flight;
mod rules;

pub use finish::{Finish, broken, complete};
pub use front::{Dispatcher, Front, NewTask, refusal};
pub use in_flight::InFlight;
pub use rules::{QUEUE_BELOW, SendAhead, TaskTime};
