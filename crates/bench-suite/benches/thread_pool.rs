//! pool-thread beside rayon, the `threadpool` crate and a naive `Mutex<Receiver>` pool, in the
//! same run.
//!
//! Groups and functions (pair them by group; `ours` against each peer):
//! - `thread_pool/submit_collect_100k`: submit 100,000 tiny tasks, then collect every
//!   result. `ours` (submit + `TaskFuture::take`), `rayon` (`ThreadPool::spawn` + a
//!   one-shot channel per task), `threadpool` (`execute` + a one-shot channel per task),
//!   `naive_mutex` (threads sharing a `Mutex<Receiver<Job>>`, written below),
//!   `tokio_spawn_blocking` (`Runtime::spawn_blocking` + its `JoinHandle`, awaited in
//!   order), `tokio_spawn` (a multi-thread runtime's `spawn` + `JoinHandle`), and `floor`:
//!   what any pool must at least do per task on the submitting thread, one allocation and
//!   two atomic read-modify-writes (push and claim), with no other thread involved.
//! - `thread_pool/submit_collect_4x25k`: the same 100,000 tasks submitted by 4 threads at
//!   once (25,000 each, each collecting its own), beside `rayon` and `threadpool`.
//! - `thread_pool/map_1m`: ordered map over 1,000,000 `u64`s into a `Vec`. `ours`
//!   (`ThreadPool::map` with chunks, gathered with `Map::collect_values`), `ours_iter` (the
//!   same map read element by element) and `rayon` (`par_iter().map().collect()`).
//! - `thread_pool/map_collect_1m`: the same map with `ThreadPool::map_collect` (each thread
//!   pulls its input and writes results in place) against `rayon`.
//! - `thread_pool/map_slice_1m`: the same map with `ThreadPool::map_slice` (positions claimed
//!   atomically, elements read in place) against `rayon`.
//! - `thread_pool/nested_fib`: recursive Fibonacci that submits both halves and waits on
//!   them (below a cutoff it recurses sequentially). `ours` (spawn + `take`: a wait runs the
//!   very task it waits for if no thread started it, and otherwise blocks while a spare
//!   thread takes the worker's place), `ours_join` (`ThreadPool::join`: the first half runs
//!   on the calling thread, the second waits in the queue from the caller's frame, with
//!   no allocation and no future, and is taken back if no thread took it) and `rayon` (`rayon::join`, which
//!   runs other tasks while it waits).
//!
//! - `thread_pool/scaling/<workers>`: CPU-bound throughput, 64 tasks of about 0.2 ms each on
//!   1, 2, 4, ... workers up to the cores; `cargo xtask bench` plots the speedup.
//!
//! Every pool has the same number of threads: the machine's available parallelism. The
//! heap is kept steady for all of them (`bench_suite::steady_heap`): without it, the
//! workloads that allocate per task flip between two modes about 2x apart from one run to
//! the next, for every peer alike.
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use bench_suite::{cores, worker_counts};
use criterion::{Criterion, criterion_group};
use future_core::MapOptions;
use rayon::prelude::*;

const TASKS: u64 = 100_000;
const MAP_ITEMS: u64 = 1_000_000;
const FIB_N: u64 = 24;
const FIB_CUTOFF: u64 = 12;

fn ours(threads: usize) -> pool_thread::ThreadPool {
    pool_thread::ThreadPool::builder()
        .max_workers(threads)
        .keep_alive(None)
        .build()
        .expect("pool")
}

fn rayon_pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("rayon pool")
}

/// A naive pool: every thread locks one `Mutex<Receiver>` to take the next job.
struct NaivePool {
    sender: Option<mpsc::Sender<Box<dyn FnOnce() + Send>>>,
    threads: Vec<JoinHandle<()>>,
}

