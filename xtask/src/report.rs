//! The benchmark report: reads criterion's results (and CPython's, when `python3` is
//! present) and renders one table per area with each workload's median beside its peers'.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde::Deserialize;

/// One measured function of one workload.
#[derive(Debug, Clone)]
pub(crate) struct Measurement {
    /// `area/workload`, e.g. `futures/create_complete_get`.
    pub(crate) group: String,
    /// `ours`, or the peer's name.
    pub(crate) function: String,
    pub(crate) median_ns: f64,
}

/// The CPython peer rows, or why there are none.
#[derive(Debug)]
pub(crate) enum Cpython {
    Measured(Vec<Measurement>),
    Absent(String),
}

#[derive(Deserialize)]
struct BenchmarkId {
    group_id: String,
    function_id: Option<String>,
    value_str: Option<String>,
}

#[derive(Deserialize)]
struct Estimates {
    median: Estimate,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
}

#[derive(Deserialize)]
struct PythonRow {
    group: String,
    median_ns: f64,
}

/// Runs the CPython peers (same workloads and sizes) when `python3` is there.
pub(crate) fn run_cpython(
    root: &Path,
    out_dir: &Path,
    quick: bool,
    filter: Option<&str>,
) -> Cpython {
    let script = root.join("crates/bench-suite/python/bench.py");
    if !script.is_file() {
        return Cpython::Absent("no CPython script in this checkout".to_owned());
    }
    let out = out_dir.join("cpython.json");
    let mut cmd = Command::new("python3");
    cmd.arg(&script).arg("--out").arg(&out);
    if quick {
        cmd.arg("--quick");
    }
    if let Some(filter) = filter {
        cmd.arg("--filter").arg(filter);
    }
    println!("xtask: $ python3 {} ...", script.display());
    match cmd.status() {
        Err(e) => return Cpython::Absent(format!("python3 not available ({e})")),
        Ok(status) if !status.success() => {
            return Cpython::Absent(format!("the CPython script failed: {status}"));
        }
        Ok(_) => {}
    }
    let text = match std::fs::read_to_string(&out) {
        Ok(text) => text,
        Err(e) => return Cpython::Absent(format!("{}: {e}", out.display())),
    };
    let rows: Vec<PythonRow> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    Cpython::Measured(
        rows.into_iter()
            .map(|r| Measurement {
                group: r.group,
                function: "cpython".to_owned(),
                median_ns: r.median_ns,
            })
            .collect(),
    )
}

/// Every `<group>/<function>/new` result under criterion's directory, plus CPython's.
pub(crate) fn collect(criterion_dir: &Path, cpython: Cpython) -> Result<Report, String> {
    let mut measurements = medians(criterion_dir);
    let cpython_note = match cpython {
        Cpython::Measured(rows) => {
            measurements.extend(rows);
            None
        }
        Cpython::Absent(why) => Some(why),
    };
    Ok(Report {
        measurements,
        cpython_note,
    })
}

/// Every `<group>/<function>/new` result under a criterion directory (none if it is absent).
pub(crate) fn medians(criterion_dir: &Path) -> Vec<Measurement> {
    let mut measurements = Vec::new();
    walk(criterion_dir, &mut measurements);
    measurements
}

fn walk(dir: &Path, out: &mut Vec<Measurement>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            if let Some(m) = read_result(&path) {
                out.push(m);
            }
        } else {
            walk(&path, out);
        }
    }
}

fn read_result(new_dir: &Path) -> Option<Measurement> {
    let id: BenchmarkId =
        serde_json::from_str(&std::fs::read_to_string(new_dir.join("benchmark.json")).ok()?)
            .ok()?;
    let estimates: Estimates =
        serde_json::from_str(&std::fs::read_to_string(new_dir.join("estimates.json")).ok()?)
            .ok()?;
    // A parameterised benchmark (`BenchmarkId::new(function, size)`) is one workload per
    // parameter: `group/size`.
    let group = match id.value_str {
        Some(value) => format!("{}/{value}", id.group_id),
        None => id.group_id,
    };
    Some(Measurement {
        group,
        function: id.function_id.unwrap_or_else(|| "ours".to_owned()),
        median_ns: estimates.median.point_estimate,
    })
}

/// All measurements of one run.
#[derive(Debug)]
pub(crate) struct Report {
    measurements: Vec<Measurement>,
    cpython_note: Option<String>,
}

impl Report {
    /// Adds measurements made outside criterion (the MPI rows).
    pub(crate) fn extend(&mut self, measurements: Vec<Measurement>) {
        self.measurements.extend(measurements);
    }
}

