//! Encoding and decoding user values (arguments, results) at the pool's edges, with errors
//! that say what went wrong in words: the user's `Serialize`/`Deserialize` impls may fail or
//! panic, and either must fail only the task concerned, with a message that reaches its user.
//! Also [`split`], how a pool reads its own message at the start of a frame and leaves the
//! payload behind it unread (no copy of a large argument or result).

use future_core::{TaskError, TaskErrorKind};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::panics;

/// Encodes `value` with postcard; a failing or panicking `Serialize` impl is an `Err` with
/// the reason. postcard drops the text of an impl's own error (`S::Error::custom`), so the
/// value is then serialized once more by a probe serializer, which keeps it.
///
/// ```
/// assert_eq!(task_wire::encode(&(1u8, "a")).unwrap(), vec![1, 1, b'a']);
/// ```
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    encode_into(&mut bytes, value)?;
    Ok(bytes)
}

/// Appends the encoding of `value` to `out` (the frame being built: no copy later); on an
/// error `out` is left as it was (see [`encode`]).
///
/// ```
/// let mut frame = vec![9];
/// task_wire::encode_into(&mut frame, &7u8).unwrap();
/// assert_eq!(frame, vec![9, 7]);
/// ```
pub fn encode_into<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), String> {
    let start = out.len();
    let outcome = panics::catch(|| postcard::serialize_with_flavor(value, Append(&mut *out)));
    let why = match outcome {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(postcard::Error::SerdeSerCustom)) => {
            match panics::catch(|| value.serialize(Probe)) {
                Ok(Err(Custom(text))) => text,
                _ => postcard::Error::SerdeSerCustom.to_string(),
            }
        }
        Ok(Err(err)) => err.to_string(),
        Err(panic) => format!("its Serialize impl panicked: {panic}"),
    };
    out.truncate(start);
    Err(why)
}

/// A task's frame: the pool's own message `head` (its task id and [`TaskName`](crate::TaskName),
/// say), then `args` encoded straight after it, in the buffer that is sent: no copy of a large
/// argument. Both process-based pools build their task frames so.
///
/// Errors: `args` do not encode; a [`Serialization`](TaskErrorKind::Serialization) error that
/// says why, for the task's future.
///
/// ```
/// let frame = task_wire::encode_task(&3u8, &vec![7u16]).unwrap();
/// let (head, at): (u8, usize) = task_wire::split(&frame).unwrap();
/// assert_eq!((head, task_wire::decode::<Vec<u16>>(&frame[at..])), (3, Ok(vec![7])));
/// ```
pub fn encode_task<H, S>(head: &H, args: &S) -> Result<Vec<u8>, TaskError>
where
    H: Serialize + ?Sized,
    S: Serialize + ?Sized,
{
    let encoded = encode(head).and_then(|mut frame| {
        encode_into(&mut frame, args)?;
        Ok(frame)
    });
    encoded.map_err(|why| {
        TaskError::new(
            TaskErrorKind::Serialization,
            format!("the task's arguments could not be encoded: {why}"),
        )
    })
}

/// The bytes of a pool's own message of plain data (integers, flags, strings: a reply's
/// head, a control message), which always encodes; the start of a reply's frame, to which
/// the results are appended.
///
/// ```
/// assert_eq!(task_wire::encode_message(&(7u8, true)), vec![7, 1]);
/// ```
pub fn encode_message<M: Serialize + ?Sized>(message: &M) -> Vec<u8> {
    // Only a user's `Serialize` impl fails, and a pool's message holds none.
    encode(message).unwrap_or_default()
}

/// Slices up to this long are copied byte by byte (see `Append::try_extend`).
const SHORT_COPY: usize = 32;

/// A postcard output that appends to a `Vec`.
struct Append<'a>(&'a mut Vec<u8>);

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        // postcard writes every integer (a varint of 1 to 19 bytes) through here: a call to
        // `memcpy` for each cost more than the copy (a third of a `map` of small items).
        if data.len() <= SHORT_COPY {
            self.0.extend(data.iter().copied());
        } else {
            self.0.extend_from_slice(data);
        }
        Ok(())
    }

    #[inline]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// The text of a `Serialize` impl's own error.
#[derive(Debug)]
struct Custom(String);

impl std::fmt::Display for Custom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Custom {}

impl serde::ser::Error for Custom {
    fn custom<M: std::fmt::Display>(text: M) -> Self {
        Custom(text.to_string())
    }
}

/// A serializer that writes nothing and accepts everything, so that the only error it can
/// return is the one a `Serialize` impl makes itself, with its text.
struct Probe;

/// The methods of [`Probe`] for the leaf values: each accepts its value.
macro_rules! accept {
    ($($method:ident($($ty:ty),*);)*) => {
        $(fn $method(self $(, _: $ty)*) -> Result<(), Custom> {
            Ok(())
        })*
    };
}

