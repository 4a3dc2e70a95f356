#!/usr/bin/env bash
# The whole validation of issue #7 as one coherent run: one synthetic population, one pretrained
# model, every built-in task, every method (baselines, MEDS-Tab, FM probe, FM fine-tuned on the
# chronic tasks, FM zero-shot, oracle),
# internal, temporal and cross-site settings (baselines, FM probe and oracle there), one report.
#
#   benches/suite/run.sh WORK_DIR
#
# Environment (defaults in brackets): LONGITUDE [the release binary of this checkout],
# PATIENTS [20000], SEED [7], STEPS (pretraining steps of `small`) [3000], ZERO_SHOT (futures per
# prediction time) [10], ZERO_SHOT_MAX (case-control sample per task) [400], ORACLE (futures the
# oracle draws first) [128], ORACLE_MAX (at most, for rare risks) [1024],
# PROBE_MAX (training examples per task for the probe) [PATIENTS / 10, at least 2000: at 100,000
# patients 2,000 under-fed it, docs/benchmarks/validation.md, "The seventh run"], TEMPORAL [2021-01-01],
# SITE [north], MEDS_TAB (1: run benches/meds_tab/run.sh too) [1], MEDS_TAB_TRIALS [5],
# MEDS_TAB_FROM (another WORK_DIR of the same population whose MEDS-Tab predictions to reuse),
# FINE_TUNE (tasks to fine-tune the model for, internal setting; empty: none)
# [new_t2d_1y,new_ckd3_1y,new_heart_failure_1y], FINE_TUNE_MAX (train examples each) [3000],
# FINE_TUNE_EPOCHS [3] (the epoch kept is chosen on tuning), VALUE_CHANNEL (1: pretrain with
# `--value-channel`) [0].
#
# Resumable: each stage writes its output under WORK_DIR and is skipped when that output is
# there, so a run stopped part-way goes on where it stopped. The zero-shot stage runs task by
# task (hours on a 2-core CPU) and files each task's predictions and sample design beside the
# other methods as it finishes. Times per stage go to WORK_DIR/times.txt.
set -euo pipefail

