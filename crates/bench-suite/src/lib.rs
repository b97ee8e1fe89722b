//! The peers that `cargo xtask bench` measures the rustures crates against, when no crate
//! provides them: the textbook bare `Mutex` + `Condvar` result slot, and (as the pools
//! arrive) a naive `Mutex<Receiver>` thread pool.
//!
//! The benchmarks themselves live in `benches/`, one file per area; `cargo xtask bench`
//! runs them and prints each workload's median beside its peers'.
//!
//! ```
//! let slot = bench_suite::CondvarSlot::new();
//! slot.set(5);
//! assert_eq!(slot.take(), 5);
//! ```

use std::sync::{Arc, Condvar, Mutex};

/// The cores this machine offers (1 when unknown): every pool in the suite gets one worker
/// per core.
///
/// ```
/// assert!(bench_suite::cores() >= 1);
/// ```
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Keeps glibc's heap from shrinking and growing again between benchmark iterations:
/// raises the trim threshold (freed memory at the top of the heap stays mapped) and fixes
/// the mmap threshold at its maximum (so an 8 MB result `Vec` comes from the heap instead
/// of fresh pages every time). Call it first thing in a benchmark binary; it applies to
/// every workload and peer in it alike. Elsewhere than on glibc it does nothing.
///
/// Why: a workload that allocates 100,000 small objects per iteration and frees them all
/// runs in one of two modes, decided by where the heap's top happens to lie: with the
/// heap trimmed each iteration, every page is faulted in again (about 1,700 page faults per
/// iteration), and every peer measured about twice as slow as without, flipping from one
/// run to the next. The page faults measure the allocator's trimming policy, not a pool.
///
/// ```
/// bench_suite::steady_heap();
/// let v = vec![0u8; 1 << 20];
/// assert_eq!(v.len(), 1 << 20);
/// ```
pub fn steady_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // Both values are within glibc's documented ranges; a refused setting (mallopt
        // returns 0) leaves the default policy, which is only slower, so it is ignored.
        const TRIM_THRESHOLD: libc::c_int = 1 << 30;
        const MMAP_THRESHOLD: libc::c_int = 32 << 20;
        // SAFETY: `mallopt` only changes the allocator's tuning parameters; it is called
        // before the benchmark starts any thread, and any value is safe to pass.
        unsafe {
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        }
    }
}

/// The worker counts of a scaling benchmark: 1, 2, 4, ... below `max`, then `max`.
///
/// ```
/// assert_eq!(bench_suite::worker_counts(6), vec![1, 2, 4, 6]);
/// assert_eq!(bench_suite::worker_counts(1), vec![1]);
/// ```
pub fn worker_counts(max: usize) -> Vec<usize> {
    let mut counts: Vec<usize> = std::iter::successors(Some(1), |n| Some(n * 2))
        .take_while(|&n| n < max)
        .collect();
    counts.push(max);
    counts
}

/// The CPU time (utime + stime) a process or thread has used, in clock ticks (10 ms on
/// Linux), from its `stat` file (`/proc/<pid>/stat`, `/proc/self/task/<tid>/stat`); 0 when
/// it cannot be read.
///
/// ```
/// let ticks = bench_suite::cpu_ticks("/proc/self/stat");
/// assert!(ticks < u64::MAX);
/// ```
pub fn cpu_ticks(stat_path: &str) -> u64 {
    let Ok(stat) = std::fs::read_to_string(stat_path) else {
        return 0;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    // After "pid (comm)": state is field 3; utime and stime are fields 14 and 15.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(11) + get(12)
}

/// The textbook future: a value slot guarded by a mutex and a condition variable, with no
/// states, callbacks or timeouts. The baseline for what a `TaskFuture` costs on top.
#[derive(Debug, Clone, Default)]
pub struct CondvarSlot<T> {
    inner: Arc<(Mutex<Option<T>>, Condvar)>,
}

impl<T> CondvarSlot<T> {
    /// An empty slot.
    pub fn new() -> Self {
        CondvarSlot {
            inner: Arc::new((Mutex::new(None), Condvar::new())),
        }
    }

    /// Fills the slot and wakes every waiter.
    pub fn set(&self, value: T) {
        let (lock, cond) = &*self.inner;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
        cond.notify_all();
    }

    /// Blocks until the slot is filled, and empties it.
    pub fn take(&self) -> T {
        let (lock, cond) = &*self.inner;
        let mut slot = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(value) = slot.take() {
                return value;
            }
            slot = cond.wait(slot).unwrap_or_else(|e| e.into_inner());
        }
    }
}
