"""The meds_reader (and pyarrow) side of `longitude bench meds`.

Converts a MEDS dataset with `meds_reader_convert`, then measures, on one thread, a full pass
reading code, time and numeric_value of every event, and random access to single subjects (lazily,
as meds_reader hands them out, and with the events materialised). Prints one JSON object.
"""

import argparse
import json
import random
import subprocess
import time

import meds_reader


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--convert-threads", type=int, default=2)
    parser.add_argument("--lookups", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    started = time.perf_counter()
    subprocess.run(
        ["meds_reader_convert", args.dataset, args.work, "--num_threads", str(args.convert_threads)],
        check=True,
        capture_output=True,
    )
    convert_s = time.perf_counter() - started

    out = {"convert_seconds": convert_s}

    # pyarrow's own parquet decode on one thread: the floor any parquet reader stands on.
    import glob

    import pyarrow.parquet as pq

    shards = sorted(glob.glob(f"{args.dataset}/data/**/*.parquet", recursive=True))
    best = None
    rows = 0
    for _ in range(3):
        started = time.perf_counter()
        rows = sum(pq.read_table(f, use_threads=False).num_rows for f in shards)
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    out["pyarrow_decode_events_per_s"] = rows / best
    with meds_reader.SubjectDatabase(args.work, num_threads=1) as db:
        ids = list(db)
        best = None
        for _ in range(2):
            events = 0
            checksum = 0.0
            started = time.perf_counter()
            for sid in ids:
                for e in db[sid].events:
                    _ = e.code
                    _ = e.time
                    v = e.numeric_value
                    if v is not None:
                        checksum += v
                    events += 1
            elapsed = time.perf_counter() - started
            best = elapsed if best is None else min(best, elapsed)
        out.update(subjects=len(ids), events=events, full_read_seconds=best, full_read_events_per_s=events / best)

        rng = random.Random(args.seed)
        sample = [rng.choice(ids) for _ in range(args.lookups)]
        for sid in sample[: min(len(sample), 10_000)]:
            db[sid]
        started = time.perf_counter()
        for sid in sample:
            db[sid]
        lazy = (time.perf_counter() - started) / len(sample)
        started = time.perf_counter()
        n = 0
        for sid in sample:
            n += len(db[sid].events)
        materialised = (time.perf_counter() - started) / len(sample)
        out.update(
            lookup_lazy_us=lazy * 1e6,
            lookup_events_us=materialised * 1e6,
            lookup_mean_events=n / len(sample),
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
