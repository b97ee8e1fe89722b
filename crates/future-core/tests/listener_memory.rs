//! A future that stays pending while waiters register on it and give up, over and over,
//! keeps its memory flat: a freed listener slot is always reused. Measured with a global
//! allocator that counts the bytes allocated and freed by the threads that do the waits
//! (each marks itself with [`measure_this_thread`]): the test harness's own threads keep
//! what they like (the outcome of a test that ended meanwhile, say) without counting.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::task::{Context, Waker};
use std::time::Duration;

use future_core::executor::Promise;
use future_core::{FutureError, TaskFuture, as_completed};

/// Counts in `LIVE` the heap bytes that measured threads allocate and free, and leaves the
/// allocating to `System`.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

std::thread_local! {
    /// Whether this thread's allocations count (a `const` cell: reading it never allocates).
    static MEASURED: Cell<bool> = const { Cell::new(false) };
}

/// Makes the calling thread's allocations and frees count in [`live_bytes`].
fn measure_this_thread() {
    MEASURED.with(|measured| measured.set(true));
}

fn count(bytes: usize, sign: isize) {
    // `try_with`: false while the thread's locals are being torn down.
    if MEASURED.try_with(Cell::get).unwrap_or(false) {
        LIVE.fetch_add(sign * bytes as isize, Ordering::Relaxed);
    }
}

// SAFETY: every call is handed to `System` with the caller's arguments unchanged, so
// `System`'s guarantees are this allocator's; the counting touches only an atomic (it
// never allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which is `System`'s.
        let block = unsafe { System.alloc(layout) };
        if !block.is_null() {
            count(layout.size(), 1);
        }
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        let block = unsafe { System.alloc_zeroed(layout) };
        if !block.is_null() {
            count(layout.size(), 1);
        }
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: `block` came from this allocator, so from `System`, with `layout`.
        unsafe { System.dealloc(block, layout) };
        count(layout.size(), -1);
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `block` came from `System` with `layout`; the caller upholds the rest.
        let moved = unsafe { System.realloc(block, layout, new_size) };
        if !moved.is_null() {
            count(layout.size(), -1);
            count(new_size, 1);
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// One test at a time: the count is shared by every measured thread.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How many bytes the heap may grow by over a whole run without counting as growth: a
/// few slots (a grown table is a few dozen bytes per slot, so a slot leaked per cycle
/// shows up as megabytes).
const FLAT: isize = 4096;

/// Polls `future` once with `waker`: it stays pending, so its waker is left registered.
fn poll_pending(future: &mut TaskFuture<u8>, waker: &Waker) {
    let polled = Pin::new(future).poll(&mut Context::from_waker(waker));
    assert!(polled.is_pending());
}

/// A `select!` over two clones of one pending future, a million times: each clone
/// registers its waker when polled and removes it when dropped, so there are never more
/// than two listeners. Single-threaded, so the order (register a, register b, remove a,
/// remove b) is the same every cycle.
#[test]
fn a_million_register_and_give_up_cycles_keep_memory_flat() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    measure_this_thread();
    const CYCLES: usize = 1_000_000;
    let (promise, future) = Promise::<u8>::new();
    let waker = Waker::noop();
    let cycle = || {
        let mut a = future.clone();
        let mut b = future.clone();
        poll_pending(&mut a, waker);
        poll_pending(&mut b, waker);
        drop(a);
        drop(b);
    };
    // The first cycles make the table (the one boxed slot); after that, nothing grows.
    for _ in 0..10 {
        cycle();
    }
    let before = live_bytes();
    for done in 1..=CYCLES {
        cycle();
        if done % 100_000 == 0 {
            let grown = live_bytes() - before;
            assert!(
                grown <= FLAT,
                "the heap grew by {grown} bytes over {done} cycles with at most two listeners"
            );
        }
    }
    promise.set_result(1);
    assert_eq!(future.result(), Ok(1));
}

/// The same with real threads and the blocking ways of waiting: one thread loops on
/// `result_timeout`, the other on an `as_completed` with a timeout, both on one future
/// that stays pending, and they meet at a barrier after each give-up (so every cycle goes
/// through "both listeners gone" and registers both again, in an order the threads decide).
/// At most two listeners are registered at once, so the heap stays flat.
#[test]
fn timed_waits_from_two_threads_keep_memory_flat() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    const CYCLES: usize = 5_000;
    const WARM_UP: usize = 10;
    let timeout = Duration::from_micros(50);
    let (promise, future) = Promise::<u8>::new();
    let cycle = Arc::new(Barrier::new(2));
    // Both waiters warm up, the heap is measured, both loop, the heap is measured again
    // while they are still alive (so their own thread data is in both measures).
    let measured = Arc::new(Barrier::new(3));
    let (done_tx, done_rx) = mpsc::channel();
    let waiter = |give_up: Box<dyn Fn() + Send>| {
        let cycle = cycle.clone();
        let measured = measured.clone();
        let done_tx = done_tx.clone();
        std::thread::spawn(move || {
            measure_this_thread();
            let round = || {
                give_up();
                cycle.wait();
            };
            (0..WARM_UP).for_each(|_| round());
            measured.wait();
            (0..CYCLES).for_each(|_| round());
            done_tx.send(()).unwrap();
            measured.wait();
        })
    };
    let result_waiter = {
        let future = future.clone();
        waiter(Box::new(move || {
            assert_eq!(future.result_timeout(timeout), Err(FutureError::Timeout));
        }))
    };
    let as_completed_waiter = {
        let future = future.clone();
        waiter(Box::new(move || {
            let mut futures = as_completed([&future], Some(timeout));
            assert!(matches!(futures.next(), Some(Err(_))), "times out");
        }))
    };
    measured.wait();
    let before = live_bytes();
    for _ in 0..2 {
        done_rx
            .recv_timeout(Duration::from_secs(120))
            .expect("hung: a waiter did not finish its cycles");
    }
    let grown = live_bytes() - before;
    measured.wait();
    result_waiter.join().unwrap();
    as_completed_waiter.join().unwrap();
    assert!(
        grown <= FLAT,
        "the heap grew by {grown} bytes over {CYCLES} timed waits from each of two threads"
    );
    promise.set_result(1);
    assert_eq!(future.result(), Ok(1));
}
