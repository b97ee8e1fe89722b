//! Surviving a dead worker rank: Open MPI's fault tolerance (ULFM, the `MPIX_` functions of
//! its `ftmpi` extension), in a static-mode job started with `mpirun --with-ft ulfm`, and in a
//! build with this crate's `ulfm` feature (which links those functions: Open MPI 5 built with
//! them, not Debian's 4.1).
//!
//! In such a job rank 0's MPI calls on the world return errors instead of ending the job
//! ([`return_errors`]); a receive from any rank that fails because a process died names the
//! dead ranks ([`dead_ranks`]), and the MPI thread takes them out of the pool (their tasks
//! fail, see `rank0::dispatch::State::worker_died`). Workers receive from rank 0 only, which
//! a death of another worker does not disturb. A process that saw a failure does not call
//! `MPI_Finalize`, which may hang then: it exits without it ([`any_died`]).

use std::os::raw::c_int;

use mpi::Rank;
use mpi::ffi;

/// `MPIX_ERR_PROC_FAILED` and `MPIX_ERR_PROC_FAILED_PENDING` (Open MPI's `mpi.h`).
#[cfg(feature = "ulfm")]
const PROC_FAILED: [c_int; 2] = [75, 76];

#[cfg(feature = "ulfm")]
unsafe extern "C" {
    fn MPIX_Comm_failure_ack(comm: ffi::MPI_Comm) -> c_int;
    fn MPIX_Comm_failure_get_acked(comm: ffi::MPI_Comm, failed: *mut ffi::MPI_Group) -> c_int;
}

/// True in a fault-tolerant job, in a build that can use it: `mpirun --with-ft ulfm` (or
/// `--mca mpi_ft_enable 1`) sets the variable this reads in every rank's environment.
pub(crate) fn fault_tolerant() -> bool {
    cfg!(feature = "ulfm")
        && matches!(
            std::env::var("OMPI_MCA_mpi_ft_enable").as_deref(),
            Ok("1" | "true" | "yes" | "enabled")
        )
}

/// Makes MPI calls on `comm` return their errors instead of ending the job.
pub(crate) fn return_errors(comm: ffi::MPI_Comm) {
    // SAFETY: `comm` is a valid communicator handle (the world's), and
    // `RSMPI_ERRORS_RETURN` is MPI's predefined handler, read as the value it was
    // initialized with.
    unsafe {
        ffi::MPI_Comm_set_errhandler(comm, ffi::RSMPI_ERRORS_RETURN);
    }
}

/// When `error` (a failed call's code on the intra-communicator `comm`) says that processes
/// died: every rank of `comm` known dead, now acknowledged, so that receives from any rank
/// work again. `None` for any other error.
#[cfg(feature = "ulfm")]
pub(crate) fn dead_ranks(comm: ffi::MPI_Comm, error: c_int) -> Option<Vec<Rank>> {
    let mut class = 0;
    // SAFETY: `class` is a valid place for the result.
    unsafe { ffi::MPI_Error_class(error, &mut class) };
    if !PROC_FAILED.contains(&class) {
        return None;
    }
    // SAFETY: `comm` is a valid communicator of a fault-tolerant job.
    unsafe { MPIX_Comm_failure_ack(comm) };
    Some(acked(comm))
}

#[cfg(not(feature = "ulfm"))]
pub(crate) fn dead_ranks(_: ffi::MPI_Comm, _: c_int) -> Option<Vec<Rank>> {
    None
}

/// True when this process knows of a process of `comm` that died (then it must not call
/// `MPI_Finalize`, which may wait for it for ever).
#[cfg(feature = "ulfm")]
pub(crate) fn any_died(comm: ffi::MPI_Comm) -> bool {
    if !fault_tolerant() {
        return false;
    }
    // SAFETY: `comm` is a valid communicator of a fault-tolerant job.
    unsafe { MPIX_Comm_failure_ack(comm) };
    !acked(comm).is_empty()
}

#[cfg(not(feature = "ulfm"))]
pub(crate) fn any_died(_: ffi::MPI_Comm) -> bool {
    false
}

/// The ranks of `comm` whose failure this process acknowledged.
#[cfg(feature = "ulfm")]
fn acked(comm: ffi::MPI_Comm) -> Vec<Rank> {
    let mut failed = std::mem::MaybeUninit::<ffi::MPI_Group>::uninit();
    // SAFETY: `comm` is valid and `failed` a place for the group handle, which the call
    // writes when it succeeds (checked before it is read).
    if unsafe { MPIX_Comm_failure_get_acked(comm, failed.as_mut_ptr()) } != 0 {
        return Vec::new();
    }
    // SAFETY: written by the successful call above.
    let mut failed = unsafe { failed.assume_init() };
    let mut size: c_int = 0;
    let mut group = std::mem::MaybeUninit::<ffi::MPI_Group>::uninit();
    // SAFETY: valid handles, and places for the results, read only after success; the
    // translation writes `size` ranks into `theirs`, which holds that many.
    let ranks = unsafe {
        if ffi::MPI_Group_size(failed, &mut size) != 0
            || size <= 0
            || ffi::MPI_Comm_group(comm, group.as_mut_ptr()) != 0
        {
            Vec::new()
        } else {
            let mut group = group.assume_init();
            let ours: Vec<c_int> = (0..size).collect();
            let mut theirs: Vec<c_int> = vec![0; ours.len()];
            let translated = ffi::MPI_Group_translate_ranks(
                failed,
                size,
                ours.as_ptr(),
                group,
                theirs.as_mut_ptr(),
            );
            ffi::MPI_Group_free(&mut group);
            // A failed translation names no rank (rather than rank 0, say); a process
            // outside `comm` (`MPI_UNDEFINED`, negative) is none of its ranks.
            theirs.retain(|&rank| translated == 0 && rank >= 0);
            theirs
        }
    };
    // SAFETY: a group handle this call got, freed once.
    unsafe { ffi::MPI_Group_free(&mut failed) };
    ranks
}
