//! `Table::dispatch` and the rest of the table over a minimal worker: which worker a task
//! goes to, when a task is sent ahead, what cancelling and breaking the pool settle.

use std::time::{Duration, Instant};

use future_core::executor::Promise;
use future_core::{SubmitError, TaskError, TaskErrorKind, TaskFuture};
use task_wire::{Counters, Settled, Single};

use pool_engine::{Finish, InFlight, NewTask, SendAhead, Table, Task, Worker};

const RULES: SendAhead = SendAhead {
    small: 1024,
    timed: false,
    tasks_per_worker: 4,
};

/// A ready worker that takes any task, its frames counted.
struct Ready {
    id: u8,
    in_flight: InFlight<Task<()>>,
    frames: usize,
}

impl Worker for Ready {
    type Id = u8;
    type Target = ();

    fn id(&self) -> u8 {
        self.id
    }

    fn in_flight(&self) -> &InFlight<Task<()>> {
        &self.in_flight
    }

    fn started(&self) -> bool {
        true
    }

    fn takes(&self, _: &()) -> bool {
        true
    }

    fn queue(&mut self, task: Task<()>) -> Result<(), Settled> {
        if !task.completion.start() {
            return Err(Settled::Cancelled);
        }
        self.frames += 1;
        self.in_flight.push(task, Instant::now());
        Ok(())
    }

    fn take(&mut self, position: usize) -> Option<(Task<()>, Option<Duration>)> {
        self.in_flight.take(position, Instant::now())
    }

    fn stop_broken(&mut self, err: &TaskError, finish: &mut Vec<Finish>) {
        let failed = self
            .in_flight
            .drain()
            .map(|t| Finish::Fail(t.completion, err.clone()));
        finish.extend(failed);
    }
}

fn table(workers: u8) -> Table<Ready> {
    let workers = (1..=workers).map(|id| Ready {
        id,
        in_flight: InFlight::default(),
        frames: 0,
    });
    Table {
        workers: workers.collect(),
        ..Table::default()
    }
}

fn task(id: u64, size: usize, timeout: Option<Duration>) -> (Task<()>, TaskFuture<u8>) {
    let (promise, future) = Promise::new();
    let task = NewTask {
        id,
        frame: vec![0; size],
        completion: Box::new(Single(promise)),
        timeout,
        target: (),
    };
    (task.into(), future)
}

fn frames(table: &Table<Ready>) -> Vec<usize> {
    table.workers.iter().map(|w| w.frames).collect()
}

#[test]
fn idle_workers_first_then_small_tasks_are_sent_ahead_once_tasks_are_short() {
    let counters = Counters::default();
    let mut table = table(2);
    let mut futures = Vec::new();
    for id in 0..6 {
        let (task, future) = task(id, 10, None);
        table.pending.push_back(task);
        futures.push(future);
    }
    // No task time known yet: one task per worker.
    assert_eq!(table.dispatch(RULES, 2, &counters), vec![1, 2]);
    assert!(futures[0].running());
    // A short task answered: sending ahead pays, to the least loaded worker first.
    assert!(table.take_answered(1, 0).is_some());
    table.dispatch(RULES, 2, &counters);
    assert_eq!(frames(&table), vec![4, 2]);
    assert!(table.pending.is_empty());
}

#[test]
fn nothing_is_sent_ahead_until_the_pool_is_full() {
    let counters = Counters::default();
    let mut table = table(1);
    table.task_time.record(Duration::from_micros(5));
    let (first, _f0) = task(0, 10, None);
    let (second, _f1) = task(1, 10, None);
    table.pending.extend([first, second]);
    // Two workers to come: the second task waits for one to start or free up.
    table.dispatch(RULES, 2, &counters);
    assert_eq!((frames(&table), table.pending.len()), (vec![1], 1));
    table.dispatch(RULES, 1, &counters);
    assert_eq!((frames(&table), table.pending.len()), (vec![2], 0));
}

#[test]
fn large_and_timed_tasks_wait_for_an_idle_worker_and_hold_back_the_rest() {
    let counters = Counters::default();
    let mut table = table(1);
    table.task_time.record(Duration::from_micros(5));
    let (small, _f0) = task(0, 10, None);
    let (large, _f1) = task(1, RULES.small + 1, None);
    let (behind, _f2) = task(2, 10, None);
    table.pending.extend([small, large, behind]);
    table.dispatch(RULES, 1, &counters);
    assert_eq!(
        table.pending.len(),
        2,
        "the large task waits, and the one behind it"
    );
    assert!(table.take_answered(1, 0).is_some());
    table.dispatch(RULES, 1, &counters);
    assert_eq!(frames(&table), vec![3]);

    let mut table = self::table(1);
    table.task_time.record(Duration::from_micros(5));
    let (timed, _f3) = task(3, 10, Some(Duration::from_secs(1)));
    let (behind, _f4) = task(4, 10, None);
    table.pending.extend([timed, behind]);
    table.dispatch(RULES, 1, &counters);
    assert_eq!(
        table.pending.len(),
        1,
        "nothing is sent ahead behind a timed task"
    );
}

#[test]
fn cancelled_tasks_are_dropped_and_counted() {
    let counters = Counters::default();
    let mut table = table(1);
    let (task, future) = task(0, 10, None);
    table.pending.push_back(task);
    assert!(future.cancel());
    assert!(table.dispatch(RULES, 1, &counters).is_empty());
    assert_eq!(counters.read(0, 0, 0).cancelled, 1);
}

#[test]
fn a_broken_pool_fails_its_tasks_and_refuses_new_ones() {
    let counters = Counters::default();
    let mut table = table(1);
    let (sent, sent_future) = task(0, 10, None);
    let (waiting, waiting_future) = task(1, 10, None);
    table.pending.extend([sent, waiting]);
    table.dispatch(RULES, 1, &counters);
    let mut finish = Vec::new();
    table.break_pool("a test".to_owned(), &mut finish);
    finish
        .into_iter()
        .for_each(|f| f.run("pool-engine", &counters));
    for future in [sent_future, waiting_future] {
        let err = future.exception().unwrap().unwrap();
        assert_eq!(err.kind(), TaskErrorKind::Broken);
    }
    assert_eq!(
        table.refusal(),
        Some(SubmitError::Broken("a test".to_owned()))
    );
    assert!(table.dispatch(RULES, 1, &counters).is_empty());
}
