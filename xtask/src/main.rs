//! `cargo xtask`: the project's tasks, in plain Rust.
//!
//! - `cargo xtask ci`: everything CI checks (runs `.ci/run`);
//! - `cargo xtask loom`: the loom models of every crate that has `tests/loom.rs`;
//! - `cargo xtask bench [--quick] [FILTER]`: the criterion suite, then a report of each
//!   workload's median beside its peers' (`target/bench/report.md`);
//! - `cargo xtask bench --against REV [--rounds N] [FILTER]`: the chosen rows of this tree
//!   and of the commit `REV` (built in a worktree under `target/against/`), run alternately
//!   for N short rounds (default 3), then each row's spread (lowest-highest median) in both,
//!   side by side with their ratio (`target/against/report.md`);
//! - `cargo xtask miri`: the tests that exercise `unsafe` code, under Miri (needs a nightly
//!   toolchain with the `miri` component, which `.ci/run` adds);
//! - `cargo xtask demo`: the demos (pi on the process pool, fetching pages from a local
//!   HTTP server on the thread pool, one program on both pools); `cargo xtask demo --mpi`:
//!   pi and the one program across the ranks of `mpirun -n 3` (needs Open MPI).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod against;
mod mpi;
mod plot;
mod report;

const USAGE: &str = "usage: cargo xtask <ci | loom | miri | bench [--quick] [FILTER] \
     | bench --against REV [--rounds N] [FILTER] | demo [--mpi]>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("loom") => loom(),
        Some("miri") => miri(),
        Some("bench") => bench(&args[1..]),
        Some("demo") if args.iter().any(|a| a == "--mpi") => mpi::demo(),
        Some("demo") => demo(),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (xtask lives one level below it).
fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// Runs `program args...` in the workspace root with `envs`, failing on a non-zero exit.
fn run(program: &str, args: &[&str], envs: &[(&str, &str)]) -> Result<(), String> {
    run_in(&root(), program, args, envs)
}

/// Runs `program args...` in `dir` with `envs`, failing on a non-zero exit.
fn run_in(dir: &Path, program: &str, args: &[&str], envs: &[(&str, &str)]) -> Result<(), String> {
    println!("xtask: $ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(dir)
        .status()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed: {status}", args.join(" ")))
    }
}

