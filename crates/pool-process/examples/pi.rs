//! The CPU-bound demo: compute pi several times, in 1 process or in several.
//!
//! ```text
//! cargo run --release -p pool-process --example pi -- <processes> [n]...
//! cargo run --release -p pool-process --example pi -- 1 400000000 400000000 400000000 400000000
//! cargo run --release -p pool-process --example pi -- 2 400000000 400000000 400000000 400000000
//! ```
//!
//! Each task sums `n` terms of the Leibniz series in a worker process and prints
//! `process <pid> n=<n> pi=<value>` there (workers share this program's stdout); the program
//! then prints the total time. With no `n` given, it runs 4 tasks of 400,000,000 terms
//! (about 0.3 s each in release).

use std::io::Write;
use std::time::Instant;

use pool_process::ProcessPool;

/// pi = 4 * (1 - 1/3 + 1/5 - 1/7 + ...): `n` terms, a deterministic CPU-bound sum.
fn leibniz_pi(n: u64) -> f64 {
    // Four independent partial sums keep the loop busy on arithmetic, not on latency.
    let mut sums = [0.0f64; 4];
    let mut k = 0;
    while k + 4 <= n {
        for (lane, sum) in sums.iter_mut().enumerate() {
            let i = (k + lane as u64) as f64;
            let term = 1.0 / (2.0 * i + 1.0);
            *sum += if (k as usize + lane) % 2 == 0 {
                term
            } else {
                -term
            };
        }
        k += 4;
    }
    while k < n {
        let term = 1.0 / (2.0 * k as f64 + 1.0);
        sums[0] += if k % 2 == 0 { term } else { -term };
        k += 1;
    }
    4.0 * sums.iter().sum::<f64>()
}

/// The task: compute, and say which process did it.
fn pi_task(n: u64) -> f64 {
    let pi = leibniz_pi(n);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "process {} n={n} pi={pi:.12}", std::process::id());
    let _ = out.flush();
    pi
}

fn main() {
    pool_process::init(); // workers start here and never come back

    let mut args = std::env::args().skip(1);
    let processes: usize = match args.next().map(|a| a.parse()) {
        Some(Ok(p)) if p > 0 => p,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        _ => {
            eprintln!("usage: pi <processes> [n]...");
            std::process::exit(2);
        }
    };
    let mut ns: Vec<u64> = Vec::new();
    for arg in args {
        match arg.replace('_', "").parse() {
            Ok(n) => ns.push(n),
            Err(_) => {
                eprintln!("pi: not a number of terms: {arg}");
                std::process::exit(2);
            }
        }
    }
    if ns.is_empty() {
        ns = vec![400_000_000; 4];
    }

    let pool = match ProcessPool::builder().max_workers(processes).build() {
        Ok(pool) => pool,
        Err(err) => {
            eprintln!("pi: {err}");
            std::process::exit(1);
        }
    };
    let start = Instant::now();
    let futures: Vec<_> = ns
        .iter()
        .filter_map(|&n| pool.submit(pi_task, n).ok())
        .collect();
    let mut failed = false;
    for future in futures {
        if let Err(err) = future.result() {
            eprintln!("pi: a task failed: {err}");
            failed = true;
        }
    }
    println!(
        "{} tasks on {processes} process(es): total {:.3} s",
        ns.len(),
        start.elapsed().as_secs_f64()
    );
    drop(pool);
    if failed {
        std::process::exit(1);
    }
}
