//! Whether this process takes part in an MPI job, decided before MPI is touched.
//!
//! `mpirun` (and `MPI_Comm_spawn`) start each rank with its place in the job in the
//! environment (`PMIX_RANK`, `OMPI_COMM_WORLD_RANK`). A process inherits its parent's
//! environment, so a process that a rank starts (a process pool's worker, the program run
//! again as a plain subprocess) carries the same variables, and must not call `MPI_Init`:
//! it would claim its parent's place in the job. Such a process is told apart by its parent:
//! the launcher (Open MPI's daemon) has no rank in its own environment, a rank does.

/// The variables that give a process its rank in a job.
const RANK_VARIABLES: [&str; 2] = ["PMIX_RANK", "OMPI_COMM_WORLD_RANK"];

/// How this process stands with MPI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Membership {
    /// Started by an MPI launcher as a rank: initialize MPI now.
    Launched,
    /// Not started by a launcher (a plain run of the program): MPI starts as a singleton
    /// when a pool first needs it (spawn mode).
    Alone,
    /// Started by a process of an MPI job (a rank's child): never initialize MPI.
    ChildOfRank,
}

/// This process's membership.
pub(crate) fn membership() -> Membership {
    let has_rank = |environ: &[u8]| {
        environ.split(|b| *b == 0).any(|entry| {
            RANK_VARIABLES.iter().any(|name| {
                entry.starts_with(name.as_bytes()) && entry.get(name.len()) == Some(&b'=')
            })
        })
    };
    let ours = RANK_VARIABLES
        .iter()
        .any(|name| std::env::var_os(name).is_some());
    if !ours {
        return Membership::Alone;
    }
    let parent = std::os::unix::process::parent_id();
    match std::fs::read(format!("/proc/{parent}/environ")) {
        Ok(environ) if has_rank(&environ) => Membership::ChildOfRank,
        _ => Membership::Launched,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_run_is_alone() {
        if RANK_VARIABLES
            .iter()
            .all(|name| std::env::var_os(name).is_none())
        {
            assert_eq!(membership(), Membership::Alone);
        }
    }
}
