//! pool-mpi beside mpi4py.futures (run by `cargo xtask bench` from `python/mpi4py_bench.py`
//! on the same `mpirun -n 3` setup), the process pool with as many workers, and a raw MPI
//! farm without futures, on the same workloads. Built only with the `mpi` feature (it needs
//! Open MPI); `cargo xtask bench` enables it when `mpirun` is there.
//!
//! The binary, as `cargo bench` runs it, starts itself again: under `mpirun -n 3` for the
//! pools (rank 0 measures, ranks 1 and 2 are the workers), under `mpirun -n 3` for the raw
//! farm, and alone for the spawn time. Each run prints one JSON object per measurement,
//! `{"group": "mpi_pool/<workload>", "function": "<contender>", "median_ns": ...}` (or
//! `{"note": ...}`), which the outer run writes to `$MPI_BENCH_OUT` for the report.
//!
//! - `mpi_pool/round_trip`: one tiny task there and back, per task;
//! - `mpi_pool/tiny_tasks`: 100,000 tiny tasks submitted, then collected, per task (the raw
//!   farm: 100,000 messages echoed by the workers, 16 in flight per worker);
//! - `mpi_pool/map_1m_chunked`: `map` over 1,000,000 small items in chunks of 10,000;
//! - `mpi_pool/payload_4mib`: a 4 MiB argument there and its 4 MiB result back (bytes as
//!   one blob, `serde_bytes`, as Python's `bytes` pickle);
//! - `mpi_pool/spawn`: spawn one worker, run one task, let it go;
//! - notes: the CPU an idle pool uses in one second (rank 0's process, and each worker).
//!
//! With `MPI_BENCH_ULFM` set (a build with the `ulfm` feature, against an Open MPI 5 with
//! ULFM first on `PATH`), only the cost of fault tolerance: `mpi_pool/ulfm_round_trip` and
//! `mpi_pool/ulfm_tiny_tasks`, the pool of a job started with `mpirun --with-ft ulfm`
//! (`ours`) beside the same build in a plain job (`fail_stop`), three launches of each,
//! alternating; each row is the median of its three medians.

#![allow(missing_docs)] // benchmark functions
use std::time::{Duration, Instant};

use bench_suite::cpu_ticks;
use future_core::MapOptions;
use pool_mpi::MpiPool;
use pool_process::ProcessPool;
use serde_bytes::ByteBuf;

const MPI_ENV: [(&str, &str); 6] = [
    ("OMPI_ALLOW_RUN_AS_ROOT", "1"),
    ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"),
    ("PRTE_MCA_rmaps_default_mapping_policy", ":oversubscribe"),
    ("OMPI_MCA_rmaps_base_oversubscribe", "1"),
    ("OMPI_MCA_btl_tcp_if_include", "lo"),
    ("OMPI_MCA_oob_tcp_if_include", "lo"),
];

const TINY_TASKS: u64 = 100_000;
const MAP_ITEMS: u32 = 1_000_000;
const PAYLOAD: usize = 4 << 20;

fn tiny(x: u64) -> u64 {
    x.wrapping_add(1)
}

fn small(x: u32) -> u32 {
    x.wrapping_mul(2_654_435_761).rotate_left(7)
}

fn echo(bytes: ByteBuf) -> ByteBuf {
    bytes
}

fn quick() -> bool {
    std::env::var_os("MPI_BENCH_QUICK").is_some()
}

/// Prints one measurement line.
fn report(group: &str, function: &str, median_ns: f64) {
    println!(
        "{{\"group\": \"mpi_pool/{group}\", \"function\": \"{function}\", \"median_ns\": {median_ns:.1}}}"
    );
}

fn note(text: &str) {
    println!("{{\"note\": \"{}\"}}", text.replace('"', "'"));
}

