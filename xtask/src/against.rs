//! `cargo xtask bench --against REV [--rounds N] [FILTER]`: the chosen criterion rows of
//! this tree and of the commit `REV`, run alternately for a few short rounds, and each
//! row's spread (the lowest and highest of its per-round medians) for both, side by side.
//!
//! `REV` is built in its own git worktree, `target/against/<commit>`, with one target
//! directory for every such worktree (`target/against/target`), so a second run against the
//! same commit builds nothing and one against a neighbouring commit rebuilds only the
//! workspace crates. Not this tree's target directory: cargo gives the two trees' bench
//! binaries the same file names, so each build would overwrite the other's. Each round
//! runs criterion with the `--quick` settings; which tree goes first alternates from round
//! to round, so a machine that drifts weighs on both alike.
//! Each tree's results of each round go to their own criterion directory
//! (`target/against/criterion/<tree>/<round>`, through `CRITERION_HOME`), read back by the
//! same reader as the main report. A filter that names `mpi_pool` also runs pool-mpi's
//! benchmark under `mpirun` (where it is found) in each round, the MPI rows beside the others.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::report::{self, Measurement};

/// Rounds when `--rounds` is not given.
pub(crate) const DEFAULT_ROUNDS: usize = 3;

/// One of the two trees of a comparison.
struct Tree {
    /// How the table names it.
    label: String,
    /// Its workspace root.
    dir: PathBuf,
    /// `CARGO_TARGET_DIR` for its build, when not the default one.
    target_dir: Option<PathBuf>,
    /// Where its rounds' criterion results go.
    results: PathBuf,
}

/// Builds `rev` beside this tree, runs the rows that `filter` selects in both for
/// `rounds` rounds, prints the table and writes it to `target/against/report.md`.
pub(crate) fn run(rev: &str, rounds: usize, filter: Option<&str>) -> Result<(), String> {
    let root = crate::root();
    let base = root.join("target").join("against");
    let commit = git_output(
        &root,
        &["rev-parse", "--verify", &format!("{rev}^{{commit}}")],
    )
    .map_err(|e| format!("`{rev}` is not a commit of this repository: {e}"))?;
    let short = &commit[..commit.len().min(12)];
    let worktree = base.join(short);
    if !worktree.join(".git").exists() {
        // `--force`: a worktree directory removed by hand (a `cargo clean`) leaves git's
        // record of it behind, which would refuse the same path again.
        let path = worktree.to_string_lossy();
        crate::run(
            "git",
            &["worktree", "add", "--force", "--detach", &path, &commit],
            &[],
        )?;
    }
    let criterion = base.join("criterion");
    let trees = [
        Tree {
            label: "this tree".to_owned(),
            dir: root.clone(),
            target_dir: None,
            results: criterion.join("this"),
        },
        Tree {
            label: format!("{rev} ({})", &commit[..commit.len().min(7)]),
            dir: worktree,
            target_dir: Some(base.join("target")),
            results: criterion.join(short),
        },
    ];
    // Build both first: a tree that does not build fails the run before any measuring.
    // The MPI rows come from their own benchmark under `mpirun`, run when the filter names
    // them.
    let with_mpi = filter.is_some_and(|f| f.contains("mpi_pool")) && crate::mpi::available();
    for tree in &trees {
        cargo_bench(tree, &["--no-run"], &[], None)?;
        if with_mpi {
            mpi_bench(tree, None)?;
        }
    }
    let mut medians: [Vec<Vec<Measurement>>; 2] = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for index in order {
            let tree = &trees[index];
            println!("\nxtask: round {} of {rounds}: {}", round + 1, tree.label);
            let home = tree.results.join(round.to_string());
            // Results left by an earlier run (maybe of other rows) must not be read as this one's.
            if home.exists() {
                std::fs::remove_dir_all(&home).map_err(|e| format!("{}: {e}", home.display()))?;
            }
            let home_text = home.to_string_lossy().into_owned();
            let mut criterion_args = crate::QUICK_ARGS.to_vec();
            criterion_args.extend(filter);
            cargo_bench(
                tree,
                &[],
                &criterion_args,
                Some(("CRITERION_HOME", &home_text)),
            )?;
            let mut measured = report::medians(&home);
            if with_mpi {
                measured.extend(mpi_bench(tree, Some(&home))?);
            }
            medians[index].push(measured);
        }
    }
    let [ours, theirs] = medians;
    let text = render(
        &trees[0].label,
        &trees[1].label,
        &spreads(&ours, &theirs),
        rounds,
    );
    std::fs::create_dir_all(&base).map_err(|e| format!("{}: {e}", base.display()))?;
    let path = base.join("report.md");
    std::fs::write(&path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("\n{text}");
    println!("xtask: table written to {}", path.display());
    Ok(())
}

