//! How a chunk's elements are encoded: [`Elements`] writes a slice, `ChunkInput`'s
//! `Deserialize` reads it back (the arguments a process pool sends, the values of the
//! results it gets back).
//!
//! serde encodes a sequence one element at a time, through a call per element: for a chunk
//! of small numbers those calls are most of the cost of a process pool's `map`. A slice of
//! a plain number type (every bit pattern a value, no padding, no `Drop`) is written as one
//! block of bytes instead, its memory as it is, and read back with one copy. Both ends of a
//! pool run the same build (the pools check its fingerprint), so they agree on which types
//! are plain and on their layout; the block form is only used on little-endian machines,
//! so its bytes mean the same to any reader.

use std::any::TypeId;
use std::fmt;
use std::marker::PhantomData;
use std::mem::size_of;

use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::map::chunk::ChunkInput;

/// Whether a slice of `T` is encoded as one block of its bytes: `T` is a plain number type.
fn is_plain<T: 'static>() -> bool {
    if cfg!(target_endian = "big") {
        return false;
    }
    let t = TypeId::of::<T>();
    [
        TypeId::of::<u8>(),
        TypeId::of::<i8>(),
        TypeId::of::<u16>(),
        TypeId::of::<i16>(),
        TypeId::of::<u32>(),
        TypeId::of::<i32>(),
        TypeId::of::<u64>(),
        TypeId::of::<i64>(),
        TypeId::of::<u128>(),
        TypeId::of::<i128>(),
        TypeId::of::<usize>(),
        TypeId::of::<isize>(),
        TypeId::of::<f32>(),
        TypeId::of::<f64>(),
    ]
    .contains(&t)
}

/// A chunk's elements, as a process-based pool encodes them: a slice of a plain number type
/// as one block of bytes, any other as a sequence. Read it back as a
/// [`ChunkInput`](crate::executor::ChunkInput), which expects the same form.
///
/// ```
/// use rustures::executor::{ChunkInput, Elements};
///
/// let bytes = postcard::to_stdvec(&Elements(&[1u64, 2, 300])).unwrap();
/// assert_eq!(bytes.len(), 1 + 3 * 8); // one length, then the block
/// let back: ChunkInput<u64> = postcard::from_bytes(&bytes).unwrap();
/// assert_eq!(back.into_vec(), vec![1, 2, 300]);
///
/// let words = postcard::to_stdvec(&Elements(&["a".to_string()])).unwrap();
/// let back: ChunkInput<String> = postcard::from_bytes(&words).unwrap();
/// assert_eq!(back.into_vec(), vec!["a"]);
/// ```
#[derive(Debug)]
pub struct Elements<'a, T>(pub &'a [T]);

impl<T: Serialize + 'static> Serialize for Elements<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_elements(self.0, serializer)
    }
}

/// Writes `items` as [`Elements`] does (for `#[serde(serialize_with)]`).
pub(crate) fn serialize_elements<T, S>(items: &[T], serializer: S) -> Result<S::Ok, S::Error>
where
    T: Serialize + 'static,
    S: Serializer,
{
    if is_plain::<T>() {
        // SAFETY: `T` is a plain number type (`is_plain`): no padding, so every byte of the
        // slice is initialized, and reading them as bytes is allowed for any `T`. The
        // length is the slice's size in bytes.
        let bytes =
            unsafe { std::slice::from_raw_parts(items.as_ptr().cast::<u8>(), size_of_val(items)) };
        serializer.serialize_bytes(bytes)
    } else {
        serializer.collect_seq(items)
    }
}

/// Reads what [`serialize_elements`] wrote for `A` into a `ChunkInput`.
pub(crate) fn deserialize_elements<'de, A, D>(deserializer: D) -> Result<ChunkInput<A>, D::Error>
where
    A: Deserialize<'de> + 'static,
    D: Deserializer<'de>,
{
    if is_plain::<A>() {
        deserializer.deserialize_bytes(Block(PhantomData))
    } else {
        deserializer.deserialize_seq(Sequence(PhantomData))
    }
}

/// Reads a sequence element by element into a `ChunkInput`: if an element does not decode
/// (or its `Deserialize` panics), the ones decoded before are dropped one by one.
struct Sequence<A>(PhantomData<A>);

impl<'de, A: Deserialize<'de>> Visitor<'de> for Sequence<A> {
    type Value = ChunkInput<A>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        // A length read from the input is not trusted with more than a MiB of room up
        // front (as serde's `Vec` does).
        let room = (1 << 20) / size_of::<A>().max(1);
        let mut chunk = ChunkInput::new(Vec::with_capacity(seq.size_hint().unwrap_or(0).min(room)));
        while let Some(item) = seq.next_element()? {
            chunk.push(item);
        }
        Ok(chunk)
    }
}

/// Reads a block of a plain number type's bytes; a format that gives a sequence instead
/// (one that is self-describing) is read as one.
struct Block<A>(PhantomData<A>);

