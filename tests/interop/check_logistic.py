"""Fits scikit-learn's LogisticRegression on the same scaled rows as `adapt::logistic` and prints
its probabilities, for comparison.

Usage: check_logistic.py DATA.json
DATA.json: {"rows": [[[j, v], ...], ...], "y": [0/1, ...], "width": W, "lambda": λ, "test": rows}
Features are divided by their (population) standard deviation on the training rows, not centred,
exactly as `adapt` does; `C = 1 / (λ · n)` makes the objectives identical.
"""

import json
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression


def dense(rows, width):
    x = np.zeros((len(rows), width))
    for i, r in enumerate(rows):
        for j, v in r:
            x[i, int(j)] = v
    return x


def main() -> None:
    d = json.load(open(sys.argv[1]))
    x = dense(d["rows"], d["width"])
    std = x.std(axis=0)
    scale = np.where(std > 1e-6, 1.0 / np.where(std > 0, std, 1.0), 0.0)
    y = np.array(d["y"])
    c = 1.0 / (d["lambda"] * len(y))
    m = LogisticRegression(C=c, tol=1e-10, max_iter=100_000).fit(x * scale, y)
    p = m.predict_proba(dense(d["test"], d["width"]) * scale)[:, 1]
    print(json.dumps({"probabilities": p.tolist()}))


if __name__ == "__main__":
    main()
