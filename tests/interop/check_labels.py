"""Checks MEDS label files with the `meds` package's own LabelSchema.

Usage: check_labels.py FILE.parquet [...]
Prints JSON: per file, rows, positives and subjects. Fails if a file does not conform.
"""

import json
import sys

import pyarrow.parquet as pq
from meds import LabelSchema


def main() -> None:
    out = {}
    for path in sys.argv[1:]:
        table = pq.read_table(path)
        LabelSchema.validate(table)
        values = table.column("boolean_value").to_pylist()
        out[path] = {
            "rows": table.num_rows,
            "positives": sum(1 for v in values if v),
            "subjects": len(set(table.column("subject_id").to_pylist())),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
