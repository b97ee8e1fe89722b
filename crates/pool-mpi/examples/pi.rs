//! The CPU-bound demo across MPI ranks: compute pi several times on the world's worker
//! ranks (the process pool's `pi` example, on MPI).
//!
//! ```text
//! cargo build --release -p pool-mpi --features mpi --example pi
//! mpirun -n 3 target/release/examples/pi                  # 4 tasks on 2 worker ranks
//! mpirun -n 3 target/release/examples/pi 400000000 400000000
//! mpirun --hostfile hosts -n 9 target/release/examples/pi  # 8 worker ranks, several machines
//! ```
//!
//! Each task sums `n` terms of the Leibniz series on a worker rank, which prints
//! `rank <r> (process <pid> on <host>) n=<n> pi=<value>` (mpirun forwards every rank's
//! stdout); rank 0 then prints the total time. With no `n` given, it runs 4 tasks of
//! 400,000,000 terms (about 0.3 s each in release).

use std::io::Write;
use std::time::Instant;

use future_core::MapOptions;
use pool_mpi::MpiPool;

/// pi = 4 * (1 - 1/3 + 1/5 - 1/7 + ...): `n` terms, a deterministic CPU-bound sum.
fn leibniz_pi(n: u64) -> f64 {
    let sum: f64 = (0..n)
        .map(|k| if k % 2 == 0 { 1.0 } else { -1.0 } / (2 * k + 1) as f64)
        .sum();
    4.0 * sum
}

/// The task: compute, and say where it ran.
fn pi_task(n: u64) -> f64 {
    let pi = leibniz_pi(n);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let rank = std::env::var("OMPI_COMM_WORLD_RANK").unwrap_or_else(|_| "?".to_owned());
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "rank {rank} (process {} on {}) n={n} pi={pi:.12}",
        std::process::id(),
        host.trim()
    );
    let _ = out.flush();
    pi
}

fn main() {
    let _mpi = pool_mpi::init(); // worker ranks serve here and never return

    let parsed: Result<Vec<u64>, _> = std::env::args()
        .skip(1)
        .map(|arg| arg.replace('_', "").parse::<u64>())
        .collect();
    let ns = match parsed {
        Ok(ns) if ns.is_empty() => vec![400_000_000; 4],
        Ok(ns) => ns,
        Err(err) => {
            eprintln!("pi: every argument is a number of terms ({err})");
            std::process::exit(2);
        }
    };
    let pool = match MpiPool::from_world() {
        Ok(pool) => pool,
        Err(err) => {
            eprintln!("pi: {err}");
            std::process::exit(1);
        }
    };
    let start = Instant::now();
    let failures = match pool.map(pi_task, ns.iter().copied(), MapOptions::new().chunksize(1)) {
        Ok(results) => results
            .filter_map(Result::err)
            .inspect(|err| eprintln!("pi: {err}"))
            .count(),
        Err(err) => {
            eprintln!("pi: {err}");
            1
        }
    };
    let took = start.elapsed().as_secs_f64();
    println!(
        "{} tasks on {} worker rank(s): total {took:.3} s",
        ns.len(),
        pool.max_workers()
    );
    drop(pool);
    if failures > 0 {
        std::process::exit(1);
    }
}
