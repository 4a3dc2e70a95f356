#!/bin/bash
# Nightly batch scoring on SLURM: a job array of 8 tasks, each scoring its share of the MEDS
# shards (`--shard-count 8`; SLURM gives each task SLURM_ARRAY_TASK_ID, counted from
# SLURM_ARRAY_TASK_MIN), then a dependent job that merges once every task has succeeded:
#
#   array=$(sbatch --parsable deploy/score-slurm.sh)
#   sbatch --dependency=afterok:$array --wrap "longitude merge-scores --data $MEDS --out $OUT"
#
# A failed task can be resubmitted alone (sbatch --array=3 ...): it scores only the shards
# without a receipt. Set LONGITUDE_DB (the registry's postgres:// URL), MEDS, OUT and OWNER_KEY.
#SBATCH --job-name=longitude-score
#SBATCH --array=0-7
#SBATCH --cpus-per-task=4
#SBATCH --mem=8G
#SBATCH --time=02:00:00
#SBATCH --output=longitude-score-%A_%a.log
set -euo pipefail
: "${LONGITUDE_DB:?the registry database URL}" "${MEDS:?the MEDS extract}" "${OUT:?the output directory}"
: "${OWNER_KEY:?the owner public key file (KEY.pub)}"
exec longitude score --data "$MEDS" --out "$OUT" --site "${SITE:-main}" --trusted "$OWNER_KEY" \
    --shard-count "${SLURM_ARRAY_TASK_COUNT:-8}"
