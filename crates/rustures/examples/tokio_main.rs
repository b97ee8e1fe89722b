//! An async program (`#[tokio::main]`) that awaits CPU-bound work done on a process pool and
//! on a pool chosen at run time (`--threads` picks the thread pool): a pool's futures are
//! awaitable. The runtime is built before anything in `main` runs, and the process pool's
//! workers serve before that: they never build a runtime of their own.
//!
//! ```sh
//! cargo run -p rustures --example tokio_main
//! ```

use rustures::{Pool, ProcessPool};

fn collatz_steps(mut n: u64) -> u32 {
    let mut steps = 0;
    while n != 1 {
        n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
        steps += 1;
    }
    steps
}

#[tokio::main]
async fn main() {
    // Runs once: a worker copy of this program never gets here.
    println!("main of process {}", std::process::id());
    let processes = ProcessPool::builder()
        .max_workers(2)
        .build()
        .expect("a process pool");
    let steps = processes.submit(collatz_steps, 27).expect("a task").await;
    println!(
        "process pool: 27 takes {} steps",
        steps.expect("its result")
    );

    let on_threads = std::env::args().any(|arg| arg == "--threads");
    let pool = if on_threads {
        Pool::threads(2)
    } else {
        Pool::processes(2)
    }
    .expect("a pool");
    let futures: Vec<_> = (1..=10u64)
        .map(|n| pool.submit(collatz_steps, n).expect("a task"))
        .collect();
    let mut total = 0;
    for future in futures {
        total += future.await.expect("its result");
    }
    let kind = if on_threads { "threads" } else { "processes" };
    println!("{kind}: 1..=10 take {total} steps in all");
    // Dropping a pool waits for its workers: not on the runtime's threads.
    tokio::task::spawn_blocking(move || drop((processes, pool)))
        .await
        .expect("the pools are dropped");
}
