//! The pool's boundaries with user code and the outside world, with real child processes:
//! functions that a worker cannot find, the environment a worker's own children see, large
//! messages beside small ones, and user code (`Serialize`, initializers, tasks) that panics.
//!
//! Tests run one at a time (each takes `common::serial()`) and check that they left no child
//! process. Deadlines only catch hangs.

pool_process::test_worker!();

mod common;

use std::ffi::CString;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, mpsc};

use common::{HANG, kill_children, run, task_error};
use future_core::{MapOptions, TaskErrorKind};
use pool_process::{ProcessPool, ProcessPoolBuildError};
use serde_bytes::ByteBuf;

fn square(x: u64) -> u64 {
    x * x
}

/// This test binary's stand-in for a program's `main` (see `common::program_role`).
#[test]
fn program_main() {
    let Some(role) = common::program_role() else {
        return;
    };
    match role.as_str() {
        "hello" => println!("main ran in {}", std::process::id()),
        "pool" => {
            let pool = ProcessPool::builder().max_workers(1).build().unwrap();
            let seven = pool.submit(square, 7).unwrap().result_timeout(HANG);
            println!("main's own pool: {seven:?}");
        }
        // Panics of user code in every place a task's path runs it; each error on stdout.
        "task_panics" | "task_panics_printed" => {
            let pool = ProcessPool::builder()
                .max_workers(1)
                .print_task_panics(role == "task_panics_printed")
                .build()
                .unwrap();
            let mut errors = vec![
                task_error(&pool.submit(explodes, 7).unwrap()),
                task_error(
                    &pool
                        .submit(takes_undeserializable, PanicsOnDeserialize)
                        .unwrap(),
                ),
                task_error(&pool.submit(returns_unserializable, ()).unwrap()),
                task_error(&pool.submit(returns_undeserializable, ()).unwrap()),
                task_error(
                    &pool
                        .submit(takes_unserializable, PanicsOnSerialize)
                        .unwrap(),
                ),
            ];
            let chunk = pool.map(explodes, [1, 2], MapOptions::new()).unwrap();
            errors.extend(chunk.filter_map(|r| r.err()?.task_error().cloned()));
            let broken = ProcessPool::builder()
                .max_workers(1)
                .initializer(explodes_in_setup)
                .build()
                .unwrap();
            errors.push(task_error(&broken.submit(square, 1).unwrap()));
            for err in errors {
                println!("{:?}: {}", err.kind(), err.message());
            }
        }
        // A map over arguments whose `Drop` panics, two to a chunk, in the parent: every
        // chunk is sent (and its arguments dropped), then the results are read.
        "loud_map_args" => {
            let pool = ProcessPool::builder().max_workers(1).build().unwrap();
            let options = MapOptions::new().chunksize(2);
            let results: Vec<_> = pool
                .map(loud_len, (0..4).map(|_| LoudOnDrop(true)), options)
                .unwrap()
                .collect();
            println!("loud map: {results:?}");
        }
        other => panic!("unknown role {other}"),
    }
}

fn explodes(x: u64) -> u64 {
    panic!("task exploded on {x}")
}

fn explodes_in_setup() {
    panic!("setup exploded")
}

/// A task's panic, and every panic of user code on a task's path (a value's `Serialize` or
/// `Deserialize`, in the parent or in the worker; the initializer), travels in the future's
/// error and is not printed on the terminal, whatever `RUST_BACKTRACE` says; with
/// `print_task_panics(true)` the worker prints it too. Checked on a program's stdout (the
/// errors) and stderr (what the terminal shows).
/// An argument whose `Drop` panics in the process that dropped it, the parent that sent it;
/// the copy a worker decodes is made with `loud: false` and drops quietly there.
#[derive(Debug, serde::Serialize)]
struct LoudOnDrop(bool);

impl<'de> serde::Deserialize<'de> for LoudOnDrop {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        bool::deserialize(d).map(|_| LoudOnDrop(false))
    }
}

impl Drop for LoudOnDrop {
    fn drop(&mut self) {
        if self.0 {
            panic!("a map argument's drop panicked");
        }
    }
}

fn loud_len(_: LoudOnDrop) -> u8 {
    1
}

/// A map drops each chunk's arguments once they are encoded, each in a panic boundary of its
/// own: two arguments of one chunk whose `Drop` panics used to abort the parent (the chunk's
/// `Vec` was dropped whole inside one boundary, its second panic while the first unwound).
/// Run as a program, which an abort kills without taking this test binary along.
#[test]
fn a_map_over_arguments_whose_drop_panics_does_not_abort() {
    run(|| {
        let (code, stdout, stderr) = run_program("loud_map_args".to_owned());
        assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
        assert!(
            stdout.contains("loud map: [Ok(1), Ok(1), Ok(1), Ok(1)]"),
            "stdout: {stdout}\nstderr: {stderr}"
        );
    });
}

