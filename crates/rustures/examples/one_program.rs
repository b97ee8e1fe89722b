//! One program, three pools: the same code runs on the thread pool, on the process pool,
//! and on a pool chosen at run time, changing only the constructor. `cargo xtask demo`
//! runs it, and so does CI. Built with the `mpi` feature and run under `mpirun -n 3`, it
//! runs the same work on the MPI worker ranks as well (`cargo xtask demo --mpi`).

use rustures::{Executor, MapOptions, Pool, ProcessPool, ThreadPool, as_completed};

fn collatz_steps(mut n: u64) -> u32 {
    let mut steps = 0;
    while n != 1 {
        n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
        steps += 1;
    }
    steps
}

fn longest((from, to): (u64, u64)) -> (u64, u32) {
    (from..to)
        .map(|n| (n, collatz_steps(n)))
        .max_by_key(|&(_, steps)| steps)
        .unwrap_or((from, 0))
}

/// The work, written once against the shared interface.
fn work(pool: &impl Executor) -> (u64, u32, u64) {
    let ranges: Vec<(u64, u64)> = (0..8)
        .map(|i| (1 + i * 25_000, 1 + (i + 1) * 25_000))
        .collect();
    let futures: Vec<_> = ranges
        .iter()
        .map(|&r| pool.submit(longest, r).unwrap())
        .collect();
    let (best, steps) = as_completed(&futures, None)
        .map(|f| f.unwrap().result().unwrap())
        .max_by_key(|&(_, steps)| steps)
        .unwrap_or((0, 0));
    let total_steps: u64 = pool
        .map(
            collatz_steps,
            1..=50_000u64,
            MapOptions::new().chunksize(2_500),
        )
        .unwrap()
        .map(|steps| u64::from(steps.unwrap()))
        .sum();
    (best, steps, total_steps)
}

fn main() {
    // With the `mpi` feature, MPI worker ranks serve here; process workers need no line.
    rustures::init();

    let on_threads = work(&ThreadPool::new());
    println!(
        "threads:   longest chain below 200,001 starts at {} ({} steps); {} steps for 1..=50,000",
        on_threads.0, on_threads.1, on_threads.2
    );

    let on_processes = work(&ProcessPool::new().expect("a process pool"));
    println!(
        "processes: longest chain below 200,001 starts at {} ({} steps); {} steps for 1..=50,000",
        on_processes.0, on_processes.1, on_processes.2
    );

    let cpu_bound = !std::env::args().any(|a| a == "--threads");
    let chosen = if cpu_bound {
        Pool::processes(2)
    } else {
        Pool::threads(4)
    }
    .expect("a pool");
    let on_chosen = work(&chosen);
    println!(
        "chosen ({}): the same",
        if cpu_bound { "processes" } else { "threads" }
    );

    assert_eq!(on_threads, on_processes);
    assert_eq!(on_threads, on_chosen);

    // With the `mpi` feature, under `mpirun -n N`: the same work on the worker ranks.
    #[cfg(feature = "mpi")]
    match Pool::mpi_world() {
        Ok(pool) => {
            let on_mpi = work(&pool);
            println!(
                "mpi ranks: the same, on {} worker ranks",
                pool_workers(&pool)
            );
            assert_eq!(on_threads, on_mpi);
        }
        Err(why) => println!("mpi ranks: not run ({why})"),
    }
}

#[cfg(feature = "mpi")]
fn pool_workers(pool: &Pool) -> usize {
    match pool {
        Pool::Mpi(pool) => pool.max_workers(),
        _ => 0,
    }
}
