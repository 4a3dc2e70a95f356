"""Judge a MEDS dataset written by Longitude with the ecosystem's own tools.

- every shard, codes.parquet, subject_splits.parquet and dataset.json validated by the official
  `meds` package's schemas (strict: no casting);
- MEDS ordering invariants re-checked independently with pyarrow;
- the dataset converted and read back by `meds_reader`;
- optional label and prediction files validated by `meds` (LabelSchema) and `meds-evaluation`
  (PredictionSchema).

Prints a JSON summary on success; raises (non-zero exit) on the first violation.
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

import pyarrow as pa
import pyarrow.parquet as pq
from meds import CodeMetadataSchema, DataSchema, DatasetMetadataSchema, LabelSchema, SubjectSplitSchema


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("--labels")
    p.add_argument("--predictions")
    args = p.parse_args()
    root = args.root

    shards = sorted(glob.glob(os.path.join(root, "data", "**", "*.parquet"), recursive=True))
    assert shards, "no shards"
    per_subject = {}
    owner = {}
    for shard in shards:
        table = pq.read_table(shard)
        DataSchema.validate(table)
        # The exact types MEDS 0.4.1 specifies, beyond what validate() enforces.
        assert table.schema.field("subject_id").type == pa.int64()
        assert table.schema.field("time").type == pa.timestamp("us")
        assert table.schema.field("code").type == pa.string()
        assert table.schema.field("numeric_value").type == pa.float32()
        assert table.schema.field("text_value").type == pa.large_string()
        sids = table.column("subject_id").to_pylist()
        times = table.column("time").cast(pa.int64()).to_pylist()
        last_sid, last_time = None, None
        for sid, t in zip(sids, times):
            key = float("-inf") if t is None else t
            if sid != last_sid:
                assert sid not in owner, f"subject {sid} not contiguous or in two shards"
                owner[sid] = shard
                last_time = float("-inf")
            assert key >= last_time, f"subject {sid} unsorted in {shard}"
            last_sid, last_time = sid, key
            per_subject[sid] = per_subject.get(sid, 0) + 1

    codes = pq.read_table(os.path.join(root, "metadata", "codes.parquet"))
    CodeMetadataSchema.validate(codes)
    splits = pq.read_table(os.path.join(root, "metadata", "subject_splits.parquet"))
    SubjectSplitSchema.validate(splits)
    with open(os.path.join(root, "metadata", "dataset.json")) as f:
        DatasetMetadataSchema.validate(json.load(f))
    split_ids = splits.column("subject_id").to_pylist()
    split_names = splits.column("split").to_pylist()
    assert sorted(split_ids) == sorted(per_subject), "splits and data disagree"
    data_codes = set()
    for shard in shards:
        data_codes.update(pq.read_table(shard, columns=["code"]).column("code").unique().to_pylist())
    assert data_codes <= set(codes.column("code").to_pylist()), "codes.parquet is missing codes"

    import meds_reader

    with tempfile.TemporaryDirectory() as tmp:
        db_path = os.path.join(tmp, "db")
        convert = os.path.join(os.path.dirname(sys.executable), "meds_reader_convert")
        subprocess.run([convert, root, db_path, "--num_threads", "1"], check=True, capture_output=True)
        with meds_reader.SubjectDatabase(db_path) as db:
            reader_counts = {int(sid): len(db[sid].events) for sid in db}
    assert reader_counts == per_subject, "meds_reader sees different subjects or events"

    out = {
        "shards": len(shards),
        "subjects": len(per_subject),
        "events": sum(per_subject.values()),
        "codes": codes.num_rows,
        "splits": {s: split_names.count(s) for s in sorted(set(split_names))},
    }
    if args.labels:
        labels = pq.read_table(args.labels)
        LabelSchema.validate(labels)
        out["labels"] = labels.num_rows
    if args.predictions:
        from meds_evaluation.schema import PredictionSchema

        predictions = pq.read_table(args.predictions)
        PredictionSchema.validate(predictions)
        out["predictions"] = predictions.num_rows
    print(json.dumps(out))


if __name__ == "__main__":
    main()
