//! A worker's chunk runner, and the parent's reply decoding, contain the panics of the
//! values they drop: no panic of a user's `Drop` aborts the process.

use serde::{Deserialize, Deserializer, Serialize};

/// A result whose `Drop` always panics, even while its thread unwinds (as a user's type
/// may). Encoded as its number.
#[derive(Serialize, Deserialize)]
struct Loud(u32);

impl Drop for Loud {
    fn drop(&mut self) {
        panic!("a loud result's drop panicked");
    }
}

fn loud(x: u32) -> Loud {
    Loud(x)
}

/// `Loud`'s encoding without its `Drop`: what the test reads the results back as.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Quiet(u32);

const CHILD: &str = "TASK_WIRE_TEST_PANIC_CHILD";

/// The worker drops a chunk's results once they are encoded, each in a boundary of its
/// own: a chunk of two results whose `Drop` panics used to abort the worker process (the
/// results were dropped as one `Vec` in one boundary: the second panic came while the
/// first unwound). Run in a child process, which an abort kills without taking this test
/// binary along.
#[test]
#[cfg_attr(miri, ignore = "Miri runs the child scenario directly")]
fn dropping_a_chunks_results_whose_drop_panics_does_not_abort() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "loud_results_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("loud results done"),
        "the child did not finish: {out:?}"
    );
}

/// The child side of `dropping_a_chunks_results_whose_drop_panics_does_not_abort` (under
/// Miri, which cannot start a process, it runs here directly).
#[test]
fn loud_results_child() {
    if std::env::var_os(CHILD).is_none() && !cfg!(miri) {
        return;
    }
    let name = task_wire::name_task(loud as fn(u32) -> Loud).unwrap();
    let args = task_wire::encode(&future_core::executor::Elements(&[1u32, 2, 3])).unwrap();
    let args = ipc_queue::Frame::from(args);
    let mut reply = Vec::new();
    // SAFETY: `name` comes from `name_task` in this very process.
    unsafe { task_wire::run_task(name, args, 0, &mut reply) };
    // Read back as `Quiet`: the same encoding, and nothing here panics on drop.
    let results = task_wire::decode_results::<Quiet>(&reply, 3).unwrap();
    assert_eq!(
        results.into_results(),
        vec![Ok(Quiet(1)), Ok(Quiet(2)), Ok(Quiet(3))]
    );
    println!("loud results done");
}

/// A value whose `Drop` always panics and whose `Deserialize` refuses 99. Encoded as its
/// number.
#[derive(Serialize)]
struct Picky(u32);

impl<'de> Deserialize<'de> for Picky {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match u32::deserialize(deserializer)? {
            99 => Err(serde::de::Error::custom("99 is refused")),
            n => Ok(Picky(n)),
        }
    }
}

impl Drop for Picky {
    fn drop(&mut self) {
        panic!("a picky value's drop panicked");
    }
}

fn take_picky(picky: Picky) -> u32 {
    let n = picky.0;
    std::mem::forget(picky);
    n
}

/// Arguments, or results, that fail to decode part way drop the values decoded before one
/// by one, each in a boundary of its own: two whose `Drop` panics used to abort the
/// process (serde's `Vec` dropped them as one `Vec` on the error). The chunk fails with a
/// `Serialization` error instead, on the worker's side and on the parent's.
#[test]
#[cfg_attr(miri, ignore = "Miri runs the child scenario directly")]
fn values_that_fail_to_decode_part_way_do_not_abort() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "picky_decode_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("picky decode done"),
        "the child did not finish: {out:?}"
    );
}

/// The child side of `values_that_fail_to_decode_part_way_do_not_abort`.
#[test]
fn picky_decode_child() {
    use future_core::TaskErrorKind;
    if std::env::var_os(CHILD).is_none() && !cfg!(miri) {
        return;
    }
    // The worker: arguments 1 and 2 decode, 99 does not.
    let name = task_wire::name_task(take_picky as fn(Picky) -> u32).unwrap();
    let args = ipc_queue::Frame::from(task_wire::encode(&vec![1u32, 2, 99]).unwrap());
    let mut reply = Vec::new();
    // SAFETY: `name` comes from `name_task` in this very process.
    unsafe { task_wire::run_task(name, args, 0, &mut reply) };
    let err = task_wire::decode_results::<u32>(&reply, 3).unwrap_err();
    assert_eq!(err.kind(), TaskErrorKind::Serialization, "{err}");

    // The parent: results 1 and 2 decode, 99 does not.
    let reply = task_wire::encode(&future_core::executor::ChunkResults::run(
        vec![1u32, 2, 99],
        |n| n,
    ))
    .unwrap();
    let err = task_wire::decode_results::<Picky>(&reply, 3)
        .map(std::mem::forget)
        .unwrap_err();
    assert_eq!(err.kind(), TaskErrorKind::Serialization, "{err}");
    println!("picky decode done");
}
