//! A program that uses a process pool with no line for it in `main`: no `init()`, nothing
//! before the pool is built. The pool's workers serve before `main` runs. The second pool is
//! chosen at run time (`--threads` picks the thread pool).
//!
//! ```sh
//! cargo run -p rustures --example no_init
//! ```

use rustures::{Pool, ProcessPool};

fn square(x: u64) -> u64 {
    x * x
}

fn main() {
    // Runs once: a worker copy of this program never gets here.
    println!("main of process {}", std::process::id());
    let processes = ProcessPool::new().expect("a process pool");
    let sum: u64 = processes
        .map(square, 1..=100u64, Default::default())
        .expect("the pool takes the work")
        .map(|square| square.expect("a task's result"))
        .sum();
    println!("process pool: the squares of 1..=100 add up to {sum}");

    let on_threads = std::env::args().any(|arg| arg == "--threads");
    let pool = if on_threads {
        Pool::threads(2)
    } else {
        Pool::processes(2)
    }
    .expect("a pool");
    let kind = if on_threads { "threads" } else { "processes" };
    let square = pool.submit(square, 12).expect("a task").result();
    println!("{kind}: 12 squared is {}", square.expect("its result"));
}