/// `cargo bench -p bench-suite --benches <cargo_args> -- <criterion_args>` in `tree`.
fn cargo_bench(
    tree: &Tree,
    cargo_args: &[&str],
    criterion_args: &[&str],
    env: Option<(&str, &str)>,
) -> Result<(), String> {
    let mut args = vec!["bench", "-p", "bench-suite", "--benches"];
    args.extend_from_slice(cargo_args);
    if !criterion_args.is_empty() {
        args.push("--");
        args.extend_from_slice(criterion_args);
    }
    let target_dir = tree
        .target_dir
        .as_ref()
        .map(|d| d.to_string_lossy().into_owned());
    let mut envs: Vec<(&str, &str)> = env.into_iter().collect();
    if let Some(dir) = &target_dir {
        envs.push(("CARGO_TARGET_DIR", dir));
    }
    crate::run_in(&tree.dir, &crate::cargo(), &args, &envs)
}

/// pool-mpi's benchmark in `tree`, with the `--quick` settings, its rows written under
/// `home` and read back; with no `home`, only built.
fn mpi_bench(tree: &Tree, home: Option<&Path>) -> Result<Vec<Measurement>, String> {
    let mut args = crate::mpi::BENCH_ARGS.to_vec();
    if let Some(home) = home {
        // Criterion makes it only when it ran a row of its own.
        std::fs::create_dir_all(home).map_err(|e| format!("{}: {e}", home.display()))?;
    }
    let out = home.map(|home| home.join("mpi.json"));
    let out_text = out.as_ref().map(|p| p.to_string_lossy().into_owned());
    let target_dir = tree
        .target_dir
        .as_ref()
        .map(|d| d.to_string_lossy().into_owned());
    let mut envs = vec![("MPI_BENCH_QUICK", "1")];
    match &out_text {
        Some(out) => envs.push(("MPI_BENCH_OUT", out)),
        None => args.push("--no-run"),
    }
    if let Some(dir) = &target_dir {
        envs.push(("CARGO_TARGET_DIR", dir));
    }
    crate::run_in(&tree.dir, &crate::cargo(), &args, &envs)?;
    Ok(out
        .map(|out| crate::mpi::read_rows(&out).measurements)
        .unwrap_or_default())
}

/// `git args...` in `dir`, its trimmed standard output on success.
fn git_output(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot start git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// The lowest, middle and highest of one row's per-round medians in one tree.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Spread {
    pub(crate) min: f64,
    /// The median of the rounds' medians.
    pub(crate) mid: f64,
    pub(crate) max: f64,
    /// How many rounds measured the row.
    pub(crate) rounds: usize,
}

impl Spread {
    /// `None` when the row was not measured in any round.
    fn of(mut values: Vec<f64>) -> Option<Self> {
        values.sort_by(f64::total_cmp);
        let (&min, &max) = (values.first()?, values.last()?);
        let n = values.len();
        let mid = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        Some(Self {
            min,
            mid,
            max,
            rounds: n,
        })
    }
}

/// Each row (`group/function`) with its spread in this tree and in the other one.
pub(crate) type Spreads = BTreeMap<String, (Option<Spread>, Option<Spread>)>;

/// The rows of both trees from their rounds' measurements (one `Vec` per round).
pub(crate) fn spreads(ours: &[Vec<Measurement>], theirs: &[Vec<Measurement>]) -> Spreads {
    let by_row = |rounds: &[Vec<Measurement>]| {
        let mut rows: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for m in rounds.iter().flatten() {
            rows.entry(format!("{}/{}", m.group, m.function))
                .or_default()
                .push(m.median_ns);
        }
        rows
    };
    let (mut ours, mut theirs) = (by_row(ours), by_row(theirs));
    let names: Vec<String> = ours.keys().chain(theirs.keys()).cloned().collect();
    names
        .into_iter()
        .map(|name| {
            let a = ours.remove(&name).and_then(Spread::of);
            let b = theirs.remove(&name).and_then(Spread::of);
            (name, (a, b))
        })
        .filter(|(_, (a, b))| a.is_some() || b.is_some())
        .collect()
}