#[test]
fn task_panics_travel_in_the_error_and_are_printed_only_when_asked() {
    run(|| {
        let cases = [
            ("task_panics", None),
            ("task_panics", Some("1")),
            ("task_panics", Some("full")),
            ("task_panics_printed", Some("full")),
        ];
        for (role, backtrace) in cases {
            let mut program = common::program(role);
            match backtrace {
                Some(value) => program.env("RUST_BACKTRACE", value),
                None => program.env_remove("RUST_BACKTRACE"),
            };
            let out = program.output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let case =
                format!("{role}, RUST_BACKTRACE={backtrace:?}\nstdout: {stdout}\nstderr: {stderr}");
            assert!(out.status.success(), "{case}");
            let errors = [
                "Panicked: task exploded on 7 (in worker process",
                "Serialization: the worker",
                "no deserializing this",
                "no serializing this",
                "Panicked: task exploded on 1",
                "Panicked: task exploded on 2",
                "Broken: the pool is broken: the worker initializer panicked",
                "setup exploded",
            ];
            for error in errors {
                assert!(stdout.contains(error), "{error:?} missing: {case}");
            }
            assert!(!stdout.contains("TimedOut"), "{case}");
            if role == "task_panics_printed" {
                assert!(stderr.contains("task exploded on 7"), "{case}");
            } else {
                for printed in ["panicked", "exploded", "serializing this", "backtrace"] {
                    assert!(!stderr.contains(printed), "{printed:?} printed: {case}");
                }
            }
        }
    });
}

/// A test binary that uses `test_worker!` prints what libtest prints for its own tests and
/// nothing for its workers: no `running 1 test` of a worker, no test of the macro's own.
#[test]
fn a_test_binary_prints_nothing_for_its_workers() {
    run(|| {
        let exe = std::env::current_exe().unwrap();
        let list = Command::new(&exe).args(["--list"]).output().unwrap();
        let list = String::from_utf8_lossy(&list.stdout);
        assert!(!list.contains("pool_process_worker"), "{list}");

        // A test that starts a worker and sends it tasks, run alone by libtest.
        let test = "a_custom_serialize_error_reaches_the_user_with_its_text";
        let out = Command::new(&exe)
            .args(["--exact", test, "--test-threads=1"])
            .env_remove("RUST_BACKTRACE")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
        let expected =
            format!("\nrunning 1 test\ntest {test} ... ok\n\ntest result: ok. 1 passed; 0 failed;");
        assert!(stdout.starts_with(&expected), "stdout: {stdout}");
        assert_eq!(stdout.matches("running").count(), 1, "stdout: {stdout}");
        assert_eq!(stdout.matches("test result").count(), 1, "stdout: {stdout}");
        assert_eq!(stderr, "", "stdout: {stdout}");
    });
}

/// A task that runs this program again as a plain subprocess, in `role`: its exit code,
/// stdout and stderr.
fn run_program(role: String) -> (Option<i32>, String, String) {
    let out = common::program(&role).output().unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    (out.status.code(), text(out.stdout), text(out.stderr))
}

/// The functions of a tiny plugin, compiled by this test into a shared library with the
/// same `rustc` and loaded with `dlopen`: Rust functions that live outside the executable.
struct Plugin {
    triple: fn(u64) -> u64,
    setup: fn(),
}

const PLUGIN_SOURCE: &str = r#"
fn triple(x: u64) -> u64 { x * 3 }
fn setup() {}
#[unsafe(no_mangle)]
pub static TRIPLE: fn(u64) -> u64 = triple;
#[unsafe(no_mangle)]
pub static SETUP: fn() = setup;
"#;

/// The `rustc` of this toolchain: beside the `cargo` that runs the tests, if known.
fn rustc() -> PathBuf {
    std::env::var_os("CARGO")
        .map(PathBuf::from)
        .and_then(|cargo| Some(cargo.parent()?.join("rustc")))
        .filter(|rustc| rustc.exists())
        .unwrap_or_else(|| PathBuf::from("rustc"))
}

