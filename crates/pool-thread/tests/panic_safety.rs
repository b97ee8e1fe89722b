//! Panic safety at every boundary: a panic in a task, in a task's drop, in a panic
//! payload's drop, in a done callback or in a waker never escapes into the pool's
//! machinery: the pool keeps its threads and counts right, and a scope never ends while
//! one of its tasks can still run.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::task::{Context, RawWaker, RawWakerVTable, Waker};

use common::within;
use future_core::{FutureError, TaskErrorKind, TaskFuture};
use pool_thread::{Scope, ThreadPool};

/// Panics when dropped (unless the thread is already unwinding, which would abort).
struct PanicOnDrop(&'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{}", self.0);
        }
    }
}

/// A waker whose `wake` panics.
fn panicking_waker() -> Waker {
    fn clone(_: *const ()) -> RawWaker {
        RawWaker::new(std::ptr::null(), &VTABLE)
    }
    fn wake(_: *const ()) {
        panic!("the waker panicked");
    }
    fn drop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop);
    // SAFETY: every function of the vtable ignores the (null) data pointer.
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

/// Registers `waker` on `future` (through `.await`'s poll) and leaks the registration
/// handle, so the waker stays registered until the future completes.
fn register_waker<T: Send + 'static>(future: &TaskFuture<T>, waker: &Waker) {
    use std::future::Future;
    let mut awaiting = Box::pin(future.clone());
    let pending = awaiting.as_mut().poll(&mut Context::from_waker(waker));
    assert!(pending.is_pending(), "the future is not done yet");
    std::mem::forget(awaiting);
}

/// On a one-thread pool, a task opens a scope, spawns a task that reads a value of the
/// task's stack, then sets `trap` off inside the same scope. Returns whether the scope
/// returned normally and whether the reader ran after the scope had ended (a dangling
/// read, had it touched the borrowed value).
fn scope_with_trap(
    trap: impl for<'scope, 'env> FnOnce(&'scope Scope<'scope, 'env>) + Send + 'static,
) -> (bool, bool) {
    within("the scope scenario", move || {
        let pool = Arc::new(ThreadPool::builder().max_workers(1).build().unwrap());
        let ended = Arc::new(AtomicBool::new(false));
        let late = Arc::new(AtomicBool::new(false));
        let (reader_tx, reader_rx) = mpsc::channel();
        let (p, e, l) = (pool.clone(), ended.clone(), late.clone());
        let outer = pool
            .spawn(move || {
                let value = 42u64;
                let outcome = catch_unwind(AssertUnwindSafe(|| {
                    p.scope(|s| {
                        let (e, l) = (e.clone(), l.clone());
                        let reader = s
                            .spawn(move || {
                                if e.load(Ordering::SeqCst) {
                                    // The scope is over: `value` may be gone.
                                    l.store(true, Ordering::SeqCst);
                                    return 0;
                                }
                                value
                            })
                            .unwrap();
                        reader_tx.send(reader).unwrap();
                        trap(s);
                    })
                }));
                e.store(true, Ordering::SeqCst);
                outcome.is_ok()
            })
            .unwrap();
        let scope_ok = outer.result().unwrap();
        let reader: TaskFuture<u64> = reader_rx.recv().unwrap();
        // Whatever happened, the reader has run (or was dropped) by now, or runs soon.
        let _ = reader.result_timeout(common::HANG);
        (scope_ok, late.load(Ordering::SeqCst))
    })
}

#[test]
fn scope_outlives_a_cancelled_task_whose_closure_panics_on_drop() {
    let (scope_ok, late) = scope_with_trap(|s| {
        let bomb = PanicOnDrop("closure dropped");
        let cancelled = s
            .spawn(move || {
                let _bomb = &bomb;
            })
            .unwrap();
        assert!(cancelled.cancel());
    });
    assert!(!late, "a scoped task ran after its scope ended");
    assert!(scope_ok, "the drop's panic escaped into the scope");
}

#[test]
fn scope_outlives_a_task_whose_panic_payload_panics_on_drop() {
    let (scope_ok, late) = scope_with_trap(|s| {
        s.spawn(|| std::panic::panic_any(PanicOnDrop("payload dropped")))
            .unwrap();
    });
    assert!(!late, "a scoped task ran after its scope ended");
    assert!(scope_ok, "the payload's panic escaped into the scope");
}

#[test]
fn scope_outlives_a_task_whose_waker_panics() {
    let (scope_ok, late) = scope_with_trap(|s| {
        let task = s.spawn(|| 1u8).unwrap();
        register_waker(&task, &panicking_waker());
    });
    assert!(!late, "a scoped task ran after its scope ended");
    assert!(scope_ok, "the waker's panic escaped into the scope");
}

#[test]
fn a_panic_payload_that_panics_on_drop_fails_only_its_task() {
    within("the payload scenario", || {
        let pool = ThreadPool::builder().max_workers(1).build().unwrap();
        let bad = pool
            .spawn(|| -> u8 { std::panic::panic_any(PanicOnDrop("payload dropped")) })
            .unwrap();
        let err = bad.result().unwrap_err();
        assert_eq!(
            err.task_error().map(|e| e.kind()),
            Some(TaskErrorKind::Panicked),
            "{err}"
        );
        assert_eq!(pool.spawn(|| 5).unwrap().result(), Ok(5));
        assert_eq!(pool.stats().workers, 1);
    });
}

#[test]
fn a_panicking_waker_does_not_stop_the_other_listeners_nor_the_worker() {
    within("the waker scenario", || {
        let pool = ThreadPool::builder().max_workers(1).build().unwrap();
        let gate = common::Gate::new();
        let g = gate.clone();
        let task = pool.spawn(move || g.wait()).unwrap();
        register_waker(&task, &panicking_waker());
        let called = Arc::new(AtomicUsize::new(0));
        let c = called.clone();
        task.add_done_callback(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        });
        gate.open();
        assert_eq!(task.result(), Ok(()));
        common::eventually("the callback ran", || called.load(Ordering::SeqCst) == 1);
        assert_eq!(pool.spawn(|| 5).unwrap().result(), Ok(5));
        assert_eq!(pool.stats().workers, 1);
    });
}

