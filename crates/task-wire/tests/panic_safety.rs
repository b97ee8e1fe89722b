//! A worker's chunk runner contains the panics of the values it drops: no panic of a
//! user's `Drop` aborts the worker process.

use serde::{Deserialize, Serialize};

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
    let args = ipc_queue::Frame::from(task_wire::encode(&vec![1u32, 2, 3]).unwrap());
    let mut reply = Vec::new();
    // SAFETY: `name` comes from `name_task` in this very process.
    unsafe { task_wire::run_task(name, args, 0, &mut reply) };
    // Read back as numbers: the same encoding, and nothing here panics on drop.
    let results = task_wire::decode_results::<u32>(&reply, 3).unwrap();
    assert_eq!(results.into_results(), vec![Ok(1), Ok(2), Ok(3)]);
    println!("loud results done");
}
