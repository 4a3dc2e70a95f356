"""Paired comparison of two prediction files on the same held-out rows: the AUROC of each and the
difference B - A with a 95% interval from a subject-level bootstrap (whole subjects resampled, so a
subject's several prediction times move together, as `longitude evaluate` resamples them).

    "$(scripts/interop-venv)" benches/suite/paired.py A.parquet B.parquet [RESAMPLES=300]

Both files are in the MEDS prediction schema (`subject_id`, `prediction_time`, `boolean_value`,
`predicted_boolean_probability`); rows are matched on (subject, time) and only the shared ones
are compared. Two methods scored on one held-out split share its sampling noise, so their paired
difference is far tighter than the two separate intervals suggest.
"""

import sys

import numpy as np
import pyarrow.parquet as pq
from sklearn.metrics import roc_auc_score


def load(path):
    table = pq.read_table(
        path, columns=["subject_id", "prediction_time", "boolean_value", "predicted_boolean_probability"]
    ).to_pydict()
    return {
        (s, t): (y, p)
        for s, t, y, p in zip(
            table["subject_id"], table["prediction_time"], table["boolean_value"],
            table["predicted_boolean_probability"],
        )
    }


def main(argv):
    if len(argv) not in (3, 4):
        sys.exit(__doc__)
    a, b = load(argv[1]), load(argv[2])
    keys = sorted(set(a) & set(b))
    if not keys:
        sys.exit("the two files share no (subject_id, prediction_time) rows")
    y = np.array([a[k][0] for k in keys], dtype=bool)
    pa = np.array([a[k][1] for k in keys], dtype=float)
    pb = np.array([b[k][1] for k in keys], dtype=float)
    if y.all() or not y.any():
        sys.exit("the shared rows hold one class only: no AUROC")
    subjects = np.array([k[0] for k in keys])
    _, which = np.unique(subjects, return_inverse=True)
    rows_of = [np.flatnonzero(which == i) for i in range(which.max() + 1)]
    rng = np.random.default_rng(0)
    diffs = []
    for _ in range(int(argv[3]) if len(argv) == 4 else 300):
        rows = np.concatenate([rows_of[i] for i in rng.integers(0, len(rows_of), len(rows_of))])
        if y[rows].all() or not y[rows].any():
            continue
        diffs.append(roc_auc_score(y[rows], pb[rows]) - roc_auc_score(y[rows], pa[rows]))
    auc_a, auc_b = roc_auc_score(y, pa), roc_auc_score(y, pb)
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    print(
        f"rows={len(keys)} positives={int(y.sum())} A={auc_a:.3f} B={auc_b:.3f} "
        f"B-A={auc_b - auc_a:+.3f} [{lo:+.3f}, {hi:+.3f}]"
    )


if __name__ == "__main__":
    main(sys.argv)