impl NaivePool {
    fn new(threads: usize) -> NaivePool {
        let (sender, receiver) = mpsc::channel::<Box<dyn FnOnce() + Send>>();
        let receiver = Arc::new(Mutex::new(receiver));
        let threads = (0..threads)
            .map(|_| {
                let receiver = receiver.clone();
                std::thread::spawn(move || {
                    loop {
                        let job = receiver.lock().expect("lock").recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
            })
            .collect();
        NaivePool {
            sender: Some(sender),
            threads,
        }
    }

    fn execute(&self, job: impl FnOnce() + Send + 'static) {
        if let Some(sender) = &self.sender {
            sender.send(Box::new(job)).expect("send");
        }
    }
}

impl Drop for NaivePool {
    fn drop(&mut self) {
        self.sender.take();
        for t in self.threads.drain(..) {
            t.join().expect("join");
        }
    }
}

fn tiny(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7
}

/// One round of a peer's submit-and-collect: `spawn(i, tx)` runs `tiny(i)` on the peer's
/// pool and sends the result on `tx`; the results are summed in submission order.
fn oneshot_round(spawn: impl Fn(u64, oneshot::Sender<u64>)) -> u64 {
    oneshot_range(0..TASKS, spawn)
}

/// `oneshot_round` over the task numbers `range`.
fn oneshot_range(range: std::ops::Range<u64>, spawn: impl Fn(u64, oneshot::Sender<u64>)) -> u64 {
    let receivers: Vec<_> = range
        .map(|i| {
            let (tx, rx) = oneshot::channel();
            spawn(i, tx);
            rx
        })
        .collect();
    receivers
        .into_iter()
        .map(|rx| rx.recv().expect("result"))
        .fold(0u64, u64::wrapping_add)
}

fn submit_collect(c: &mut Criterion) {
    let n = cores();
    let mut group = c.benchmark_group("thread_pool/submit_collect_100k");
    group.throughput(criterion::Throughput::Elements(TASKS));

    let pool = ours(n);
    group.bench_function("ours", |b| {
        b.iter(|| {
            let futures: Vec<_> = (0..TASKS)
                .map(|i| pool.spawn(move || tiny(i)).expect("submit"))
                .collect();
            let sum = futures
                .iter()
                .map(|f| f.take().expect("result"))
                .fold(0u64, u64::wrapping_add);
            black_box(sum)
        })
    });
    drop(pool);

    let pool = rayon_pool(n);
    group.bench_function("rayon", |b| {
        b.iter(|| {
            black_box(oneshot_round(|i, tx| {
                pool.spawn(move || {
                    let _ = tx.send(tiny(i));
                })
            }))
        })
    });
    drop(pool);

    let pool = threadpool::ThreadPool::new(n);
    group.bench_function("threadpool", |b| {
        b.iter(|| {
            black_box(oneshot_round(|i, tx| {
                pool.execute(move || {
                    let _ = tx.send(tiny(i));
                })
            }))
        })
    });
    pool.join();
    drop(pool);

    let pool = NaivePool::new(n);
    group.bench_function("naive_mutex", |b| {
        b.iter(|| {
            black_box(oneshot_round(|i, tx| {
                pool.execute(move || {
                    let _ = tx.send(tiny(i));
                })
            }))
        })
    });
    drop(pool);

    let runtime = tokio_runtime(n);
    group.bench_function("tokio_spawn_blocking", |b| {
        b.iter(|| {
            let handles: Vec<_> = (0..TASKS)
                .map(|i| runtime.spawn_blocking(move || tiny(i)))
                .collect();
            black_box(runtime.block_on(join_in_order(handles)))
        })
    });
    group.bench_function("tokio_spawn", |b| {
        b.iter(|| {
            let handles: Vec<_> = (0..TASKS)
                .map(|i| runtime.spawn(async move { tiny(i) }))
                .collect();
            black_box(runtime.block_on(join_in_order(handles)))
        })
    });
    drop(runtime);

    group.bench_function("floor", |b| b.iter(|| black_box(floor_round(TASKS))));
    group.finish();
}

/// A tokio multi-thread runtime with `threads` workers and at most `threads` blocking
/// threads: the same number of threads as every other pool here.
fn tokio_runtime(threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .max_blocking_threads(threads)
        .build()
        .expect("tokio runtime")
}

async fn join_in_order(handles: Vec<tokio::task::JoinHandle<u64>>) -> u64 {
    let mut sum = 0u64;
    for handle in handles {
        sum = sum.wrapping_add(handle.await.expect("result"));
    }
    sum
}

/// The per-task work no pool can skip, on one thread: allocate the task (closure and
/// result slot), one atomic read-modify-write to publish it, one to claim it, run it, read
/// the result, free it.
fn floor_round(tasks: u64) -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    let tail = AtomicU64::new(0);
    // Seen from outside, so the compiler keeps both atomic operations.
    let queue_tail = black_box(&tail);
    let mut sum = 0u64;
    for i in 0..tasks {
        let mut task = Box::new((i, 0u64));
        queue_tail.fetch_add(1, Ordering::Release);
        task.1 = tiny(black_box(task.0));
        queue_tail.fetch_sub(1, Ordering::AcqRel);
        sum = sum.wrapping_add(black_box(task).1);
    }
    sum
}

/// 100,000 tasks submitted from `PRODUCERS` threads at once, each collecting its own.
fn many_producers(c: &mut Criterion) {
    const PRODUCERS: u64 = 4;
    const EACH: u64 = TASKS / PRODUCERS;
    let n = cores();
    let mut group = c.benchmark_group("thread_pool/submit_collect_4x25k");
    group.throughput(criterion::Throughput::Elements(TASKS));
    let producers = |round: &(dyn Fn(u64) -> u64 + Sync)| {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..PRODUCERS)
                .map(|p| s.spawn(move || round(p * EACH)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("producer"))
                .fold(0u64, u64::wrapping_add)
        })
    };

