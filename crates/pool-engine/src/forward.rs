//! [`front_methods!`](crate::front_methods): the public methods a pool forwards to its
//! [`Front`](crate::Front) as they are, written once; each pool gives their docs, whose
//! examples name it.

/// Writes, inside a pool's `impl` block, public methods that only forward to the pool's
/// field `front` (a [`Front`](crate::Front)) or to its `shutdown_with`, each named after
/// its docs: any of `submit`, `try_submit`, `submit_with_timeout`, `map`, `map_unordered`,
/// `shutdown`, `max_workers` and `stats`.
///
/// ```ignore
/// impl MyPool {
///     pool_engine::front_methods! {
///         /// Docs of `map`, with an example that names `MyPool`.
///         map;
///         /// Docs of `shutdown`.
///         shutdown;
///     }
/// }
/// ```
#[macro_export]
macro_rules! front_methods {
    ($($(#[$doc:meta])* $method:ident;)*) => {
        $($crate::front_methods!(@method $method $(#[$doc])*);)*
    };
    (@method submit $(#[$doc:meta])*) => {
        $crate::front_methods!(@submit submit true $(#[$doc])*);
    };
    (@method try_submit $(#[$doc:meta])*) => {
        $crate::front_methods!(@submit try_submit false $(#[$doc])*);
    };
    (@submit $name:ident $block:literal $(#[$doc:meta])*) => {
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
    (@method submit_with_timeout $(#[$doc:meta])*) => {
        $(#[$doc])*
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
    (@method map $(#[$doc:meta])*) => {
        $(#[$doc])*
        pub fn map<'a, A, R, I>(
            &'a self,
            f: fn(A) -> R,
            items: I,
            options: $crate::future_core::MapOptions,
        ) -> ::core::result::Result<
            $crate::future_core::Map<'a, R>,
            $crate::future_core::SubmitError,
        >
        where
            A: $crate::future_core::Portable,
            R: $crate::future_core::Portable,
            I: ::core::iter::IntoIterator<Item = A>,
            I::IntoIter: ::core::marker::Send + 'a,
        {
            self.front.map(f, items, options)
        }
    };
    (@method map_unordered $(#[$doc:meta])*) => {
        $(#[$doc])*
        pub fn map_unordered<'a, A, R, I>(
            &'a self,
            f: fn(A) -> R,
            items: I,
            options: $crate::future_core::MapOptions,
        ) -> ::core::result::Result<
            $crate::future_core::MapUnordered<'a, R>,
            $crate::future_core::SubmitError,
        >
        where
            A: $crate::future_core::Portable,
            R: $crate::future_core::Portable,
            I: ::core::iter::IntoIterator<Item = A>,
            I::IntoIter: ::core::marker::Send + 'a,
        {
            self.front.map_unordered(f, items, options)
        }
    };
    (@method max_workers $(#[$doc:meta])*) => {
        $(#[$doc])*
        pub fn max_workers(&self) -> usize {
            $crate::Dispatcher::max_workers(self.front.dispatcher())
        }
    };
    (@method stats $(#[$doc:meta])*) => {
        $(#[$doc])*
        pub fn stats(&self) -> $crate::future_core::PoolStats {
            self.front.stats()
        }
    };
    (@method shutdown $(#[$doc:meta])*) => {
        $(#[$doc])*
        pub fn shutdown(&self) {
            self.shutdown_with($crate::future_core::ShutdownOptions::default());
        }
    };
}