#[test]
fn a_panicking_done_callback_leaves_the_pool_working() {
    within("the callback scenario", || {
        let pool = ThreadPool::builder().max_workers(1).build().unwrap();
        let gate = common::Gate::new();
        let g = gate.clone();
        let task = pool.spawn(move || g.wait()).unwrap();
        task.add_done_callback(|_| panic!("callback failed"));
        let after = Arc::new(AtomicUsize::new(0));
        let a = after.clone();
        task.add_done_callback(move |_| {
            a.fetch_add(1, Ordering::SeqCst);
        });
        gate.open();
        assert_eq!(task.result(), Ok(()));
        common::eventually("the later callback ran", || {
            after.load(Ordering::SeqCst) == 1
        });
        assert_eq!(pool.spawn(|| 5).unwrap().result(), Ok(5));
        assert_eq!(pool.stats().workers, 1);
    });
}

#[test]
fn a_task_whose_captures_panic_on_drop_fails_its_future_only() {
    within("the drop scenario", || {
        let pool = ThreadPool::builder().max_workers(1).build().unwrap();
        let bomb = PanicOnDrop("capture dropped");
        let task = pool
            .spawn(move || {
                let _bomb = bomb;
                3u8
            })
            .unwrap();
        match task.result() {
            Err(FutureError::Failed(err)) => {
                assert_eq!(err.kind(), TaskErrorKind::Panicked);
                assert_eq!(err.message(), "capture dropped");
            }
            other => panic!("expected the drop's panic as the task's error, got {other:?}"),
        }
        assert_eq!(pool.spawn(|| 5).unwrap().result(), Ok(5));
        assert_eq!(pool.stats().workers, 1);
    });
}

#[test]
fn a_cancelled_task_whose_closure_panics_on_drop_leaves_the_pool_working() {
    within("the cancel scenario", || {
        let pool = ThreadPool::builder().max_workers(1).build().unwrap();
        let gate = common::Gate::new();
        let busy = common::occupy(&pool, &gate);
        let bomb = PanicOnDrop("closure dropped");
        let queued = pool
            .spawn(move || {
                let _bomb = &bomb;
            })
            .unwrap();
        assert!(queued.cancel());
        gate.open();
        busy.result().unwrap();
        assert_eq!(pool.spawn(|| 5).unwrap().result(), Ok(5));
        assert_eq!(pool.stats().workers, 1);
        pool.shutdown();
    });
}

