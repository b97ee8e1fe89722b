//! Encoding and decoding user values (arguments, results) at the pool's edges, with errors
//! that say what went wrong in words: the user's `Serialize`/`Deserialize` impls may fail or
//! panic, and either must fail only the task concerned, with a message that reaches its user.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::panics;

/// Encodes `value` with postcard; a failing or panicking `Serialize` impl is an `Err` with
/// the reason.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    match panics::catch(|| postcard::to_stdvec(value)) {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(err)) => Err(err.to_string()),
        Err(panic) => Err(format!("its Serialize impl panicked: {panic}")),
    }
}

/// Decodes a `T` from `bytes` (all of them); a failing or panicking `Deserialize` impl is an
/// `Err` with the reason.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match panics::catch(|| postcard::from_bytes::<T>(bytes)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(err.to_string()),
        Err(panic) => Err(format!("its Deserialize impl panicked: {panic}")),
    }
}
