"""Labels a MEDS dataset with the `es-aces` package itself, the judge of `longitude label`.

Usage: aces_labels.py MEDS_ROOT [--predicates P.yaml] CONFIG.yaml [CONFIG.yaml ...]

For each configuration this runs what `aces-cli` runs for MEDS data (`TaskExtractorConfig.load`,
`get_predicates_df`, `query`, then `aces.run`'s renaming and `get_and_validate_label_schema`), in
one process so the imports are paid once, on all of the dataset's shards gathered into one file.
Prints JSON: per configuration, the label rows sorted (subject_id, prediction_time in µs,
boolean_value) and the number of rows ACES wrote without a prediction time (it writes one when an
event search such as `-> discharge` finds no event), which are not among the rows; or, for a
configuration ACES rejects, its error.
"""

import json
import logging
import sys
import tempfile
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from aces import config as aces_config
from aces import predicates as aces_predicates
from aces import query as aces_query
from aces.run import get_and_validate_label_schema
from meds import LabelSchema
from omegaconf import DictConfig


def label(data: Path, config: Path, predicates: Path | None) -> dict:
    cfg = aces_config.TaskExtractorConfig.load(config_path=config, predicates_path=predicates)
    df = aces_predicates.get_predicates_df(cfg, DictConfig({"path": str(data), "standard": "meds"}))
    result = aces_query.query(cfg, df)
    if len(result) == 0:
        return {"rows_without_prediction_time": 0, "labels": []}
    for a, b in [
        ("subject_id", LabelSchema.subject_id_name),
        ("index_timestamp", LabelSchema.prediction_time_name),
        ("label", LabelSchema.boolean_value_name),
    ]:
        if a in result.columns:
            result = result.rename({a: b})
    table = pl.from_arrow(get_and_validate_label_schema(result))
    missing = table.filter(pl.col("prediction_time").is_null()).height
    rows = (
        table.filter(pl.col("prediction_time").is_not_null())
        .select("subject_id", pl.col("prediction_time").cast(pl.Int64), "boolean_value")
        .sort("subject_id", "prediction_time", "boolean_value")
        .rows()
    )
    return {"rows_without_prediction_time": missing, "labels": [list(r) for r in rows]}


def main() -> None:
    logging.disable(logging.WARNING)
    args = sys.argv[1:]
    root = Path(args.pop(0))
    predicates = None
    if args and args[0] == "--predicates":
        args.pop(0)
        predicates = Path(args.pop(0))
    shards = sorted((root / "data").rglob("*.parquet"))
    tables = [pq.read_table(s, columns=["subject_id", "time", "code", "numeric_value"]) for s in shards]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.parquet"
        pq.write_table(pa.concat_tables(tables, promote_options="permissive"), data)
        for config in args:
            try:
                out[config] = label(data, Path(config), predicates)
            except Exception as e:  # a configuration ACES rejects: reported, judged by the caller
                out[config] = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