#[test]
fn a_panicking_initializer_breaks_the_pool_without_losing_a_thread_count() {
    within("the initializer scenario", || {
        let pool = ThreadPool::builder()
            .max_workers(2)
            .initializer(|| std::panic::panic_any(PanicOnDrop("initializer payload")))
            .build()
            .unwrap();
        let first = pool.spawn(|| 1).unwrap();
        let err = first.result().unwrap_err();
        assert_eq!(
            err.task_error().map(|e| e.kind()),
            Some(TaskErrorKind::Broken)
        );
        pool.shutdown();
        assert_eq!(pool.stats().workers, 0);
    });
}

#[test]
fn an_invalid_thread_name_is_a_build_error_not_a_stuck_pool() {
    let err = ThreadPool::builder()
        .thread_name_prefix("a\0b")
        .build()
        .unwrap_err();
    assert!(
        matches!(err, pool_thread::ThreadPoolBuildError::InvalidSetting(_)),
        "{err}"
    );
    assert!(err.to_string().contains("NUL"), "{err}");
}

/// Runs the test `child` of this test binary alone, in a child process, with `var` set to
/// `value` (the child does nothing without it): an abort or a hang there fails the
/// caller's test instead of taking the whole binary down.
fn run_child(child: &str, var: &str, value: &str) -> std::process::Output {
    let exe = std::env::current_exe().unwrap();
    std::process::Command::new(exe)
        .args(["--exact", child, "--nocapture", "--test-threads=1"])
        .env(var, value)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap()
}

/// The environment variable that makes `task_panic_child` run (in a child process).
const PANIC_CHILD: &str = "POOL_THREAD_TEST_PANIC_CHILD";

/// A task's panic travels in its future's error; the panic hook prints it only when the
/// pool is built with `print_task_panics(true)`. Checked on a child process's stderr.
#[test]
fn task_panics_are_printed_only_when_asked() {
    for print in [false, true] {
        let out = run_child(
            "task_panic_child",
            PANIC_CHILD,
            if print { "print" } else { "quiet" },
        );
        assert!(out.status.success(), "the child test failed: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            stderr.contains("task exploded quietly"),
            print,
            "print_task_panics({print}), stderr: {stderr}"
        );
    }
}

/// The child side of `task_panics_are_printed_only_when_asked` (does nothing otherwise).
#[test]
fn task_panic_child() {
    let Ok(mode) = std::env::var(PANIC_CHILD) else {
        return;
    };
    let pool = ThreadPool::builder()
        .max_workers(1)
        .print_task_panics(mode == "print")
        .build()
        .unwrap();
    let err = pool
        .spawn(|| -> u8 { panic!("task exploded quietly") })
        .unwrap()
        .result()
        .unwrap_err();
    assert_eq!(err.to_string(), "task panicked: task exploded quietly");
}

/// An element of a map's input whose `Drop` panics, unless it is the one the map
/// function panics on (a `Drop` that panics while its own panic unwinds aborts the
/// process whatever a pool does). Unlike [`PanicOnDrop`], it panics even while the thread
/// unwinds, as a user's type does.
struct Element {
    trigger: bool,
}

impl Drop for Element {
    fn drop(&mut self) {
        if !self.trigger {
            panic!("an element's drop panicked");
        }
    }
}

/// The map function of the chunk scenarios: panics on a trigger, maps anything else to 1
/// (dropping it, so its own drop panics inside the function).
fn panic_on_trigger(element: Element) -> u32 {
    if element.trigger {
        panic!("the map function panicked");
    }
    1
}

/// Chunks of two: a trigger, then an element whose drop panics.
fn triggered_chunks(chunks: usize) -> impl Iterator<Item = Element> + Send {
    (0..2 * chunks).map(|i| Element {
        trigger: i % 2 == 0,
    })
}

const CHUNK_CHILD: &str = "POOL_THREAD_TEST_CHUNK_CHILD";