/// The median over `reps` runs of `work`, divided by `per`, in nanoseconds.
fn median_ns(reps: usize, per: u64, mut work: impl FnMut()) -> f64 {
    work(); // warm
    let mut samples: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed().as_nanos() as f64 / per as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn reps() -> usize {
    if quick() { 3 } else { 7 }
}

/// One tiny task there and back, per task.
fn round_trip(pool: &impl future_core::Executor, round_trips: u64) -> f64 {
    median_ns(reps(), round_trips, || {
        for x in 0..round_trips {
            std::hint::black_box(pool.submit(tiny, x).unwrap().result().unwrap());
        }
    })
}

/// Tiny tasks submitted, then collected, per task.
fn tiny_tasks(pool: &impl future_core::Executor) -> f64 {
    let tasks = if quick() { TINY_TASKS / 10 } else { TINY_TASKS };
    median_ns(reps(), tasks, || {
        let futures: Vec<_> = (0..tasks).map(|x| pool.submit(tiny, x).unwrap()).collect();
        std::hint::black_box(futures.iter().map(|f| f.result().unwrap()).sum::<u64>());
    })
}

/// The workloads, on any pool with the shared interface.
fn workloads(name: &str, pool: &impl future_core::Executor, round_trips: u64) {
    let reps = reps();
    report("round_trip", name, round_trip(pool, round_trips));
    report("tiny_tasks", name, tiny_tasks(pool));
    let map = median_ns(reps, 1, || {
        let sum: u64 = pool
            .map(small, 0..MAP_ITEMS, MapOptions::new().chunksize(10_000))
            .unwrap()
            .map(|r| u64::from(r.unwrap()))
            .sum();
        std::hint::black_box(sum);
    });
    report("map_1m_chunked", name, map);
    let payload = ByteBuf::from(vec![7u8; PAYLOAD]);
    let big = median_ns(reps, 1, || {
        let back = pool
            .submit(echo, payload.clone())
            .unwrap()
            .result()
            .unwrap();
        assert_eq!(back.len(), PAYLOAD);
    });
    report("payload_4mib", name, big);
}

fn worker_pid(_: ()) -> u32 {
    std::process::id()
}

/// The CPU a warm, idle MPI pool uses in one second.
fn idle_cpu(pool: &MpiPool) {
    let pids: Vec<u32> = pool
        .on_each_worker(worker_pid, ())
        .unwrap()
        .iter()
        .map(|f| f.result().unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200)); // past every spin and the backoff's ramp
    let read = || {
        let ours = cpu_ticks("/proc/self/stat");
        let theirs: Vec<u64> = pids
            .iter()
            .map(|p| cpu_ticks(&format!("/proc/{p}/stat")))
            .collect();
        (ours, theirs)
    };
    let (ours0, theirs0) = read();
    std::thread::sleep(Duration::from_secs(1));
    let (ours1, theirs1) = read();
    let tick_ms = 10; // USER_HZ is 100 on Linux
    let workers: Vec<String> = theirs1
        .iter()
        .zip(&theirs0)
        .map(|(a, b)| format!("{} ms", (a - b) * tick_ms))
        .collect();
    note(&format!(
        "idle CPU in 1 s: rank 0's process {} ms (its MPI thread blocks), each worker {} (tick = {tick_ms} ms)",
        (ours1 - ours0) * tick_ms,
        workers.join(", ")
    ));
}

/// Rank 0 under `mpirun -n 3`: the MPI pool, then the process pool with as many workers.
fn pools() {
    let pool = MpiPool::from_world().expect("mpirun -n 3");
    let workers = pool.max_workers();
    idle_cpu(&pool);
    workloads("ours", &pool, 2_000);
    drop(pool);
    let processes = ProcessPool::builder().max_workers(workers).build().unwrap();
    workloads("process_pool", &processes, 2_000);
}

/// Rank 0 of a job with or without fault tolerance: the workloads it may cost on.
fn fault_tolerance() {
    let pool = MpiPool::from_world().expect("mpirun -n 3");
    let name = if pool.fault_tolerant() {
        "ours"
    } else {
        "fail_stop"
    };
    report("ulfm_round_trip", name, round_trip(&pool, 2_000));
    report("ulfm_tiny_tasks", name, tiny_tasks(&pool));
}

/// The lines of the fault-tolerance runs, each row's median of its launches.
fn fault_tolerance_rows() -> Vec<String> {
    let mut samples: Vec<(String, String, f64)> = Vec::new();
    for _ in 0..3 {
        for launcher in [&[][..], &["--with-ft", "ulfm"][..]] {
            for line in launch("--fault-tolerance", Some(3), launcher) {
                let field = |key: &str| {
                    let (_, rest) = line.split_once(&format!("\"{key}\": "))?;
                    let value = rest.split([',', '}']).next()?.trim().trim_matches('"');
                    Some(value.to_owned())
                };
                let ns = field("median_ns").and_then(|ns| ns.parse::<f64>().ok());
                if let (Some(group), Some(function), Some(ns)) =
                    (field("group"), field("function"), ns)
                {
                    samples.push((group, function, ns));
                }
            }
        }
    }
    let mut rows: Vec<(String, String)> = samples
        .iter()
        .map(|(g, f, _)| (g.clone(), f.clone()))
        .collect();
    rows.sort();
    rows.dedup();
    rows.into_iter()
        .map(|(group, function)| {
            let mut ns: Vec<f64> = samples
                .iter()
                .filter(|(g, f, _)| *g == group && *f == function)
                .map(|(_, _, ns)| *ns)
                .collect();
            ns.sort_by(f64::total_cmp);
            let median = ns[ns.len() / 2];
            format!(
                "{{\"group\": \"{group}\", \"function\": \"{function}\", \"median_ns\": {median:.1}}}"
            )
        })
        .collect()
}

