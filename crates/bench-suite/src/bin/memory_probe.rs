//! Peak memory of a producer that outruns a thread pool (the out-of-memory trap of an unbounded queue):
//! submits `TASKS` tiny tasks, each slower to run than to submit, to a one-worker pool with
//! or without a `queue_bound`, and prints its peak RSS as one JSON line.
//!
//! `memory_probe <tasks> <bound | none>`; `cargo xtask bench` runs it and reports both.

use std::hint::black_box;
use std::process::ExitCode;

use pool_thread::ThreadPool;

/// About a microsecond of work: longer than a submit takes, so an unbounded queue grows.
fn tiny_work(seed: u64) -> u64 {
    let mut x = seed;
    for _ in 0..200 {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    x
}

/// The process's peak resident set size, in KiB (`VmHWM` of `/proc/self/status`).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(tasks), Some(bound)) = (
        args.first().and_then(|a| a.parse::<u64>().ok()),
        args.get(1),
    ) else {
        eprintln!("usage: memory_probe <tasks> <bound | none>");
        return ExitCode::FAILURE;
    };
    let mut builder = ThreadPool::builder().max_workers(1);
    if bound != "none" {
        match bound.parse::<usize>() {
            Ok(bound) => builder = builder.queue_bound(bound),
            Err(_) => {
                eprintln!("memory_probe: the bound must be a number or `none`");
                return ExitCode::FAILURE;
            }
        }
    }
    let pool = match builder.build() {
        Ok(pool) => pool,
        Err(err) => {
            eprintln!("memory_probe: {err}");
            return ExitCode::FAILURE;
        }
    };
    let start = std::time::Instant::now();
    for i in 0..tasks {
        // Fire and forget: the future is dropped, the task still runs.
        if let Err(err) = pool.spawn(move || tiny_work(i)) {
            eprintln!("memory_probe: submit failed: {err}");
            return ExitCode::FAILURE;
        }
    }
    pool.shutdown();
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{{\"tasks\": {tasks}, \"bound\": \"{bound}\", \"peak_rss_kib\": {}, \"seconds\": {seconds:.3}}}",
        peak_rss_kib().unwrap_or(0)
    );
    ExitCode::SUCCESS
}