/// Runs the test `child` of this binary in a child process (with [`CHUNK_CHILD`] set, so
/// it runs its scenario) and fails unless it finished and printed `done`: an abort kills
/// the child without taking this test binary along. The child's scenario has its own hang
/// watchdog ([`within`]).
fn child_finishes(child: &str, done: &str) {
    let out = run_child(child, CHUNK_CHILD, "1");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(done),
        "the child {child} did not finish: {out:?}"
    );
}

/// Whether this run of a `*_child` test runs its scenario: in the child process started
/// by [`child_finishes`], and under Miri (which cannot start a process) directly.
fn in_child() -> bool {
    std::env::var_os(CHUNK_CHILD).is_some() || cfg!(miri)
}

/// A map function that panics while the rest of its chunk holds elements whose `Drop`
/// panics fails the map; it does not abort the process (the rest of the chunk used to be
/// dropped while the function's panic unwound: a second panic, an abort). Run in a child
/// process, which an abort kills without taking this test binary along.
#[test]
#[cfg_attr(miri, ignore = "Miri runs the child scenario directly")]
fn a_map_function_panicking_beside_elements_whose_drop_panics_does_not_abort() {
    child_finishes("chunk_drop_panic_child", "chunk scenario done");
}

/// The child side of `a_map_function_panicking_beside_elements_whose_drop_panics_does_not_abort`
/// (under Miri, which cannot start a process, it runs here directly). Both chunk runners
/// of the thread pool: `map_collect`'s (the rest of a failed chunk is dropped) and
/// `map`'s (the rest is mapped on).
#[test]
fn chunk_drop_panic_child() {
    if !in_child() {
        return;
    }
    within("maps over elements whose drop panics", || {
        let pool = ThreadPool::builder().max_workers(2).build().unwrap();
        let chunks = if cfg!(miri) { 2 } else { 16 };
        let options = future_core::MapOptions::new().chunksize(2);

        let err = pool
            .map_collect(panic_on_trigger, triggered_chunks(chunks), options)
            .unwrap_err();
        assert!(matches!(err, FutureError::Failed(_)), "{err:?}");
        assert!(
            err.to_string().contains("the map function panicked"),
            "{err}"
        );

        let results: Vec<_> = pool
            .map(panic_on_trigger, triggered_chunks(chunks), options)
            .unwrap()
            .collect();
        assert_eq!(results.len(), 2 * chunks);
        for (i, result) in results.iter().enumerate() {
            let err = result.as_ref().unwrap_err().to_string();
            let expected = if i % 2 == 0 {
                "the map function panicked"
            } else {
                "an element's drop panicked"
            };
            assert!(err.contains(expected), "element {i}: {err}");
        }
    });
    println!("chunk scenario done");
}

/// Selects the scenario `hook_panic_child` runs (unset: it does nothing).
const HOOK_CHILD: &str = "POOL_THREAD_HOOK_PANIC_CHILD";