/// The methods of [`Probe`] that start a compound value: each is probed by `Probe` itself.
macro_rules! start {
    ($($method:ident($($ty:ty),*);)*) => {
        $(fn $method(self $(, _: $ty)*) -> Result<Probe, Custom> {
            Ok(Probe)
        })*
    };
}

impl serde::Serializer for Probe {
    type Ok = ();
    type Error = Custom;
    type SerializeSeq = Probe;
    type SerializeTuple = Probe;
    type SerializeTupleStruct = Probe;
    type SerializeTupleVariant = Probe;
    type SerializeMap = Probe;
    type SerializeStruct = Probe;
    type SerializeStructVariant = Probe;

    accept! {
        serialize_bool(bool); serialize_i8(i8); serialize_i16(i16); serialize_i32(i32);
        serialize_i64(i64); serialize_i128(i128); serialize_u8(u8); serialize_u16(u16);
        serialize_u32(u32); serialize_u64(u64); serialize_u128(u128); serialize_f32(f32);
        serialize_f64(f64); serialize_char(char); serialize_str(&str); serialize_bytes(&[u8]);
        serialize_none(); serialize_unit(); serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Custom> {
        value.serialize(Probe)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Custom> {
        value.serialize(Probe)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), Custom> {
        value.serialize(Probe)
    }

    start! {
        serialize_seq(Option<usize>); serialize_tuple(usize);
        serialize_tuple_struct(&'static str, usize);
        serialize_tuple_variant(&'static str, u32, &'static str, usize);
        serialize_map(Option<usize>); serialize_struct(&'static str, usize);
        serialize_struct_variant(&'static str, u32, &'static str, usize);
    }
}

/// The compound parts of [`Probe`]: each element, key, value or field is probed in turn.
macro_rules! probe_parts {
    ($($trait:ident { $($method:ident($($name:ty),*);)* })*) => {
        $(impl serde::ser::$trait for Probe {
            type Ok = ();
            type Error = Custom;
            $(fn $method<T: Serialize + ?Sized>(&mut self $(, _: $name)*, value: &T) -> Result<(), Custom> {
                value.serialize(Probe)
            })*
            fn end(self) -> Result<(), Custom> {
                Ok(())
            }
        })*
    };
}

probe_parts! {
    SerializeSeq { serialize_element(); }
    SerializeTuple { serialize_element(); }
    SerializeTupleStruct { serialize_field(); }
    SerializeTupleVariant { serialize_field(); }
    SerializeMap { serialize_key(); serialize_value(); }
    SerializeStruct { serialize_field(&'static str); }
    SerializeStructVariant { serialize_field(&'static str); }
}

/// Decodes a `T` from `bytes` (all of them); a failing or panicking `Deserialize` impl is an
/// `Err` with the reason.
///
/// ```
/// assert_eq!(task_wire::decode::<(u8, String)>(&[1, 1, b'a']), Ok((1, "a".to_owned())));
/// assert!(task_wire::decode::<String>(&[5]).is_err());
/// ```
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match panics::catch(|| postcard::from_bytes::<T>(bytes)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(err.to_string()),
        Err(panic) => Err(format!("its Deserialize impl panicked: {panic}")),
    }
}

/// Decodes the message at the start of `frame`; returns it with the offset of what follows
/// (a payload that the pool hands on unread).
///
/// ```
/// let mut frame = task_wire::encode(&("head", 2u8)).unwrap();
/// task_wire::encode_into(&mut frame, &vec![7u32]).unwrap();
/// let ((name, n), at): ((String, u8), usize) = task_wire::split(&frame).unwrap();
/// assert_eq!((name.as_str(), n), ("head", 2));
/// assert_eq!(task_wire::decode::<Vec<u32>>(&frame[at..]), Ok(vec![7]));
/// ```
pub fn split<'a, M: Deserialize<'a>>(frame: &'a [u8]) -> Result<(M, usize), String> {
    let (msg, rest) = postcard::take_from_bytes::<M>(frame).map_err(|err| err.to_string())?;
    Ok((msg, frame.len() - rest.len()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn appends_what_postcard_writes_for_short_and_long_pieces() {
        // Integers of every varint length, and strings on both sides of `SHORT_COPY`.
        let value = (
            [0u64, 127, 128, 1 << 21, 1 << 35, u64::MAX],
            "a".repeat(super::SHORT_COPY),
            "b".repeat(super::SHORT_COPY + 1),
            -5i128,
        );
        let mut frame = vec![1, 2, 3];
        super::encode_into(&mut frame, &value).unwrap();
        let mut expected = vec![1, 2, 3];
        expected.extend(postcard::to_stdvec(&value).unwrap());
        assert_eq!(frame, expected);
    }
}
