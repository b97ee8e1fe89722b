//! The I/O demo: 10 tasks that each sleep (standing in for slow I/O) on 2 threads,
//! then on 10. Threads wait in parallel, so 2 threads take about 5 rounds and 10 threads
//! about one. Each task sleeps 0.5 s to keep the demo short.
//!
//! `cargo run -p pool-thread --example io_sleep`

use std::time::{Duration, Instant};

use future_core::as_completed;
use pool_thread::ThreadPool;

const TASKS: usize = 10;
const SLEEP: Duration = Duration::from_millis(500);

fn io_task(n: usize) -> String {
    std::thread::sleep(SLEEP);
    let thread = std::thread::current();
    format!("task {n} ran on {}", thread.name().unwrap_or("?"))
}

fn run(workers: usize) {
    let pool = ThreadPool::builder()
        .max_workers(workers)
        .thread_name_prefix(format!("io{workers}"))
        .build()
        .expect("valid settings");
    let start = Instant::now();
    let futures: Vec<_> = (0..TASKS)
        .map(|n| pool.spawn(move || io_task(n)).expect("pool is open"))
        .collect();
    for future in as_completed(&futures, None) {
        println!(
            "  {}",
            future.expect("no timeout").result().expect("task ran")
        );
    }
    pool.shutdown();
    println!(
        "{TASKS} tasks sleeping {:.1} s each on {workers} threads: {:.2} s in total\n",
        SLEEP.as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
}

fn main() {
    println!("(each task sleeps 0.5 s, to keep the demo short)\n");
    run(2);
    run(10);
}