/// The table: each row's spread in both trees, the ratio of their middles (the other
/// tree's over ours, so above 1 this tree is faster, as in the main report) and a verdict
/// that calls a difference only when the two spreads do not overlap (and none from a
/// single round, whose spread is one point and shows no noise).
pub(crate) fn render(ours: &str, theirs: &str, rows: &Spreads, rounds: usize) -> String {
    let mut text = format!(
        "# {ours} against {theirs}\n\n\
         Each tree's lowest-highest median over {rounds} alternating round(s). `×` is {theirs}'s \
         middle median over {ours}'s: above 1, {ours} is faster. `faster`/`slower` only where the \
         spreads do not overlap, `noise` where they do (no verdict from a single round).\n\n\
         | row | {ours} | {theirs} | × | verdict |\n|---|---|---|---|---|\n"
    );
    let range = |s: &Option<Spread>| {
        s.map_or_else(
            || "—".to_owned(),
            |s| format!("{}-{}", report::human(s.min), report::human(s.max)),
        )
    };
    for (name, (a, b)) in rows {
        let (ratio, verdict) = match (a, b) {
            (Some(a), Some(b)) if a.mid > 0.0 => {
                let verdict = if a.rounds < 2 || b.rounds < 2 {
                    "—"
                } else if a.max < b.min {
                    "faster"
                } else if a.min > b.max {
                    "slower"
                } else {
                    "noise"
                };
                (format!("{:.2}×", b.mid / a.mid), verdict)
            }
            _ => ("—".to_owned(), "—"),
        };
        text.push_str(&format!(
            "| {name} | {} | {} | {ratio} | {verdict} |\n",
            range(a),
            range(b)
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes what criterion leaves for one benchmark: `<dir>/<group>/<function>/new/`.
    fn fake_estimate(dir: &Path, group: &str, function: &str, median_ns: f64) {
        let new = dir.join(group.replace('/', "_")).join(function).join("new");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(
            new.join("benchmark.json"),
            format!(
                r#"{{"group_id":"{group}","function_id":"{function}","value_str":null,
                   "throughput":null,"full_id":"{group}/{function}","directory_name":"x",
                   "title":"{group}/{function}"}}"#
            ),
        )
        .unwrap();
        std::fs::write(
            new.join("estimates.json"),
            format!(
                r#"{{"mean":{{"point_estimate":1.0}},
                   "median":{{"point_estimate":{median_ns},"standard_error":0.5}}}}"#
            ),
        )
        .unwrap();
    }

    /// Criterion directories of fake rounds, read back by the report's reader, make the
    /// table: spreads, ratio of the middles, and a verdict only where spreads are apart.
    #[test]
    fn spread_and_ratio_table_from_fake_estimates() {
        let base = std::env::temp_dir().join(format!("xtask-against-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        // (row, this tree's medians per round, the other tree's)
        let rows: [(&str, &str, [f64; 3], [f64; 3]); 5] = [
            // Ours is twice as fast, spreads apart.
            (
                "futures/get",
                "ours",
                [100.0, 110.0, 105.0],
                [200.0, 220.0, 210.0],
            ),
            // Ours is slower, spreads apart.
            (
                "pool/submit",
                "ours",
                [3e6, 3.2e6, 3.1e6],
                [1.5e6, 1.6e6, 1.55e6],
            ),
            // Overlapping spreads: noise, whatever the ratio.
            (
                "pool/submit",
                "rayon",
                [1.0e3, 1.4e3, 1.2e3],
                [1.1e3, 1.5e3, 1.3e3],
            ),
            // Measured in one round only here: apart, but no verdict from one point.
            (
                "pool/submit",
                "naive",
                [1.0e3, f64::NAN, f64::NAN],
                [2.0e3, 2.1e3, 2.2e3],
            ),
            // A row only this tree has.
            ("futures/new_row", "ours", [50.0, 70.0, 60.0], [f64::NAN; 3]),
        ];
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for round in 0..3 {
            for (tree, out) in [("this", &mut ours), ("rev", &mut theirs)] {
                let dir = base.join(tree).join(round.to_string());
                for (group, function, a, b) in &rows {
                    let value = if tree == "this" { a[round] } else { b[round] };
                    if !value.is_nan() {
                        fake_estimate(&dir, group, function, value);
                    }
                }
                out.push(report::medians(&dir));
            }
        }
        let table = render("this tree", "HEAD~1 (abc1234)", &spreads(&ours, &theirs), 3);
        let _ = std::fs::remove_dir_all(&base);
        let body: Vec<&str> = table.lines().filter(|l| l.starts_with("| ")).collect();
        assert_eq!(
            body,
            [
                "| row | this tree | HEAD~1 (abc1234) | × | verdict |",
                "| futures/get/ours | 100.0 ns-110.0 ns | 200.0 ns-220.0 ns | 2.00× | faster |",
                "| futures/new_row/ours | 50.0 ns-70.0 ns | — | — | — |",
                "| pool/submit/naive | 1.00 µs-1.00 µs | 2.00 µs-2.20 µs | 2.10× | — |",
                "| pool/submit/ours | 3.00 ms-3.20 ms | 1.50 ms-1.60 ms | 0.50× | slower |",
                "| pool/submit/rayon | 1.00 µs-1.40 µs | 1.10 µs-1.50 µs | 1.08× | noise |",
            ]
        );
        assert!(table.contains("over 3 alternating round(s)"), "{table}");
    }

    #[test]
    fn spread_of_an_even_count_takes_the_mean_of_the_middle_two() {
        assert_eq!(
            Spread::of(vec![4.0, 1.0, 3.0, 2.0]),
            Some(Spread {
                min: 1.0,
                mid: 2.5,
                max: 4.0,
                rounds: 4,
            })
        );
        assert_eq!(Spread::of(Vec::new()), None);
    }
}
