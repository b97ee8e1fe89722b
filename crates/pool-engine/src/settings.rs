//! The checks of the settings both process-based pools' builders have; each builder adds
//! its own and turns a [`SettingError`] into its `BuildError`.

use std::time::Duration;

/// The most tasks that may be sent to one worker before it answers (in the process pool,
/// each has a word in the worker's cancel set, which the worker scans before each task).
pub const MAX_TASKS_PER_WORKER: usize = 64;

/// A setting out of its range: `ZeroWorkers` and `InvalidSetting` of each pool's
/// `BuildError`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingError {
    /// `max_workers(0)`.
    ZeroWorkers,
    /// Another setting; the text names it and its range.
    Invalid(&'static str),
}

/// Checks the settings both builders have: at least one worker, `tasks_per_worker` from 1
/// to [`MAX_TASKS_PER_WORKER`], a time limit longer than zero.
///
/// ```
/// use std::time::Duration;
/// use pool_engine::{SettingError, check_settings};
/// assert_eq!(check_settings(Some(2), 8, None), Ok(()));
/// assert_eq!(check_settings(Some(0), 8, None), Err(SettingError::ZeroWorkers));
/// assert!(check_settings(None, 65, None).is_err());
/// assert!(check_settings(None, 1, Some(Duration::ZERO)).is_err());
/// ```
pub fn check_settings(
    max_workers: Option<usize>,
    tasks_per_worker: usize,
    timeout: Option<Duration>,
) -> Result<(), SettingError> {
    if max_workers == Some(0) {
        return Err(SettingError::ZeroWorkers);
    }
    if tasks_per_worker == 0 || tasks_per_worker > MAX_TASKS_PER_WORKER {
        return Err(SettingError::Invalid(
            "tasks_per_worker must be between 1 and 64",
        ));
    }
    if timeout.is_some_and(|t| t.is_zero()) {
        return Err(SettingError::Invalid("timeout must be longer than zero"));
    }
    Ok(())
}

/// Writes, inside a builder's `impl` block, setters that store their argument in the field
/// of their name and return the builder; each builder gives their docs.
///
/// ```
/// struct Builder {
///     max_workers: Option<usize>,
///     spin: std::time::Duration,
/// }
/// impl Builder {
///     pool_engine::setters! {
///         /// At most this many workers.
///         fn max_workers(n: usize) = Some(n);
///         /// How long a waiter spins.
///         fn spin(spin: std::time::Duration) = spin;
///     }
/// }
/// let builder = Builder { max_workers: None, spin: Default::default() }.max_workers(2);
/// assert_eq!(builder.max_workers, Some(2));
/// ```
#[macro_export]
macro_rules! setters {
    ($($(#[$doc:meta])* fn $name:ident($arg:ident: $ty:ty) = $value:expr;)*) => {$(
        $(#[$doc])*
        pub fn $name(mut self, $arg: $ty) -> Self {
            self.$name = $value;
            self
        }
    )*};
}
