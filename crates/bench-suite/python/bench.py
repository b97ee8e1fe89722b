#!/usr/bin/env python3
"""CPython's concurrent.futures on the same workloads as the Rust benches (same names,
item counts and worker counts), so `cargo xtask bench` can put it in the same table.

Writes one JSON object per line: {"group": "<area>/<workload>", "median_ns": <float>}.
Run: python3 bench.py --out cpython.json [--quick] [--filter SUBSTRING]
"""
import argparse
import json
import os
import statistics
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, ProcessPoolExecutor, as_completed

WORKLOADS = {}


def workload(group):
    def register(fn):
        WORKLOADS[group] = fn
        return fn
    return register


def measure(fn, quick, per_call=1):
    """Median nanoseconds of one call of fn, over several timed batches."""
    # Calibrate a batch to take ~20 ms (~5 ms quick).
    target = 0.005 if quick else 0.02
    batch = 1
    while True:
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= target or batch >= 1 << 20:
            break
        batch *= 2
    samples = []
    for _ in range(5 if quick else 15):
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        samples.append((time.perf_counter() - start) / batch)
    return statistics.median(samples) * 1e9 / per_call


# ---- futures (crates/bench-suite/benches/futures.rs) ----

@workload("futures/create_complete_get")
def create_complete_get():
    f = Future()
    f.set_result(7)
    return f.result()


@workload("futures/with_one_callback")
def with_one_callback():
    f = Future()
    got = []
    f.add_done_callback(lambda f: got.append(f.result()))
    f.set_result(7)
    return got[0]


MANY = 10_000


@workload("futures/as_completed_10k")
def as_completed_10k():
    futures = [Future() for _ in range(MANY)]

    def produce():
        for i, f in enumerate(futures):
            f.set_result(i)

    t = threading.Thread(target=produce)
    t.start()
    total = sum(f.result() for f in as_completed(futures))
    t.join()
    return total


# ---- thread pool (crates/bench-suite/benches/thread_pool.rs) ----

def tiny(x):
    return x + 1


SUBMIT_TASKS = 100_000
THREAD_WORKERS = os.cpu_count() or 1  # as the Rust benches: one thread per core
_thread_pool = None


def thread_pool():
    global _thread_pool
    if _thread_pool is None:
        _thread_pool = ThreadPoolExecutor(max_workers=THREAD_WORKERS)
    return _thread_pool


@workload("thread_pool/submit_collect_100k")
def thread_submit_collect():
    pool = thread_pool()
    futures = [pool.submit(tiny, i) for i in range(SUBMIT_TASKS)]
    return sum(f.result() for f in futures)


# ---- process pool (crates/bench-suite/benches/process_pool.rs) ----

_process_pools = {}


def process_pool(workers=None):
    """A warm pool of `workers` processes (default: one per core), as the Rust benches."""
    workers = workers or os.cpu_count() or 1
    if workers not in _process_pools:
        pool = ProcessPoolExecutor(max_workers=workers)
        for f in [pool.submit(tiny, i) for i in range(workers * 4)]:
            f.result()  # warm: start the workers
        _process_pools[workers] = pool
    return _process_pools[workers]


@workload("process_pool/round_trip")
def process_round_trip():
    return process_pool(1).submit(tiny, 1).result()


PROCESS_TASKS = 20_000


@workload("process_pool/submit_collect_20k")
def process_submit_collect():
    pool = process_pool()
    futures = [pool.submit(tiny, i) for i in range(PROCESS_TASKS)]
    return sum(f.result() for f in futures)


MAP_ITEMS = 1_000_000
MAP_CHUNK = 10_000


@workload("process_pool/map_1m_chunked")
def process_map():
    return sum(process_pool().map(tiny, range(MAP_ITEMS), chunksize=MAP_CHUNK))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--filter", default="")
    args = parser.parse_args()
    with open(args.out, "w") as out:
        for group, fn in WORKLOADS.items():
            if args.filter not in group:
                continue
            median = measure(fn, args.quick)
            print(f"cpython {group}: {median / 1e3:.2f} us", flush=True)
            out.write(json.dumps({"group": group, "median_ns": median}) + "\n")
    for pool in [_thread_pool, *_process_pools.values()]:
        if pool is not None:
            pool.shutdown(wait=True)


if __name__ == "__main__":
    main()
