//! Whether this process takes part in an MPI job, decided before MPI is touched.
//!
//! `mpirun` (and `MPI_Comm_spawn`) start each rank with its place in the job in the
//! environment (`PMIX_RANK`, `OMPI_COMM_WORLD_RANK`). A process inherits its parent's
//! environment, so a process that a rank starts (a process pool's worker, the program run
//! again as a plain subprocess) carries the same variables, and must not call `MPI_Init`:
//! it would claim its parent's place in the job. Such a process is told apart by its parent:
//! a rank is an MPI program, with the MPI library mapped (`libmpi` in `/proc/<ppid>/maps`),
//! while the launcher's daemon is not, and neither is a tool that starts the rank (`perf
//! record`, `time`, a shell).

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
    let ours = RANK_VARIABLES
        .iter()
        .any(|name| std::env::var_os(name).is_some());
    if !ours {
        return Membership::Alone;
    }
    let parent = std::os::unix::process::parent_id();
    match std::fs::read_to_string(format!("/proc/{parent}/maps")) {
        Ok(maps) if maps_mpi(&maps) => Membership::ChildOfRank,
        _ => Membership::Launched,
    }
}

/// True when a process's memory map (`/proc/<pid>/maps`) has the MPI library.
fn maps_mpi(maps: &str) -> bool {
    maps.lines().any(|line| {
        line.rsplit('/')
            .next()
            .is_some_and(|file| file.starts_with("libmpi.so") || file.starts_with("libmpich.so"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mpi_library_is_found_in_a_memory_map() {
        let rank = "7f3ac8d2b000-7f3ac8e2b000 r-xp 00000000 fe:01 123 /usr/lib/x86_64-linux-gnu/libmpi.so.40.30.4";
        let launcher = "7f3ac8d2b000-7f3ac8e2b000 r-xp 00000000 fe:01 124 /usr/lib/x86_64-linux-gnu/libopen-rte.so.40";
        assert!(maps_mpi(&format!("{launcher}\n{rank}\n")));
        assert!(!maps_mpi(launcher));
        assert!(!maps_mpi("55d0-55d1 r--p 0 fe:01 9 /tmp/libmpi-notes.txt"));
    }

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