/// Runs `program args...` in the workspace root like [`run`], but kills it, and every
/// process it started, once it has run for `limit`: a peer that hangs (an MPI job whose
/// spawned ranks never connect, say) costs its rows, not the whole report.
fn run_with_limit(
    program: &str,
    args: &[&str],
    envs: &[(&str, &str)],
    limit: std::time::Duration,
) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    println!(
        "xtask: $ {program} {} (limit {} s)",
        args.join(" "),
        limit.as_secs()
    );
    let mut child = Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(root())
        // Its own process group, so that the kill below reaches its children too.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    let deadline = std::time::Instant::now() + limit;
    loop {
        match child.try_wait() {
            Err(e) => return Err(format!("cannot wait for {program}: {e}")),
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                return Err(format!("`{program} {}` failed: {status}", args.join(" ")));
            }
            Ok(None) if std::time::Instant::now() >= deadline => {
                let group = format!("-{}", child.id());
                let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
                let _ = child.wait();
                return Err(format!(
                    "`{program} {}` was killed after {} s",
                    args.join(" "),
                    limit.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    }
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn ci() -> Result<(), String> {
    run("bash", &[".ci/run"], &[])
}

/// Preemption bound for loom: 3 keeps every model of the workspace to a few minutes on 2
/// cores; override with `LOOM_MAX_PREEMPTIONS`.
const LOOM_PREEMPTIONS: &str = "3";

fn loom() -> Result<(), String> {
    let crates = crates_with(Path::new("tests/loom.rs"))?;
    if crates.is_empty() {
        return Err("no crate has tests/loom.rs".to_owned());
    }
    let preemptions =
        std::env::var("LOOM_MAX_PREEMPTIONS").unwrap_or_else(|_| LOOM_PREEMPTIONS.to_owned());
    let target = root().join("target").join("loom");
    let target = target.to_string_lossy().into_owned();
    for name in crates {
        run(
            &cargo(),
            &["test", "-p", &name, "--test", "loom", "--release"],
            &[
                ("RUSTFLAGS", "--cfg loom"),
                ("LOOM_MAX_PREEMPTIONS", &preemptions),
                ("CARGO_TARGET_DIR", &target),
            ],
        )?;
    }
    Ok(())
}

/// The tests that exercise the `unsafe` code, each a test-name filter of one test target,
/// and whether to run it under many schedules (`-Zmiri-many-seeds`: only the smallest);
/// the small ones, since Miri runs code about a thousand times slower. They cover the task
/// cell (a closure stored inline or boxed in its future, run, cancelled, failed, dropped,
/// or run by a waiting worker), the listeners, the state word's cells (value, error, listener
/// slot, against completions on other threads), the value readers and lent values of a
/// future, the panic boundaries, scoped tasks (including the scopes that a panicking drop,
/// payload or waker once made return early, and those whose end runs them from under tasks
/// the scope's closure left), joins' second halves in the caller's frame (taken back
/// from the top of the deque or from under jobs the first half left, stolen, panicking),
/// the eager maps' in-place writes, a chunk's elements coded as one block, and the process
/// pool's constructor where it must do nothing.
const MIRI_TESTS: &[(&str, &str, &[&str], bool)] = &[
    (
        "future-core",
        "--lib",
        &["task::", "listeners::", "state::"],
        true,
    ),
    // A chunk's elements as one block of bytes: the reads of a slice's memory and the copy
    // into a new `Vec`.
    ("future-core", "--lib", &["elements::"], false),
    ("future-core", "--test=user_code", &[], false),
    (
        "future-core",
        "--test=future",
        &["result_ref", "take_"],
        false,
    ),
    // `wait` and `as_completed` over futures completed and cancelled by other threads:
    // the ready queue and the futures' slots, where each future's listener lives.
    (
        "future-core",
        "--test=wait",
        &[
            "as_completed",
            "first_",
            "all_completed",
            "user_cancel",
            "duplicates",
        ],
        false,
    ),
    (
        "pool-thread",
        "--test=panic_safety",
        &[
            "scope_outlives",
            "chunk_drop_panic_child",
            "cancelled_chunk_child",
            "unread_results_child",
            "failed_collect_child",
            "panicking_input_child",
        ],
        false,
    ),
    (
        "pool-thread",
        "--test=nested",
        &[
            "scope",
            "map_panicking",
            "dropping_map",
            "join_",
            "a_panic_in_the",
            "stolen_second_half",
        ],
        false,
    ),
    (
        "pool-thread",
        "--test=collect",
        &[
            "every_result",
            "first_panic",
            "borrows",
            "refused",
            "finishes_on_the_caller",
            "panicking_input_iterator",
        ],
        false,
    ),
    // The process pool's constructor in a process that no pool started (it runs before
    // every program's `main`), and the pure parts of a worker's start-up stderr.
    (
        "pool-process",
        "--lib",
        &["worker::tests", "stderr::tests"],
        false,
    ),
];

/// Tree borrows: crossbeam-epoch (under crossbeam-deque) trips the older stacked-borrows
/// model with a known false alarm; leaks are ignored because pool threads that are still
/// parked when a test's `main` returns keep their allocations.
const MIRI_FLAGS: &str = "-Zmiri-tree-borrows -Zmiri-ignore-leaks -Zmiri-disable-isolation";

/// Schedules tried for the smallest tests.
const MIRI_SEEDS: &str = "-Zmiri-many-seeds=0..8";

fn miri() -> Result<(), String> {
    for (package, target_arg, filters, many_seeds) in MIRI_TESTS {
        let mut args = vec!["+nightly", "miri", "test", "-p", package, target_arg, "--"];
        args.extend(filters.iter().copied());
        let flags = if *many_seeds {
            format!("{MIRI_FLAGS} {MIRI_SEEDS}")
        } else {
            MIRI_FLAGS.to_owned()
        };
        // Through rustup's `cargo` (not `$CARGO`), which understands `+nightly`.
        run("cargo", &args, &[("MIRIFLAGS", &flags)])?;
    }
    Ok(())
}

/// The package names of the crates under `crates/` that have the file `relative`.
fn crates_with(relative: &Path) -> Result<Vec<String>, String> {
    let dir = root().join("crates");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().join(relative).is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}

/// Criterion's settings for a short run: `--quick`, and each round of `--against`.
const QUICK_ARGS: [&str; 6] = [
    "--warm-up-time",
    "0.2",
    "--measurement-time",
    "0.5",
    "--sample-size",
    "10",
];

/// What `cargo xtask bench` was asked for.
#[derive(Debug, PartialEq)]
struct BenchArgs {
    quick: bool,
    filter: Option<String>,
    /// `--against REV`: compare with that commit instead of writing the report.
    against: Option<String>,
    rounds: usize,
}

fn parse_bench_args(args: &[String]) -> Result<BenchArgs, String> {
    let mut parsed = BenchArgs {
        quick: false,
        filter: None,
        against: None,
        rounds: against::DEFAULT_ROUNDS,
    };
    let mut rounds_given = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => parsed.quick = true,
            "--against" => {
                let rev = args.next().ok_or("--against needs a revision")?;
                parsed.against = Some(rev.clone());
            }
            "--rounds" => {
                parsed.rounds = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or("--rounds needs a count above 0")?;
                rounds_given = true;
            }
            flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}\n{USAGE}")),
            filter if parsed.filter.is_none() => parsed.filter = Some(filter.to_owned()),
            extra => return Err(format!("one filter only, not also {extra}\n{USAGE}")),
        }
    }
    if rounds_given && parsed.against.is_none() {
        return Err(format!("--rounds goes with --against\n{USAGE}"));
    }
    Ok(parsed)
}