impl<'de, A: Deserialize<'de> + 'static> Visitor<'de> for Block<A> {
    type Value = ChunkInput<A>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a block of {}-byte numbers", size_of::<A>())
    }

    fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Self::Value, E> {
        let size = size_of::<A>();
        if !is_plain::<A>() || size == 0 || bytes.len() % size != 0 {
            return Err(E::invalid_length(bytes.len(), &self));
        }
        let len = bytes.len() / size;
        let mut items = Vec::<A>::with_capacity(len);
        // SAFETY: `A` is a plain number type (checked above), so any bytes are a valid `A`; the destination has room for `len`
        // elements, `bytes.len()` bytes, and does not overlap the input. The copy is
        // byte-wise, so the input's alignment does not matter.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                items.as_mut_ptr().cast::<u8>(),
                bytes.len(),
            );
            items.set_len(len);
        }
        Ok(ChunkInput::new(items))
    }

    fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<Self::Value, S::Error> {
        Sequence(PhantomData).visit_seq(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::ChunkResults;
    use crate::{TaskError, TaskErrorKind};

    fn round_trip<T>(items: &[T]) -> Vec<T>
    where
        T: Serialize + for<'de> Deserialize<'de> + 'static,
    {
        let bytes = postcard::to_stdvec(&Elements(items)).unwrap();
        postcard::from_bytes::<ChunkInput<T>>(&bytes)
            .unwrap()
            .into_vec()
    }

    #[test]
    fn every_plain_type_round_trips_as_one_block() {
        assert_eq!(round_trip(&[0u8, 7, 255]), [0, 7, 255]);
        assert_eq!(round_trip(&[i8::MIN, -1, i8::MAX]), [i8::MIN, -1, i8::MAX]);
        assert_eq!(round_trip(&[u16::MAX, 1]), [u16::MAX, 1]);
        assert_eq!(round_trip(&[i16::MIN, 2]), [i16::MIN, 2]);
        assert_eq!(round_trip(&[u32::MAX, 3]), [u32::MAX, 3]);
        assert_eq!(round_trip(&[i32::MIN, 4]), [i32::MIN, 4]);
        assert_eq!(round_trip(&[u64::MAX, 5]), [u64::MAX, 5]);
        assert_eq!(round_trip(&[i64::MIN, 6]), [i64::MIN, 6]);
        assert_eq!(round_trip(&[u128::MAX, 7]), [u128::MAX, 7]);
        assert_eq!(round_trip(&[i128::MIN, 8]), [i128::MIN, 8]);
        assert_eq!(round_trip(&[usize::MAX, 9]), [usize::MAX, 9]);
        assert_eq!(round_trip(&[isize::MIN, 10]), [isize::MIN, 10]);
        assert_eq!(round_trip(&[1.5f32, -0.0]), [1.5, -0.0]);
        let nan = f64::from_bits(0x7ff8_dead_beef_0001);
        assert_eq!(round_trip(&[nan])[0].to_bits(), nan.to_bits());
        assert!(round_trip::<u64>(&[]).is_empty());
        // One length, then the bytes as they are: no per-element coding.
        let bytes = postcard::to_stdvec(&Elements(&[1u64, 2, 3])).unwrap();
        assert_eq!(bytes.len(), 1 + 3 * 8);
    }

    #[test]
    fn other_types_go_element_by_element() {
        let words = vec!["a".to_string(), "bc".to_string()];
        assert_eq!(round_trip(&words), words);
        let pairs = [(1u8, true), (2, false)];
        assert_eq!(round_trip(&pairs), pairs);
        // `bool` is not plain (not every byte is a `bool`): a sequence.
        assert_eq!(round_trip(&[true, false]), [true, false]);
        assert_eq!(postcard::to_stdvec(&Elements(&[true])).unwrap(), [1, 1]);
    }

    #[test]
    fn a_block_of_the_wrong_length_is_an_error_not_a_read() {
        // Five bytes, announced as such: not a whole number of `u32`s.
        let bytes = [5u8, 1, 2, 3, 4, 5];
        assert!(postcard::from_bytes::<ChunkInput<u32>>(&bytes).is_err());
        // A length past the end of the input.
        let bytes = [200u8, 1, 2, 3, 4];
        assert!(postcard::from_bytes::<ChunkInput<u32>>(&bytes).is_err());
    }

    #[test]
    fn a_self_describing_sequence_is_read_for_a_plain_type_too() {
        use serde::de::value::{Error, SeqDeserializer};
        let elements = SeqDeserializer::<_, Error>::new([1u64, 2].into_iter());
        let chunk = ChunkInput::<u64>::deserialize(elements).unwrap();
        assert_eq!(chunk.into_vec(), vec![1, 2]);
    }

    #[test]
    fn chunk_results_of_plain_numbers_round_trip_with_their_failures() {
        let chunk = ChunkResults::run(vec![4u64, 0, 2], |x| 8 / x);
        let bytes = postcard::to_stdvec(&chunk).unwrap();
        let back: ChunkResults<u64> = postcard::from_bytes(&bytes).unwrap();
        let results = back.into_results();
        assert_eq!(results[0], Ok(2));
        assert_eq!(
            results[1].as_ref().unwrap_err().kind(),
            TaskErrorKind::Panicked
        );
        assert_eq!(results[2], Ok(4));
        // No values: the same bytes as for any other type.
        let err = TaskError::new(TaskErrorKind::Other, "x");
        assert_eq!(
            postcard::to_stdvec(&ChunkResults::<u64>::failed(1, err.clone())).unwrap(),
            postcard::to_stdvec(&ChunkResults::<String>::failed(1, err)).unwrap()
        );
    }
}