if [ $# -ne 1 ]; then
  sed -n 2,25p "$0" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mkdir -p "$1"
work=$(realpath "$1")
lg=${LONGITUDE:-${CARGO_TARGET_DIR:-$root/target}/release/longitude}
patients=${PATIENTS:-20000}
seed=${SEED:-7}
steps=${STEPS:-3000}
zero_shot=${ZERO_SHOT:-10}
zero_shot_max=${ZERO_SHOT_MAX:-400}
oracle=${ORACLE:-128}
oracle_max=${ORACLE_MAX:-1024}
probe_max=${PROBE_MAX:-$((patients / 10 > 2000 ? patients / 10 : 2000))}
temporal=${TEMPORAL:-2021-01-01}
site=${SITE:-north}
meds_tab=${MEDS_TAB:-1}
fine_tune=${FINE_TUNE-new_t2d_1y,new_ckd3_1y,new_heart_failure_1y}
fine_tune_args=()
[ -n "$fine_tune" ] &&
  fine_tune_args=(--fine-tune --fine-tune-tasks "$fine_tune" --fine-tune-train-max "${FINE_TUNE_MAX:-3000}" --fine-tune-epochs "${FINE_TUNE_EPOCHS:-3}")
[ -x "$lg" ] || { echo "no longitude binary at $lg (cargo build --release, or set LONGITUDE)" >&2; exit 2; }
cd "$work"

# stage NAME DONE_PATH COMMAND...: runs COMMAND unless DONE_PATH exists, and times it.
stage() {
  local name=$1 done=$2; shift 2
  if [ -e "$done" ]; then echo "= $name: done before" >&2; return; fi
  echo "= $name" >&2
  local start; start=$(date +%s)
  "$@"
  echo "$name $(( $(date +%s) - start )) s" >> times.txt
}

stage synth s/meds/metadata/dataset.json \
  "$lg" -q synth --patients "$patients" --sites 2 --seed "$seed" --format meds --out s
stage tokenize t/tokenizer.json "$lg" -q tokenize --meds s/meds --out t
# A pretraining stopped part-way goes on from its last checkpoint (exactly: see `--resume`).
pretrain_args=()
[ -e run/checkpoints/latest ] && pretrain_args+=(--resume)
[ "${VALUE_CHANNEL:-0}" = 1 ] && pretrain_args+=(--value-channel)
stage pretrain run/model/pretrain.json \
  "$lg" -q pretrain --tokens t --out run --config small --steps "$steps" --eval-every 50 --checkpoint-every 100 \
  "${pretrain_args[@]}"
stage label labels/.done sh -c "'$lg' -q label --meds s/meds --suite --out labels && touch labels/.done"
stage adapt adapt/adapt_report.json \
  "$lg" -q adapt --meds s/meds --labels labels --truth s/truth --oracle-samples "$oracle" --oracle-max-samples "$oracle_max" \
  --model run/model --probe-train-max "$probe_max" --few-shot "${fine_tune_args[@]}" --out adapt

report=("$lg" -q report --meds s/meds --truth s/truth --sites s/truth/subjects.parquet --out report)
# A first report of the internal setting without zero-shot, so there is one to read early (the
# later stages take hours on a 2-core CPU, and a session may end before them).
stage report-early report/report.html sh -c '"$@" > report.txt' report "${report[@]}" --adapt adapt

# Zero-shot, one task at a time, then filed into adapt/ with its sample design. Filing is cheap
# and idempotent, so it runs every time: an adapt/ redone after the zero-shot stage (a new probe,
# a new oracle) gets the zero-shot rows back without generating the futures again.
for labels_file in labels/*.parquet; do
  task=$(basename "$labels_file" .parquet)
  stage "zero-shot $task" "zs/$task/adapt_report.json" \
    "$lg" -q adapt --meds s/meds --labels labels --model run/model --no-probe \
      --zero-shot "$zero_shot" --zero-shot-max "$zero_shot_max" --only "$task" --out "zs/$task"
  python3 - "$task" <<'PY'
import json, os, shutil, sys
task = sys.argv[1]
src = json.load(open(f'zs/{task}/adapt_report.json'))
dst_path = 'adapt/adapt_report.json'
dst = json.load(open(dst_path))
dst.setdefault(task, {}).setdefault('samples', {}).update(src.get(task, {}).get('samples', {}))
if 'zero_shot' in src.get(task, {}):
    dst[task]['zero_shot'] = src[task]['zero_shot']
# The first pass ran without zero-shot and said so; this one's word replaces it.
dst[task].setdefault('not_run', {}).pop('fm_zero_shot', None)
why = src.get(task, {}).get('not_run', {}).get('fm_zero_shot')
if why:
    dst[task]['not_run']['fm_zero_shot'] = why
json.dump(dst, open(dst_path + '.partial', 'w'), indent=2)
shutil.move(dst_path + '.partial', dst_path)
if os.path.exists(f'zs/{task}/{task}/fm_zero_shot.parquet'):
    shutil.copy(f'zs/{task}/{task}/fm_zero_shot.parquet', f'adapt/{task}/fm_zero_shot.parquet')
PY
done

# Temporal and cross-site validation: the same methods but zero-shot and fine-tuning.
stage temporal adapt-temporal/adapt_report.json \
  "$lg" -q adapt --meds s/meds --labels labels --truth s/truth --oracle-samples "$oracle" --oracle-max-samples "$oracle_max" \
  --model run/model --probe-train-max "$probe_max" --split "temporal:$temporal" --out adapt-temporal
stage site adapt-site/adapt_report.json \
  "$lg" -q adapt --meds s/meds --labels labels --truth s/truth --oracle-samples "$oracle" --oracle-max-samples "$oracle_max" \
  --model run/model --probe-train-max "$probe_max" --split "site:$site" --out adapt-site

# MEDS-Tab needs no model: with MEDS_TAB_FROM=OTHER_WORK, a run of the same population (the same
# label files, byte for byte) lends its MEDS-Tab predictions instead of an hour of tabularising.
reuse_meds_tab() {
  local from=$1 task labels_file
  for labels_file in labels/*.parquet; do
    task=$(basename "$labels_file" .parquet)
    cmp -s "$labels_file" "$from/labels/$task.parquet" ||
      { echo "MEDS_TAB_FROM: $task's labels differ from $from's; not reusing" >&2; return 1; }
  done
  for labels_file in labels/*.parquet; do
    task=$(basename "$labels_file" .parquet)
    if [ -f "$from/adapt/$task/meds_tab.parquet" ]; then
      cp "$from/adapt/$task/meds_tab.parquet" "adapt/$task/meds_tab.parquet"
    else
      echo "MEDS_TAB_FROM: $from has no MEDS-Tab predictions for $task" >&2
    fi
  done
  touch adapt/.meds_tab.done
}
if [ -n "${MEDS_TAB_FROM:-}" ] && [ ! -e adapt/.meds_tab.done ]; then
  reuse_meds_tab "$(realpath "$MEDS_TAB_FROM")"
fi
if [ "$meds_tab" = 1 ]; then
  stage meds-tab adapt/.meds_tab.done sh -c "
    MEDS_TAB_TRIALS='${MEDS_TAB_TRIALS:-5}' '$root/benches/meds_tab/run.sh' s/meds labels adapt &&
    touch adapt/.meds_tab.done"
fi

# The final report replaces the early one.
stage report report/.final sh -c '"$@" > report.txt && touch report/.final' report "${report[@]}" \
  --adapt adapt --adapt adapt-temporal --adapt adapt-site
cat report.txt
