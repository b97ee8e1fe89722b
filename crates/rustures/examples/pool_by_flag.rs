//! A command-line program that parses its arguments with `clap` and runs its work on the pool
//! its flags choose: `--pool processes` (the default) or `--pool threads`, `--workers N`.
//! Nothing in `main` is there for the process pool: its workers serve before `main` runs, so
//! they never see (nor reject) the arguments a pool starts them with.
//!
//! ```sh
//! cargo run -p rustures --example pool_by_flag -- --pool threads --workers 4 --below 50000
//! ```

use clap::{Arg, Command, value_parser};
use rustures::{MapOptions, Pool, ProcessPool};

fn is_prime(n: u64) -> bool {
    n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
}

fn count_primes(pool: &Pool, below: u64) -> usize {
    pool.map(is_prime, 0..below, MapOptions::new().chunksize(1_000))
        .expect("the pool takes the work")
        .filter(|prime| *prime.as_ref().expect("a task's result"))
        .count()
}

fn main() {
    let args = Command::new("pool_by_flag")
        .about("Counts primes on the pool its flags choose")
        .arg(
            Arg::new("pool")
                .long("pool")
                .value_parser(["processes", "threads"])
                .default_value("processes"),
        )
        .arg(
            Arg::new("workers")
                .long("workers")
                .value_parser(value_parser!(usize))
                .default_value("2"),
        )
        .arg(
            Arg::new("below")
                .long("below")
                .value_parser(value_parser!(u64))
                .default_value("10000"),
        )
        .get_matches();
    // Runs once: a worker copy of this program never gets here.
    println!("main of process {}", std::process::id());
    let workers = *args.get_one::<usize>("workers").expect("a default");
    let below = *args.get_one::<u64>("below").expect("a default");
    let kind = args.get_one::<String>("pool").expect("a default");

    let pool = match kind.as_str() {
        "threads" => Pool::threads(workers),
        _ => Pool::processes(workers),
    }
    .expect("a pool");
    println!(
        "{kind}: {} primes below {below}",
        count_primes(&pool, below)
    );

    // A process pool named as such: its tasks run in other processes.
    let processes = ProcessPool::builder()
        .max_workers(workers)
        .build()
        .expect("a process pool");
    let pid = processes
        .submit(|()| std::process::id(), ())
        .expect("a task")
        .result()
        .expect("its result");
    println!(
        "process pool: a task ran in another process: {}",
        pid != std::process::id()
    );
}
