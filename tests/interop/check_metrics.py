"""Computes, with scikit-learn and meds-evaluation, the metrics `eval` computes, on one
meds-evaluation predictions file.

Usage: check_metrics.py PREDICTIONS.parquet THRESHOLD
Prints JSON. The calibration slope is scikit-learn's unpenalised logistic regression of the label
on logit(p); the calibration-in-the-large intercept is fitted with scipy (slope fixed at 1);
probabilities are clipped to [1e-7, 1 - 1e-7] before the logit, as in `eval`.
"""

import json
import sys

import numpy as np
import polars as pl
from meds_evaluation.evaluate import evaluate_binary_classification
from scipy.optimize import minimize_scalar
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, confusion_matrix, roc_auc_score


def main() -> None:
    df = pl.read_parquet(sys.argv[1])
    threshold = float(sys.argv[2])
    y = df["boolean_value"].to_numpy().astype(int)
    p = df["predicted_boolean_probability"].to_numpy().astype(np.float64)
    x = np.clip(p, 1e-7, 1 - 1e-7)
    logit = np.log(x / (1 - x))
    slope = LogisticRegression(penalty=None, tol=1e-12, max_iter=10_000).fit(logit[:, None], y).coef_[0][0]

    def nll(a: float) -> float:
        z = a + logit
        return float(np.sum(np.logaddexp(0, z) - y * z))

    intercept = minimize_scalar(nll, bounds=(-20, 20), method="bounded", options={"xatol": 1e-10}).x
    tn, fp, fn, tp = confusion_matrix(y, (p >= threshold).astype(int), labels=[0, 1]).ravel()
    n = len(y)
    # Decision-curve net benefit at the threshold (Vickers & Elkin 2006), from the same matrix.
    net_benefit = tp / n - fp / n * threshold / (1 - threshold)
    treat_all = y.mean() - (1 - y.mean()) * threshold / (1 - threshold)
    meds_eval = evaluate_binary_classification(df)["samples_equally_weighted"]
    print(
        json.dumps(
            {
                "auroc": roc_auc_score(y, p),
                "auprc": average_precision_score(y, p),
                "brier": brier_score_loss(y, p),
                "calibration_slope": slope,
                "calibration_intercept": intercept,
                "sensitivity": tp / (tp + fn),
                "specificity": tn / (tn + fp),
                "ppv": tp / (tp + fp),
                "net_benefit": net_benefit,
                "treat_all": treat_all,
                "meds_evaluation": {k: float(v) for k, v in meds_eval.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