    let pool = ours(n);
    group.bench_function("ours", |b| {
        b.iter(|| {
            black_box(producers(&|first| {
                let futures: Vec<_> = (first..first + EACH)
                    .map(|i| pool.spawn(move || tiny(i)).expect("submit"))
                    .collect();
                futures
                    .iter()
                    .map(|f| f.take().expect("result"))
                    .fold(0u64, u64::wrapping_add)
            }))
        })
    });
    drop(pool);

    let pool = rayon_pool(n);
    group.bench_function("rayon", |b| {
        b.iter(|| {
            black_box(producers(&|first| {
                oneshot_range(first..first + EACH, |i, tx| {
                    pool.spawn(move || {
                        let _ = tx.send(tiny(i));
                    })
                })
            }))
        })
    });
    drop(pool);

    let pool = Mutex::new(threadpool::ThreadPool::new(n));
    group.bench_function("threadpool", |b| {
        b.iter(|| {
            black_box(producers(&|first| {
                // `threadpool::ThreadPool` is `Send` but not `Sync`: each producer
                // submits through its own clone, as that crate intends.
                let pool = pool.lock().expect("lock").clone();
                oneshot_range(first..first + EACH, |i, tx| {
                    pool.execute(move || {
                        let _ = tx.send(tiny(i));
                    })
                })
            }))
        })
    });
    pool.lock().expect("lock").join();
    group.finish();
}

fn map_1m(c: &mut Criterion) {
    let n = cores();
    let input: Vec<u64> = (0..MAP_ITEMS).collect();
    let mut group = c.benchmark_group("thread_pool/map_1m");
    group.throughput(criterion::Throughput::Elements(MAP_ITEMS));

    let pool = ours(n);
    let chunksize = (MAP_ITEMS as usize / (n * 8)).max(1);
    group.bench_function("ours", |b| {
        b.iter(|| {
            let out: Vec<u64> = pool
                .map(
                    tiny,
                    input.iter().copied(),
                    MapOptions::new().chunksize(chunksize),
                )
                .expect("map")
                .collect_values()
                .expect("every element");
            black_box(out)
        })
    });
    group.bench_function("ours_iter", |b| {
        b.iter(|| {
            let out: Vec<u64> = pool
                .map(
                    tiny,
                    input.iter().copied(),
                    MapOptions::new().chunksize(chunksize),
                )
                .expect("map")
                .map(|r| r.expect("element"))
                .collect();
            black_box(out)
        })
    });
    drop(pool);

    let pool = rayon_pool(n);
    group.bench_function("rayon", |b| b.iter(|| rayon_map(&pool, &input)));
    drop(pool);
    group.finish();

    // The eager forms, each beside rayon: every thread pulls input and writes results in
    // place; the slice form claims positions with one atomic operation and copies nothing.
    eager_map_group(c, "thread_pool/map_collect_1m", &input, |pool, input| {
        pool.map_collect(tiny, input.iter().copied(), MapOptions::new())
    });
    eager_map_group(c, "thread_pool/map_slice_1m", &input, |pool, input| {
        pool.map_slice(|&x| tiny(x), input, MapOptions::new())
    });
}

