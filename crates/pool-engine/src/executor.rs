//! [`executor_by_methods!`]: a pool's [`Executor`](future_core::Executor) impl, written once.

/// Implements [`Executor`](future_core::Executor) for a pool type by calling its inherent
/// methods of the same names (`submit`, `try_submit`, `map`, `map_unordered`,
/// `shutdown_with`, `stats`), which carry the pool's own docs. The caller's crate depends on
/// `future-core`, as every pool does.
///
/// ```
/// use future_core::{
///     Map, MapOptions, MapUnordered, PoolStats, Portable, ShutdownOptions, SubmitError,
///     TaskFuture,
/// };
///
/// /// A pool that refuses every task.
/// struct Closed;
///
/// impl Closed {
///     fn submit<A: Portable, R: Portable>(&self, _: fn(A) -> R, _: A) -> Result<TaskFuture<R>, SubmitError> {
///         Err(SubmitError::Shutdown)
///     }
///     fn try_submit<A: Portable, R: Portable>(&self, f: fn(A) -> R, arg: A) -> Result<TaskFuture<R>, SubmitError> {
///         self.submit(f, arg)
///     }
///     fn map<'a, A: Portable, R: Portable, I>(&'a self, _: fn(A) -> R, _: I, _: MapOptions) -> Result<Map<'a, R>, SubmitError>
///     where I: IntoIterator<Item = A>, I::IntoIter: Send + 'a {
///         Err(SubmitError::Shutdown)
///     }
///     fn map_unordered<'a, A: Portable, R: Portable, I>(&'a self, _: fn(A) -> R, _: I, _: MapOptions) -> Result<MapUnordered<'a, R>, SubmitError>
///     where I: IntoIterator<Item = A>, I::IntoIter: Send + 'a {
///         Err(SubmitError::Shutdown)
///     }
///     fn shutdown_with(&self, _: ShutdownOptions) {}
///     fn stats(&self) -> PoolStats { PoolStats::default() }
/// }
///
/// pool_engine::executor_by_methods!(Closed);
///
/// fn double(x: u8) -> u8 { x * 2 }
/// let refused = future_core::Executor::submit(&Closed, double, 1).unwrap_err();
/// assert_eq!(refused, SubmitError::Shutdown);
/// ```
#[macro_export]
macro_rules! executor_by_methods {
    ($pool:ty) => {
        impl ::future_core::Executor for $pool {
            fn submit<A: ::future_core::Portable, R: ::future_core::Portable>(
                &self,
                f: fn(A) -> R,
                arg: A,
            ) -> ::core::result::Result<::future_core::TaskFuture<R>, ::future_core::SubmitError>
            {
                <$pool>::submit(self, f, arg)
            }

            fn try_submit<A: ::future_core::Portable, R: ::future_core::Portable>(
                &self,
                f: fn(A) -> R,
                arg: A,
            ) -> ::core::result::Result<::future_core::TaskFuture<R>, ::future_core::SubmitError>
            {
                <$pool>::try_submit(self, f, arg)
            }

            fn map<'a, A, R, I>(
                &'a self,
                f: fn(A) -> R,
                items: I,
                options: ::future_core::MapOptions,
            ) -> ::core::result::Result<::future_core::Map<'a, R>, ::future_core::SubmitError>
            where
                A: ::future_core::Portable,
                R: ::future_core::Portable,
                I: ::core::iter::IntoIterator<Item = A>,
                I::IntoIter: ::core::marker::Send + 'a,
            {
                <$pool>::map(self, f, items, options)
            }

            fn map_unordered<'a, A, R, I>(
                &'a self,
                f: fn(A) -> R,
                items: I,
                options: ::future_core::MapOptions,
            ) -> ::core::result::Result<
                ::future_core::MapUnordered<'a, R>,
                ::future_core::SubmitError,
            >
            where
                A: ::future_core::Portable,
                R: ::future_core::Portable,
                I: ::core::iter::IntoIterator<Item = A>,
                I::IntoIter: ::core::marker::Send + 'a,
            {
                <$pool>::map_unordered(self, f, items, options)
            }

            fn shutdown_with(&self, options: ::future_core::ShutdownOptions) {
                <$pool>::shutdown_with(self, options);
            }

            fn stats(&self) -> ::future_core::PoolStats {
                <$pool>::stats(self)
            }
        }
    };
}
