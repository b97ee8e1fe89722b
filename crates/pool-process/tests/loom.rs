//! Loom models of the manager threads (`src/parent/manager_threads.rs`): the real slot, job queue, standby
//! and hand-over code, around a scripted manager whose turns hand out jobs that wait on one
//! another the way done callbacks wait on a pool (for room that the manager's next turn
//! frees, for another future's callback). A job run whose hand-over is lost, or a job left
//! behind a stuck one, shows up as a loom deadlock. Loom models no time, so the standby
//! takes the manager only when asked (`ManagerThreads::blocking`): the period-based takeover is not
//! modelled.
//!
//! Run with `cargo xtask loom`, or:
//! `RUSTFLAGS="--cfg loom" cargo test -p pool-process --test loom --release` (each model sets its
//! own preemption bound)
#![cfg(loom)]

use std::collections::VecDeque;

use loom::sync::{Arc, Condvar, Mutex};

use pool_process::manager_threads::{Management, ManagerThreads};

type Job = Box<dyn FnOnce(&ManagerThreads<Script>) + Send>;
type Turn = Box<dyn FnOnce() -> Vec<Job> + Send>;

/// A manager whose turns are scripted: each hands out its jobs; the pool is finished when
/// the script ends.
struct Script {
    turns: VecDeque<Turn>,
    jobs: Vec<Job>,
}

impl Management for Script {
    type Job = Job;
    type Context = ();

    fn turn(&mut self) -> bool {
        match self.turns.pop_front() {
            Some(turn) => {
                self.jobs.extend(turn());
                true
            }
            None => false,
        }
    }

    fn take_jobs(&mut self) -> Vec<Job> {
        std::mem::take(&mut self.jobs)
    }

    fn run(threads: &ManagerThreads<Self>, job: Job) {
        job(threads);
    }

    fn print_panics(_: &()) -> bool {
        false
    }
}

/// A one-way flag: what a blocked callback waits for.
#[derive(Default)]
struct Flag {
    set: Mutex<bool>,
    changed: Condvar,
}

impl Flag {
    fn set(&self) {
        *self.set.lock().unwrap() = true;
        self.changed.notify_all();
    }

    /// Waits for the flag as a callback of `threads`'s pool waits on that pool.
    fn wait_on_pool(&self, threads: &ManagerThreads<Script>) {
        threads.blocking();
        self.wait();
    }

    fn wait(&self) {
        let mut set = self.set.lock().unwrap();
        while !*set {
            set = self.changed.wait(set).unwrap();
        }
    }
}

/// Counts the jobs that ran.
#[derive(Default)]
struct Ran {
    count: Mutex<usize>,
    changed: Condvar,
}

impl Ran {
    /// Waits until `n` jobs ran (a loom deadlock if they never do).
    fn wait_for(&self, n: usize) {
        let mut count = self.count.lock().unwrap();
        while *count < n {
            count = self.changed.wait(count).unwrap();
        }
        assert_eq!(*count, n);
    }
}

/// Starts the threads as the pool does (its standby, then its manager thread) and waits until
/// the script ran to its end and `jobs` jobs ran.
fn run_pool(turns: Vec<Turn>, ran: &Ran, jobs: usize) {
    let threads = ManagerThreads::new(());
    ManagerThreads::start_thread(&threads, None).unwrap();
    let script = Script {
        turns: turns.into(),
        jobs: Vec::new(),
    };
    ManagerThreads::start_thread(&threads, Some(script)).unwrap();
    threads.wait_finished();
    ran.wait_for(jobs);
}

fn counted(ran: &Arc<Ran>, job: impl FnOnce(&ManagerThreads<Script>) + Send + 'static) -> Job {
    let ran = ran.clone();
    Box::new(move |threads| {
        job(threads);
        *ran.count.lock().unwrap() += 1;
        ran.changed.notify_all();
    })
}

/// Runs `model` with at most `preemptions` preemptions: each model gets the bound that
/// finishes in about a minute on 2 cores (several threads threads run at once).
fn bounded(preemptions: usize, model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemptions);
    builder.check(model);
}

/// A done callback that submits to a full queue: it waits for room that only the
/// manager's next turn frees. The standby must take the manager, and the callback finish.
#[test]
fn a_callback_waiting_for_room_gets_the_manager_taken_over() {
    bounded(2, || {
        let room = Arc::new(Flag::default());
        let ran = Arc::new(Ran::default());
        let (r1, r2) = (room.clone(), room.clone());
        let ran1 = ran.clone();
        let turns: Vec<Turn> = vec![
            Box::new(move || vec![counted(&ran1, move |threads| r1.wait_on_pool(threads))]),
            Box::new(move || {
                r2.set();
                Vec::new()
            }),
        ];
        run_pool(turns, &ran, 1);
    });
}

/// Two jobs of one turn, the first waiting for the second (a callback waiting on the
/// future whose completion is queued behind it), and a next turn that waits for the second
/// too (the manager blocked on its sockets until the user, served by that callback, sends
/// more): the thread that takes the manager from the stuck job run must run the queued job
/// before it waits for the next message.
#[test]
fn a_job_queued_behind_a_stuck_one_still_runs() {
    bounded(2, || {
        let flag = Arc::new(Flag::default());
        let ran = Arc::new(Ran::default());
        let (f1, f2, f3) = (flag.clone(), flag.clone(), flag.clone());
        let ran1 = ran.clone();
        let turns: Vec<Turn> = vec![
            Box::new(move || {
                vec![
                    counted(&ran1, move |threads| f1.wait_on_pool(threads)),
                    counted(&ran1, move |_| f2.set()),
                ]
            }),
            Box::new(move || {
                f3.wait();
                Vec::new()
            }),
        ];
        run_pool(turns, &ran, 2);
    });
}

/// Stints that overlap: the first callback waits for what the second turn frees, the
/// second callback for what the third frees. Each needs its own hand-over, the second from
/// the thread that took the manager from the first.
#[test]
fn overlapping_stuck_job_runs_each_get_the_manager_taken_over() {
    bounded(1, || {
        let (a, b) = (Arc::new(Flag::default()), Arc::new(Flag::default()));
        let ran = Arc::new(Ran::default());
        let (a1, a2, b1, b2) = (a.clone(), a.clone(), b.clone(), b.clone());
        let (ran1, ran2) = (ran.clone(), ran.clone());
        let turns: Vec<Turn> = vec![
            Box::new(move || vec![counted(&ran1, move |threads| a1.wait_on_pool(threads))]),
            Box::new(move || vec![counted(&ran2, move |threads| b1.wait_on_pool(threads))]),
            Box::new(move || {
                a2.set();
                b2.set();
                Vec::new()
            }),
        ];
        run_pool(turns, &ran, 2);
    });
}
