"""Checks batch-scoring prediction files with `meds-evaluation`'s own PredictionSchema.

Usage: check_scores.py FILE.parquet [...]
Prints JSON: per file, rows, subjects, rows whose outcome is not yet known (no boolean_value), rows
flagged (predicted_boolean_value true) and the probabilities' range. Fails if a file does not
conform.
"""

import json
import sys

import pyarrow.parquet as pq
from meds_evaluation.schema import PredictionSchema


def main() -> None:
    out = {}
    for path in sys.argv[1:]:
        table = PredictionSchema.align(pq.read_table(path))
        probabilities = table.column("predicted_boolean_probability").to_pylist()
        out[path] = {
            "rows": table.num_rows,
            "subjects": len(set(table.column("subject_id").to_pylist())),
            "unknown_outcomes": table.num_rows if "boolean_value" not in table.schema.names else 0,
            "flagged": sum(1 for v in table.column("predicted_boolean_value").to_pylist() if v),
            "min": min(probabilities) if probabilities else None,
            "max": max(probabilities) if probabilities else None,
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
