//! pool-process beside procspawn (and, through `python/bench.py`, CPython's
//! `ProcessPoolExecutor`) on the same workloads.
//!
//! The binary has its own `main` (not `criterion_main!`): workers of both pools are this
//! binary started again, and `pool_process::init()` / `procspawn::init()` must be the first
//! thing it does.
//!
//! - `process_pool/round_trip`: one tiny task there and back on a warm pool of one worker:
//!   `ours`, `procspawn` (its `Pool`). CPython's `ProcessPoolExecutor` is measured by the
//!   suite's Python runner.
//! - `process_pool/submit_collect_20k`: submit 20,000 tiny tasks, then collect every result
//!   (procspawn: with a window of 256 in flight, as it needs 4 fds per task).
//! - `process_pool/map_1m_chunked`: `map` over 1,000,000 small items in chunks of 10,000.
//! - `process_pool/start_task_shutdown`: build a pool, run one task, shut down (and reap).
//! - `process_pool/scaling/<workers>`: the pi demo's workload (CPU-bound tasks, pi by
//!   10,000,000 Leibniz terms each; twice as many tasks as cores) on 1, 2, 4, ... workers up to
//!   the cores; `cargo xtask bench` plots the speedup.
//! - idle CPU: printed before the benchmarks, the CPU time a warm, idle pool (its workers
//!   and its manager thread) uses in one second: it must be zero.

#![allow(missing_docs)] // benchmark functions
use std::hint::black_box;
use std::time::Duration;

use bench_suite::{cores, cpu_ticks, worker_counts};
use criterion::{BenchmarkId, Criterion, Throughput};
use future_core::MapOptions;
use pool_process::ProcessPool;

fn tiny(x: u64) -> u64 {
    x.wrapping_add(1)
}

fn small(x: u32) -> u32 {
    x.wrapping_mul(2_654_435_761).rotate_left(7)
}

fn leibniz_pi(n: u64) -> f64 {
    let mut sum = 0.0f64;
    for k in 0..n {
        let term = 1.0 / (2.0 * k as f64 + 1.0);
        sum += if k % 2 == 0 { term } else { -term };
    }
    4.0 * sum
}

fn warm(pool: &ProcessPool, workers: usize) {
    let futures: Vec<_> = (0..workers * 4)
        .map(|x| pool.submit(tiny, x as u64).unwrap())
        .collect();
    for future in futures {
        future.result().unwrap();
    }
}

fn round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("process_pool/round_trip");
    let ours = ProcessPool::builder().max_workers(1).build().unwrap();
    warm(&ours, 1);
    group.bench_function("ours", |b| {
        b.iter(|| ours.submit(tiny, black_box(1)).unwrap().result().unwrap())
    });
    drop(ours);

    let peer = procspawn::Pool::new(1).unwrap();
    peer.spawn(1u64, tiny).join().unwrap();
    group.bench_function("procspawn", |b| {
        b.iter(|| peer.spawn(black_box(1u64), tiny).join().unwrap())
    });
    peer.shutdown();
    group.finish();
}

fn submit_20k(c: &mut Criterion) {
    const N: u64 = 20_000;
    let mut group = c.benchmark_group("process_pool/submit_collect_20k");
    group.sample_size(10).throughput(Throughput::Elements(N));
    let ours = ProcessPool::new().unwrap();
    warm(&ours, cores());
    group.bench_function("ours", |b| {
        b.iter(|| {
            let futures: Vec<_> = (0..N).map(|x| ours.submit(tiny, x).unwrap()).collect();
            futures.iter().map(|f| f.result().unwrap()).sum::<u64>()
        })
    });
    drop(ours);

    let peer = procspawn::Pool::new(cores()).unwrap();
    group.bench_function("procspawn", |b| {
        b.iter(|| {
            // procspawn opens two IPC channels (4 fds) per task: 20,000 at once exhaust the
            // fd limit, so it keeps a window of 256 in flight.
            let mut window = std::collections::VecDeque::with_capacity(256);
            let mut sum = 0u64;
            for x in 0..N {
                if window.len() == 256 {
                    let handle: procspawn::JoinHandle<u64> = window.pop_front().unwrap();
                    sum += handle.join().unwrap();
                }
                window.push_back(peer.spawn(x, tiny));
            }
            sum + window.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        })
    });
    peer.shutdown();
    group.finish();
}