/// A duration in the unit that reads best.
pub(crate) fn human(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// The functions that measure a workload's physical floor rather than a peer: the least
/// work any implementation must do (`floor`, written in the bench), or the raw transport
/// under ours (`raw_socketpair`). The report shows how far above it we are.
const FLOORS: [&str; 2] = ["floor", "raw_socketpair"];

/// One table per area (the part of the group before `/`); a row per workload: our median,
/// then each peer's median and how many times ours is faster (`peer / ours`, so above 1
/// means we lead).
pub(crate) fn render(report: &Report) -> String {
    // area -> workload -> function -> median
    let mut areas: BTreeMap<&str, BTreeMap<&str, BTreeMap<&str, f64>>> = BTreeMap::new();
    for m in &report.measurements {
        let (area, workload) = m
            .group
            .split_once('/')
            .unwrap_or(("other", m.group.as_str()));
        areas
            .entry(area)
            .or_default()
            .entry(workload)
            .or_default()
            .insert(m.function.as_str(), m.median_ns);
    }
    let mut text = String::from("# Benchmark report\n\n");
    text.push_str(&format!("Machine: {}.\n\n", machine()));
    text.push_str(
        "Medians from one run on this machine. `×` is the peer's median over ours: above 1, ours is faster.\n",
    );
    if let Some(note) = &report.cpython_note {
        text.push_str(&format!("\nCPython rows are missing: {note}.\n"));
    }
    for (area, workloads) in &areas {
        text.push_str(&format!(
            "\n## {area}\n\n| workload | ours | peers (median, ×) | floor (median, ours ÷ floor) |\n|---|---|---|---|\n"
        ));
        for (workload, functions) in workloads {
            let ours = functions.get("ours").copied();
            let peers: Vec<String> = functions
                .iter()
                .filter(|(name, _)| **name != "ours" && !FLOORS.contains(*name))
                .map(|(name, ns)| match ours {
                    Some(o) if o > 0.0 => format!("{name} {} ({:.2}×)", human(*ns), ns / o),
                    _ => format!("{name} {}", human(*ns)),
                })
                .collect();
            let floor = functions
                .iter()
                .find(|(name, _)| FLOORS.contains(*name))
                .map_or_else(
                    || "—".to_owned(),
                    |(name, ns)| match ours {
                        Some(o) if *ns > 0.0 => {
                            format!("{name} {} ({:.2}×)", human(*ns), o / ns)
                        }
                        _ => format!("{name} {}", human(*ns)),
                    },
                );
            let ours = ours.map_or_else(|| "—".to_owned(), human);
            text.push_str(&format!(
                "| {workload} | {ours} | {} | {floor} |\n",
                peers.join("; ")
            ));
        }
    }
    text
}

/// Draws one SVG per area that has `<area>/scaling/<workers>` workloads (speedup over one
/// worker, per contender) into `out_dir`, and returns the report lines that link them.
pub(crate) fn scaling_plots(report: &Report, out_dir: &Path) -> Result<Vec<String>, String> {
    // area -> contender -> workers -> median
    let mut areas: BTreeMap<&str, BTreeMap<String, BTreeMap<u32, f64>>> = BTreeMap::new();
    for m in &report.measurements {
        let mut parts = m.group.splitn(3, '/');
        let (Some(area), Some("scaling"), Some(workers)) =
            (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Ok(workers) = workers.parse::<u32>() else {
            continue;
        };
        areas
            .entry(area)
            .or_default()
            .entry(m.function.clone())
            .or_default()
            .insert(workers, m.median_ns);
    }
    let mut lines = Vec::new();
    for (area, medians) in &areas {
        let series = crate::plot::speedups(medians);
        if series.is_empty() {
            continue;
        }
        let file = format!("{area}_scaling.svg");
        let path = out_dir.join(&file);
        let svg = crate::plot::svg(&format!("{area}: speedup with more workers"), &series);
        std::fs::write(&path, svg).map_err(|e| format!("{}: {e}", path.display()))?;
        let best: Vec<String> = series
            .iter()
            .filter_map(|s| {
                let &(n, speedup) = s.points.last()?;
                Some(format!("{} {speedup:.2}× on {n} workers", s.name))
            })
            .collect();
        lines.push(format!("- [{area} scaling]({file}): {}", best.join("; ")));
    }
    Ok(lines)
}

#[derive(Deserialize)]
struct ProbeLine {
    bound: String,
    peak_rss_kib: u64,
    seconds: f64,
}

/// Tasks the memory probe submits (a runaway producer).
const PROBE_TASKS: &str = "10000000";
/// The queue bound of the bounded run.
const PROBE_BOUND: &str = "1024";

/// Runs `memory_probe` without and with a queue bound and returns the report section.
pub(crate) fn memory_section(root: &Path, quick: bool) -> Result<String, String> {
    let tasks = if quick { "1000000" } else { PROBE_TASKS };
    let exe = root.join("target/release/memory_probe");
    let mut rows = Vec::new();
    for bound in ["none", PROBE_BOUND] {
        println!("xtask: $ {} {tasks} {bound}", exe.display());
        let out = Command::new(&exe)
            .args([tasks, bound])
            .output()
            .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
        if !out.status.success() {
            return Err(format!(
                "memory_probe {tasks} {bound} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let line: ProbeLine = serde_json::from_str(text.trim())
            .map_err(|e| format!("memory_probe printed {text:?}: {e}"))?;
        rows.push(format!(
            "| {} | {:.1} MiB | {:.2} s |",
            if line.bound == "none" {
                "no bound".to_owned()
            } else {
                format!("queue_bound = {}", line.bound)
            },
            line.peak_rss_kib as f64 / 1024.0,
            line.seconds
        ));
    }
    Ok(format!(
        "\n## memory\n\nPeak RSS of one producer submitting {tasks} tiny tasks (each slower to run than to \
         submit) to a one-worker thread pool, futures dropped at once.\n\n| pool | peak RSS | time |\n|---|---|---|\n{}\n",
        rows.join("\n")
    ))
}

/// The machine the run is on: cores, CPU model and the date (from `/proc` and `date`).
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{cores} cores, {model}, {date}")
}