fn load_plugin() -> Plugin {
    let dir = std::env::temp_dir().join(format!("pool-process-plugin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("plugin.rs");
    let library = dir.join("libplugin.so");
    std::fs::write(&source, PLUGIN_SOURCE).unwrap();
    let status = Command::new(rustc())
        .args(["--crate-type", "cdylib", "--edition", "2021", "-o"])
        .arg(&library)
        .arg(&source)
        .status()
        .unwrap();
    assert!(status.success(), "rustc failed to build the plugin");
    let path = CString::new(library.to_str().unwrap()).unwrap();
    // SAFETY: loading a library runs its initializers: this one is the plugin just built
    // from `PLUGIN_SOURCE`, which has none. It is never closed, so the function pointers
    // read from it below stay valid for the rest of the process.
    let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW) };
    assert!(!handle.is_null(), "dlopen failed");
    let _ = std::fs::remove_dir_all(&dir);
    // SAFETY: `TRIPLE` and `SETUP` are `static`s of types `fn(u64) -> u64` and `fn()` in the
    // plugin, compiled by the same `rustc` (same ABI); `dlsym` returns their addresses.
    unsafe {
        let triple = libc::dlsym(handle, c"TRIPLE".as_ptr());
        let setup = libc::dlsym(handle, c"SETUP".as_ptr());
        assert!(!triple.is_null() && !setup.is_null(), "dlsym failed");
        Plugin {
            triple: *triple.cast::<fn(u64) -> u64>(),
            setup: *setup.cast::<fn()>(),
        }
    }
}

#[test]
fn a_function_from_a_shared_library_is_refused_before_anything_is_sent() {
    run(|| {
        let plugin = load_plugin();
        assert_eq!((plugin.triple)(5), 15, "a working Rust function");
        let pool = ProcessPool::builder().max_workers(1).build().unwrap();

        let err = task_error(&pool.submit(plugin.triple, 5).unwrap());
        assert_eq!(err.kind(), TaskErrorKind::Serialization, "{err}");
        assert!(
            err.message()
                .contains("not part of the program's executable"),
            "{err}"
        );
        assert!(err.message().contains("libplugin.so"), "{err}");

        let results: Vec<_> = pool
            .map(plugin.triple, 0..3u64, MapOptions::new().chunksize(2))
            .unwrap()
            .collect();
        assert_eq!(results.len(), 3);
        for result in results {
            let err = result.unwrap_err().task_error().unwrap().clone();
            assert_eq!(err.kind(), TaskErrorKind::Serialization, "{err}");
        }
        assert_eq!(pool.stats().workers_started, 0, "nothing was sent");
        assert_eq!(pool.submit(square, 4).unwrap().result_timeout(HANG), Ok(16));

        let err = ProcessPool::builder()
            .initializer(plugin.setup)
            .build()
            .unwrap_err();
        assert!(
            matches!(err, ProcessPoolBuildError::ForeignInitializer(_)),
            "{err}"
        );
        assert!(err.to_string().contains("libplugin.so"), "{err}");
    });
}

#[test]
fn a_program_that_a_task_starts_runs_main_normally() {
    run(|| {
        let pool = ProcessPool::builder().max_workers(1).build().unwrap();
        let worker = pool.submit(|()| std::process::id(), ()).unwrap();
        let worker = worker.result_timeout(HANG).unwrap();
        let future = pool.submit(run_program, "hello".to_owned()).unwrap();
        let (code, out, err) = future.result_timeout(HANG).unwrap();
        assert_eq!(code, Some(0), "stdout: {out}\nstderr: {err}");
        assert!(out.contains("main ran in"), "stdout: {out}\nstderr: {err}");
        assert!(!out.contains(&format!("main ran in {worker}")), "{out}");

        // The grandchild is a program like any other: it may have a pool of its own.
        let future = pool.submit(run_program, "pool".to_owned()).unwrap();
        let (code, out, err) = future.result_timeout(HANG).unwrap();
        assert_eq!(code, Some(0), "stdout: {out}\nstderr: {err}");
        assert!(
            out.contains("main's own pool: Ok(49)"),
            "stdout: {out}\nstderr: {err}"
        );
    });
}

/// A reply of 512 KiB, more than a socket buffer holds (made and encoded without a loop per
/// byte, so the task stays short).
fn big_reply(arg: ByteBuf) -> ByteBuf {
    ByteBuf::from(vec![arg.len() as u8; 512 * 1024])
}

#[test]
fn no_send_waits_under_the_pool_lock_whatever_the_settings() {
    run(|| {
        // Up to 64 tasks of 15 KiB queued on one worker: more than its socket buffer holds,
        // while each reply is larger than the buffer the other way.
        let pool = ProcessPool::builder()
            .max_workers(1)
            .tasks_per_worker(64)
            .build()
            .unwrap();
        let pool = Arc::new(pool);
        for _ in 0..20 {
            // Short tasks: the pool then queues tasks behind the running one.
            assert_eq!(pool.submit(square, 3).unwrap().result_timeout(HANG), Ok(9));
        }
        let (done_tx, done_rx) = mpsc::channel();
        let submitter = std::thread::spawn({
            let pool = pool.clone();
            move || {
                let futures: Vec<_> = (0..64)
                    .map(|_| pool.submit(big_reply, ByteBuf::from(vec![1; 15 * 1024])))
                    .collect();
                let lengths: Vec<_> = futures
                    .into_iter()
                    .map(|f| f.unwrap().take_timeout(HANG).map(|reply| reply.len()))
                    .collect();
                let _ = done_tx.send(lengths);
            }
        });
        let Ok(lengths) = done_rx.recv_timeout(HANG) else {
            kill_children(); // unblocks the pool, so that the failure is reported
            panic!("deadlock: the submitter and the manager wait for each other");
        };
        assert!(
            lengths.iter().all(|len| *len == Ok(512 * 1024)),
            "{lengths:?}"
        );
        submitter.join().unwrap();
    });
}