/// A group of one eager map of ours (`ThreadPool::map_collect`, `map_slice`) beside rayon.
fn eager_map_group(
    c: &mut Criterion,
    name: &str,
    input: &[u64],
    map: impl Fn(&pool_thread::ThreadPool, &[u64]) -> Result<Vec<u64>, future_core::FutureError>,
) {
    let n = cores();
    let mut group = c.benchmark_group(name);
    group.throughput(criterion::Throughput::Elements(MAP_ITEMS));
    let pool = ours(n);
    group.bench_function("ours", |b| {
        b.iter(|| black_box(map(&pool, input).expect("every element")))
    });
    drop(pool);
    let pool = rayon_pool(n);
    group.bench_function("rayon", |b| b.iter(|| rayon_map(&pool, input)));
    drop(pool);
    group.finish();
}

fn rayon_map(pool: &rayon::ThreadPool, input: &[u64]) -> Vec<u64> {
    let out: Vec<u64> = pool.install(|| input.par_iter().map(|&x| tiny(x)).collect());
    black_box(out)
}

fn fib_seq(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib_seq(n - 1) + fib_seq(n - 2)
    }
}

fn fib_ours(pool: &Arc<pool_thread::ThreadPool>, n: u64) -> u64 {
    if n < FIB_CUTOFF {
        return fib_seq(n);
    }
    let (p1, p2) = (pool.clone(), pool.clone());
    let a = pool.spawn(move || fib_ours(&p1, n - 1)).expect("submit");
    let b = pool.spawn(move || fib_ours(&p2, n - 2)).expect("submit");
    b.take().expect("fib") + a.take().expect("fib")
}

fn fib_join(pool: &pool_thread::ThreadPool, n: u64) -> u64 {
    if n < FIB_CUTOFF {
        return fib_seq(n);
    }
    let (a, b) = pool.join(|| fib_join(pool, n - 1), || fib_join(pool, n - 2));
    a + b
}

fn fib_rayon(n: u64) -> u64 {
    if n < FIB_CUTOFF {
        return fib_seq(n);
    }
    let (a, b) = rayon::join(|| fib_rayon(n - 1), || fib_rayon(n - 2));
    a + b
}

fn nested_fib(c: &mut Criterion) {
    let n = cores();
    let mut group = c.benchmark_group("thread_pool/nested_fib");

    let pool = Arc::new(ours(n));
    group.bench_function("ours", |b| {
        b.iter(|| {
            let p = pool.clone();
            let top = pool.spawn(move || fib_ours(&p, FIB_N)).expect("submit");
            black_box(top.take().expect("fib"))
        })
    });
    group.bench_function("ours_join", |b| {
        b.iter(|| {
            let p = pool.clone();
            let top = pool.spawn(move || fib_join(&p, FIB_N)).expect("submit");
            black_box(top.take().expect("fib"))
        })
    });
    pool.shutdown();

    let pool = rayon_pool(n);
    group.bench_function("rayon", |b| {
        b.iter(|| black_box(pool.install(|| fib_rayon(FIB_N))))
    });
    group.finish();
}

/// About 0.2 ms of arithmetic.
fn cpu_task(seed: u64) -> u64 {
    let mut x = seed;
    for _ in 0..100_000 {
        x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
    }
    x
}

fn scaling(c: &mut Criterion) {
    const TASKS: u64 = 64;
    let mut group = c.benchmark_group("thread_pool/scaling");
    group.sample_size(10);
    for workers in worker_counts(cores()) {
        let pool = ours(workers);
        group.bench_with_input(
            criterion::BenchmarkId::new("ours", workers),
            &workers,
            |b, _| {
                b.iter(|| {
                    let futures: Vec<_> = (0..TASKS)
                        .map(|i| pool.spawn(move || cpu_task(i)).expect("submit"))
                        .collect();
                    futures
                        .iter()
                        .map(|f| f.take().expect("task"))
                        .fold(0, u64::wrapping_add)
                })
            },
        );
    }
    group.finish();
}

criterion_group!(
    benches,
    submit_collect,
    many_producers,
    map_1m,
    nested_fib,
    scaling
);

/// `criterion_main!`, with the heap kept steady first (see `bench_suite::steady_heap`).
fn main() {
    bench_suite::steady_heap();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
