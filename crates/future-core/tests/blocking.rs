//! Blocking sections (`future_core::executor::blocking` and this crate's own waits) as a
//! worker thread sees them: only the outermost section of a thread tells its worker, on
//! every path (nested sections, panics, hooks that panic).

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use future_core::executor::{ExecutorId, WorkerThread, blocking, enter_worker};

/// A worker that counts its hooks' calls, and panics in the ones it is told to.
#[derive(Default)]
struct Counting {
    executor: Option<ExecutorId>,
    blocking: Cell<u32>,
    unblocked: Cell<u32>,
    panic_in_blocking: bool,
    panic_in_unblocked: bool,
}

impl Counting {
    /// (`blocking` calls, `unblocked` calls).
    fn calls(&self) -> (u32, u32) {
        (self.blocking.get(), self.unblocked.get())
    }
}

impl WorkerThread for Counting {
    fn executor(&self) -> ExecutorId {
        self.executor.unwrap_or_default()
    }
    fn blocking(&self) {
        self.blocking.set(self.blocking.get() + 1);
        assert_eq!(
            self.calls(),
            (self.unblocked.get() + 1, self.unblocked.get()),
            "blocking while already blocked"
        );
        if self.panic_in_blocking {
            panic!("the blocking hook panicked");
        }
    }
    fn unblocked(&self) {
        self.unblocked.set(self.unblocked.get() + 1);
        if self.panic_in_unblocked {
            panic!("the unblocked hook panicked");
        }
    }
}

/// Runs `f` on a fresh thread that is a worker described by `worker()`, and returns what
/// `f` returns with the hooks' calls.
fn on_worker<R: Send + 'static>(
    worker: impl FnOnce() -> Counting + Send + 'static,
    f: impl FnOnce() -> R + Send + 'static,
) -> (R, (u32, u32)) {
    std::thread::spawn(move || {
        let worker = Rc::new(worker());
        let _guard = enter_worker(worker.clone());
        let value = f();
        (value, worker.calls())
    })
    .join()
    .expect("the worker thread panicked")
}

/// A section inside a section (a user's `blocking` around a wait that reports blocking
/// itself) tells the worker once: before, the inner one called `blocking` a second time,
/// and a pool counted the thread blocked twice.
#[test]
fn a_nested_blocking_section_tells_the_worker_once() {
    let (value, calls) = on_worker(Counting::default, || {
        blocking(|| blocking(|| blocking(|| 7)))
    });
    assert_eq!((value, calls), (7, (1, 1)));
    // One after the other, each is outermost.
    let (_, calls) = on_worker(Counting::default, || {
        blocking(|| blocking(|| ()));
        blocking(|| ());
    });
    assert_eq!(calls, (2, 2));
}

/// A section that unwinds counts out: the next section is outermost again and tells the
/// worker again, and every `blocking` got its `unblocked`.
#[test]
fn a_panicking_nested_section_leaves_the_count_exact() {
    let (outcome, calls) = on_worker(Counting::default, || {
        let first = catch_unwind(AssertUnwindSafe(|| {
            blocking(|| blocking(|| -> u8 { panic!("inside two sections") }))
        }))
        .is_err();
        let nested_panic = blocking(|| {
            catch_unwind(AssertUnwindSafe(|| {
                blocking(|| -> u8 { panic!("in the inner one") })
            }))
            .is_err()
        });
        let again = blocking(|| blocking(|| 3));
        (first, nested_panic, again)
    });
    assert_eq!(outcome, (true, true, 3));
    assert_eq!(calls, (3, 3));
}

/// A panic of a hook stays in it: the section runs and returns its value, and `unblocked`
/// is still called once for the `blocking` that panicked. Before, the panic came out of
/// `blocking` (and out of a pool's join or scope wait, which aborts).
#[test]
fn a_panicking_hook_does_not_reach_the_section() {
    let (value, calls) = on_worker(
        || Counting {
            panic_in_blocking: true,
            ..Counting::default()
        },
        || blocking(|| 5),
    );
    assert_eq!((value, calls), (5, (1, 1)));
    let (value, calls) = on_worker(
        || Counting {
            panic_in_unblocked: true,
            ..Counting::default()
        },
        || (blocking(|| blocking(|| 6)), blocking(|| 7)),
    );
    assert_eq!((value, calls), ((6, 7), (2, 2)));
}

/// A thread that is no worker has nobody to tell: sections just run.
#[test]
fn sections_outside_a_worker_just_run() {
    let value = std::thread::spawn(|| blocking(|| blocking(|| 4)))
        .join()
        .unwrap();
    assert_eq!(value, 4);
}