/// A `WorkerThread` hook (`blocking` or `unblocked`, a safe trait's methods) that panics
/// while a thread waits in `join` or at the end of `scope` (sections that must not unwind)
/// is caught and ignored: the call returns its values. Before, the panic unwound into
/// their `AbortIfPanic` and the process aborted (SIGABRT), which is why each scenario runs
/// in a child process.
#[test]
fn a_panicking_worker_hook_does_not_abort_join_or_scope() {
    for scenario in [
        "join-blocking",
        "join-unblocked",
        "scope-blocking",
        "scope-unblocked",
    ] {
        let out = run_child("hook_panic_child", HOOK_CHILD, scenario);
        assert!(
            out.status.success(),
            "{scenario}: the child failed ({:?}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A thread of the caller's own that says it is a worker (of another executor) and whose
/// hooks panic: `blocking` tells the second closure or scoped task (which waits for it,
/// so the caller surely blocks first) before it panics.
struct PanickyWorker {
    executor: future_core::executor::ExecutorId,
    blocked: mpsc::Sender<()>,
    calls: [std::cell::Cell<u32>; 2],
    panic_in_blocking: bool,
}

impl future_core::executor::WorkerThread for PanickyWorker {
    fn executor(&self) -> future_core::executor::ExecutorId {
        self.executor
    }
    fn blocking(&self) {
        self.calls[0].set(self.calls[0].get() + 1);
        let _ = self.blocked.send(());
        if self.panic_in_blocking {
            panic!("the blocking hook panicked");
        }
    }
    fn unblocked(&self) {
        self.calls[1].set(self.calls[1].get() + 1);
        if !self.panic_in_blocking {
            panic!("the unblocked hook panicked");
        }
    }
}

/// The child side of `a_panicking_worker_hook_does_not_abort_join_or_scope`.
#[test]
fn hook_panic_child() {
    let Ok(scenario) = std::env::var(HOOK_CHILD) else {
        return;
    };
    let pool = ThreadPool::builder().max_workers(1).build().unwrap();
    let (blocked, caller_blocked) = mpsc::channel();
    let worker = std::rc::Rc::new(PanickyWorker {
        executor: future_core::executor::ExecutorId::new(),
        blocked,
        calls: Default::default(),
        panic_in_blocking: scenario.ends_with("-blocking"),
    });
    let _guard = future_core::executor::enter_worker(worker.clone());
    // Runs on the pool's thread once the caller is in its wait (its hook said so).
    let after_the_hook = move || {
        caller_blocked
            .recv_timeout(common::HANG)
            .expect("the caller's blocking hook ran");
        2
    };
    let value = if scenario.starts_with("join") {
        let (a, b) = pool.join(|| 1, after_the_hook);
        a + b
    } else {
        pool.scope(|s| s.spawn(after_the_hook).unwrap())
            .result()
            .unwrap()
            + 1
    };
    assert_eq!(value, 3);
    let calls = [worker.calls[0].get(), worker.calls[1].get()];
    assert_eq!(calls, [1, 1], "each hook once");
}

/// A value whose `Drop` always panics, even while its thread unwinds (as a user's type
/// may): two of them dropped as one collection (a `Vec`'s drop glue) abort the process,
/// unless each is dropped in a panic boundary of its own.
struct Loud;

impl Drop for Loud {
    fn drop(&mut self) {
        panic!("a loud value's drop panicked");
    }
}

/// A lazy map's chunk cancelled before it ran (the map was dropped) drops its input unrun,
/// each element in a boundary of its own: chunks of two elements whose `Drop` panics used
/// to abort the process (the chunk's `Vec` was dropped whole inside one boundary: its
/// second element's panic came while the first one's unwound).
#[test]
#[cfg_attr(miri, ignore = "Miri runs the child scenario directly")]
fn a_cancelled_map_chunk_of_elements_whose_drop_panics_does_not_abort() {
    child_finishes("cancelled_chunk_child", "cancelled chunk scenario done");
}

/// The child side of `a_cancelled_map_chunk_of_elements_whose_drop_panics_does_not_abort`.
#[test]
fn cancelled_chunk_child() {
    if !in_child() {
        return;
    }
    within("a map cancelled over elements whose drop panics", || {
        let pool = ThreadPool::builder().max_workers(1).build().unwrap();
        let gate = common::Gate::new();
        let busy = common::occupy(&pool, &gate);
        // Both chunks wait behind the busy task: dropping the map cancels them unrun.
        let map = pool
            .map(
                |_: Loud| 0u8,
                (0..4).map(|_| Loud),
                future_core::MapOptions::new().chunksize(2).buffersize(2),
            )
            .unwrap();
        drop(map);
        gate.open();
        assert_eq!(busy.result(), Ok(()));
        assert_eq!(pool.spawn(|| 5).unwrap().result(), Ok(5));
    });
    println!("cancelled chunk scenario done");
}

/// A lazy map dropped with results not yet read (the rest of the chunk being read, and
/// chunks done or in flight) drops them, each in a boundary of its own: two results whose
/// `Drop` panics used to abort the process (a chunk's results were dropped as one `Vec`).
#[test]
#[cfg_attr(miri, ignore = "Miri runs the child scenario directly")]
fn a_map_dropped_with_unread_results_whose_drop_panics_does_not_abort() {
    child_finishes("unread_results_child", "unread results scenario done");
}

/// The child side of `a_map_dropped_with_unread_results_whose_drop_panics_does_not_abort`.
#[test]
fn unread_results_child() {
    if !in_child() {
        return;
    }
    within(
        "a map dropped with unread results whose drop panics",
        || {
            let pool = ThreadPool::builder().max_workers(1).build().unwrap();
            let options = future_core::MapOptions::new().chunksize(3).buffersize(2);
            // One chunk: its other two results wait in the map's cursor.
            let mut map = pool.map(|_: u32| Loud, 0..3u32, options).unwrap();
            std::mem::forget(map.next().unwrap().unwrap());
            drop(map);
            let mut unordered = pool.map_unordered(|_: u32| Loud, 0..3u32, options).unwrap();
            std::mem::forget(unordered.next().unwrap().1.unwrap());
            drop(unordered);
            // Three chunks: the first one's other two results wait in the cursor; the next
            // chunks are in flight or done.
            let mut map = pool.map(|_: u32| Loud, 0..9u32, options).unwrap();
            std::mem::forget(map.next().unwrap().unwrap());
            drop(map);
            assert_eq!(pool.spawn(|| 5).unwrap().result(), Ok(5));
        },
    );
    println!("unread results scenario done");
}

/// `map_collect` that fails drops the results computed so far, each in a boundary of its
/// own, and returns the failure: results whose `Drop` panics used to abort the process
/// (dropped as one slice, in place, or as one `Vec`, kept aside) or, for a single one,
/// panic out of `map_collect` instead of its error.
#[test]
#[cfg_attr(miri, ignore = "Miri runs the child scenario directly")]
fn map_collect_failing_beside_results_whose_drop_panics_does_not_abort() {
    child_finishes("failed_collect_child", "failed collect scenario done");
}

/// The child side of `map_collect_failing_beside_results_whose_drop_panics_does_not_abort`:
/// results written in place (an input of known length) and kept aside (a `filter`, whose
/// length is not known).
#[test]
fn failed_collect_child() {
    if !in_child() {
        return;
    }
    within(
        "map_collect failing beside results whose drop panics",
        || {
            let pool = ThreadPool::builder().max_workers(1).build().unwrap();
            let options = future_core::MapOptions::new().chunksize(4);
            let loud_until_three = |x: u32| {
                if x == 3 {
                    panic!("the map function panicked");
                }
                Loud
            };
            let in_place = pool.map_collect(loud_until_three, 0..4u32, options);
            let aside = pool.map_collect(loud_until_three, (0..4u32).filter(|_| true), options);
            for result in [in_place, aside] {
                let err = result.map(std::mem::forget).unwrap_err();
                assert!(
                    err.to_string().contains("the map function panicked"),
                    "{err}"
                );
            }
        },
    );
    println!("failed collect scenario done");
}

/// A lazy map's input that panics while a chunk is pulled: its panic reaches the caller,
/// and the elements pulled before it are dropped one by one on the way, each in a
/// boundary of its own. They used to be dropped as one `Vec` while the input's panic
/// unwound: the first whose `Drop` panics aborted the process.
#[test]
#[cfg_attr(miri, ignore = "Miri runs the child scenario directly")]
fn a_map_input_panicking_beside_elements_whose_drop_panics_does_not_abort() {
    child_finishes("panicking_input_child", "panicking input scenario done");
}

/// The child side of `a_map_input_panicking_beside_elements_whose_drop_panics_does_not_abort`.
#[test]
fn panicking_input_child() {
    if !in_child() {
        return;
    }
    within(
        "a map whose input panics beside elements whose drop panics",
        || {
            let pool = ThreadPool::builder().max_workers(1).build().unwrap();
            let input = (0..3).map(|i| {
                if i == 2 {
                    panic!("the input iterator panicked");
                }
                Loud
            });
            let options = future_core::MapOptions::new().chunksize(3);
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                pool.map(|_: Loud| 0u8, input, options).map(drop)
            }));
            let payload = outcome.unwrap_err();
            assert_eq!(
                payload.downcast_ref::<&str>(),
                Some(&"the input iterator panicked")
            );
            assert_eq!(pool.spawn(|| 5).unwrap().result(), Ok(5));
        },
    );
    println!("panicking input scenario done");
}
