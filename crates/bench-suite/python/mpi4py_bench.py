#!/usr/bin/env python3
"""mpi4py.futures on the workloads of benches/mpi_pool.rs (same names and sizes, except
fewer tiny tasks: about 4,000 a second would take half a minute for 100,000), so
`cargo xtask bench` can put it beside pool-mpi on the same setup.

Static mode (as pool-mpi's from_world):
    mpirun -n 3 python -m mpi4py.futures mpi4py_bench.py --out FILE [--quick]
Spawn time (alone, as pool-mpi's spawn):
    python mpi4py_bench.py --spawn --out FILE [--quick]

Writes one JSON object per line: {"group": "mpi_pool/<workload>", "function": "mpi4py",
"median_ns": <per task or per call>} or {"note": "..."}.
"""
import argparse
import json
import os
import statistics
import time

from mpi4py.futures import MPIPoolExecutor


def tiny(x):
    return x + 1


def small(x):
    return ((x * 2654435761) & 0xFFFFFFFF) >> 7


def echo(payload):
    return payload


def pid(_):
    return os.getpid()


def median_ns(reps, per, fn):
    fn()  # warm
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) / per)
    return statistics.median(samples) * 1e9


def cpu_ticks(p):
    with open(f"/proc/{p}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def static(out, quick):
    reps = 3 if quick else 5
    rows = []
    with MPIPoolExecutor() as pool:
        pids = sorted(set(pool.map(pid, range(64))))
        time.sleep(0.2)
        ours0, theirs0 = cpu_ticks("self"), [cpu_ticks(p) for p in pids]
        time.sleep(1.0)
        ours1, theirs1 = cpu_ticks("self"), [cpu_ticks(p) for p in pids]
        workers = ", ".join(f"{(b - a) * 10} ms" for a, b in zip(theirs0, theirs1))
        rows.append({"note": f"mpi4py.futures idle CPU in 1 s: rank 0's process {(ours1 - ours0) * 10} ms, each worker {workers}"})

        trips = 100 if quick else 300

        def round_trips():
            for x in range(trips):
                pool.submit(tiny, x).result()

        rows.append({"group": "mpi_pool/round_trip", "median_ns": median_ns(reps, trips, round_trips)})

        tasks = 2_000 if quick else 10_000

        def tiny_tasks():
            futures = [pool.submit(tiny, x) for x in range(tasks)]
            sum(f.result() for f in futures)

        rows.append({"group": "mpi_pool/tiny_tasks", "median_ns": median_ns(reps, tasks, tiny_tasks)})

        def map_1m():
            sum(pool.map(small, range(1_000_000), chunksize=10_000))

        rows.append({"group": "mpi_pool/map_1m_chunked", "median_ns": median_ns(reps, 1, map_1m)})

        payload = bytes(4 << 20)

        def payload_4mib():
            assert len(pool.submit(echo, payload).result()) == len(payload)

        rows.append({"group": "mpi_pool/payload_4mib", "median_ns": median_ns(reps, 1, payload_4mib)})
    write(out, rows)


def spawn(out, quick):
    def once():
        with MPIPoolExecutor(max_workers=1) as pool:
            pool.submit(tiny, 1).result()

    reps = 1 if quick else 3
    write(out, [{"group": "mpi_pool/spawn", "median_ns": median_ns(reps, 1, once)}])


def write(out, rows):
    with open(out, "a") as f:
        for row in rows:
            if "group" in row:
                row["function"] = "mpi4py"
            f.write(json.dumps(row) + "\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--spawn", action="store_true")
    args = parser.parse_args()
    if args.spawn:
        spawn(args.out, args.quick)
    else:
        static(args.out, args.quick)


if __name__ == "__main__":
    main()
