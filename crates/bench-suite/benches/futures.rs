//! future-core: the cost of one future, of a callback, and of `as_completed` over 10,000
//! futures, beside a std `mpsc` one-shot and a bare `Mutex` + `Condvar` slot in the same run.
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;
use std::sync::mpsc;
use std::thread;

use bench_suite::CondvarSlot;
use criterion::{Criterion, criterion_group, criterion_main};
use future_core::as_completed;
use future_core::executor::Promise;

fn create_complete_get(c: &mut Criterion) {
    let mut group = c.benchmark_group("futures/create_complete_get");
    group.bench_function("ours", |b| {
        b.iter(|| {
            let (promise, future) = Promise::new();
            promise.set_result(black_box(7u64));
            future.take()
        })
    });
    group.bench_function("mpsc_oneshot", |b| {
        b.iter(|| {
            let (tx, rx) = mpsc::sync_channel(1);
            let _ = tx.send(black_box(7u64));
            rx.recv()
        })
    });
    group.bench_function("mutex_condvar", |b| {
        b.iter(|| {
            let slot = CondvarSlot::new();
            slot.set(black_box(7u64));
            slot.take()
        })
    });
    group.finish();
}

fn with_callback(c: &mut Criterion) {
    let mut group = c.benchmark_group("futures/with_one_callback");
    group.bench_function("ours", |b| {
        b.iter(|| {
            let (promise, future) = Promise::new();
            let (tx, rx) = mpsc::sync_channel(1);
            future.add_done_callback(move |f| {
                let _ = tx.send(f.result());
            });
            promise.set_result(black_box(7u64));
            rx.recv()
        })
    });
    group.bench_function("mpsc_oneshot", |b| {
        b.iter(|| {
            // The peer's "callback": a second channel hop after the one-shot.
            let (tx, rx) = mpsc::sync_channel(1);
            let (tx2, rx2) = mpsc::sync_channel(1);
            let _ = tx.send(black_box(7u64));
            let _ = tx2.send(rx.recv());
            rx2.recv()
        })
    });
    group.finish();
}

const MANY: usize = 10_000;

fn as_completed_10k(c: &mut Criterion) {
    let mut group = c.benchmark_group("futures/as_completed_10k");
    group.sample_size(20);
    group.bench_function("ours", |b| {
        b.iter(|| {
            let (promises, futures): (Vec<_>, Vec<_>) = (0..MANY).map(|_| Promise::new()).unzip();
            let producer = thread::spawn(move || {
                for (i, p) in promises.into_iter().enumerate() {
                    p.set_result(i);
                }
            });
            let sum: usize = as_completed(&futures, None)
                .map(|f| f.map(|f| f.take().unwrap_or(0)).unwrap_or(0))
                .sum();
            let _ = producer.join();
            sum
        })
    });
    group.bench_function("mpsc_oneshot", |b| {
        // The std way: every task reports on one shared channel as it finishes.
        b.iter(|| {
            let (tx, rx) = mpsc::channel();
            let producer = thread::spawn(move || {
                for i in 0..MANY {
                    let _ = tx.send(i);
                }
            });
            let sum: usize = rx.iter().sum();
            let _ = producer.join();
            sum
        })
    });
    group.bench_function("mutex_condvar", |b| {
        b.iter(|| {
            let slots: Vec<CondvarSlot<usize>> = (0..MANY).map(|_| CondvarSlot::new()).collect();
            let producer = {
                let slots = slots.clone();
                thread::spawn(move || {
                    for (i, s) in slots.iter().enumerate() {
                        s.set(i);
                    }
                })
            };
            // A slot cannot say which finished first: take them in order.
            let sum: usize = slots.iter().map(CondvarSlot::take).sum();
            let _ = producer.join();
            sum
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    create_complete_get,
    with_callback,
    as_completed_10k
);
criterion_main!(benches);
