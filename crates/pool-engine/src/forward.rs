//! [`front_methods!`](crate::front_methods): the public methods a pool forwards to its
//! [`Front`](crate::Front) as they are, and what their docs say of every pool, written once;
//! each pool adds what is its own.

/// Writes, inside a pool's `impl` block, public methods that only forward to the pool's
/// field `front` (a [`Front`](crate::Front)), each named after its docs: any of `submit`,
/// `try_submit`, `submit_with_timeout`, `map`, `map_unordered`, `shutdown`, `shutdown_with`,
/// `max_workers` and `stats`.
///
/// The docs of each method are written here as far as they hold for every pool: a summary
/// first, then the docs the pool gives (what only it does), then what follows for every
/// pool (its errors, an example). The header names how the examples make the pool, and the
/// fence of their code: `"no_run"` where a doctest cannot run the pool (MPI needs `mpirun`).
///
/// ```ignore
/// impl MyPool {
///     pool_engine::front_methods! {
///         examples: "mycrate::MyPool::new().unwrap()", "";
///         /// What only this pool's `map` does.
///         map;
///         /// Docs of `stats`, with an example.
///         stats;
///     }
/// }
/// ```
#[macro_export]
macro_rules! front_methods {
    (examples: $pool:literal, $run:literal; $($(#[$doc:meta])* $method:ident;)*) => {
        $($crate::front_methods!(@method $method $pool $run $(#[$doc])*);)*
    };
    (@method submit $pool:literal $run:literal $(#[$doc:meta])*) => {
        $crate::front_methods!(@submit_fn submit true
            /// Schedules `f(arg)` on a worker and returns its future (Python's `submit(fn, arg)`).
            /// `f` is a plain function of this program (a non-capturing closure coerces to one),
            /// which the worker, running the same executable, calls by its offset in it. A
            /// function that is not part of the executable (from a shared library: a Rust dylib,
            /// `-C prefer-dynamic`, a plugin) cannot be named there: that is checked here, before
            /// anything is sent, and its future fails at once with a `Serialization` error that
            /// says where it lies.
            ///
            /// The future fails with `Panicked` when `f` panics (with its message, and
            /// which worker ran it), `TimedOut` past the task's time limit, and
            /// `Serialization` when the argument or the result cannot be encoded or
            /// decoded (a `Serialize` or `Deserialize` impl that fails or panics fails only
            /// this task, with its message: an argument's in this call, before anything is
            /// sent; the others in the worker or on the pool's thread, and the worker lives
            /// on).
            ///
            $(#[$doc])*
            ///
            #[doc = concat!(" ```", $run)]
            /// fn square(x: u64) -> u64 { x * x }
            /// fn main() {
            ///     rustures::init();
            #[doc = concat!("     let pool = ", $pool, ";")]
            ///     assert_eq!(pool.submit(square, 12).unwrap().result(), Ok(144));
            /// }
            /// ```
        );
    };
    (@method try_submit $pool:literal $run:literal $(#[$doc:meta])*) => {
        $crate::front_methods!(@submit_fn try_submit false
            /// Like [`submit`](Self::submit), but never blocks: where the pool bounds its
            /// queue and the bound is reached, it returns `SubmitError::Full`.
            ///
            $(#[$doc])*
        );
    };
    (@method submit_with_timeout $pool:literal $run:literal $(#[$doc:meta])*) => {
        /// Like [`submit`](Self::submit), with this task's own time limit instead of the
        /// pool's `timeout`: `Some(limit)`, or `None` for none.
        ///
        $(#[$doc])*
        ///
        /// Errors: those of `submit`, and `SubmitError::Invalid` for a limit of zero.
        ///
        #[doc = concat!("```", $run)]
        /// use std::time::Duration;
        /// fn forever(_: ()) { loop { std::thread::park() } }
        /// fn main() {
        ///     rustures::init();
        #[doc = concat!("    let pool = ", $pool, ";")]
        ///     let limit = Some(Duration::from_millis(100));
        ///     let future = pool.submit_with_timeout(forever, (), limit).unwrap();
        ///     let err = future.exception().unwrap().unwrap();
        ///     assert_eq!(err.kind(), rustures::TaskErrorKind::TimedOut);
        /// }
        /// ```
        pub fn submit_with_timeout<A, R>(
            &self,
            f: fn(A) -> R,
            arg: A,
            timeout: ::core::option::Option<::core::time::Duration>,
        ) -> ::core::result::Result<
            $crate::future_core::TaskFuture<R>,
            $crate::future_core::SubmitError,
        >
        where
            A: $crate::future_core::Portable,
            R: $crate::future_core::Portable,
        {
            self.front.submit_with_timeout(f, arg, timeout)
        }
    };
    (@method map $pool:literal $run:literal $(#[$doc:meta])*) => {
        $crate::front_methods!(@map_fn map Map
            /// Maps `f` over `items` on the workers: results in input order, lazily, with at
            /// most `buffersize` chunks in flight, each chunk of `chunksize` elements one
            /// message (Python's `map(fn, iterable, timeout, chunksize, buffersize)`). A panic
            /// on one element fails that element only. See `future_core::Map`.
            ///
            $(#[$doc])*
            ///
            /// Errors: the pool refused the first chunk (shut down or broken).
            ///
            #[doc = concat!(" ```", $run)]
            /// use rustures::MapOptions;
            /// fn cube(x: i64) -> i64 { x * x * x }
            /// fn main() {
            ///     rustures::init();
            #[doc = concat!("     let pool = ", $pool, ";")]
            ///     let cubes: Vec<i64> = pool
            ///         .map(cube, 0..1000, MapOptions::new().chunksize(100))
            ///         .unwrap()
            ///         .map(Result::unwrap)
            ///         .collect();
            ///     assert_eq!(cubes[10], 1000);
            /// }
            /// ```
        );
    };
    (@method map_unordered $pool:literal $run:literal $(#[$doc:meta])*) => {
        $crate::front_methods!(@map_fn map_unordered MapUnordered
            /// Maps `f` over `items` like [`map`](Self::map), but yields each result as soon as
            /// its chunk is done, with its position in the input (Python's `imap_unordered`,
            /// mpi4py's `map(unordered=True)`); bounded in flight the same way.
            ///
            $(#[$doc])*
            ///
            #[doc = concat!(" ```", $run)]
            /// use rustures::MapOptions;
            /// fn square(x: u64) -> u64 { x * x }
            /// fn main() {
            ///     rustures::init();
            #[doc = concat!("     let pool = ", $pool, ";")]
            ///     let mut squares: Vec<(usize, u64)> = pool
            ///         .map_unordered(square, 0..6u64, MapOptions::new().chunksize(2))
            ///         .unwrap()
            ///         .map(|(position, result)| (position, result.unwrap()))
            ///         .collect();
            ///     squares.sort_unstable();
            ///     assert_eq!(squares, [(0, 0), (1, 1), (2, 4), (3, 9), (4, 16), (5, 25)]);
            /// }
            /// ```
        );
    };
    (@submit_fn $name:ident $block:literal $(#[$doc:meta])*) => {
        $(#[$doc])*
        pub fn $name<A, R>(
            &self,
            f: fn(A) -> R,
            arg: A,
        ) -> ::core::result::Result<
            $crate::future_core::TaskFuture<R>,
            $crate::future_core::SubmitError,
        >
        where
            A: $crate::future_core::Portable,
            R: $crate::future_core::Portable,
        {
            self.front.submit(f, arg, $block)
        }
    };
    (@map_fn $name:ident $iter:ident $(#[$doc:meta])*) => {
        $(#[$doc])*
        pub fn $name<'a, A, R, I>(
            &'a self,
            f: fn(A) -> R,
            items: I,
            options: $crate::future_core::MapOptions,
        ) -> ::core::result::Result<
            $crate::future_core::$iter<'a, R>,
            $crate::future_core::SubmitError,
        >
        where
            A: $crate::future_core::Portable,
            R: $crate::future_core::Portable,
            I: ::core::iter::IntoIterator<Item = A>,
            I::IntoIter: ::core::marker::Send + 'a,
        {
            self.front.$name(f, items, options)
        }
    };
    (@method max_workers $pool:literal $run:literal $(#[$doc:meta])*) => {
        $(#[$doc])*
        pub fn max_workers(&self) -> usize {
            $crate::Dispatcher::max_workers(self.front.dispatcher())
        }
    };
    (@method stats $pool:literal $run:literal $(#[$doc:meta])*) => {
        /// What the pool has done and is doing (the same as through `Executor::stats`):
        /// tasks waiting for a worker (`queued`), sent to one (`running`), and finished
        /// (`completed`, `failed`, and `cancelled` before they started); workers alive and
        /// started. A `map` chunk counts as one task, completed when its results came
        /// back. The counters are atomics kept where the pool settles each task anyway; a
        /// call takes the pool's lock once, to count what it holds.
        ///
        $(#[$doc])*
        pub fn stats(&self) -> $crate::future_core::PoolStats {
            self.front.stats()
        }
    };
    (@method shutdown $pool:literal $run:literal $(#[$doc:meta])*) => {
        /// Stops taking tasks and waits for every task (Python's `shutdown()`):
        /// `shutdown_with(ShutdownOptions::default())`. Calling it again is harmless.
        ///
        $(#[$doc])*
        ///
        #[doc = concat!("```", $run)]
        /// fn main() {
        ///     rustures::init();
        #[doc = concat!("    let pool = ", $pool, ";")]
        ///     pool.shutdown();
        ///     let refused = pool.submit(|x: u8| x, 1).unwrap_err();
        ///     assert_eq!(refused, rustures::SubmitError::Shutdown);
        /// }
        /// ```
        pub fn shutdown(&self) {
            self.front.shutdown_with($crate::future_core::ShutdownOptions::default());
        }
    };
    (@method shutdown_with $pool:literal $run:literal $(#[$doc:meta])*) => {
        /// Stops taking tasks (Python's `shutdown(wait, cancel_futures)`, named in
        /// `ShutdownOptions`). With `cancel_futures`, cancels the tasks that have not
        /// started. With `wait`, returns once the other tasks finished; without, the pool
        /// finishes them in the background. Calling it again is harmless.
        ///
        $(#[$doc])*
        ///
        #[doc = concat!("```", $run)]
        /// use rustures::ShutdownOptions;
        /// fn nap(ms: u64) { std::thread::sleep(std::time::Duration::from_millis(ms)) }
        /// fn main() {
        ///     rustures::init();
        #[doc = concat!("    let pool = ", $pool, ";")]
        ///     let futures: Vec<_> = (0..4).map(|_| pool.submit(nap, 10).unwrap()).collect();
        ///     pool.shutdown_with(ShutdownOptions::new().cancel_futures(true));
        ///     // Each task ran, or was cancelled before it started.
        ///     assert!(futures.iter().all(|f| f.result().is_ok() || f.cancelled()));
        /// }
        /// ```
        ///
        /// The options are named, as Python names them:
        ///
        /// ```compile_fail
        #[doc = concat!("let pool = ", $pool, ";")]
        /// pool.shutdown(true, false); // error: `shutdown_with(ShutdownOptions { .. })`
        /// ```
        pub fn shutdown_with(&self, options: $crate::future_core::ShutdownOptions) {
            self.front.shutdown_with(options);
        }
    };
}
