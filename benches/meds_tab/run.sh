#!/usr/bin/env bash
# MEDS-Tab beside Longitude's baselines: runs the real `meds-tab` package on the same MEDS data,
# the same label files and the same subject splits, and writes its held-out predictions where
# `longitude report` reads methods from, as `meds_tab`.
#
#   benches/meds_tab/run.sh MEDS_DIR LABELS_DIR ADAPT_DIR [TASK ...]
#
# MEDS_DIR: a MEDS dataset (data/{train,tuning,held_out}/*.parquet); LABELS_DIR: `longitude
# label`'s output; ADAPT_DIR: `longitude adapt`'s output for the subject split (meds_tab.parquet
# lands in ADAPT_DIR/<task>/ beside ours). TASKs default to every label file.
# Environment: MEDS_TAB_TRIALS (Optuna trials per task, default 10), MEDS_TAB_WORK (scratch,
# default ADAPT_DIR/.meds_tab), MEDS_TAB_VENV (default ~/.cache/longitude/venvs/meds-tab).
# Windows and aggregations match ours where MEDS-Tab has them: 30d / 365d / full; code count,
# value count / sum / sum of squares / min / max, static presence. MEDS-Tab picks its trial on
# tuning AUROC, as we pick regularisation on tuning.
set -euo pipefail

if [ $# -lt 3 ]; then
  sed -n 2,16p "$0" >&2
  exit 2
fi
meds=$(realpath "$1"); labels=$(realpath "$2"); adapt=$(realpath "$3"); shift 3
here=$(cd "$(dirname "$0")" && pwd)
trials=${MEDS_TAB_TRIALS:-10}
work=${MEDS_TAB_WORK:-$adapt/.meds_tab}
venv=${MEDS_TAB_VENV:-$HOME/.cache/longitude/venvs/meds-tab}

if [ ! -x "$venv/bin/meds-tab-model" ]; then
  echo "creating $venv (meds-tab and its dependencies)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$here/requirements.txt"
fi

if [ $# -gt 0 ]; then
  tasks=("$@")
else
  tasks=()
  for f in "$labels"/*.parquet; do tasks+=("$(basename "$f" .parquet)"); done
fi

mkdir -p "$work"
common=(
  "input_dir=$meds/data" "output_dir=$work" "do_overwrite=False"
  "tabularization.min_code_inclusion_count=10"
  "tabularization.window_sizes=[30d,365d,full]"
  "tabularization.aggs=[static/present,code/count,value/count,value/sum,value/sum_sqd,value/min,value/max]"
)
timings="$work/timings.tsv"
: > "$timings"
stage() {
  local name=$1; shift
  local t0=$SECONDS
  "$@" > "$work/$name.log" 2>&1 || { echo "meds-tab $name failed; see $work/$name.log" >&2; tail -20 "$work/$name.log" >&2; exit 1; }
  printf '%s\t%s\n' "$name" $((SECONDS - t0)) | tee -a "$timings" >&2
}

stage describe "$venv/bin/meds-tab-describe" "input_dir=$meds/data" "output_dir=$work"
stage tabularize-static "$venv/bin/meds-tab-tabularize-static" "${common[@]}"
stage tabularize-time-series "$venv/bin/meds-tab-tabularize-time-series" "${common[@]}"

for task in "${tasks[@]}"; do
  mkdir -p "$work/labels/$task"
  cp "$labels/$task.parquet" "$work/labels/$task/0.parquet"
  stage "cache-$task" "$venv/bin/meds-tab-cache-task" "${common[@]}" "task_name=$task" "input_label_dir=$work/labels/$task"
  rm -rf "$work/models/$task"
  stage "xgboost-$task" "$venv/bin/meds-tab-model" --multirun model_launcher=xgboost "${common[@]}" \
    "task_name=$task" "output_model_dir=$work/models/$task" \
    "hydra.sweeper.n_trials=$trials" hydra.sweeper.n_jobs=1
  best=$(ls -d "$work/models/$task"/*/best_trial | head -1)
  mkdir -p "$adapt/$task"
  "$venv/bin/python" - "$best/held_out_predictions.parquet" "$adapt/$task/meds_tab.parquet" <<'PY'
import sys
import polars as pl

src, dst = sys.argv[1], sys.argv[2]
columns = ["subject_id", "prediction_time", "boolean_value", "predicted_boolean_value", "predicted_boolean_probability"]
df = pl.read_parquet(src).select(columns).with_columns(pl.col("predicted_boolean_probability").cast(pl.Float32))
df.write_parquet(dst)
print(f"{dst}: {df.height} held-out predictions", file=sys.stderr)
PY
done
echo "MEDS-Tab predictions written beside ours in $adapt/<task>/meds_tab.parquet; stage seconds in $timings" >&2
