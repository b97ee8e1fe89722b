//! A tour of `future-core` on its own: three "workers" (plain threads) complete futures
//! while the main thread uses `add_done_callback`, `wait`, `as_completed` and `.await`.
//!
//! Run: `cargo run -p future-core --example futures_tour`

use std::thread;
use std::time::{Duration, Instant};

use future_core::executor::Promise;
use future_core::{ReturnWhen, as_completed, wait};

fn main() {
    let start = Instant::now();
    let delays_ms = [300u64, 100, 200];
    let (promises, futures): (Vec<_>, Vec<_>) = delays_ms.iter().map(|_| Promise::new()).unzip();
    for f in &futures {
        f.add_done_callback(|f| println!("  callback: a future is done ({f:?})"));
    }
    let workers: Vec<_> = promises
        .into_iter()
        .zip(delays_ms)
        .map(|(promise, ms)| {
            thread::spawn(move || {
                promise.run(|| {
                    thread::sleep(Duration::from_millis(ms));
                    if ms == 200 {
                        panic!("the 200 ms task fails on purpose");
                    }
                    ms
                })
            })
        })
        .collect();

    let first = wait(&futures, None, ReturnWhen::FirstCompleted);
    println!(
        "wait(FIRST_COMPLETED): {} done, {} not done",
        first.done.len(),
        first.not_done.len()
    );
    for f in as_completed(&futures, Some(Duration::from_secs(10))) {
        match f.map(|f| f.result()) {
            Ok(Ok(ms)) => println!("as_completed: task of {ms} ms finished"),
            Ok(Err(err)) => println!("as_completed: a task failed: {err}"),
            Err(timeout) => println!("as_completed: {timeout}"),
        }
    }
    let (promise, future) = Promise::new();
    thread::spawn(move || promise.set_result("awaited"));
    let value = futures::executor::block_on(future);
    println!(".await gave {value:?}");
    for w in workers {
        let _ = w.join();
    }
    println!("total {:.2?}", start.elapsed());
}
