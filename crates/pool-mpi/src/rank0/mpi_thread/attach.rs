//! How a pool gets its workers: each worker rank says hello (its pid, host and build
//! fingerprint) as soon as it is up; a pool of the world's ranks waits for the hellos of
//! those it takes, a pool of spawned workers for theirs; a worker of another build is
//! refused; then each taken worker is sent `Init` and recorded in the pool's state.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mpi::Rank;
use mpi::traits::*;

use super::{Link, Runner};
use crate::backoff::Backoff;
use crate::comm::{Comm, Received};
use crate::messages::{self, FromWorker, ToWorker};
use crate::rank0::builder::MpiPoolBuildError;
use crate::rank0::dispatch::Worker;
use crate::rank0::pool::Shared;
use task_wire::messages::Init;

/// How long spawned workers may take to say hello.
const HELLO_WITHIN: Duration = Duration::from_secs(60);

/// A worker's hello, kept until a pool takes the worker.
#[derive(Clone, Debug)]
pub(super) struct Hello {
    pid: u32,
    host: String,
    fingerprint: task_wire::Fingerprint,
}

/// Keeps a worker's `Hello` in the slot of its rank; false when `bytes` is no `Hello`.
pub(super) fn keep_hello(hellos: &mut [Option<Hello>], rank: Rank, bytes: &[u8]) -> bool {
    let Ok((
        FromWorker::Hello {
            pid,
            host,
            fingerprint,
            ..
        },
        _,
    )) = task_wire::split(bytes)
    else {
        return false;
    };
    if let Some(slot) = usize::try_from(rank).ok().and_then(|r| hellos.get_mut(r)) {
        *slot = Some(Hello {
            pid,
            host,
            fingerprint,
        });
    }
    true
}

impl Runner {
    /// Gives the world's worker ranks (1..=max_workers) to `shared`'s pool.
    pub(super) fn attach_world(
        &mut self,
        shared: &Arc<Shared>,
        max_workers: Option<usize>,
    ) -> Result<(), MpiPoolBuildError> {
        if self.world_size < 2 {
            return Err(MpiPoolBuildError::NoWorkerRanks);
        }
        if self.links.iter().any(|l| l.spawned.is_none()) {
            return Err(MpiPoolBuildError::WorldInUse);
        }
        let alive: Vec<Rank> = (1..self.world_size).filter(|&r| !self.is_dead(r)).collect();
        let count = max_workers.map_or(alive.len(), |m| m.min(alive.len()));
        let ranks = &alive[..count];
        // Every worker says hello as soon as it is up: wait for those not heard yet (and
        // not known dead meanwhile).
        let deadline = Instant::now() + HELLO_WITHIN;
        let mut backoff = Backoff::new();
        while let Some(&silent) = ranks
            .iter()
            .find(|&&r| self.hello(r).is_none() && !self.is_dead(r))
        {
            if self.receive_world() {
                continue;
            }
            if Instant::now() > deadline {
                return Err(MpiPoolBuildError::Mpi(format!(
                    "MPI rank {silent} did not answer within {HELLO_WITHIN:?}: does every rank \
                     call rustures::init() (pool_mpi::init() without rustures) first in main?"
                )));
            }
            backoff.wait();
        }
        let hellos: Vec<(Rank, Hello)> = ranks
            .iter()
            .filter_map(|&r| Some((r, self.hello(r)?.clone())))
            .collect();
        if hellos.is_empty() {
            return Err(MpiPoolBuildError::NoWorkerRanks); // every worker rank died
        }
        check_fingerprints(&hellos)?;
        self.start_session(shared, None, &hellos);
        self.links.push(Link {
            shared: shared.clone(),
            spawned: None,
            detaching: false,
        });
        Ok(())
    }

    pub(super) fn hello(&self, rank: Rank) -> Option<&Hello> {
        self.hellos.get(usize::try_from(rank).ok()?)?.as_ref()
    }

