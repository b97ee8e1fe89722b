//! A deep chain of nested submit-and-wait on one thread, with the default stack: each task
//! submits its child and waits on it, so the waiting thread runs the child on its own
//! stack. It must complete (the stack grows on the heap when it runs low), never abort the
//! process with a stack overflow. Its own test binary: an abort would end the binary.

mod common;

use std::sync::Arc;

use pool_thread::ThreadPool;

fn chain(pool: &Arc<ThreadPool>, depth: u32) -> u32 {
    if depth == 0 {
        return 0;
    }
    let p = pool.clone();
    let child = pool.spawn(move || chain(&p, depth - 1)).unwrap();
    child.result().unwrap() + 1
}

#[test]
fn a_chain_of_ten_thousand_nested_waits_completes_on_one_thread() {
    common::within("the deep chain", || {
        let pool = Arc::new(ThreadPool::builder().max_workers(1).build().unwrap());
        let p = pool.clone();
        let top = pool.spawn(move || chain(&p, 10_000)).unwrap();
        assert_eq!(top.result(), Ok(10_000));
        assert_eq!(
            pool.stats().workers,
            1,
            "no thread was started for the chain"
        );
    });
}