/// A value whose `Serialize` panics (in the parent: an argument; in a worker: a result).
#[derive(Debug, serde::Deserialize)]
struct PanicsOnSerialize;

impl serde::Serialize for PanicsOnSerialize {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("no serializing this")
    }
}

/// A value that encodes and whose `Deserialize` panics (in a worker: an argument; in the
/// parent: a result).
#[derive(Debug, serde::Serialize)]
struct PanicsOnDeserialize;

impl<'de> serde::Deserialize<'de> for PanicsOnDeserialize {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        panic!("no deserializing this")
    }
}

fn takes_unserializable(_: PanicsOnSerialize) -> u32 {
    std::process::id()
}

fn returns_unserializable(_: ()) -> PanicsOnSerialize {
    PanicsOnSerialize
}

fn takes_undeserializable(_: PanicsOnDeserialize) -> u32 {
    std::process::id()
}

fn returns_undeserializable(_: ()) -> PanicsOnDeserialize {
    PanicsOnDeserialize
}

fn worker_pid(_: ()) -> u32 {
    std::process::id()
}

/// The message of a failed `result` of a task, checked to be a `Serialization` error.
fn serialization_error<T: std::fmt::Debug>(future: future_core::TaskFuture<T>) -> String {
    let err = task_error(&future);
    assert_eq!(err.kind(), TaskErrorKind::Serialization, "{err}");
    err.message().to_owned()
}

#[test]
fn a_panicking_serialize_or_deserialize_fails_its_task_and_nothing_else() {
    run(|| {
        let pool = ProcessPool::builder().max_workers(1).build().unwrap();
        // In the parent, before anything is sent.
        let message = serialization_error(
            pool.submit(takes_unserializable, PanicsOnSerialize)
                .unwrap(),
        );
        assert!(message.contains("no serializing this"), "{message}");
        assert_eq!(pool.stats().workers_started, 0, "nothing was sent");
        let chunks = pool.map(takes_unserializable, [PanicsOnSerialize], MapOptions::new());
        let err = chunks.unwrap().next().unwrap().unwrap_err();
        assert!(err.to_string().contains("no serializing this"), "{err}");

        // In the worker: the task fails, the worker lives on.
        let first = pool
            .submit(worker_pid, ())
            .unwrap()
            .result_timeout(HANG)
            .unwrap();
        let message = serialization_error(pool.submit(returns_unserializable, ()).unwrap());
        assert!(message.contains("no serializing this"), "{message}");
        let message = serialization_error(
            pool.submit(takes_undeserializable, PanicsOnDeserialize)
                .unwrap(),
        );
        assert!(message.contains("no deserializing this"), "{message}");

        // In the parent, on the pool's own thread, decoding the result.
        let message = serialization_error(pool.submit(returns_undeserializable, ()).unwrap());
        assert!(message.contains("no deserializing this"), "{message}");

        let last = pool
            .submit(worker_pid, ())
            .unwrap()
            .result_timeout(HANG)
            .unwrap();
        assert_eq!(first, last, "the same worker served them all");
        assert_eq!(pool.stats().workers_started, 1);
        assert_eq!(pool.submit(square, 5).unwrap().result_timeout(HANG), Ok(25));
    });
}

/// A value whose `Serialize` fails with its own message.
#[derive(Debug, serde::Deserialize)]
struct Refuses;

impl serde::Serialize for Refuses {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeStruct};
        let mut fields = s.serialize_struct("Refuses", 2)?;
        fields.serialize_field("id", &7u8)?;
        Err(S::Error::custom("the account is locked"))
    }
}

fn takes_refuses(_: Refuses) -> u8 {
    0
}

fn returns_refuses(_: ()) -> Refuses {
    Refuses
}

#[test]
fn a_custom_serialize_error_reaches_the_user_with_its_text() {
    run(|| {
        let pool = ProcessPool::builder().max_workers(1).build().unwrap();
        let message = serialization_error(pool.submit(takes_refuses, Refuses).unwrap());
        assert!(message.contains("the account is locked"), "{message}");
        let message = serialization_error(pool.submit(returns_refuses, ()).unwrap());
        assert!(message.contains("the account is locked"), "{message}");
    });
}