fn map_1m(c: &mut Criterion) {
    const N: u32 = 1_000_000;
    let mut group = c.benchmark_group("process_pool/map_1m_chunked");
    group
        .sample_size(10)
        .throughput(Throughput::Elements(u64::from(N)));
    let ours = ProcessPool::new().unwrap();
    warm(&ours, cores());
    group.bench_function("ours", |b| {
        b.iter(|| {
            ours.map(small, 0..N, MapOptions::new().chunksize(10_000))
                .unwrap()
                .map(|r| u64::from(r.unwrap()))
                .sum::<u64>()
        })
    });
    group.finish();
}

fn start_task_shutdown(c: &mut Criterion) {
    let mut group = c.benchmark_group("process_pool/start_task_shutdown");
    group.sample_size(20);
    group.bench_function("ours", |b| {
        b.iter(|| {
            let pool = ProcessPool::builder().max_workers(1).build().unwrap();
            let r = pool.submit(tiny, 1).unwrap().result().unwrap();
            pool.shutdown();
            r
        })
    });
    group.bench_function("procspawn", |b| {
        b.iter(|| {
            let pool = procspawn::Pool::new(1).unwrap();
            let r = pool.spawn(1u64, tiny).join().unwrap();
            pool.shutdown();
            r
        })
    });
    group.finish();
}

fn scaling(c: &mut Criterion) {
    const TERMS: u64 = 10_000_000;
    let tasks = 2 * cores();
    let mut group = c.benchmark_group("process_pool/scaling");
    group.sample_size(10);
    for workers in worker_counts(cores()) {
        let pool = ProcessPool::builder().max_workers(workers).build().unwrap();
        warm(&pool, workers);
        group.bench_with_input(BenchmarkId::new("ours", workers), &workers, |b, _| {
            b.iter(|| {
                let futures: Vec<_> = (0..tasks)
                    .map(|_| pool.submit(leibniz_pi, TERMS).unwrap())
                    .collect();
                futures.iter().map(|f| f.result().unwrap()).sum::<f64>()
            })
        });
    }
    group.finish();
}

/// The CPU a warm idle pool uses in one second: its workers, and this process's threads
/// (the manager among them).
fn idle_cpu_report() {
    let workers = cores();
    let pool = ProcessPool::builder().max_workers(workers).build().unwrap();
    warm(&pool, workers);
    std::thread::sleep(Duration::from_millis(100)); // let every spin run out
    let pids = pool.worker_pids();
    let threads = || -> u64 {
        std::fs::read_dir("/proc/self/task")
            .map(|dir| {
                dir.flatten()
                    .map(|t| {
                        cpu_ticks(&format!(
                            "/proc/self/task/{}/stat",
                            t.file_name().to_string_lossy()
                        ))
                    })
                    .sum()
            })
            .unwrap_or(0)
    };
    let children = || -> u64 {
        pids.iter()
            .map(|p| cpu_ticks(&format!("/proc/{p}/stat")))
            .sum()
    };
    let (w0, t0) = (children(), threads());
    std::thread::sleep(Duration::from_secs(1));
    let (w1, t1) = (children(), threads());
    let tick_ms = 10; // USER_HZ is 100 on Linux
    println!(
        "process_pool/idle_cpu: in 1 s idle, {} workers used {} ms CPU, the parent's threads {} ms \
         (tick = {tick_ms} ms)",
        pids.len(),
        (w1 - w0) * tick_ms,
        // The sleeping main thread reads /proc: a tick here is the measurement itself.
        (t1 - t0) * tick_ms
    );
}

fn main() {
    pool_process::init();
    procspawn::init();

    idle_cpu_report();
    let mut c = Criterion::default().configure_from_args();
    round_trip(&mut c);
    submit_20k(&mut c);
    map_1m(&mut c);
    start_task_shutdown(&mut c);
    scaling(&mut c);
    c.final_summary();
}