    /// Spawns `n` workers (`MPI_Comm_spawn` of this program) for `shared`'s pool.
    pub(super) fn attach_spawned(
        &mut self,
        shared: &Arc<Shared>,
        n: usize,
    ) -> Result<(), MpiPoolBuildError> {
        let exe = std::env::current_exe()
            .map_err(|e| MpiPoolBuildError::Mpi(format!("cannot find this program: {e}")))?;
        let count = Rank::try_from(n)
            .map_err(|_| MpiPoolBuildError::InvalidSetting("spawn_workers: too many workers"))?;
        let Comm::World(world) = &self.world else {
            return Err(MpiPoolBuildError::Mpi("no world communicator".to_owned()));
        };
        // The workers run `main` with this process's arguments, as `mpirun` would.
        let mut command = std::process::Command::new(exe);
        command.args(std::env::args_os().skip(1));
        let inter = world
            .process_at_rank(0)
            .spawn(&command, count)
            .map_err(|e| MpiPoolBuildError::Mpi(format!("MPI_Comm_spawn failed: {e:?}")))?;
        let comm = Comm::Inter(inter);
        let mut hellos: Vec<Option<Hello>> = vec![None; n];
        let deadline = Instant::now() + HELLO_WITHIN;
        let mut backoff = Backoff::new();
        while hellos.iter().any(Option::is_none) {
            match comm.try_receive() {
                Some(Received::Message(rank, messages::TAG_MESSAGE, bytes)) => {
                    keep_hello(&mut hellos, rank, &bytes);
                }
                Some(_) => {}
                None if Instant::now() > deadline => {
                    eprintln!(
                        "pool-mpi: the {n} spawned workers did not all answer within {HELLO_WITHIN:?}; \
                         ending the MPI job"
                    );
                    comm.abort(71);
                }
                None => backoff.wait(),
            }
        }
        let hellos: Vec<(Rank, Hello)> = (0..).zip(hellos.into_iter().flatten()).collect();
        if let Err(err) = check_fingerprints(&hellos) {
            for (rank, _) in &hellos {
                comm.send_message(*rank, &ToWorker::Stop);
            }
            drop(comm); // disconnects: the workers do the same as they finalize
            return Err(err);
        }
        self.start_session(shared, Some(&comm), &hellos);
        self.links.push(Link {
            shared: shared.clone(),
            spawned: Some(comm),
            detaching: false,
        });
        Ok(())
    }

    /// Sends `Init` to the pool's workers and records them.
    fn start_session(&self, shared: &Shared, spawned: Option<&Comm>, hellos: &[(Rank, Hello)]) {
        let comm = spawned.unwrap_or(&self.world);
        let init = ToWorker::Init(Init {
            initializer: shared.initializer,
            print_panics: shared.print_panics,
            max_held: u32::try_from(shared.rules.tasks_per_worker / 2).unwrap_or(u32::MAX),
            // Not this pool's settings: a worker rank serves one pool after another.
            max_tasks: None,
            spin_ns: 0,
            max_frame: u64::MAX,
        });
        let mut state = shared.lock();
        for (rank, hello) in hellos {
            comm.send_message(*rank, &init);
            state
                .workers
                .push(Worker::new(*rank, hello.pid, hello.host.clone()));
            shared.counters.worker_started(false);
        }
    }
}

/// Fails with a clear error when a worker runs another build than this process.
fn check_fingerprints(hellos: &[(Rank, Hello)]) -> Result<(), MpiPoolBuildError> {
    let ours = messages::fingerprint();
    match hellos.iter().find(|(_, h)| h.fingerprint != ours) {
        None => Ok(()),
        Some((rank, hello)) => Err(MpiPoolBuildError::NotSameBuild(format!(
            "MPI rank {rank} (process {} on {}) is not the same build as this program, so it \
             cannot run its functions (the same executable must be at the same path on every \
             node): this program is [{ours}], the worker is [{}]",
            hello.pid, hello.host, hello.fingerprint
        ))),
    }
}