fn bench(args: &[String]) -> Result<(), String> {
    let BenchArgs {
        quick,
        filter,
        against,
        rounds,
    } = parse_bench_args(args)?;
    if let Some(rev) = against {
        return against::run(&rev, rounds, filter.as_deref());
    }
    let filter = filter.as_ref();
    let mut cargo_args = vec!["bench", "-p", "bench-suite", "--benches", "--"];
    if quick {
        cargo_args.extend(QUICK_ARGS);
    }
    if let Some(filter) = filter {
        cargo_args.push(filter);
    }
    run(&cargo(), &cargo_args, &[])?;
    let out_dir = root().join("target").join("bench");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let cpython = report::run_cpython(&root(), &out_dir, quick, filter.map(String::as_str));
    let mut results = report::collect(&root().join("target").join("criterion"), cpython)?;
    let mpi_rows = if filter.is_none_or(|f| "mpi_pool".contains(f.as_str())) {
        mpi::bench(&root(), &out_dir, quick)
    } else {
        mpi::Rows::default()
    };
    results.extend(mpi_rows.measurements);
    let mut text = report::render(&results);
    if !mpi_rows.notes.is_empty() {
        text.push_str("\n## mpi_pool notes\n\n");
        for note in &mpi_rows.notes {
            text.push_str(&format!("- {note}\n"));
        }
    }
    if filter.is_none_or(|f| "memory".contains(f.as_str())) {
        run(
            &cargo(),
            &[
                "build",
                "--release",
                "-p",
                "bench-suite",
                "--bin",
                "memory_probe",
            ],
            &[],
        )?;
        text.push_str(&report::memory_section(&root(), quick)?);
    }
    let plots = report::scaling_plots(&results, &out_dir)?;
    if !plots.is_empty() {
        text.push_str("\n## Scaling\n\n");
        text.push_str(&plots.join("\n"));
        text.push('\n');
    }
    let path = out_dir.join("report.md");
    std::fs::write(&path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("{text}");
    println!("xtask: report written to {}", path.display());
    Ok(())
}

/// The demos: the CPU-bound pi demo on 1 process and on every core (the process
/// pool), the I/O demo fetching pages from a local HTTP server on 2 and on 10 threads
/// (the thread pool), and one program run unchanged on both pools.
fn demo() -> Result<(), String> {
    let cpus = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .to_string();
    for processes in ["1", cpus.as_str()] {
        println!("\nxtask demo: pi on {processes} process(es)");
        run_example("pool-process", "pi", &[processes])?;
    }
    println!("\nxtask demo: I/O-bound tasks on the thread pool");
    run_example("rustures", "io_fetch", &[])?;
    println!(
        "\nxtask demo: one program on the thread pool, the process pool, and a pool chosen at run time"
    );
    run_example("rustures", "one_program", &[])
}

/// `cargo run --release --quiet -p package --example example -- args...`.
fn run_example(package: &str, example: &str, args: &[&str]) -> Result<(), String> {
    let mut cargo_args = vec![
        "run",
        "--release",
        "--quiet",
        "-p",
        package,
        "--example",
        example,
        "--",
    ];
    cargo_args.extend_from_slice(args);
    run(&cargo(), &cargo_args, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_past_its_limit_is_killed_with_its_children() {
        let pid_file = std::env::temp_dir().join(format!("xtask-limit-{}", std::process::id()));
        let script = format!("sleep 600 & echo $! > {}; wait", pid_file.display());
        let started = std::time::Instant::now();
        let result = run_with_limit(
            "sh",
            &["-c", &script],
            &[],
            std::time::Duration::from_secs(1),
        );
        let error = result.expect_err("a run past its limit fails");
        assert!(error.contains("killed after 1 s"), "{error}");
        // Generous: only a run that waited for the child's `sleep 600` fails this.
        assert!(started.elapsed() < std::time::Duration::from_secs(60));
        let child = std::fs::read_to_string(&pid_file).expect("the script wrote its child's pid");
        let _ = std::fs::remove_file(&pid_file);
        // The grandchild was killed with the group; once reaped by init it is gone.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::path::Path::new(&format!("/proc/{}", child.trim())).exists() {
            let stat =
                std::fs::read_to_string(format!("/proc/{}/stat", child.trim())).unwrap_or_default();
            if stat.split_whitespace().nth(2) == Some("Z") {
                break; // killed, not yet reaped by its new parent
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the child's child still runs"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    #[test]
    fn a_run_within_its_limit_reports_its_exit() {
        let limit = std::time::Duration::from_secs(60);
        assert_eq!(run_with_limit("true", &[], &[], limit), Ok(()));
        let error = run_with_limit("false", &[], &[], limit).expect_err("false fails");
        assert!(error.contains("failed"), "{error}");
    }

    fn parse(args: &[&str]) -> Result<BenchArgs, String> {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        parse_bench_args(&args)
    }

    #[test]
    fn bench_arguments() {
        assert_eq!(
            parse(&["--against", "HEAD~1", "futures/x", "--rounds", "2"]),
            Ok(BenchArgs {
                quick: false,
                filter: Some("futures/x".to_owned()),
                against: Some("HEAD~1".to_owned()),
                rounds: 2,
            })
        );
        assert_eq!(
            parse(&["--quick", "ipc"]),
            Ok(BenchArgs {
                quick: true,
                filter: Some("ipc".to_owned()),
                against: None,
                rounds: against::DEFAULT_ROUNDS,
            })
        );
        assert!(parse(&["--against"]).is_err());
        assert!(parse(&["--against", "HEAD", "--rounds", "0"]).is_err());
        assert!(parse(&["--rounds", "2"]).is_err());
        assert!(parse(&["--round", "2"]).is_err());
        assert!(parse(&["a", "b"]).is_err());
    }
}
