pool_process::test_worker!();

use pool_process::ProcessPool;

fn double(x: u64) -> u64 {
    x * 2
}

#[test]
fn smoke() {
    let pool = ProcessPool::builder().max_workers(2).build().unwrap();
    let f = pool.submit(double, 21).unwrap();
    assert_eq!(f.result(), Ok(42));
    let pid = pool.submit(|()| std::process::id(), ()).unwrap().result().unwrap();
    assert_ne!(pid, std::process::id());
    let t = std::time::Instant::now();
    for i in 0..1000 {
        assert_eq!(pool.submit(double, i).unwrap().result(), Ok(2 * i));
    }
    eprintln!("round trip {:?}", t.elapsed() / 1000);
}