/// A raw MPI farm without futures, on its own `mpirun -n 3`: rank 0 sends tiny messages to
/// the workers, up to 16 in flight each, and they answer each at once.
fn raw_farm() {
    use mpi::traits::*;
    const WINDOW: u64 = 16;
    let Some(universe) = mpi::initialize() else {
        return;
    };
    let world = universe.world();
    let workers = world.size() - 1;
    if world.rank() != 0 {
        let root = world.process_at_rank(0);
        loop {
            let (x, _) = root.receive::<u64>();
            if x == u64::MAX {
                return;
            }
            root.send(&tiny(x));
        }
    }
    let messages = if quick() { TINY_TASKS / 10 } else { TINY_TASKS };
    let reps = if quick() { 3 } else { 7 };
    let per_message = median_ns(reps, messages, || {
        let mut sent = 0u64;
        let mut received = 0u64;
        for rank in 1..=workers {
            for _ in 0..WINDOW.min(messages / workers as u64) {
                world.process_at_rank(rank).send(&sent);
                sent += 1;
            }
        }
        while received < sent {
            let (x, status) = world.any_process().receive::<u64>();
            std::hint::black_box(x);
            received += 1;
            if sent < messages {
                world.process_at_rank(status.source_rank()).send(&sent);
                sent += 1;
            }
        }
    });
    report("tiny_tasks", "raw_farm", per_message);
    for rank in 1..=workers {
        world.process_at_rank(rank).send(&u64::MAX);
    }
}

/// Alone: the time to spawn one worker, run one task and let it go.
fn spawn_time() {
    let reps = if quick() { 1 } else { 3 };
    let spawn = median_ns(reps, 1, || {
        let pool = MpiPool::builder().spawn_workers(1).unwrap();
        pool.submit(tiny, 1).unwrap().result().unwrap();
    });
    report("spawn", "ours", spawn);
}

/// Runs this binary again with `mode`, under `mpirun` (with the options `launcher`) `-n
/// ranks` or alone; its output lines.
fn launch(mode: &str, ranks: Option<u32>, launcher: &[&str]) -> Vec<String> {
    let exe = std::env::current_exe().expect("the bench binary");
    let mut cmd = match ranks {
        Some(n) => {
            let mut cmd = std::process::Command::new("mpirun");
            cmd.args(launcher).args(["-n", &n.to_string()]).arg(&exe);
            cmd
        }
        None => std::process::Command::new(&exe),
    };
    let out = cmd
        .arg(mode)
        .envs(MPI_ENV)
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("cannot run the MPI benchmark");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        eprintln!("mpi_pool {mode}: {}", out.status);
    }
    text.lines()
        .filter(|l| l.starts_with('{'))
        .map(str::to_owned)
        .collect()
}

fn main() {
    pool_process::init(); // the process pool's workers serve here
    match std::env::args().nth(1).as_deref() {
        Some("--pools") => {
            let _mpi = pool_mpi::init(); // ranks 1 and 2 serve here
            pools();
        }
        Some("--raw-farm") => raw_farm(),
        Some("--fault-tolerance") => {
            let _mpi = pool_mpi::init(); // ranks 1 and 2 serve here
            fault_tolerance();
        }
        Some("--spawn") => {
            let _mpi = pool_mpi::init(); // the spawned worker serves here
            spawn_time();
        }
        _ => {
            // `cargo bench` (with its own arguments): the outer run.
            let lines = if std::env::var_os("MPI_BENCH_ULFM").is_some() {
                fault_tolerance_rows()
            } else {
                let mut lines = launch("--pools", Some(3), &[]);
                lines.extend(launch("--raw-farm", Some(3), &[]));
                lines.extend(launch("--spawn", None, &[]));
                lines
            };
            for line in &lines {
                println!("{line}");
            }
            if let Some(path) = std::env::var_os("MPI_BENCH_OUT") {
                let mut text = lines.join("\n");
                text.push('\n');
                if let Err(err) = std::fs::write(&path, text) {
                    eprintln!("mpi_pool: cannot write {}: {err}", path.to_string_lossy());
                }
            }
        }
    }
}
