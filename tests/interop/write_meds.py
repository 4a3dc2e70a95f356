"""Write a MEDS dataset with pyarrow and the `meds` package's own schemas, for Longitude to read.

Edge cases on purpose: static events (null time), times before 1970, 64-bit subject ids, null and
non-null numeric values, non-ASCII text, a subject whose events share a timestamp, two shards and
all three metadata files. Writes `expected.json` (subject -> events) beside the dataset.
"""

import datetime
import json
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq
from meds import CodeMetadataSchema, DataSchema, SubjectSplitSchema


def us(*args) -> int:
    return int((datetime.datetime(*args) - datetime.datetime(1970, 1, 1)).total_seconds() * 1_000_000)


SUBJECTS = {
    "train": {
        1: [
            (None, "SEX/F", None, None),
            (us(1950, 3, 1), "MEDS_BIRTH", None, None),
            (us(2015, 6, 1, 8, 30), "LOINC/4548-4", 6.5, None),
            (us(2015, 6, 1, 8, 30), "ICD10CM/E11.9", None, None),
            (us(2016, 1, 2), "NOTE/progress", None, "Patiënt stabiel — ça va, 良好"),
        ],
        2**40 + 7: [
            (us(1931, 12, 31, 23, 59, 59), "MEDS_BIRTH", None, None),
            (us(2019, 2, 3), "LOINC/2160-0", 1.25, None),
            (us(2020, 2, 3), "MEDS_DEATH", None, None),
        ],
    },
    "held_out": {
        3: [
            (None, "SEX/M", None, None),
            (us(2001, 1, 1), "LOINC/4548-4", -3.0, None),
        ],
    },
}


def main() -> None:
    root = sys.argv[1]
    expected = {}
    for split, subjects in SUBJECTS.items():
        rows = {k: [] for k in ["subject_id", "time", "code", "numeric_value", "text_value"]}
        for sid, events in subjects.items():
            expected[str(sid)] = events
            for t, code, value, text in events:
                rows["subject_id"].append(sid)
                rows["time"].append(t)
                rows["code"].append(code)
                rows["numeric_value"].append(value)
                rows["text_value"].append(text)
        table = pa.Table.from_pydict(rows, schema=DataSchema.schema())
        DataSchema.validate(table)
        os.makedirs(os.path.join(root, "data", split), exist_ok=True)
        pq.write_table(table, os.path.join(root, "data", split, "0.parquet"))

    os.makedirs(os.path.join(root, "metadata"), exist_ok=True)
    codes = sorted({e[1] for evs in expected.values() for e in evs})
    code_table = pa.Table.from_pydict(
        {"code": codes, "description": [None] * len(codes), "parent_codes": [None] * len(codes)},
        schema=CodeMetadataSchema.schema(),
    )
    pq.write_table(code_table, os.path.join(root, "metadata", "codes.parquet"))
    split_rows = [(sid, split) for split, s in SUBJECTS.items() for sid in s]
    splits = pa.Table.from_pydict(
        {"subject_id": [s for s, _ in split_rows], "split": [p for _, p in split_rows]},
        schema=SubjectSplitSchema.schema(),
    )
    pq.write_table(splits, os.path.join(root, "metadata", "subject_splits.parquet"))
    with open(os.path.join(root, "metadata", "dataset.json"), "w") as f:
        json.dump({"dataset_name": "pyarrow-written", "meds_version": "0.4.1"}, f)
    with open(os.path.join(root, "expected.json"), "w") as f:
        json.dump(expected, f)


if __name__ == "__main__":
    main()
